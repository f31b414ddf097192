#!/usr/bin/env python3
"""The audit after a Fluxo load run: what the server acknowledged equals what it consolidated.

Reads the expectations a load script wrote (`<run>.expected.json`: per account, the entries answered
201 and the sum of their credits and debits in minor units), waits until the queue is quiescent
(`GET /status`, when the server has it), then reads each account's daily balances over the days the
run can have touched and compares entry count, credits, debits and closing balance. The accounts are
fresh, so their balances hold only this run's entries. Until the deadline, a difference is read
again (an entry whose publish failed reaches its balance through relay, after `FLUXO_RELAY_GRACE`);
a difference still there at the deadline fails the audit with exit status 1.

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


def get_json(url: str, token: str | None) -> tuple[int, object]:
    """GETs `url` and returns its status and parsed JSON body (None when there is none)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


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


def differences(expected: dict[str, dict], base_url: str, token: str) -> list[str]:
    """Every difference between the acknowledged tallies and the consolidated balances."""
    found = []
    for account, want in sorted(expected.items()):
        entries = exact(want["entries"], f"{account} entries")
        credits = exact(want["credits"], f"{account} credits")
        debits = exact(want["debits"], f"{account} debits")
        got = consolidated(base_url, token, account)
        checks = [
            ("entry count", entries, got["entries"]),
            ("credits", credits, got["credits"]),
            ("debits", debits, got["debits"]),
            ("opening balance", 0, got["opening"]),
            ("closing balance", credits - debits, got["closing"]),
        ]
        for what, want_value, got_value in checks:
            if want_value != got_value:
                found.append(f"{account}: {what} acknowledged {want_value}, consolidated {got_value}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("expected", help="the <run>.expected.json a load script wrote")
    parser.add_argument("--base-url", help="default: the base_url recorded in the expectations")
    parser.add_argument("--settle-s", type=float, default=90.0, help="how long balances may take to match")
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
    if expected.get("unresolved"):
        print(f"audit: {expected['unresolved']} entries got no definite answer; any of them written is a difference")
    started = time.monotonic()
    deadline = started + args.settle_s
    print(f"audit: {wait_quiescent(base_url, deadline)}")
    while True:
        try:
            found = differences(accounts, base_url, token)
        except (RuntimeError, urllib.error.URLError, TimeoutError, KeyError, IndexError) as error:
            # An unreadable balance is a difference too, until the deadline.
            found = [f"balances unreadable: {error!r}"]
        waited = time.monotonic() - started
        if not found:
            print(f"audit passed: every acknowledged entry is consolidated, once ({waited:.1f}s after the run)")
            return 0
        if time.monotonic() >= deadline:
            print(f"audit FAILED after {waited:.1f}s: {len(found)} differences", file=sys.stderr)
            for line in found:
                print(f"  {line}", file=sys.stderr)
            return 1
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main())
