#!/usr/bin/env python3
"""Consolidation lag from `fluxo serve`'s `/metrics` scrapes taken during a load run.

`consolidation_lag_ms` is a Prometheus summary over a rolling window (the exporter keeps three
20-second buckets), so one scrape holds the quantiles of roughly the last minute. Scrapes every 10 s
during a run cover it; the worst p99 among them is the figure, and `_sum / _count` (cumulative) gives
the mean over the whole life of the server.

    python3 tests/load/lag.py target/load/<run>/metrics-*.txt
"""

from __future__ import annotations

import json
import re
import sys

QUANTILE = re.compile(r'^consolidation_lag_ms\{quantile="([0-9.]+)"\}\s+(\S+)$')
TOTAL = re.compile(r"^consolidation_lag_ms_(sum|count)\s+(\S+)$")


def parse(text: str) -> dict[str, float]:
    """The lag quantiles, sum and count in one scrape."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if m := QUANTILE.match(line):
            found[f"q{m.group(1)}"] = float(m.group(2))
        elif m := TOTAL.match(line):
            found[m.group(1)] = float(m.group(2))
    return found


def main() -> int:
    scrapes = []
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            values = parse(f.read())
        if "q0.99" in values:
            scrapes.append(values)
    if not scrapes:
        print(json.dumps({"scrapes": 0}))
        return 1
    last = scrapes[-1]
    figures = {
        "scrapes": len(scrapes),
        "p50_ms_max": max(s.get("q0.5", 0.0) for s in scrapes),
        "p99_ms_max": max(s["q0.99"] for s in scrapes),
        "max_ms": max(s.get("q1", 0.0) for s in scrapes),
        "postings": last.get("count", 0.0),
        "mean_ms": last["sum"] / last["count"] if last.get("count") else None,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
