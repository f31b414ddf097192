#!/usr/bin/env python3
"""The audit after a Fluxo load run: what the server acknowledged equals what it consolidated.

Reads the expectations a load script wrote (`<run>.expected.json`: per account, the entries answered
201 and the sum of their credits and debits in minor units), waits until the queue is quiescent
(`GET /status`, when the server has it), then reads each account's daily balances over the days the
run can have touched and compares entry count, credits, debits and closing balance. The accounts are
fresh, so their balances hold only this run's entries. Until the deadline, a difference is read
again (an entry reaches its balance through the outbox, relay and the consumer's batching window);
a difference still there at the deadline fails the audit with exit status 1.

Entries sent but never answered are in doubt: the ledger may hold them or not. By default any of them
in the balances is a difference; `--allow-in-doubt` (for a ramp that stopped itself, which abandons
the requests in flight) accepts each of them either way, and nothing else.

    TOKEN=... python3 tests/load/audit.py target/load/<run>/peak.expected.json [--base-url URL] [--settle-s 90]

Python standard library only, so it runs wherever the load scripts do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import urllib.error
import urllib.request

# Entries are dated in the account's zone; any zone's today lies within a day of UTC's, and a run
# lasts far less than a day, so these days hold every entry of the run.
DAYS_BEFORE = 2
DAYS_AFTER = 2
REQUEST_TIMEOUT_S = 10
POLL_S = 0.5
THROTTLED_RETRIES = 5


def get_json(url: str, token: str | None) -> tuple[int, object]:
    """GETs `url` and returns its status and parsed JSON body (None when there is none)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for _ in range(THROTTLED_RETRIES):
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            # The token's rate limit on the account may still be spent by the run: wait as told.
            if error.code != 429:
                return error.code, None
            time.sleep(int(error.headers.get("Retry-After", "1")))
    return 429, None


def wait_quiescent(base_url: str, deadline: float) -> str:
    """Waits until `/status` shows no visible or in-flight message twice in a row; says what it saw."""
    quiet = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            status, body = get_json(f"{base_url}/status", None)
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            return f"no /status ({error}); comparing until the deadline"
        if status != 200 or not isinstance(body, dict) or "queue" not in body:
            return f"no /status (HTTP {status}); comparing until the deadline"
        queue = body["queue"]
        if queue["visible"] == 0 and queue["in_flight"] == 0:
            quiet += 1
            if quiet == 2:
                return f"queue quiescent after {time.monotonic() - started:.1f}s (dead letters: {queue['dead']})"
        else:
            quiet = 0
        time.sleep(POLL_S)
    return "queue still busy at the deadline"


def consolidated(base_url: str, token: str, account: str) -> dict[str, int]:
    """The account's entry count, credits, debits, opening and closing over the run's days."""
    today = dt.datetime.now(dt.timezone.utc).date()
    first = today - dt.timedelta(days=DAYS_BEFORE)
    last = today + dt.timedelta(days=DAYS_AFTER)
    url = f"{base_url}/v1/accounts/{account}/balances/daily?from={first}&to={last}"
    status, body = get_json(url, token)
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"{account}: GET balances answered {status}")
    days = body["days"]
    return {
        "entries": sum(d["entry_count"] for d in days),
        "credits": sum(d["credits"] for d in days),
        "debits": sum(d["debits"] for d in days),
        "opening": days[0]["opening_balance"],
        "closing": days[-1]["closing_balance"],
    }


def exact(value: object, what: str) -> int:
    """k6 counters are floats: an acknowledged tally must be a whole number within float precision."""
    if not isinstance(value, (int, float)) or value != int(value) or abs(value) >= 2**53:
        raise ValueError(f"{what} is {value!r}, not an exact whole number")
    return int(value)


FIELDS = ("entries", "credits", "debits")


