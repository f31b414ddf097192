#!/usr/bin/env python3
"""The restore drill, on the moto emulator: a known history, a backup, damage, two restores, audits.

    .venv/bin/python3 tests/dr/drill.py [--entries 200] [--fluxo target/release/fluxo]

1. `fluxo serve --backend aws` records ENTRIES entries of two merchants over the last 20 days (so
   over two months), a few of them reversed; the drill waits until consolidation has applied every
   one, and `fluxo audit` must find the books agree.
2. An on-demand backup is taken, and a point-in-time restore of the table as it is now is made to a
   new table (the case of a lost or deleted table: restore to the latest restorable time).
3. The live table is damaged as an operator's mistake would: entry items deleted, a daily total and
   a monthly closing overwritten. `fluxo audit` must report each damaged date and month, and fail.
4. The backup is restored to another new table (the case of a mistake found later).
5. For each restored table: its stream is turned on (a restore does not carry stream settings over),
   `fluxo init` and `fluxo serve` are pointed at it, `fluxo audit` must pass, and every day's
   balance must be what the history says; one more entry must be recorded and consolidated on it.

moto's point-in-time restore copies the source table as it is at the call, whatever time is asked:
that is why the drill restores to a point in time before it damages the table, and from the backup
after. The times printed are moto's, on this machine: they show the drill's steps work and what
they cost here, not what AWS takes for a table of a given size.
"""

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "benches"))
from cost import free_port, http, moto_command, read_port, wait_port  # noqa: E402

import boto3  # noqa: E402  (the project's .venv has it, with moto)

ACCOUNTS = ("drill-shop", "drill-cafe")
TABLE = "fluxo-drill"
ZONE_OFFSET = timedelta(hours=-3)  # America/Sao_Paulo, without daylight saving since 2019


class Emulator:
    def __init__(self, workdir):
        log = open(Path(workdir) / "moto.log", "wb")
        port_file = Path(workdir) / "moto-port"
        self.proc = subprocess.Popen([str(c) for c in moto_command(port_file)], stdout=log, stderr=log)
        port = read_port(port_file, "moto")
        self.url = f"http://127.0.0.1:{port}"
        creds = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        self.dynamodb = boto3.client("dynamodb", endpoint_url=self.url, **creds)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def send(method, url, body, headers):
    """A request as a careful client sends it: a 503 (the store briefly unavailable, which moto is as
    its table grows) is sent again, with the same body and key, after a pause."""
    for attempt in range(8):
        status, answer = http(method, url, body, headers)
        results = answer.get("results", []) if status == 200 and isinstance(answer, dict) else []
        if status != 503 and not any(r["status"] == 503 for r in results):
            return status, answer
        time.sleep(0.2 * 2**attempt)
    return status, answer


