#!/usr/bin/env python3
"""A DynamoDB capacity-metering HTTP proxy for the moto emulator.

    .venv/bin/python3 benches/meter.py --upstream http://127.0.0.1:5000 --port 0 --ready-file PATH

The meter listens on 127.0.0.1, prints `meter listening on http://127.0.0.1:PORT` (and writes the URL
to --ready-file), forwards every request unchanged to the upstream (DynamoDB, DynamoDB Streams, SQS,
anything) and returns the upstream's answer unchanged: status, headers less the hop-by-hop ones, body.
moto does not bill capacity the way DynamoDB does, so for DynamoDB requests (`X-Amz-Target:
DynamoDB_20120810.<Operation>`, JSON body) the meter works out what DynamoDB on-demand would bill, by
DynamoDB's documented on-demand rules (the DynamoDB Developer Guide's pages on item sizes and formats,
read and write request units, global secondary index writes and transactions):

Item size: the sum over attributes of the attribute name's UTF-8 bytes plus the value's size. S is its
UTF-8 bytes; N is (significant digits + 1) // 2 + 1 bytes (sign, leading and trailing zeros and the
decimal point dropped); B is its decoded bytes; BOOL and NULL are 1 byte; SS, NS and BS are the sum of
their elements; M and L are 3 bytes + 1 byte per element + each element's size (in an M, each
element's name counts too).

Writes, in write request units (WRU) of 1 KB (1024 bytes), rounded up, at least 1:
- PutItem, UpdateItem, DeleteItem: the larger of the item's size before and after the write. A write
  whose ConditionExpression fails (ConditionalCheckFailedException) still costs the size of the
  existing item (at least 1).
- BatchWriteItem: each put and delete as above (unprocessed items cost nothing).
- TransactWriteItems: each Put, Update and Delete costs twice its standard WRU; a ConditionCheck costs
  twice the checked item's size in KB. A cancelled transaction (TransactionCanceledException) costs
  what its items would have cost, and is counted in `cancelled_transactions`.
- Secondary indexes (global ones, and local ones alike): an item is in an index when it has all the index's key attributes. Comparing the
  images before and after the write, per index: out -> in is 1 index write (a put), in -> out is 1
  (a delete), in -> in with a changed index key is 2 (delete + put), in -> in with the same key is 1
  only if a projected attribute changed (ALL: any attribute; KEYS_ONLY: the table and index keys;
  INCLUDE: those plus NonKeyAttributes), else 0. An index write costs the projected item's size (the
  table keys, the index keys and the projected non-key attributes) in KB, at least 1: a put is sized
  after the write, a delete before it, an in-place update by the larger of the two. Index writes are
  not doubled inside transactions.

Reads, in read request units (RRU) of 4 KB (4096 bytes), rounded up; an eventually consistent read
costs half, a transactional read twice:
- GetItem: the item's size, at least 1 (also when the item is missing), halved unless ConsistentRead.
- BatchGetItem: each key as a GetItem, by its table's ConsistentRead (unprocessed keys cost nothing).
- Query and Scan: the total size of the items read, rounded up once per response, at least 1, halved
  unless ConsistentRead; a query on a global secondary index is always eventually consistent, and the
  items of an index are sized as projected items.
- TransactGetItems: twice each item's size in 4 KB units.

How the figures are measured. Before and after images come from the upstream itself: the meter reads
the affected items with consistent BatchGetItem through boto3 (one client per region, kept; up to 100
keys a call, per table; unprocessed keys asked again, a bounded number of times, then read with
GetItem; these reads are neither metered nor counted), under one global lock held across "read
before, forward, read after" for every write, so concurrent writes are metered exactly; reads take
no lock. A table's key schema and indexes come from DescribeTable, cached per table and dropped on
CreateTable, UpdateTable and DeleteTable. A read's size
is that of the whole item stored (or projected, for an index) even when the request projects, counts
(`Select: COUNT`) or filters: the meter then runs the same read again without ProjectionExpression,
Select and FilterExpression (or their legacy forms) to size the items DynamoDB would have read. A
cancelled transaction's Put is sized by its new item, its Update and Delete by the existing item (the
update was never applied), and writes no index entries.

Every figure is kept per operation and per partition: `table|partition key` for the base table and
`table/index|index partition key` for an index (reads: GetItem, BatchGetItem, Query, TransactGetItems;
a Scan reads no one partition and is kept per operation only). The upstream is read in the region of
the request's SigV4 credential scope (us-east-1 without one). Requests are counted per operation for every service:
`DynamoDB.<Op>`, `DynamoDBStreams.<Op>`, `SQS.<Op>` (from `X-Amz-Target: AmazonSQS.<Op>` or the query
protocol's `Action=`).

    GET /__meter          the report, as JSON (below); not forwarded
    POST /__meter/reset   clears every figure

    {"requests": {"DynamoDB.PutItem": 3, "SQS.SendMessageBatch": 1, ...},
     "wru": {"PutItem": 3.0, ...}, "rru": {"GetItem": 1.0, ...},   # per operation, indexes included
     "index_wru": {"ledger/GSI1": 3.0, ...},                        # the index part of wru
     "partitions": {"wru": {"ledger|A#shop": 6.0, "ledger/GSI1|shop#2026-11-23": 3.0}, "rru": {...}},
     "cancelled_transactions": 0, "conditional_failures": 1, "metering_errors": 0}

Not metered: PartiQL (ExecuteStatement and friends), TTL deletions, streams and backups. Standard
library plus boto3/botocore (which come with moto) only. SIGTERM or SIGINT stops the meter cleanly.
"""

