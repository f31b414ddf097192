#!/usr/bin/env python3
"""Capacity, requests and cost per entry, measured end to end as DynamoDB bills them.

Starts moto (through tests/support/moto_server.py), the capacity meter in front of it
(benches/meter.py: write and read units from item sizes and index membership, per operation and per
partition key, as DynamoDB on-demand bills them), and `fluxo serve --backend aws` on that meter. Then,
as a client would, it records ENTRIES entries of one merchant (CONCURRENCY at a time) and waits until
every one is in its balance; sends one key again; reads REPORTS daily balances. Each phase's capacity,
requests and log bytes are read off the meter and the runner's log, and priced below.

    python3 benches/cost.py [--entries 300] [--fluxo target/release/fluxo]

Everything assumed rather than measured is in ASSUMPTIONS and printed with the tables. Standard
library only (the meter runs in the project's .venv, which has boto3).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv/bin/python3"

# us-east-1 public list prices, on-demand, free tiers ignored (../shared/notes/dynamodb-budget.md,
# compiled from the AWS pricing pages); re-check before relying on them.
PRICES_DATE = "2026-11-23"
PRICES = {
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s_arm64": 0.0000133334,
    "apigw_rest_request": 3.50 / 1e6,
    "waf_request": 0.60 / 1e6,
    "logs_gb": 0.50,
    "xray_trace": 5.00 / 1e6,
}

ASSUMPTIONS = {
    "ingest_ms": (10, "ingest duration per request, ms (warm, in-region)"),
    "ingest_ms_per_batched_entry": (0.6, "ingest duration per entry of a batch, ms, beside the request's own (16 conditional puts in flight at about 8 ms each: 100 entries in 7 rounds, about 60 ms)"),
    "report_ms": (10, "report duration per request, ms"),
    "consolidate_ms_per_batch": (100, "consolidate duration per batch, ms"),
    "relay_ms_per_batch": (20, "relay duration per stream batch, ms"),
    "relay_records_per_batch": (10, "stream records per relay invocation (batch size 100 and a 1 s batching window, infra/variables.tf: 10 at 10 new entries a second per shard, more above)"),
    "xray_sampled": (0.01, "share of requests X-Ray records (infra/api.tf's sampling rule: 1 a second, then 1%)"),
    "lambda_log_factor": (1.0, "Lambda's JSON log lines against the runner's, byte for byte (the same fields; system_log_level WARN drops START/END/REPORT)"),
    "log_event_overhead": (26, "bytes CloudWatch Logs bills per log event beside its message"),
}
A = {k: v for k, (v, _) in ASSUMPTIONS.items()}

TARGETS = {
    "wru_per_entry": 4.5,
    "hottest_partition_wru_per_entry": 1.0,
    "dynamodb_requests_per_entry": 1.2,
    "replay_wru": 1.0,
    "cost_per_million": 7.50,
    "cost_per_million_batched": 3.25,
    "log_kb_per_entry": 0.5,
}

# Requests that exist only because the runner stands in for AWS: its status page's queue depths,
# the stream reader's polls (Lambda's own reads of a stream that triggers it are free) and its table
# lookups. Listed, never billed.
RUNNER_ONLY = {"SQS.GetQueueAttributes", "SQS.GetQueueUrl", "DynamoDB.DescribeTable"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_command(port_file):
    """moto's launcher on a port the kernel picks, which it writes to `port_file` once it listens: a
    port picked here and bound there could be taken in between by another process."""
    return [PYTHON, ROOT / "tests/support/moto_server.py", "-H", "127.0.0.1", "-p", "0", "--port-file", port_file]


def read_port(port_file, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        time.sleep(0.05)
    sys.exit(f"{what} named no port in {seconds} s")


def wait_port(port, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"{what} did not start on port {port}")


def http(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Rig:
    """moto, the meter in front of it, and `fluxo serve --backend aws` on the meter."""

    def __init__(self, fluxo, workdir):
        self.procs = []
        self.workdir = Path(workdir)
        self.spawn(moto_command(self.workdir / "moto-port"), "moto")
        moto_port = read_port(self.workdir / "moto-port", "moto")
        self.upstream = f"http://127.0.0.1:{moto_port}"
        ready = self.workdir / "meter-url"
        meter_log = open(self.workdir / "meter.log", "wb")
        self.spawn([PYTHON, ROOT / "benches/meter.py", "--upstream", f"http://127.0.0.1:{moto_port}", "--ready-file", ready], "meter", stderr=meter_log)
        deadline = time.time() + 30
        while not ready.exists():
            if time.time() > deadline:
                sys.exit("the meter did not start")
            time.sleep(0.05)
        self.meter = ready.read_text().strip()
        self.env = dict(
            os.environ,
            AWS_ENDPOINT_URL=self.meter,
            AWS_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            FLUXO_BACKEND="aws",
            FLUXO_TABLE="fluxo-cost",
            FLUXO_QUEUE_NAME="fluxo-cost-entries",
            FLUXO_DATA_DIR=str(self.workdir / "data"),
            FLUXO_BATCH_WINDOW="1s",
            # As infra's relay_batch_window_s: the stream's mapping gathers a second of records.
            FLUXO_RELAY_TICK="1s",
            FLUXO_LOG="info",
        )
        subprocess.run([fluxo, "init"], env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.log = self.workdir / "serve.log"
        port = free_port()
        self.spawn([fluxo, "serve", "--addr", f"127.0.0.1:{port}"], "fluxo serve", stderr=open(self.log, "wb"))
        wait_port(port, "fluxo serve")
        self.url = f"http://127.0.0.1:{port}"
        token = subprocess.run(
            [fluxo, "token", "--account", "hot-shop", "--ttl", "2h"], env=self.env, check=True, capture_output=True, text=True
        ).stdout.strip()
        self.auth = {"Authorization": f"Bearer {token}"}

    def spawn(self, cmd, what, stderr=subprocess.DEVNULL):
        env = getattr(self, "env", os.environ)
        self.procs.append(subprocess.Popen([str(c) for c in cmd], env=env, stdout=subprocess.DEVNULL, stderr=stderr))

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def meter_reset(self):
        http("POST", f"{self.meter}/__meter/reset")

    def meter_read(self):
        return http("GET", f"{self.meter}/__meter")[1]

    def log_bytes(self):
        return self.log.stat().st_size

    def post(self, key, body):
        return http("POST", f"{self.url}/v1/accounts/hot-shop/entries", body, {**self.auth, "Idempotency-Key": key})

    def post_batch(self, entries):
        return http("POST", f"{self.url}/v1/accounts/hot-shop/entries/batch", {"entries": entries}, self.auth)


def sao_paulo_today():
    return (datetime.now(timezone.utc) - timedelta(hours=3)).date().isoformat()


def moto_day(rig, day):
    """The day's entry count straight from moto (behind the meter's back: not metered)."""
    read = [PYTHON, "-c", (
        "import boto3,sys,json;"
        "d=boto3.client('dynamodb',endpoint_url=sys.argv[1],region_name='us-east-1',aws_access_key_id='t',aws_secret_access_key='t');"
        "i=d.get_item(TableName='fluxo-cost',Key={'PK':{'S':'A#hot-shop'},'SK':{'S':'D#'+sys.argv[2]}}).get('Item');"
        "print(json.dumps(int(i['entry_count']['N']) if i else 0))"
    ), rig.upstream, day]
    return int(subprocess.run(read, capture_output=True, text=True, check=True).stdout)


def entry_body(i):
    return {"type": "credit" if i % 3 else "debit", "amount": 100 + i, "description": f"sale {i}"}


def record_all(rig, count, concurrency, batch_size):
    """Records `count` entries, one a request or `batch_size` a request, `concurrency` requests at a time."""
    keys = [f"cost-{uuid.uuid4()}" for _ in range(count)]
    statuses = []
    lock = threading.Lock()
    per_request = max(batch_size, 1)
    requests = [list(enumerate(keys))[i : i + per_request] for i in range(0, count, per_request)]

    def send(request):
        if batch_size == 0:
            (i, key) = request[0]
            status, _ = rig.post(key, entry_body(i))
            return [status]
        status, body = rig.post_batch([{"idempotency_key": key, **entry_body(i)} for i, key in request])
        if status != 200:
            return [status] * len(request)
        return [r["status"] for r in body["results"]]

    def worker(chunk):
        for request in chunk:
            answered = send(request)
            with lock:
                statuses.extend(answered)

    threads = [threading.Thread(target=worker, args=(requests[n::concurrency],)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [s for s in statuses if s != 201]
    if bad or len(statuses) != count:
        sys.exit(f"{len(bad)} entries were not answered 201: {sorted(set(bad))}")
    return keys


def wait_consolidated(rig, want, seconds=600):
    deadline = time.time() + seconds
    day = sao_paulo_today()
    while time.time() < deadline:
        if moto_day(rig, day) >= want:
            return
        time.sleep(0.5)
    sys.exit(f"the balance did not reach {want} entries within {seconds} s")


def dynamodb_requests(m):
    return {k: v for k, v in m["requests"].items() if k.startswith("DynamoDB.") and k not in RUNNER_ONLY}


def sqs_requests(m):
    return {k: v for k, v in m["requests"].items() if k.startswith("SQS.") and k not in RUNNER_ONLY}


# Typical values of the API Gateway access log's variables, to size its line (infra/api.tf).
ACCESS_LOG_TYPICAL = {
    "$context.requestId": "c0a8016e-1b2c-4d3e-8f90-a1b2c3d4e5f6",
    "$context.identity.sourceIp": "203.0.113.45",
    "$context.authorizer.claims.sub": "8c2f3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b",
    "$context.requestTimeEpoch": "1795435200123",
    "$context.httpMethod": "POST",
    "$context.path": "/api/v1/accounts/hot-shop/entries",
    "$context.status": "201",
    "$context.responseLatency": "23",
    "$context.integration.latency": "18",
    "$context.error.responseType": "-",
    "$context.waf.status": "200",
}


def access_log_bytes():
    """One API Gateway access log line of infra/api.tf's format, with typical values."""
    text = (ROOT / "infra/api.tf").read_text()
    block = re.search(r"access_log_settings \{.*?format = jsonencode\(\{(.*?)\}\)", text, re.S).group(1)
    fields = re.findall(r'(\w+)\s*=\s*"(\$context\.[\w.]+)"', block)
    line = json.dumps({k: ACCESS_LOG_TYPICAL.get(v, "-") for k, v in fields}, separators=(",", ":"))
    return len(line) + A["log_event_overhead"]


