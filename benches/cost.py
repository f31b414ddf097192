#!/usr/bin/env python3
"""Requests per entry and cost per million entries, from measured request counts.

Runs `shared/tests/requests.rs` against the moto emulator (CI=true, so a missing emulator fails
instead of skipping), reads the request counts each test prints, turns them into DynamoDB capacity
units with the table design of docs/dynamodb.md, and prices them with the us-east-1 list prices
below. Memory sizes come from the defaults in infra/variables.tf. Everything that is assumed rather
than measured is named in ASSUMPTIONS and printed with the table.

    python3 benches/cost.py               # runs the test, then prints the tables
    python3 benches/cost.py --log FILE    # reads a saved `--no-capture` output instead

Standard library only.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# us-east-1 public list prices, on-demand, free tiers ignored. Compiled 2026-11-23 from the AWS
# pricing pages (DynamoDB after its 2024-11-01 on-demand reduction); re-check before relying on them.
PRICES_DATE = "2026-11-23"
PRICES = {
    "dynamodb_wru": 0.625 / 1e6,  # per write request unit (1 KB; a transactional write item costs 2)
    "dynamodb_rru": 0.125 / 1e6,  # per read request unit (4 KB strongly consistent; transactional 2)
    "sqs_request": 0.40 / 1e6,  # standard queue, per request of up to 64 KB
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_s_arm64": 0.0000133334,  # per GB-second, arm64, first tier
    "apigw_rest_request": 3.50 / 1e6,  # REST API, first 333 million a month
    "waf_request": 0.60 / 1e6,  # web ACL requests (infra/waf.tf fronts the API)
}

# What the request counts alone do not say. Item sizes are those of docs/dynamodb.md's items with
# short descriptions; durations are warm handler times rounded up to Lambda's billing (1 ms steps).
ASSUMPTIONS = {
    # key: (value, what it means); a value of None is a condition the figures hold under.
    "small_items": (None, "entry and idempotency-key items under 1 KB (a description of up to ~400 bytes)"),
    "ingest_items": (2, "items in ingest's transaction (idempotency key + entry)"),
    "ingest_index_writes": (2, "indexes an entry is written to when recorded (GSI1 + GSI2)"),
    "applied_index_writes": (2, "index writes per entry when applied (GSI1 rewrite + GSI2 removal)"),
    "round_rollup_items": (3, "rollup items per consolidation round besides the entries (lock + day + month)"),
    "round_read_keys": (2, "BatchGetItem keys per consolidation round besides the entries (lock + day)"),
    "day_item_bytes": (100, "a day item's size in bytes"),
    "consistent": (None, "every read strongly consistent; every Query under 4 KB except a range's days"),
    "batch": (100, "consolidation batch size (SQS event source mapping)"),
    "sqs_per_message": (0.2, "SQS requests per consolidated message (ReceiveMessage + DeleteMessageBatch, 10 each)"),
    "ingest_ms": (10, "ingest duration, ms"),
    "report_ms": (10, "report duration, ms"),
    "consolidate_ms": (100, "consolidate duration per batch of 100, ms"),
}
A = {k: v for k, (v, _) in ASSUMPTIONS.items()}


def memory_mb(function):
    """The default memory of `function` in infra/variables.tf."""
    text = (ROOT / "infra/variables.tf").read_text()
    block = re.search(r'variable "%s_memory_mb" \{(.*?)\n\}' % function, text, re.S)
    if not block:
        sys.exit(f"no {function}_memory_mb in infra/variables.tf")
    return int(re.search(r"default\s*=\s*(\d+)", block.group(1)).group(1))


def run_test():
    cmd = ["cargo", "nextest", "run", "-p", "fluxo-shared", "--test", "requests", "--no-capture"]
    print("$ CI=true " + " ".join(cmd), file=sys.stderr)
    env = dict(os.environ, CI="true")
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        sys.stderr.write(output)
        sys.exit(f"the request-count test failed (exit {done.returncode})")
    return output


def counts(output, label):
    """The request counts printed after `label` by shared/tests/requests.rs."""
    match = re.search(re.escape(label) + r"[^:]*: \{([^}]*)\}", output)
    if not match:
        sys.exit(f"no counts for {label!r} in the test output")
    return {k: int(v) for k, v in re.findall(r'"([^"]+)": (\d+)', match.group(1))}


def op(c, name):
    return sum(v for k, v in c.items() if k.endswith("." + name))


def service(c, prefix):
    return sum(v for k, v in c.items() if k.startswith(prefix))


def lambda_cost(invocations, ms, mb):
    return invocations * (PRICES["lambda_request"] + ms / 1000 * mb / 1024 * PRICES["lambda_gb_s_arm64"])


def main():
    args = sys.argv[1:]
    output = Path(args[1]).read_text() if args[:1] == ["--log"] and len(args) == 2 else run_test()
    ingest = counts(output, "ingest, one entry")
    batch = counts(output, "consolidation, 100 entries")
    reports = re.findall(r"report (\S+)\.\.(\S+): \{([^}]*)\}", output)
    if len(reports) != 2:
        sys.exit("expected the daily and the 31-day report counts in the test output")
    daily, monthly = ({k: int(v) for k, v in re.findall(r'"([^"]+)": (\d+)', r[2])} for r in reports)

    n = A["batch"]
    mem = {f: memory_mb(f) for f in ("ingest", "report", "consolidate")}
    rows = []  # (step, requests per unit, capacity per unit, $ per million)

    # Recording: measured requests, capacity by the table design.
    i_rru = op(ingest, "GetItem") * 1
    i_wru = op(ingest, "TransactWriteItems") * (A["ingest_items"] * 2 + A["ingest_index_writes"])
    i_sqs = service(ingest, "SQS")
    rows.append(("API Gateway REST + WAF", "1 + 1", "", 1e6 * (PRICES["apigw_rest_request"] + PRICES["waf_request"])))
    rows.append(("ingest Lambda", f"1 invocation, {A['ingest_ms']} ms at {mem['ingest']} MB", "", 1e6 * lambda_cost(1, A["ingest_ms"], mem["ingest"])))
    rows.append(("ingest DynamoDB", fmt_ops(ingest, "DynamoDB"), f"{i_rru} RRU, {i_wru} WRU", 1e6 * (i_rru * PRICES["dynamodb_rru"] + i_wru * PRICES["dynamodb_wru"])))
    rows.append(("ingest SQS", fmt_ops(ingest, "SQS"), f"{i_sqs} request(s)", 1e6 * i_sqs * PRICES["sqs_request"]))

    rounds = op(batch, "TransactWriteItems")
    c_rru = n + rounds * A["round_read_keys"] + op(batch, "Query")
    c_wru = (n + rounds * A["round_rollup_items"]) * 2 + n * A["applied_index_writes"]
    c_sqs = A["sqs_per_message"] * n
    rows.append(("consolidate DynamoDB, per 100", fmt_ops(batch, "DynamoDB"), f"{c_rru} RRU, {c_wru} WRU", 1e6 / n * (c_rru * PRICES["dynamodb_rru"] + c_wru * PRICES["dynamodb_wru"])))
    rows.append(("consolidate SQS, per 100", f"{c_sqs:g} receive + delete (modelled)", f"{c_sqs:g} requests", 1e6 / n * c_sqs * PRICES["sqs_request"]))
    rows.append(("consolidate Lambda, per 100", f"1 invocation, {A['consolidate_ms']} ms at {mem['consolidate']} MB", "", 1e6 / n * lambda_cost(1, A["consolidate_ms"], mem["consolidate"])))
    recording = sum(r[3] for r in rows)

    def report_rows(c, days_read):
        day_kb = days_read * A["day_item_bytes"] / 1000
        rru = op(c, "GetItem") + (op(c, "Query") - 1) + max(1, math.ceil(day_kb / 4))
        return (
            fmt_ops(c, "DynamoDB"),
            f"{rru} RRU",
            1e6 * (rru * PRICES["dynamodb_rru"] + PRICES["apigw_rest_request"] + PRICES["waf_request"])
            + 1e6 * lambda_cost(1, A["report_ms"], mem["report"]),
        )

    # The days query reads from the first day of the first month of the range: a 31-day range that
    # starts late in a month reads up to 61 day items, a single date at most 31.
    d_ops, d_cap, d_cost = report_rows(daily, 31)
    m_ops, m_cap, m_cost = report_rows(monthly, 61)

    print(f"Prices: us-east-1 list prices of {PRICES_DATE}, free tiers ignored:")
    for k, v in PRICES.items():
        print(f"  {k}: " + (f"${v:.10f} per GB-second" if "gb_s" in k else f"${v * 1e6:.3f} per million"))
    print("Memory (infra/variables.tf defaults): " + ", ".join(f"{k} {v} MB" for k, v in mem.items()))
    print("Assumptions:")
    for value, meaning in ASSUMPTIONS.values():
        print(f"  - {meaning}" + ("" if value is None else f": {value}"))
    print()
    print("| recording one entry | requests (measured) | capacity | $ per million entries |")
    print("|---|---|---|---:|")
    for step, req, cap, cost in rows:
        print(f"| {step} | {req} | {cap} | {cost:.2f} |")
    print(f"| **total** | | | **{recording:.2f}** |")
    print()
    print("| reading (API Gateway + WAF + report Lambda + DynamoDB) | requests (measured) | capacity | $ per million reports |")
    print("|---|---|---|---:|")
    print(f"| daily balance | {d_ops} | {d_cap} | {d_cost:.2f} |")
    print(f"| 31-day range | {m_ops} | {m_cap} | {m_cost:.2f} |")
    print()
    dynamodb = service(ingest, "DynamoDB") + service(batch, "DynamoDB") / n
    sqs = service(ingest, "SQS") + A["sqs_per_message"]
    print(f"Requests per entry recorded and consolidated: DynamoDB {dynamodb:.2f}, SQS {sqs:.2f} (of which {A['sqs_per_message']} modelled)")
    print(f"Per million entries with one daily-balance read each: ${recording + d_cost:.2f}")


def fmt_ops(c, prefix):
    return ", ".join(f"{v} {k.split('.', 1)[1]}" for k, v in sorted(c.items()) if k.startswith(prefix)) or "none"


if __name__ == "__main__":
    main()