import argparse
import base64
import gzip
import http.client
import json
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WRITE_UNIT = 1024
READ_UNIT = 4096
DEFAULT_REGION = "us-east-1"

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READ_OPS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
SCHEMA_OPS = {"CreateTable", "UpdateTable", "DeleteTable"}

BATCH_GET_KEYS = 100  # BatchGetItem's limit of keys a call
BATCH_GET_ROUNDS = 8  # BatchGetItem calls for a set of keys before its unprocessed keys are read one by one

# The X-Amz-Target prefixes (JSON protocols) and credential-scope services (query protocol) the
# request counts are named by.
TARGET_SERVICES = {"DynamoDB_20120810": "DynamoDB", "DynamoDBStreams_20120810": "DynamoDBStreams", "AmazonSQS": "SQS"}
SCOPE_SERVICES = {"sqs": "SQS", "dynamodb": "DynamoDB", "sns": "SNS", "sts": "STS"}

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


# ---------------------------------------------------------------------------------------------------
# Sizes


def number_size(text):
    """Bytes of a DynamoDB number: (significant digits + 1) // 2 + 1."""
    try:
        digits = "".join(map(str, Decimal(text).as_tuple().digits))
    except (InvalidOperation, TypeError, ValueError):
        digits = re.sub(r"[^0-9]", "", str(text).split("e")[0].split("E")[0])
    significant = len(digits.strip("0"))
    return (significant + 1) // 2 + 1