def lambda_cost(invocations, ms, mb):
    return invocations * (PRICES["lambda_request"] + ms / 1000 * mb / 1024 * PRICES["lambda_gb_s_arm64"])


def memory_mb(function):
    text = (ROOT / "infra/variables.tf").read_text()
    block = re.search(r'variable "%s_memory_mb" \{(.*?)\n\}' % function, text, re.S)
    return int(re.search(r"default\s*=\s*(\d+)", block.group(1)).group(1))


def verdict(value, target):
    return "met" if value <= target + 1e-9 else "MISSED"


def main():
    parser = argparse.ArgumentParser(description="capacity and cost per entry, measured on the emulator")
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=0, help="entries per request through the batch route; 0: one entry a request")
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--fluxo", default=str(ROOT / "target/release/fluxo"))
    parser.add_argument("--keep", action="store_true", help="keep the working directory (the runner's log) for a look")
    args = parser.parse_args()
    n = args.entries
    workdir = tempfile.mkdtemp(prefix="fluxo-cost-")
    rig = Rig(args.fluxo, workdir)
    try:
        run(rig, args, n)
    finally:
        rig.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}", file=sys.stderr)


def run(rig, args, n):
    status, _ = http("PUT", f"{rig.url}/v1/accounts/hot-shop", {"name": "Hot shop", "currency": "BRL", "timezone": "America/Sao_Paulo"}, rig.auth)
    if status not in (200, 201):
        sys.exit(f"PUT account answered {status}")
    warm = f"warm-{uuid.uuid4()}"
    rig.post(warm, {"type": "credit", "amount": 1})
    wait_consolidated(rig, 1)
    time.sleep(2)

    # Recording and consolidating N entries.
    rig.meter_reset()
    log_before = rig.log_bytes()
    started = time.time()
    keys = record_all(rig, n, args.concurrency, args.batch_size)
    wait_consolidated(rig, n + 1)
    elapsed = time.time() - started
    entries = rig.meter_read()
    lines = rig.log.read_bytes()[log_before:].count(b"\n")
    log_per_entry = (rig.log_bytes() - log_before + lines * A["log_event_overhead"]) / n

    # A replayed key.
    rig.meter_reset()
    status, _ = rig.post(keys[0], {"type": "debit", "amount": 100, "description": "sale 0"})
    replay = rig.meter_read()
    if status != 200:
        sys.exit(f"the replayed key answered {status}, not 200")

    # Daily balances.
    rig.meter_reset()
    for _ in range(args.reports):
        status, _ = http("GET", f"{rig.url}/v1/accounts/hot-shop/balances/daily/{sao_paulo_today()}", None, rig.auth)
        if status != 200:
            sys.exit(f"a daily balance answered {status}")
    reports = rig.meter_read()
    report_table(args, n, elapsed, entries, replay, reports, log_per_entry)
    audit_table(rig, args, n)