class Runner:
    """`fluxo serve --backend aws` on one table, and the other `fluxo` commands beside it."""

    def __init__(self, fluxo, emulator, workdir, table):
        self.fluxo, self.table = fluxo, table
        self.env = dict(
            os.environ,
            AWS_ENDPOINT_URL=emulator.url,
            AWS_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            FLUXO_BACKEND="aws",
            FLUXO_TABLE=table,
            FLUXO_QUEUE_NAME=f"{table}-entries",
            FLUXO_DATA_DIR=str(Path(workdir) / "data"),
            FLUXO_BATCH_WINDOW="200ms",
            FLUXO_RELAY_TICK="200ms",
            FLUXO_LOG="warn",
        )
        self.run("init")
        port = free_port()
        log = open(Path(workdir) / f"serve-{table}.log", "wb")
        self.proc = subprocess.Popen([fluxo, "serve", "--addr", f"127.0.0.1:{port}"], env=self.env, stdout=log, stderr=log)
        wait_port(port, "fluxo serve")
        self.url = f"http://127.0.0.1:{port}"
        token = self.run("token", *[a for acc in ACCOUNTS for a in ("--account", acc)], "--ttl", "1h").stdout.strip()
        self.auth = {"Authorization": f"Bearer {token}"}

    def run(self, *args, check=True):
        return subprocess.run([self.fluxo, *args], env=self.env, capture_output=True, text=True, check=check)

    def audit(self):
        started = time.time()
        done = self.run("audit", "--backend", "aws", check=False)
        return done, time.time() - started

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def record_history(runner, entries):
    """Records `entries` entries of each account over the last 20 days, reverses every 25th one, and
    returns the expected daily movement {account: {date: [credits, debits, count]}}."""
    now = datetime.now(timezone.utc)
    expected = {a: {} for a in ACCOUNTS}
    for account in ACCOUNTS:
        rows = []
        for i in range(entries):
            at = now - timedelta(days=i % 20, minutes=1 + i % 500)
            rows.append({
                "idempotency_key": f"drill-{account}-{i}",
                "type": "debit" if i % 4 == 0 else "credit",
                "amount": 100 + 7 * i,
                "description": f"drill {i}",
                "occurred_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            })
        for start in range(0, len(rows), 100):
            status, body = send("POST", f"{runner.url}/v1/accounts/{account}/entries/batch", {"entries": rows[start : start + 100]}, runner.auth)
            results = body.get("results", []) if status == 200 else []
            # A batch sent again after a 503 answers its recorded entries 200 (replayed).
            if status != 200 or any(r["status"] not in (200, 201) for r in results):
                sys.exit(f"recording the history of {account} answered {status}: {body}")
            for row, result in zip(rows[start : start + 100], results):
                entry = result["entry"]
                add(expected[account], entry)
                if int(row["idempotency_key"].rsplit("-", 1)[1]) % 25 == 0:
                    reverse(runner, account, entry, expected[account])
    return expected


def add(days, entry):
    day = days.setdefault(entry["business_date"], [0, 0, 0])
    day[0 if entry["type"] == "credit" else 1] += entry["amount"]
    day[2] += 1


def reverse(runner, account, entry, days):
    key = {**runner.auth, "Idempotency-Key": f"drill-reverse-{entry['id']}"}
    status, body = send("POST", f"{runner.url}/v1/accounts/{account}/entries/{entry['id']}/reversal", {}, key)
    if status not in (200, 201):
        sys.exit(f"reversing {entry['id']} answered {status}: {body}")
    add(days, body)


def balances(runner, account):
    """The stored daily movement over the last 32 days, {date: [credits, debits, count]}."""
    today = (datetime.now(timezone.utc) + ZONE_OFFSET).date()
    frm = (today - timedelta(days=32)).isoformat()
    status, body = http("GET", f"{runner.url}/v1/accounts/{account}/balances/daily?from={frm}&to={today.isoformat()}", None, runner.auth)
    if status != 200:
        sys.exit(f"balances of {account} answered {status}: {body}")
    return {d["date"]: [d["credits"], d["debits"], d["entry_count"]] for d in body["days"] if d["entry_count"]}


def wait_consolidated(runner, expected, seconds=300):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if all(balances(runner, a) == expected[a] for a in ACCOUNTS):
            return
        time.sleep(0.5)
    diff = {a: (balances(runner, a), expected[a]) for a in ACCOUNTS}
    sys.exit(f"the balances did not reach the history within {seconds} s: {diff}")


def damage(dynamodb, table, account):
    """Deletes three entry items, overwrites a daily total and a monthly closing; returns the dates and
    months the audit must name."""
    items = []
    for shard in range(16):
        found = dynamodb.query(
            TableName=table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
            ExpressionAttributeValues={":pk": {"S": f"A#{account}#{shard}"}, ":e": {"S": "E#"}},
        )["Items"]
        items.extend(i for i in found if "reverses" not in i and "reversed_by" not in i)
        if len(items) >= 3:
            break
    dates = set()
    for item in items[:3]:
        dynamodb.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})
        dates.add(item["business_date"]["S"])
    rollups = dynamodb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"A#{account}"}},
    )["Items"]
    day = next(i for i in rollups if i["SK"]["S"].startswith("D#") and i["SK"]["S"][2:] not in dates)
    dynamodb.update_item(TableName=table, Key={"PK": day["PK"], "SK": day["SK"]}, UpdateExpression="SET credits = :c", ExpressionAttributeValues={":c": {"N": "1"}})
    dates.add(day["SK"]["S"][2:])
    month = next(i for i in rollups if i["SK"]["S"].startswith("M#"))
    dynamodb.update_item(TableName=table, Key={"PK": month["PK"], "SK": month["SK"]}, UpdateExpression="SET closing = :c", ExpressionAttributeValues={":c": {"N": "0"}})
    return dates, month["SK"]["S"][2:9]