def binary_size(value):
    """Bytes of a B value: raw bytes (boto3's form) or base64 text (the wire form)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    return len(base64.b64decode(value))


def value_size(value):
    """Bytes of one attribute value in DynamoDB JSON (`{"S": "x"}`), its name not included."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return binary_size(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in v)
    if kind == "NS":
        return sum(number_size(n) for n in v)
    if kind == "BS":
        return sum(binary_size(b) for b in v)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + value_size(e) for name, e in v.items())
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item):
    """Bytes of an item in DynamoDB JSON (`{"PK": {"S": "..."}, ...}`); 0 for None (no item)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size):
    """WRU of a write of `size` bytes: 1 per 1 KB, rounded up, at least 1."""
    return max(1, math.ceil(size / WRITE_UNIT))


def read_units(size):
    """RRU of a strongly consistent read of `size` bytes: 1 per 4 KB, rounded up, at least 1."""
    return max(1, math.ceil(size / READ_UNIT))


# ---------------------------------------------------------------------------------------------------
# Attribute values


def canonical(value):
    """A hashable form of an attribute value in which equal values are equal (5 == 5.0, B as bytes)."""
    (kind, v), = value.items()
    if kind == "N":
        return ("N", _number(v))
    if kind == "B":
        return ("B", _bytes(v))
    if kind == "SS":
        return ("SS", frozenset(v))
    if kind == "NS":
        return ("NS", frozenset(_number(n) for n in v))
    if kind == "BS":
        return ("BS", frozenset(_bytes(b) for b in v))
    if kind == "M":
        return ("M", frozenset((name, canonical(e)) for name, e in v.items()))
    if kind == "L":
        return ("L", tuple(canonical(e) for e in v))
    return (kind, v)


def _number(text):
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        return text


def _bytes(value):
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else base64.b64decode(value)


def canonical_item(item):
    return frozenset((name, canonical(value)) for name, value in (item or {}).items())


def key_text(value):
    """A partition key value as the text of the report: S and N as they are, B in base64."""
    if value is None:
        return "?"
    (kind, v), = value.items()
    if kind == "B":
        return base64.b64encode(_bytes(v)).decode("ascii")
    return v if isinstance(v, str) else json.dumps(v)


def to_boto(obj):
    """Wire-form DynamoDB JSON made fit for boto3's low-level client, which wants B values as bytes."""
    if isinstance(obj, dict):
        if len(obj) == 1:
            (kind, v), = obj.items()
            if kind == "B" and isinstance(v, str):
                return {"B": base64.b64decode(v)}
            if kind == "BS" and isinstance(v, list) and all(isinstance(b, str) for b in v):
                return {"BS": [base64.b64decode(b) for b in v]}
        return {k: to_boto(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_boto(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------------
# Schema


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple  # attribute names, partition key first
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    non_key: frozenset = frozenset()
    is_global: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple  # attribute names, partition key first
    indexes: tuple = ()

    def index(self, name):
        for index in self.indexes:
            if index.name == name:
                return index
        return None


def _key_names(key_schema):
    hash_ = [k["AttributeName"] for k in key_schema if k["KeyType"] == "HASH"]
    range_ = [k["AttributeName"] for k in key_schema if k["KeyType"] == "RANGE"]
    return tuple(hash_ + range_)


def table_from_description(desc):
    """A Table from DescribeTable's `Table`: its keys and its global and local secondary indexes."""
    indexes = []
    for field, is_global in (("GlobalSecondaryIndexes", True), ("LocalSecondaryIndexes", False)):
        for i in desc.get(field) or []:
            projection = i.get("Projection") or {}
            indexes.append(
                Index(
                    name=i["IndexName"],
                    keys=_key_names(i["KeySchema"]),
                    projection=projection.get("ProjectionType", "ALL"),
                    non_key=frozenset(projection.get("NonKeyAttributes") or ()),
                    is_global=is_global,
                )
            )
    return Table(name=desc["TableName"], keys=_key_names(desc["KeySchema"]), indexes=tuple(indexes))


def key_of(item, keys):
    """The attributes of `item` named in `keys`."""
    return {k: item[k] for k in keys if k in (item or {})}


def key_id(key, keys):
    """A hashable identity of a key (or of an item's key)."""
    return tuple(canonical(key[k]) if k in key else None for k in keys)


def projected_item(item, table, index):
    """The entry `index` holds for `item`: table keys, index keys and projected non-key attributes."""
    if index.projection == "ALL":
        return dict(item)
    names = set(table.keys) | set(index.keys)
    if index.projection == "INCLUDE":
        names |= index.non_key
    return {k: v for k, v in item.items() if k in names}


def in_index(item, index):
    """Whether `item` (None: no item) appears in `index`: it has every key attribute of the index."""
    return item is not None and all(k in item for k in index.keys)


# ---------------------------------------------------------------------------------------------------
# Billing


@dataclass(frozen=True)
class Charge:
    """Capacity units billed to one partition of a table (`ledger`) or of an index (`ledger/GSI1`);
    partition None for a Scan, which reads no one partition."""

    label: str
    partition: object
    units: float
    index: bool = False


@dataclass(frozen=True)
class IndexWrite:
    kind: str  # put | delete | update
    partition: str
    units: int


def index_writes(before, after, table, index):
    """The writes to `index` of a write turning the item `before` into `after` (None: no item)."""
    was, now = in_index(before, index), in_index(after, index)
    old = projected_item(before, table, index) if was else None
    new = projected_item(after, table, index) if now else None
    hash_key = index.keys[0]
    delete = IndexWrite("delete", key_text(before[hash_key]), write_units(item_size(old))) if was else None
    put = IndexWrite("put", key_text(after[hash_key]), write_units(item_size(new))) if now else None
    if was and not now:
        return [delete]
    if now and not was:
        return [put]
    if not was:
        return []
    if key_id(before, index.keys) != key_id(after, index.keys):
        return [delete, put]
    if canonical_item(old) != canonical_item(new):
        return [IndexWrite("update", put.partition, write_units(max(item_size(old), item_size(new))))]
    return []


def write_charges(table, key, before, after, outcome="ok", transactional=False):
    """What a write of one item costs. `outcome`: ok, condition_failed (the item is unchanged) or
    cancelled (a cancelled transaction: billed as written, without index writes)."""
    partition = key_text(key.get(table.keys[0]))
    factor = 2 if transactional else 1
    if outcome == "condition_failed":
        return [Charge(table.name, partition, float(factor * write_units(item_size(before))))]
    size = max(item_size(before), item_size(after))
    charges = [Charge(table.name, partition, float(factor * write_units(size)))]
    if outcome == "ok":
        for index in table.indexes:
            label = f"{table.name}/{index.name}"
            charges += [Charge(label, w.partition, float(w.units), True) for w in index_writes(before, after, table, index)]
    return charges


def condition_check_charges(table, key, item):
    """A ConditionCheck of TransactWriteItems: twice the checked item's size in WRU."""
    return [Charge(table.name, key_text(key.get(table.keys[0])), float(2 * write_units(item_size(item))))]


def get_units(item, consistent=True, transactional=False):
    """RRU of reading one item (None: missing) by key."""
    units = read_units(item_size(item))
    return float(units * 2 if transactional else units if consistent else units / 2)


def query_units(items, consistent):
    """RRU of one Query or Scan response that read `items`."""
    units = read_units(sum(item_size(i) for i in items))
    return float(units if consistent else units / 2)


def query_partition(request, hash_name):
    """The partition key value a Query names, from KeyConditionExpression or legacy KeyConditions."""
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    expression = request.get("KeyConditionExpression") or ""
    for m in re.finditer(r"(#?\w+)\s*=\s*(:\w+)|(:\w+)\s*=\s*(#?\w+)", expression):
        name, value = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if names.get(name, name) == hash_name and value in values:
            return values[value]
    condition = (request.get("KeyConditions") or {}).get(hash_name) or {}
    listed = condition.get("AttributeValueList") or []
    return listed[0] if listed else None


# Request members that make a read return less than it read; the meter re-reads without them.
SHRINKING = ("Select", "ProjectionExpression", "AttributesToGet", "FilterExpression", "QueryFilter", "ScanFilter")


def sizing_request(request):
    """`request` (a Query or Scan) without what shrinks its response, or None if nothing does."""
    if not any(k in request for k in SHRINKING):
        return None
    sized = {k: v for k, v in request.items() if k not in SHRINKING + ("ConditionalOperator", "ReturnConsumedCapacity")}
    used = " ".join(str(sized.get(k) or "") for k in ("KeyConditionExpression",))
    for field, pattern in (("ExpressionAttributeNames", r"#\w+"), ("ExpressionAttributeValues", r":\w+")):
        tokens = set(re.findall(pattern, used))
        kept = {k: v for k, v in (sized.get(field) or {}).items() if k in tokens}
        if kept:
            sized[field] = kept
        else:
            sized.pop(field, None)
    return sized


# ---------------------------------------------------------------------------------------------------
# Counters


class Ledger:
    """Every figure the meter keeps, behind one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.requests = defaultdict(int)
            self.wru = defaultdict(float)
            self.rru = defaultdict(float)
            self.index_wru = defaultdict(float)
            self.partitions = {"wru": defaultdict(float), "rru": defaultdict(float)}
            self.cancelled_transactions = 0
            self.conditional_failures = 0
            self.metering_errors = 0

    def count(self, name):
        with self._lock:
            self.requests[name] += 1

    def bill(self, unit, operation, charges):
        """Adds `charges` (Charge) in `unit` (wru or rru) to `operation`."""
        with self._lock:
            per_op = self.wru if unit == "wru" else self.rru
            per_op[operation] += sum(c.units for c in charges)
            for c in charges:
                if c.partition is not None:
                    self.partitions[unit][f"{c.label}|{c.partition}"] += c.units
                if c.index:
                    self.index_wru[c.label] += c.units

    def flag(self, name):
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def report(self):
        with self._lock:
            return {
                "requests": dict(sorted(self.requests.items())),
                "wru": dict(sorted(self.wru.items())),
                "rru": dict(sorted(self.rru.items())),
                "index_wru": dict(sorted(self.index_wru.items())),
                "partitions": {u: dict(sorted(p.items())) for u, p in self.partitions.items()},
                "cancelled_transactions": self.cancelled_transactions,
                "conditional_failures": self.conditional_failures,
                "metering_errors": self.metering_errors,
            }


# ---------------------------------------------------------------------------------------------------
# The upstream, seen through boto3: schemas and unmetered reads


class Upstream:
    def __init__(self, url):
        self.url = url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.scheme, self.host, self.port = parsed.scheme, parsed.hostname, parsed.port
        self.prefix = parsed.path
        self._clients = {}
        self._tables = {}
        self._lock = threading.Lock()

    def connection(self):
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=120)

    def client(self, region):
        with self._lock:
            if region not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[region] = boto3.session.Session().client(
                    "dynamodb",
                    endpoint_url=self.url,
                    region_name=region,
                    aws_access_key_id="meter",
                    aws_secret_access_key="meter",
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32),
                )
            return self._clients[region]

    def table(self, region, name):
        with self._lock:
            cached = self._tables.get((region, name))
        if cached is None:
            cached = table_from_description(self.client(region).describe_table(TableName=name)["Table"])
            with self._lock:
                self._tables[(region, name)] = cached
        return cached

    def forget(self, region, name):
        with self._lock:
            self._tables.pop((region, name), None)

    def get_item(self, region, table, key):
        """The item under `key` (wire form), read consistently; None if there is none."""
        return self.client(region).get_item(TableName=table, Key=to_boto(key), ConsistentRead=True).get("Item")

    def get_items(self, region, table, keys):
        """The items under `keys` of `table` (a Table), read consistently with BatchGetItem: one per key,
        in order, None where there is none. At most BATCH_GET_KEYS keys a call; UnprocessedKeys are
        asked again, BATCH_GET_ROUNDS times at most, and whatever is left then is read with GetItem."""
        wanted = {}  # key id -> the first key of that id (BatchGetItem refuses duplicates)
        for key in keys:
            wanted.setdefault(key_id(key, table.keys), key)
        found = {}
        client = self.client(region)
        ids = list(wanted)
        for start in range(0, len(ids), BATCH_GET_KEYS):
            pending = [to_boto(wanted[i]) for i in ids[start : start + BATCH_GET_KEYS]]
            for attempt in range(BATCH_GET_ROUNDS):
                if not pending:
                    break
                if attempt:
                    time.sleep(min(0.01 * 2 ** attempt, 0.2))
                answer = client.batch_get_item(RequestItems={table.name: {"Keys": pending, "ConsistentRead": True}})
                for item in (answer.get("Responses") or {}).get(table.name) or []:
                    found[key_id(item, table.keys)] = item
                pending = ((answer.get("UnprocessedKeys") or {}).get(table.name) or {}).get("Keys") or []
            for key in pending:  # still unprocessed after every round
                item = client.get_item(TableName=table.name, Key=key, ConsistentRead=True).get("Item")
                if item is not None:
                    found[key_id(item, table.keys)] = item
        return [found.get(key_id(key, table.keys)) for key in keys]

    def read_all(self, region, operation, request):
        """The items of a Query or Scan page as read, before projection and filters."""
        params = to_boto(request)
        call = self.client(region).query if operation == "Query" else self.client(region).scan
        return call(**params).get("Items") or []


# ---------------------------------------------------------------------------------------------------
# Metering of DynamoDB operations


@dataclass
class Target:
    """One item a write operation touches."""

    table: Table
    key: dict
    kind: str  # put | update | delete | check
    item: dict = None  # a put's new item
    before: dict = None
    after: dict = None


def write_targets(upstream, region, operation, request):
    """The items `operation` touches, with their images before the write."""
    targets = []

    def add(table_name, kind, key=None, item=None):
        table = upstream.table(region, table_name)
        targets.append(Target(table, key if key is not None else key_of(item, table.keys), kind, item))

    if operation == "PutItem":
        add(request["TableName"], "put", item=request["Item"])
    elif operation in ("UpdateItem", "DeleteItem"):
        add(request["TableName"], "update" if operation == "UpdateItem" else "delete", key=request["Key"])
    elif operation == "BatchWriteItem":
        for table_name, writes in request["RequestItems"].items():
            for w in writes:
                if "PutRequest" in w:
                    add(table_name, "put", item=w["PutRequest"]["Item"])
                else:
                    add(table_name, "delete", key=w["DeleteRequest"]["Key"])
    elif operation == "TransactWriteItems":
        for t in request["TransactItems"]:
            (action, body), = t.items()
            kind = {"Put": "put", "Update": "update", "Delete": "delete", "ConditionCheck": "check"}[action]
            add(body["TableName"], kind, key=body.get("Key"), item=body.get("Item"))
    for t, before in zip(targets, read_images(upstream, region, targets)):
        t.before = before
    return targets


def read_images(upstream, region, targets):
    """The stored items of `targets` (unmetered consistent reads, batched per table), in order."""
    by_table = defaultdict(list)  # table name -> [(position, target)]
    for position, t in enumerate(targets):
        by_table[t.table.name].append((position, t))
    images = [None] * len(targets)
    for group in by_table.values():
        table = group[0][1].table
        for (position, _), item in zip(group, upstream.get_items(region, table, [t.key for _, t in group])):
            images[position] = item
    return images


def unprocessed_writes(upstream, region, response):
    """(table, key id) of each item in BatchWriteItem's UnprocessedItems."""
    left = set()
    for table_name, writes in (response.get("UnprocessedItems") or {}).items():
        keys = upstream.table(region, table_name).keys
        for w in writes:
            image = w["PutRequest"]["Item"] if "PutRequest" in w else w["DeleteRequest"]["Key"]
            left.add((table_name, key_id(image, keys)))
    return left


def bill_write(ledger, upstream, region, operation, targets, status, response):
    """Bills a forwarded write from its targets (before images read) and the upstream's answer."""
    error = error_type(response)
    transactional = operation == "TransactWriteItems"
    charges = []
    if status == 200:
        left = unprocessed_writes(upstream, region, response)
        done = [t for t in targets if (t.table.name, key_id(t.key, t.table.keys)) not in left]
        written = [t for t in done if t.kind != "check"]
        for t, after in zip(written, read_images(upstream, region, written)):
            t.after = after
        for t in done:
            if t.kind == "check":
                charges += condition_check_charges(t.table, t.key, t.before)
            else:
                charges += write_charges(t.table, t.key, t.before, t.after, "ok", transactional)
    elif error == "ConditionalCheckFailedException" and not transactional:
        ledger.flag("conditional_failures")
        for t in targets:
            charges += write_charges(t.table, t.key, t.before, None, "condition_failed")
    elif error == "TransactionCanceledException" and transactional:
        ledger.flag("cancelled_transactions")
        for t in targets:
            if t.kind == "check":
                charges += condition_check_charges(t.table, t.key, t.before)
            else:
                after = t.item if t.kind == "put" else t.before if t.kind == "update" else None
                charges += write_charges(t.table, t.key, t.before, after, "cancelled", True)
    if charges:
        ledger.bill("wru", operation, charges)


def bill_read(ledger, upstream, region, operation, request, response):
    """Bills a successful read from its request and the upstream's answer."""

    def whole(table, key, item, ask):
        """The stored item behind `item`, which `ask` may have projected."""
        projects = "ProjectionExpression" in ask or "AttributesToGet" in ask
        return upstream.get_item(region, table.name, key) if item is not None and projects else item

    def partition(table, key):
        return key_text(key.get(table.keys[0]))

    charges = []
    if operation == "GetItem":
        table = upstream.table(region, request["TableName"])
        item = whole(table, request["Key"], response.get("Item"), request)
        units = get_units(item, consistent=bool(request.get("ConsistentRead")))
        charges.append(Charge(table.name, partition(table, request["Key"]), units))
    elif operation == "BatchGetItem":
        responses = response.get("Responses") or {}
        unprocessed = response.get("UnprocessedKeys") or {}
        for table_name, ask in request["RequestItems"].items():
            table = upstream.table(region, table_name)
            got = {key_id(i, table.keys): i for i in responses.get(table_name) or []}
            left = {key_id(k, table.keys) for k in (unprocessed.get(table_name) or {}).get("Keys") or []}
            for key in ask["Keys"]:
                if key_id(key, table.keys) in left:
                    continue
                item = whole(table, key, got.get(key_id(key, table.keys)), ask)
                units = get_units(item, consistent=bool(ask.get("ConsistentRead")))
                charges.append(Charge(table.name, partition(table, key), units))
    elif operation == "TransactGetItems":
        for ask, got in zip(request["TransactItems"], response.get("Responses") or []):
            get = ask["Get"]
            table = upstream.table(region, get["TableName"])
            item = whole(table, get["Key"], (got or {}).get("Item"), get)
            charges.append(Charge(table.name, partition(table, get["Key"]), get_units(item, transactional=True)))
    elif operation in ("Query", "Scan"):
        table = upstream.table(region, request["TableName"])
        index = table.index(request["IndexName"]) if request.get("IndexName") else None
        sized = sizing_request(request)
        if sized is None:
            items = response.get("Items") or []
        else:
            items = upstream.read_all(region, operation, sized)
        if index is not None:
            items = [projected_item(i, table, index) for i in items]
        consistent = bool(request.get("ConsistentRead")) and not (index is not None and index.is_global)
        label = table.name if index is None else f"{table.name}/{index.name}"
        key = None
        if operation == "Query":
            key = key_text(query_partition(request, (index or table).keys[0]))
        charges.append(Charge(label, key, query_units(items, consistent)))
    if charges:
        ledger.bill("rru", operation, charges)


def error_type(response):
    """The short error type of a DynamoDB error answer (`ConditionalCheckFailedException`), or None."""
    kind = response.get("__type") if isinstance(response, dict) else None
    return kind.rsplit("#", 1)[-1] if kind else None


# ---------------------------------------------------------------------------------------------------
# Requests


def request_name(method, headers, path, body):
    """The name a request is counted under: `DynamoDB.PutItem`, `SQS.SendMessage`, ..."""
    target = headers.get("X-Amz-Target")
    if target and "." in target:
        prefix, op = target.rsplit(".", 1)
        return f"{TARGET_SERVICES.get(prefix, prefix)}.{op}"
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if "application/x-www-form-urlencoded" in (headers.get("Content-Type") or ""):
        params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    scope = credential_scope(headers)
    service = SCOPE_SERVICES.get(scope[1], scope[1]) if scope else "HTTP"
    if "Action" in params:
        return f"{service}.{params['Action'][0]}"
    return f"{service}.{method}"


def credential_scope(headers):
    """(region, service) of a SigV4 Authorization header, or None."""
    m = re.search(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request", headers.get("Authorization") or "")
    return (m.group(1), m.group(2)) if m else None


def parsed(answer):
    """The JSON body of an upstream answer (status, reason, headers, body)."""
    _, _, headers, body = answer
    encoding = next((v for k, v in headers if k.lower() == "content-encoding"), "")
    if "gzip" in encoding.lower():
        body = gzip.decompress(body)
    return json.loads(body or b"{}")


def billable(answer):
    """Whether a write's answer is one DynamoDB bills: a success, a failed condition, a cancellation."""
    if answer[0] == 200:
        return True
    try:
        return error_type(parsed(answer)) in ("ConditionalCheckFailedException", "TransactionCanceledException")
    except ValueError:
        return False


class MeterHandler(BaseHTTPRequestHandler):
    """The proxy: forwards every request, meters DynamoDB's, serves /__meter."""

    protocol_version = "HTTP/1.1"
    server_version = "meter"

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    # Control ---------------------------------------------------------------------------------------

    def control(self):
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if self.command == "GET" and path == "/__meter":
            return self.reply(200, self.server.ledger.report())
        if self.command == "POST" and path == "/__meter/reset":
            self.server.ledger.reset()
            return self.reply(200, {"reset": True})
        return self.reply(404, {"message": f"no {self.command} {path} here"})

    def reply(self, status, payload):
        data = json.dumps(payload, indent=1).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # Proxy -----------------------------------------------------------------------------------------

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_any(self):
        body = self.read_body()
        if urllib.parse.urlsplit(self.path).path.startswith("/__meter"):
            return self.control()
        name = request_name(self.command, self.headers, self.path, body)
        self.server.ledger.count(name)
        service, _, operation = name.partition(".")
        answer = None
        if service == "DynamoDB":
            answer = self.meter_dynamodb(operation, body)
        if answer is None:
            answer = self.forward(body)
        self.send_answer(*answer)

    def forward(self, body):
        """Sends the request to the upstream: (status, reason, headers, body)."""
        upstream = self.server.upstream
        target = self.path
        if "://" in target:  # absolute form
            parts = urllib.parse.urlsplit(target)
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        connection_named = {h.strip().lower() for h in (self.headers.get("Connection") or "").split(",")}
        conn = upstream.connection()
        try:
            conn.putrequest(self.command, upstream.prefix + target, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                low = k.lower()
                if low in HOP_BY_HOP or low in connection_named or low == "content-length":
                    continue
                conn.putheader(k, v)
            if body or self.command in ("POST", "PUT", "PATCH") or "Content-Length" in self.headers:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            r = conn.getresponse()
            data = r.read()
            return r.status, r.reason, r.getheaders(), data
        except (OSError, http.client.HTTPException) as e:
            payload = json.dumps({"message": f"meter: upstream {upstream.url} failed: {e}"}).encode()
            return 502, "Bad Gateway", [("Content-Type", "application/json")], payload
        finally:
            conn.close()

    def send_answer(self, status, reason, headers, data):
        self.log_request(status)
        self.send_response_only(status, reason)
        connection_named = {
            token.strip().lower() for k, v in headers if k.lower() == "connection" for token in v.split(",")
        }
        for k, v in headers:
            low = k.lower()
            if low in HOP_BY_HOP or low in connection_named or (low == "content-length" and self.command != "HEAD"):
                continue
            self.send_header(k, v)
        if self.command != "HEAD" and not (100 <= status < 200 or status in (204, 304)):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def meter_dynamodb(self, operation, body):
        """Forwards and meters one DynamoDB request; None if it is not one the meter handles."""
        if operation not in WRITE_OPS | READ_OPS | SCHEMA_OPS:
            return None
        server, ledger, upstream = self.server, self.server.ledger, self.server.upstream
        scope = credential_scope(self.headers)
        region = scope[0] if scope else DEFAULT_REGION
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None

        if operation in SCHEMA_OPS:
            answer = self.forward(body)
            upstream.forget(region, request.get("TableName"))
            return answer
        if operation in READ_OPS:
            answer = self.forward(body)
            if answer[0] == 200:
                self.guarded(lambda: bill_read(ledger, upstream, region, operation, request, parsed(answer)))
            return answer
        with server.write_lock:
            try:
                targets, failure = write_targets(upstream, region, operation, request), None
            except Exception:  # noqa: BLE001 - e.g. no such table: the upstream says so, and bills nothing
                targets, failure = None, traceback.format_exc()
            answer = self.forward(body)
            if targets is not None:
                self.guarded(lambda: bill_write(ledger, upstream, region, operation, targets, answer[0], parsed(answer)))
            elif billable(answer):
                self.metering_failed(failure)
        return answer

    def guarded(self, step):
        """Runs a metering step; a failure is logged and counted, never passed on to the client."""
        try:
            step()
        except Exception:  # noqa: BLE001 - metering must never break the proxied request
            self.metering_failed(traceback.format_exc())

    def metering_failed(self, details):
        self.server.ledger.flag("metering_errors")
        sys.stderr.write(f"meter: metering {self.headers.get('X-Amz-Target')} failed:\n{details}")

    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write("meter: %s %s\n" % (self.address_string(), format % args))


class MeterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, upstream_url, verbose=False):
        super().__init__(address, MeterHandler)
        self.upstream = Upstream(upstream_url)
        self.ledger = Ledger()
        self.write_lock = threading.Lock()
        self.verbose = verbose


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the emulator's URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--ready-file", help="file to write the meter's URL into once it listens")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    server = MeterServer(("127.0.0.1", args.port), args.upstream, args.verbose)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="meter", daemon=True)
    serving.start()
    print(f"meter listening on {url}", flush=True)
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write(url + "\n")
        os.replace(args.ready_file + ".tmp", args.ready_file)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