def audit_table(rig, args, n):
    """`fluxo audit` of the account, as it reads DynamoDB: read units and requests per entry audited."""
    rig.meter_reset()
    started = time.time()
    done = subprocess.run([args.fluxo, "audit", "--backend", "aws", "--account", "hot-shop"], env=rig.env, capture_output=True, text=True)
    seconds = time.time() - started
    if done.returncode != 0:
        sys.exit(f"the audit exited {done.returncode}:\n{done.stdout}{done.stderr}")
    m = rig.meter_read()
    audited = int(re.search(r"(\d+) entries \(", done.stdout).group(1))
    dates = int(re.search(r"(\d+) dates", done.stdout).group(1))
    rru = sum(m["rru"].values())
    ddb = dynamodb_requests(m)
    print()
    print(f"The audit of the account (`fluxo audit --backend aws`): {audited} entries over {dates} dates in {seconds:.1f} s, the books agree")
    print(f"  {rru:.1f} RRU in {sum(ddb.values())} DynamoDB requests: " + ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in sorted(ddb.items())))
    print("  read units by operation: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(m["rru"].items())))
    print(f"  per entry audited: {rru / audited:.3f} RRU, ${rru / audited * PRICES['dynamodb_rru'] * 1e6:.3f} per million entries audited (each date read costs at least 0.5 RRU beside its entries)")


def report_table(args, n, elapsed, entries, replay, reports, log_per_entry):
    load = os.getloadavg()
    wru = sum(entries["wru"].values())
    rru = sum(entries["rru"].values())
    hottest_key, hottest = max(entries["partitions"]["wru"].items(), key=lambda kv: kv[1])
    ddb = dynamodb_requests(entries)
    sqs = sqs_requests(entries)
    ddb_total = sum(ddb.values())
    replay_wru = sum(replay["wru"].values())
    report_rru = sum(reports["rru"].values()) / args.reports
    report_requests = sum(dynamodb_requests(reports).values()) / args.reports

    mem = {f: memory_mb(f) for f in ("ingest", "report", "consolidate", "relay")}
    batches = entries["requests"].get("DynamoDB.TransactWriteItems", 0) or 1
    # Requests (and so gateway, WAF, invocation and access-log line) per entry.
    per_entry = 1.0 if args.batch_size == 0 else -(-n // args.batch_size) / n
    ingest_ms = A["ingest_ms"] + (A["ingest_ms_per_batched_entry"] * args.batch_size if args.batch_size else 0)
    cost = {
        "API Gateway REST + WAF": per_entry * (PRICES["apigw_rest_request"] + PRICES["waf_request"]),
        "ingest Lambda": lambda_cost(per_entry, ingest_ms, mem["ingest"]),
        "relay Lambda": lambda_cost(1 / A["relay_records_per_batch"], A["relay_ms_per_batch"], mem["relay"]),
        "consolidate Lambda": lambda_cost(batches / n, A["consolidate_ms_per_batch"], mem["consolidate"]),
        "DynamoDB writes": wru / n * PRICES["dynamodb_wru"],
        "DynamoDB reads": rru / n * PRICES["dynamodb_rru"],
        "SQS": sum(sqs.values()) / n * PRICES["sqs_request"],
        "CloudWatch Logs, functions": log_per_entry * A["lambda_log_factor"] / 1e9 * PRICES["logs_gb"],
        "CloudWatch Logs, API access log": per_entry * access_log_bytes() / 1e9 * PRICES["logs_gb"],
        "X-Ray": per_entry * A["xray_sampled"] * PRICES["xray_trace"],
    }
    total = sum(cost.values()) * 1e6

    how = "one a request" if args.batch_size == 0 else f"in batches of {args.batch_size}"
    print(f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {n} entries of one merchant, {how}, {args.concurrency} requests at a time, in {elapsed:.1f} s to the last balance; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"Prices: us-east-1 list prices of {PRICES_DATE}, free tiers ignored. Memory (infra/variables.tf): " + ", ".join(f"{k} {v} MB" for k, v in mem.items()))
    print("Assumptions:")
    for value, meaning in ASSUMPTIONS.values():
        print(f"  - {meaning}: {value}")
    print()
    print("| figure | measured | target | |")
    print("|---|---:|---:|---|")
    rows = [
        ("write request units per entry, end to end", wru / n, TARGETS["wru_per_entry"]),
        (f"units per entry on the hottest partition key (`{hottest_key.split('|', 1)[1]}`)", hottest / n, TARGETS["hottest_partition_wru_per_entry"]),
        ("DynamoDB requests per entry, end to end", ddb_total / n, TARGETS["dynamodb_requests_per_entry"]),
        ("units written by a replayed key", replay_wru, TARGETS["replay_wru"]),
        ("function log bytes per entry, KB (API access log line beside it: %.2f KB)" % (access_log_bytes() / 1000), log_per_entry / 1000, TARGETS["log_kb_per_entry"]),
        ("cost per million single-entry requests, $", total, TARGETS["cost_per_million"])
        if args.batch_size == 0
        else (f"cost per million entries in batches of {args.batch_size}, $", total, TARGETS["cost_per_million_batched"]),
    ]
    for name, value, target in rows:
        print(f"| {name} | {value:.2f} | <= {target:g} | {verdict(value, target)} |")
    print()
    print("Write units by operation (per entry): " + ", ".join(f"{k} {v / n:.3f}" for k, v in sorted(entries["wru"].items())))
    print("  of which index writes: " + ", ".join(f"{k} {v / n:.3f}" for k, v in sorted(entries["index_wru"].items())))
    print("Read units by operation (per entry): " + ", ".join(f"{k} {v / n:.3f}" for k, v in sorted(entries["rru"].items())))
    print("DynamoDB requests (per entry): " + ", ".join(f"{k.split('.', 1)[1]} {v / n:.3f}" for k, v in sorted(ddb.items())))
    print(f"Cancelled transactions: {entries.get('cancelled_transactions', 0)}; failed conditions: {entries.get('conditional_failures', 0)}; metering errors: {entries.get('metering_errors', 0)}")
    print("SQS requests (per entry): " + ", ".join(f"{k.split('.', 1)[1]} {v / n:.3f}" for k, v in sorted(sqs.items())))
    busiest = sorted(entries["partitions"]["wru"].items(), key=lambda kv: -kv[1])[:5]
    print("Busiest partition keys (write units per entry): " + ", ".join(f"{k} {v / n:.3f}" for k, v in busiest))
    runner = {k: v for k, v in entries["requests"].items() if k in RUNNER_ONLY or k.startswith("DynamoDBStreams.")}
    print("Not billed (the runner's stand-ins for AWS: stream polls, status page): " + ", ".join(f"{k} {v}" for k, v in sorted(runner.items())))
    print()
    print(f"| recording one entry ({how}) | $ per million |")
    print("|---|---:|")
    for name, dollars in cost.items():
        print(f"| {name} | {dollars * 1e6:.2f} |")
    print(f"| **total** | **{total:.2f}** |")
    print()
    report = PRICES["apigw_rest_request"] + PRICES["waf_request"] + lambda_cost(1, A["report_ms"], mem["report"])
    report += report_rru * PRICES["dynamodb_rru"] + A["xray_sampled"] * PRICES["xray_trace"]
    print("A replayed key: " + ", ".join(f"{k} {v:g} WRU" for k, v in sorted(replay["wru"].items())) + "; requests " + ", ".join(f"{k} {v}" for k, v in sorted(replay["requests"].items())))
    print(f"A daily balance (warm): {report_requests:.2f} DynamoDB requests, {report_rru:.2f} RRU; ${report * 1e6:.2f} per million reports")


if __name__ == "__main__":
    main()