def expect_damage_found(runner, account, dates, month):
    done, _ = runner.audit()
    if done.returncode != 1:
        sys.exit(f"the audit of the damaged table exited {done.returncode}, not 1:\n{done.stdout}{done.stderr}")
    lines = [l for l in done.stdout.splitlines() if l.startswith(f"{account} ")]
    for date in sorted(dates):
        if not any(f" {date}: " in l for l in lines):
            sys.exit(f"the audit did not name the damaged date {date}:\n{done.stdout}")
    if not any(f"month {month}: closing balance" in l for l in lines):
        sys.exit(f"the audit did not name the overwritten closing of {month}:\n{done.stdout}")
    print(f"damage: {len(lines)} differences found in {account} (dates {', '.join(sorted(dates))}; month {month})")
    for line in lines:
        print(f"  {line}")


def restore_check(fluxo, emulator, workdir, table, expected, how, seconds):
    started = time.time()
    wait_active(emulator.dynamodb, table)
    emulator.dynamodb.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    runner = Runner(fluxo, emulator, workdir, table)
    try:
        done, audit_s = runner.audit()
        if done.returncode != 0:
            sys.exit(f"the audit of the table restored {how} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        for account in ACCOUNTS:
            if balances(runner, account) != expected[account]:
                sys.exit(f"the table restored {how} answers other balances for {account}")
        extra = {"idempotency_key": f"after-restore-{uuid.uuid4()}", "type": "credit", "amount": 1}
        status, body = http("POST", f"{runner.url}/v1/accounts/{ACCOUNTS[0]}/entries/batch", {"entries": [extra]}, runner.auth)
        if status != 200 or body["results"][0]["status"] != 201:
            sys.exit(f"recording on the table restored {how} answered {status}: {body}")
        add(expected[ACCOUNTS[0]], body["results"][0]["entry"])
        wait_consolidated(runner, expected)
        summary = done.stdout.strip().splitlines()[-1]
        ready_s = time.time() - started
        print(f"restored {how}: {seconds:.2f} s to restore, {ready_s:.1f} s to serve and consolidate again, audit {audit_s:.2f} s ({summary})")
    finally:
        runner.close()


def wait_active(dynamodb, table):
    for _ in range(600):
        if dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    sys.exit(f"{table} never became active")


def main():
    parser = argparse.ArgumentParser(description="the restore drill on moto")
    parser.add_argument("--entries", type=int, default=200, help="entries per account")
    parser.add_argument("--fluxo", default=str(ROOT / "target/release/fluxo"))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="fluxo-drill-")
    emulator = Emulator(workdir)
    try:
        drill(args, emulator, workdir)
    finally:
        emulator.close()
        shutil.rmtree(workdir, ignore_errors=True)


def drill(args, emulator, workdir):
    dynamodb = emulator.dynamodb
    live = Runner(args.fluxo, emulator, workdir, TABLE)
    try:
        for account in ACCOUNTS:
            http("PUT", f"{live.url}/v1/accounts/{account}", {"name": "Drill", "currency": "BRL", "timezone": "America/Sao_Paulo"}, live.auth)
        started = time.time()
        expected = record_history(live, args.entries)
        wait_consolidated(live, expected)
        total = sum(c for days in expected.values() for _, _, c in days.values())
        print(f"history: {total} entries in {len(ACCOUNTS)} accounts over {len(expected[ACCOUNTS[0]])} days, consolidated in {time.time() - started:.1f} s")
        done, audit_s = live.audit()
        if done.returncode != 0:
            sys.exit(f"the audit of the healthy table exited {done.returncode}:\n{done.stdout}{done.stderr}")
        print(f"audit of the live table: {audit_s:.2f} s, {done.stdout.strip().splitlines()[-1]}")

        started = time.time()
        backup = dynamodb.create_backup(TableName=TABLE, BackupName=f"{TABLE}-drill")["BackupDetails"]["BackupArn"]
        backup_s = time.time() - started
        started = time.time()
        dynamodb.restore_table_to_point_in_time(SourceTableName=TABLE, TargetTableName=f"{TABLE}-pitr", UseLatestRestorableTime=True)
        pitr_s = time.time() - started

        dates, month = damage(dynamodb, TABLE, ACCOUNTS[0])
        expect_damage_found(live, ACCOUNTS[0], dates, month)

        started = time.time()
        dynamodb.restore_table_from_backup(TargetTableName=f"{TABLE}-backup", BackupArn=backup)
        restore_s = time.time() - started
    finally:
        live.close()
    print(f"backup taken in {backup_s:.2f} s")
    restore_check(args.fluxo, emulator, workdir, f"{TABLE}-pitr", copy.deepcopy(expected), "to the latest point in time", pitr_s)
    restore_check(args.fluxo, emulator, workdir, f"{TABLE}-backup", expected, "from the backup", restore_s)
    print("drill passed")


if __name__ == "__main__":
    main()
