#!/usr/bin/env bash
# Instructions per handler call, counted by valgrind's callgrind inside the handler only: the figures of
# BENCHMARKS.md that do not move with the machine's load. Builds the criterion bench
# (shared/benches/handlers.rs) with symbols in its own target directory, runs each scenario for 2 s of
# criterion's --profile-time under callgrind, and prints total instructions / handler calls.
# Needs valgrind (apt-get install valgrind).
set -euo pipefail

command -v valgrind >/dev/null || { echo "instructions.sh needs valgrind: apt-get install valgrind" >&2; exit 1; }

target=${PROFILE_TARGET_DIR:-target/profile-bench}
CARGO_TARGET_DIR=$target CARGO_PROFILE_BENCH_STRIP=false CARGO_PROFILE_BENCH_DEBUG=line-tables-only \
    ${CARGO:-cargo} bench -p fluxo-shared --bench handlers --no-run
bin=$(ls -t "$target"/release/deps/handlers-* | grep -v '\.d$' | head -1)
out=$(mktemp -d)

count() { # name, handler symbol, criterion filter
    valgrind --tool=callgrind --toggle-collect="$2" --callgrind-out-file="$out/$1" \
        "$bin" --bench --profile-time 2 "$3" >/dev/null 2>&1
    local total calls
    total=$(callgrind_annotate --auto=no "$out/$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    # Every call into the handler comes from criterion's timing loop or the check before it.
    calls=$(callgrind_annotate --auto=no --inclusive=yes --tree=caller "$out/$1" 2>/dev/null |
        grep -E "< .*(iter_batched::\{\{closure\}\}|block_on) \(" | grep -oE '\([0-9,]+x\)' | tr -d '(),x' |
        awk '{ n += $1 } END { print n }')
    printf '%-34s %12d instructions / %5d calls = %8d per call\n' "$3" "$total" "$calls" $((total / calls))
}

ingest='fluxo::handlers::ingest::respond::{{closure}}'
report='fluxo::handlers::report::respond::{{closure}}'
count ingest-jwt "$ingest" ingest/record_entry/jwt
count ingest-apigateway "$ingest" ingest/record_entry/apigateway
count consolidate 'fluxo::handlers::consolidate::handle::{{closure}}' consolidate/sqs_batch_100
for auth in jwt apigateway; do
    count "daily-$auth" "$report" "report/daily_balance/$auth"
    count "range-$auth" "$report" "report/range_31_days/$auth"
done
rm -rf "$out"
