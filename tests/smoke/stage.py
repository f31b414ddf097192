#!/usr/bin/env python3
"""The smoke test of a deployed stage, run by .github/workflows/deploy.yml after each deploy.

    TOKEN=... python3 tests/smoke/stage.py https://<api>/<stage> <account> [--within 30]

1. `GET /health` answers 200.
2. The account exists (`PUT /v1/accounts/<account>` answers 200 or 201; the token must grant it).
3. One entry of 1 minor unit is recorded (201) with a fresh Idempotency-Key, and read back by id.
4. Today's balance in the account's zone (São Paulo) shows it (one more entry, one more unit of credit) within --within
   seconds: ingest, the stream, relay, the queue and consolidate all work.

Standard library only; prints each step's time and exits 1 at the first failure.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid


def call(method, url, token=None, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def step(name, ok, started, detail=""):
    took = f"{(time.time() - started) * 1000:.0f} ms"
    if not ok:
        sys.exit(f"smoke: {name} failed after {took}: {detail}")
    print(f"smoke: {name}: ok ({took})")


def balance(api, token, account, day):
    status, body = call("GET", f"{api}/v1/accounts/{account}/balances/daily/{day}", token)
    if status != 200:
        sys.exit(f"smoke: the balance of {day} answered {status}: {body}")
    return body["credits"], body["entry_count"]


def main():
    parser = argparse.ArgumentParser(description="smoke test of a deployed stage")
    parser.add_argument("api", help="the stage's base URL (terraform output api_url)")
    parser.add_argument("account", help="an account the token grants")
    parser.add_argument("--within", type=float, default=30.0, help="seconds the entry may take to reach its balance")
    args = parser.parse_args()
    token = os.environ.get("TOKEN") or sys.exit("smoke: TOKEN is not set")
    api = args.api.rstrip("/")

    started = time.time()
    status, body = call("GET", f"{api}/health")
    step("GET /health", status == 200, started, f"{status} {body}")

    started = time.time()
    account = {"name": "Smoke test", "currency": "BRL", "timezone": "America/Sao_Paulo"}
    status, body = call("PUT", f"{api}/v1/accounts/{args.account}", token, account)
    step(f"PUT /v1/accounts/{args.account}", status in (200, 201), started, f"{status} {body}")

    # The account's own day before the entry: the smoke account is written by this test alone, one
    # deploy at a time (the workflow's concurrency group), and each run waits for its own entry.
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3 * 3600))
    credits_before, count_before = balance(api, token, args.account, today)

    started = time.time()
    key = {"Idempotency-Key": f"smoke-{uuid.uuid4()}"}
    entry = {"type": "credit", "amount": 1, "description": "smoke test"}
    status, body = call("POST", f"{api}/v1/accounts/{args.account}/entries", token, entry, key)
    step("POST an entry", status == 201 and body.get("business_date") == today, started, f"{status} {body}")
    entry_id = body["id"]

    started = time.time()
    status, read = call("GET", f"{api}/v1/accounts/{args.account}/entries/{entry_id}", token)
    step("GET the entry", status == 200 and read.get("id") == entry_id, started, f"{status} {read}")

    started = time.time()
    while time.time() - started < args.within:
        credits, count = balance(api, token, args.account, today)
        if count >= count_before + 1 and credits >= credits_before + 1:
            step(f"the entry in the balance of {today}", True, started)
            return
        time.sleep(1)
    step(f"the entry in the balance of {today}", False, started, f"not in the balance within {args.within:g} s")


if __name__ == "__main__":
    main()
