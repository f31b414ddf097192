"""Server-side latency of the steady merchant in each phase of a noisy-neighbour run, from the
runner's request log lines (`elapsed_us` of RecordEntry on the account ending in `-steady`): the
time spent inside `fluxo serve`, without the load generator's share of the two cores.

    python3 tests/load/phases.py target/load/<run>-neighbours/server.log [phase, e.g. 30s (the default)]
"""

import datetime as dt
import json
import sys


def quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    log, phase_s = sys.argv[1], float(sys.argv[2].rstrip("s")) if len(sys.argv) > 2 else 30.0
    elapsed: list[tuple[float, int]] = []
    with open(log, encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            fields = record.get("fields", {})
            if fields.get("op") != "RecordEntry" or not str(fields.get("account_id", "")).endswith("-steady"):
                continue
            at = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
            elapsed.append((at, int(fields["elapsed_us"])))
    if not elapsed:
        print(f"no steady-merchant entries in {log}", file=sys.stderr)
        return 1
    start = elapsed[0][0]
    phases: dict[int, list[int]] = {}
    for at, us in elapsed:
        phases.setdefault(int((at - start) // phase_s), []).append(us)
    print("server side, steady merchant's entries (µs):")
    for n in sorted(phases):
        values = phases[n]
        if len(values) < 100:
            continue
        kind = "quiet" if n % 2 == 0 else "noisy"
        print(f"  phase {n + 1} {kind}: {len(values)} entries  p50 {quantile(values, 0.5)}  "
              f"p99 {quantile(values, 0.99)}  max {max(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