def differences(expected: dict[str, dict], base_url: str, token: str, allow_in_doubt: bool) -> tuple[list[str], int]:
    """Every difference between the acknowledged tallies and the consolidated balances, and how many
    entries the balances hold beyond the acknowledged ones.

    Strict (the default): consolidated equals acknowledged. With `allow_in_doubt`, each account may
    also hold some of its entries in doubt (sent, never answered): consolidated minus acknowledged
    must lie between nothing and all of them, field by field, and be exactly one or the other when
    none or all of them count.
    """
    found = []
    beyond = 0
    for account, want in sorted(expected.items()):
        acked = {k: exact(want[k], f"{account} {k}") for k in FIELDS}
        doubt = {k: exact(want.get("in_doubt", {}).get(k, 0), f"{account} {k} in doubt") for k in FIELDS}
        got = consolidated(base_url, token, account)
        if got["opening"] != 0:
            found.append(f"{account}: opening balance {got['opening']}, expected 0 for a fresh account")
        if got["closing"] != got["credits"] - got["debits"]:
            found.append(f"{account}: closing balance {got['closing']} is not credits minus debits")
        extra = {k: got[k] - acked[k] for k in FIELDS}
        beyond += extra["entries"]
        if not allow_in_doubt or doubt["entries"] == 0 or extra["entries"] == 0:
            bounds_ok = all(v == 0 for v in extra.values())
        elif extra["entries"] == doubt["entries"]:
            bounds_ok = extra == doubt
        else:
            bounds_ok = all(0 <= extra[k] <= doubt[k] for k in FIELDS)
        if not bounds_ok:
            found.append(
                f"{account}: acknowledged {acked}, consolidated "
                f"{ {k: got[k] for k in FIELDS} }, in doubt {doubt if allow_in_doubt else 'not allowed'}"
            )
    return found, beyond


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("expected", help="the <run>.expected.json a load script wrote")
    parser.add_argument("--base-url", help="default: the base_url recorded in the expectations")
    parser.add_argument("--settle-s", type=float, default=90.0, help="how long balances may take to match")
    parser.add_argument(
        "--allow-in-doubt",
        action="store_true",
        help="accept entries sent but never answered (a ramp that stopped itself cut them) in the balances",
    )
    args = parser.parse_args()
    token = os.environ.get("TOKEN")
    if not token:
        print("audit: set TOKEN (read scope on the run's accounts)", file=sys.stderr)
        return 2
    with open(args.expected, encoding="utf-8") as f:
        expected = json.load(f)
    base_url = (args.base_url or expected["base_url"]).rstrip("/")
    accounts = expected["accounts"]
    total = sum(exact(a["entries"], "entries") for a in accounts.values())
    net = sum(exact(a["credits"], "credits") - exact(a["debits"], "debits") for a in accounts.values())
    print(f"audit {args.expected}: {len(accounts)} accounts, {total} entries acknowledged, net {net} minor units")
    doubt = sum(exact(a.get("in_doubt", {}).get("entries", 0), "in doubt") for a in accounts.values())
    if doubt:
        rule = "each may or may not count" if args.allow_in_doubt else "any of them written is a difference"
        print(f"audit: {doubt} entries sent got no answer ({expected.get('unresolved', 0)} after retries); {rule}")
    started = time.monotonic()
    deadline = started + args.settle_s
    print(f"audit: {wait_quiescent(base_url, deadline)}")
    while True:
        try:
            found, beyond = differences(accounts, base_url, token, args.allow_in_doubt)
        except (RuntimeError, urllib.error.URLError, TimeoutError, KeyError, IndexError) as error:
            # An unreadable balance is a difference too, until the deadline.
            found, beyond = [f"balances unreadable: {error!r}"], 0
        waited = time.monotonic() - started
        if not found:
            extra = f", with {beyond} of the entries in doubt" if beyond else ""
            print(f"audit passed: every acknowledged entry is consolidated, once{extra} ({waited:.1f}s after the run)")
            return 0
        if time.monotonic() >= deadline:
            print(f"audit FAILED after {waited:.1f}s: {len(found)} differences", file=sys.stderr)
            for line in found:
                print(f"  {line}", file=sys.stderr)
            return 1
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main())
