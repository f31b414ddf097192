#!/usr/bin/env python3
"""Writes a CSV of LINES sales for `fluxo import` and the audit's expectations for the accounts it
will be imported into: `sales.py LINES CSV EXPECTED BASE_URL ACCOUNT...`.

The entries occurred over the last ten hours (inside the window an entry may be backdated in), 70%
credits, amounts 1..100000 minor units; every line is valid, so each must be recorded exactly once.
Standard library only.
"""

import csv
import datetime as dt
import json
import random
import sys


def main() -> int:
    lines, path, expected, base_url, *accounts = sys.argv[1:]
    count = int(lines)
    now = dt.datetime.now(dt.timezone.utc)
    rng = random.Random(20261205)
    credits = debits = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["type", "amount", "description", "occurred_at"])
        for n in range(count):
            credit = rng.random() < 0.7
            amount = rng.randint(1, 100_000)
            at = now - dt.timedelta(hours=10) + dt.timedelta(seconds=n * 36_000 / count)
            out.writerow(["credit" if credit else "debit", amount, f"sale {n}, till {n % 7}", at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")])
            if credit:
                credits += amount
            else:
                debits += amount
    tally = {"entries": count, "credits": credits, "debits": debits, "in_doubt": {"entries": 0, "credits": 0, "debits": 0}}
    with open(expected, "w", encoding="utf-8") as f:
        json.dump({"base_url": base_url, "accounts": {a: tally for a in accounts}, "unresolved": 0}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
