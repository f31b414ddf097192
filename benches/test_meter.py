"""Tests of benches/meter.py: item sizes and billing rules, then the proxy end to end over moto.

    .venv/bin/python3 -m unittest benches/test_meter.py -v

The end-to-end tests start moto (`.venv/bin/moto_server`) and the meter in subprocesses on free ports
and stop both when the tests end, also when they fail.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import meter  # noqa: E402
from meter import (  # noqa: E402
    Index,
    Table,
    index_writes,
    item_size,
    number_size,
    read_units,
    write_charges,
    write_units,
)

S = lambda v: {"S": v}  # noqa: E731
N = lambda v: {"N": v}  # noqa: E731

LEDGER = Table(
    name="ledger",
    keys=("PK", "SK"),
    indexes=(Index("GSI1", ("GSI1PK", "GSI1SK"), "INCLUDE", frozenset({"amount"})),),
)
GSI1 = LEDGER.indexes[0]


def entry(**extra):
    item = {"PK": S("A#shop"), "SK": S("E#1"), "GSI1PK": S("shop#2026-11-23"), "GSI1SK": S("1"), "amount": N("1500")}
    item.update(extra)
    return {k: v for k, v in item.items() if v is not None}


class ItemSize(unittest.TestCase):
    def test_strings_count_utf8_bytes_of_names_and_values(self):
        self.assertEqual(item_size({"PK": S("A#1")}), 2 + 3)
        self.assertEqual(item_size({"né": S("ção")}), 3 + 5)
        self.assertEqual(item_size({"e": S("")}), 1)
        self.assertEqual(item_size(None), 0)
        self.assertEqual(item_size({}), 0)

    def test_numbers_count_significant_digits(self):
        self.assertEqual(number_size("0"), 1)
        self.assertEqual(number_size("7"), 2)
        self.assertEqual(number_size("12"), 2)
        self.assertEqual(number_size("123"), 3)
        self.assertEqual(number_size("1000"), 2)  # trailing zeros dropped: 1 digit
        self.assertEqual(number_size("00123.4500"), 4)  # 12345: 5 digits
        self.assertEqual(number_size("-0.05"), 2)
        self.assertEqual(number_size("100.001"), 4)  # 100001: 6 digits
        self.assertEqual(number_size("1E+5"), 2)
        self.assertEqual(number_size("9" * 38), 20)
        self.assertEqual(item_size({"amount": N("-00123.4500")}), 6 + 4)

    def test_binary_bool_null_and_sets(self):
        raw = base64.b64encode(b"\x00\x01\x02\x03\x04").decode()
        self.assertEqual(item_size({"b": {"B": raw}}), 1 + 5)
        self.assertEqual(item_size({"b": {"B": b"\x00\x01\x02"}}), 1 + 3)  # boto3's form
        self.assertEqual(item_size({"t": {"BOOL": True}, "n": {"NULL": True}}), 2 + 2)
        self.assertEqual(item_size({"ss": {"SS": ["ab", "cde"]}}), 2 + 5)
        self.assertEqual(item_size({"ns": {"NS": ["1", "123", "1000"]}}), 2 + 2 + 3 + 2)
        self.assertEqual(item_size({"bs": {"BS": [base64.b64encode(b"xy").decode(), "AA=="]}}), 2 + 3)

    def test_maps_and_lists_cost_3_bytes_plus_1_per_element(self):
        # m: 3 + (1 + "a" 1 + "xy" 2) + (1 + "b" 1 + N 1 -> 2) = 11
        self.assertEqual(item_size({"m": {"M": {"a": S("xy"), "b": N("1")}}}), 1 + 11)
        # l: 3 + (1 + 3) + (1 + 1) + (1 + 1) + (1 + 3) = 15
        self.assertEqual(item_size({"l": {"L": [S("abc"), {"BOOL": False}, {"NULL": True}, {"L": []}]}}), 1 + 15)
        self.assertEqual(item_size({"m": {"M": {}}}), 1 + 3)
        nested = {"o": {"M": {"in": {"L": [{"M": {"k": S("v")}}]}}}}
        # inner M: 3 + (1 + 1 + 1) = 6; L: 3 + (1 + 6) = 10; outer M: 3 + (1 + 2 + 10) = 16
        self.assertEqual(item_size(nested), 1 + 16)

    def test_units_round_up_at_1024_and_4096(self):
        exactly = {"PK": S("x" * 1022)}
        self.assertEqual(item_size(exactly), 1024)
        self.assertEqual(write_units(item_size(exactly)), 1)
        over = {"PK": S("x" * 1023)}
        self.assertEqual(item_size(over), 1025)
        self.assertEqual(write_units(item_size(over)), 2)
        self.assertEqual(write_units(0), 1)
        self.assertEqual(read_units(0), 1)
        self.assertEqual(read_units(4096), 1)
        self.assertEqual(read_units(4097), 2)
        self.assertEqual(meter.get_units(None, consistent=False), 0.5)
        self.assertEqual(meter.get_units(over, consistent=True), 1.0)
        self.assertEqual(meter.get_units({"PK": S("x" * 4095)}, transactional=True), 4.0)
        self.assertEqual(meter.query_units([{"PK": S("x" * 2000)}] * 3, consistent=False), 1.0)


class IndexWrites(unittest.TestCase):
    def kinds(self, before, after, index=GSI1):
        return [(w.kind, w.partition, w.units) for w in index_writes(before, after, LEDGER, index)]

    def test_entering_and_leaving_cost_one_write(self):
        self.assertEqual(self.kinds(None, entry()), [("put", "shop#2026-11-23", 1)])
        self.assertEqual(self.kinds(entry(GSI1SK=None), entry()), [("put", "shop#2026-11-23", 1)])
        self.assertEqual(self.kinds(entry(), entry(GSI1PK=None)), [("delete", "shop#2026-11-23", 1)])
        self.assertEqual(self.kinds(entry(), None), [("delete", "shop#2026-11-23", 1)])

    def test_absent_both_times_costs_nothing(self):
        self.assertEqual(self.kinds(None, entry(GSI1PK=None)), [])
        self.assertEqual(self.kinds(entry(GSI1SK=None), entry(GSI1SK=None, amount=N("1"))), [])

    def test_a_changed_index_key_costs_a_delete_and_a_put(self):
        moved = entry(GSI1PK=S("shop#2026-11-24"))
        self.assertEqual(self.kinds(entry(), moved), [("delete", "shop#2026-11-23", 1), ("put", "shop#2026-11-24", 1)])
        self.assertEqual(len(self.kinds(entry(), entry(GSI1SK=S("2")))), 2)

    def test_same_key_costs_one_write_only_if_a_projected_attribute_changed(self):
        self.assertEqual(self.kinds(entry(), entry(description=S("coffee"))), [])  # not projected
        self.assertEqual(self.kinds(entry(), entry(amount=N("1600"))), [("update", "shop#2026-11-23", 1)])
        self.assertEqual(self.kinds(entry(amount=None), entry()), [("update", "shop#2026-11-23", 1)])  # added
        self.assertEqual(self.kinds(entry(), entry(amount=None)), [("update", "shop#2026-11-23", 1)])  # removed
        self.assertEqual(self.kinds(entry(), entry(amount=N("1500.0"))), [])  # the same number
        self.assertEqual(self.kinds(entry(), entry()), [])

    def test_projection_types(self):
        keys_only = Index("K", ("GSI1PK", "GSI1SK"), "KEYS_ONLY")
        everything = Index("A", ("GSI1PK", "GSI1SK"), "ALL")
        self.assertEqual(self.kinds(entry(), entry(amount=N("1")), keys_only), [])
        self.assertEqual(self.kinds(entry(), entry(description=S("x")), keys_only), [])
        self.assertEqual(self.kinds(entry(), entry(description=S("x")), everything), [("update", "shop#2026-11-23", 1)])

    def test_index_writes_are_sized_as_projected_items(self):
        big = entry(description=S("x" * 1500))
        self.assertEqual(self.kinds(None, big), [("put", "shop#2026-11-23", 1)])  # description not projected
        everything = Index("A", ("GSI1PK", "GSI1SK"), "ALL")
        self.assertEqual(self.kinds(None, big, everything), [("put", "shop#2026-11-23", 2)])
        self.assertEqual(meter.projected_item(big, LEDGER, GSI1), entry())
        # an in-place update is sized by the larger projection
        self.assertEqual(self.kinds(big, entry(description=S("y")), everything), [("update", "shop#2026-11-23", 2)])

    def test_local_index_includes_the_table_partition_key(self):
        lsi = Index("LSI1", ("PK", "amount"), "KEYS_ONLY", is_global=False)
        self.assertEqual(self.kinds(None, entry(), lsi), [("put", "A#shop", 1)])
        self.assertEqual(self.kinds(entry(), entry(amount=N("2")), lsi), [("delete", "A#shop", 1), ("put", "A#shop", 1)])


class WriteCharges(unittest.TestCase):
    def charges(self, *args, **kwargs):
        return [(c.label, c.partition, c.units, c.index) for c in write_charges(LEDGER, *args, **kwargs)]

    def test_a_put_costs_the_larger_image_plus_index_writes(self):
        key = {"PK": S("A#shop"), "SK": S("E#1")}
        self.assertEqual(
            self.charges(key, None, entry()),
            [("ledger", "A#shop", 1.0, False), ("ledger/GSI1", "shop#2026-11-23", 1.0, True)],
        )
        big = entry(description=S("x" * 1500))
        self.assertEqual(self.charges(key, big, entry())[0], ("ledger", "A#shop", 2.0, False))

    def test_transactions_double_the_item_not_the_index(self):
        key = {"PK": S("A#shop"), "SK": S("E#1")}
        self.assertEqual(
            self.charges(key, None, entry(), transactional=True),
            [("ledger", "A#shop", 2.0, False), ("ledger/GSI1", "shop#2026-11-23", 1.0, True)],
        )
        check = meter.condition_check_charges(LEDGER, key, entry(description=S("x" * 1500)))
        self.assertEqual([c.units for c in check], [4.0])

    def test_failed_conditions_and_cancellations_write_no_index(self):
        key = {"PK": S("A#shop"), "SK": S("E#1")}
        self.assertEqual(self.charges(key, None, None, "condition_failed"), [("ledger", "A#shop", 1.0, False)])
        big = entry(description=S("x" * 1500))
        self.assertEqual(self.charges(key, big, None, "condition_failed"), [("ledger", "A#shop", 2.0, False)])
        self.assertEqual(self.charges(key, None, entry(), "cancelled", True), [("ledger", "A#shop", 2.0, False)])
        self.assertEqual(self.charges(key, None, None), [("ledger", "A#shop", 1.0, False)])  # delete of nothing


class Parsing(unittest.TestCase):
    def test_table_from_description(self):
        desc = {
            "TableName": "ledger",
            "KeySchema": [{"AttributeName": "SK", "KeyType": "RANGE"}, {"AttributeName": "PK", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "GSI1",
                    "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["amount"]},
                }
            ],
        }
        self.assertEqual(meter.table_from_description(desc), LEDGER)

    def test_query_partition(self):
        request = {
            "KeyConditionExpression": "#pk = :p AND begins_with(SK, :s)",
            "ExpressionAttributeNames": {"#pk": "GSI1PK"},
            "ExpressionAttributeValues": {":p": S("shop#1"), ":s": S("E#")},
        }
        self.assertEqual(meter.query_partition(request, "GSI1PK"), S("shop#1"))
        request = {"KeyConditionExpression": "SK >= :s AND PK = :p", "ExpressionAttributeValues": {":p": S("A"), ":s": S("B")}}
        self.assertEqual(meter.query_partition(request, "PK"), S("A"))
        legacy = {"KeyConditions": {"PK": {"AttributeValueList": [S("A")], "ComparisonOperator": "EQ"}}}
        self.assertEqual(meter.query_partition(legacy, "PK"), S("A"))

    def test_sizing_request_drops_what_shrinks_a_read(self):
        self.assertIsNone(meter.sizing_request({"TableName": "t", "KeyConditionExpression": "PK = :p"}))
        request = {
            "TableName": "t",
            "KeyConditionExpression": "#p = :p",
            "FilterExpression": "#a > :a",
            "ProjectionExpression": "#a",
            "Select": "SPECIFIC_ATTRIBUTES",
            "ExpressionAttributeNames": {"#p": "PK", "#a": "amount"},
            "ExpressionAttributeValues": {":p": S("A"), ":a": N("1")},
            "Limit": 5,
        }
        self.assertEqual(
            meter.sizing_request(request),
            {
                "TableName": "t",
                "KeyConditionExpression": "#p = :p",
                "ExpressionAttributeNames": {"#p": "PK"},
                "ExpressionAttributeValues": {":p": S("A")},
                "Limit": 5,
            },
        )
        self.assertEqual(meter.sizing_request({"TableName": "t", "Select": "COUNT", "FilterExpression": "a = :a",
                                               "ExpressionAttributeValues": {":a": N("1")}}), {"TableName": "t"})

    def test_request_names(self):
        scope = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/sqs/aws4_request, SignedHeaders=host"}
        form = dict(scope, **{"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(meter.request_name("POST", form, "/", b"Action=SendMessageBatch&Version=2012-11-05"), "SQS.SendMessageBatch")
        self.assertEqual(meter.request_name("GET", scope, "/?Action=ReceiveMessage", b""), "SQS.ReceiveMessage")
        self.assertEqual(meter.request_name("POST", {"X-Amz-Target": "AmazonSQS.DeleteMessageBatch"}, "/", b"{}"), "SQS.DeleteMessageBatch")
        self.assertEqual(meter.request_name("POST", {"X-Amz-Target": "DynamoDBStreams_20120810.GetRecords"}, "/", b"{}"), "DynamoDBStreams.GetRecords")
        self.assertEqual(meter.request_name("POST", {"X-Amz-Target": "DynamoDB_20120810.PutItem"}, "/", b"{}"), "DynamoDB.PutItem")
        self.assertEqual(meter.request_name("GET", {}, "/", b""), "HTTP.GET")
        self.assertEqual(meter.credential_scope(scope), ("us-east-1", "sqs"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class FakeDynamoDB:
    """A boto3 DynamoDB client's batch_get_item and get_item over a dict of items by SK; BatchGetItem
    leaves the keys `stubborn` picks unprocessed the first `refusals` times they are asked for."""

    def __init__(self, items, stubborn=lambda sk: False, refusals=1):
        self.items, self.stubborn, self.refusals = items, stubborn, refusals
        self.asked, self.batches, self.gets = {}, [], []

    def batch_get_item(self, RequestItems):
        (table, ask), = RequestItems.items()
        keys = ask["Keys"]
        assert ask["ConsistentRead"] is True
        assert len(keys) <= 100, len(keys)
        assert len({k["SK"]["S"] for k in keys}) == len(keys), "duplicate keys"
        self.batches.append(len(keys))
        found, left = [], []
        for k in keys:
            sk = k["SK"]["S"]
            self.asked[sk] = self.asked.get(sk, 0) + 1
            if self.stubborn(sk) and self.asked[sk] <= self.refusals:
                left.append(k)
            elif sk in self.items:
                found.append(self.items[sk])
        return {"Responses": {table: found}, "UnprocessedKeys": {table: {"Keys": left}} if left else {}}

    def get_item(self, TableName, Key, ConsistentRead):
        assert ConsistentRead is True
        self.gets.append(Key["SK"]["S"])
        item = self.items.get(Key["SK"]["S"])
        return {"Item": item} if item else {}


class BatchedImages(unittest.TestCase):
    TABLE = Table(name="ledger", keys=("PK", "SK"))

    def read(self, client, keys):
        upstream = meter.Upstream("http://127.0.0.1:9")
        upstream._clients["us-east-1"] = client
        return upstream.get_items("us-east-1", self.TABLE, keys)

    def test_at_most_100_keys_a_call_without_duplicates_in_order(self):
        items = {f"E#{i}": {"PK": S("A#1"), "SK": S(f"E#{i}"), "n": N(str(i))} for i in range(0, 250, 2)}
        keys = [{"PK": S("A#1"), "SK": S(f"E#{i}")} for i in range(250)] + [{"PK": S("A#1"), "SK": S("E#4")}]
        client = FakeDynamoDB(items, stubborn=lambda sk: sk.endswith("3"))  # E#3, E#13, ... refused once
        got = self.read(client, keys)
        self.assertEqual(got, [items.get(k["SK"]["S"]) for k in keys])
        self.assertEqual(client.batches, [100, 10, 100, 10, 50, 5])  # the unprocessed keys asked again
        self.assertEqual(client.gets, [])

    def test_keys_left_unprocessed_every_round_are_read_one_by_one(self):
        items = {"E#1": {"PK": S("A#1"), "SK": S("E#1")}}
        keys = [{"PK": S("A#1"), "SK": S(f"E#{i}")} for i in range(3)]
        client = FakeDynamoDB(items, stubborn=lambda sk: True, refusals=10**6)  # never processed
        self.assertEqual(self.read(client, keys), [None, items["E#1"], None])
        self.assertEqual(client.batches, [3] * meter.BATCH_GET_ROUNDS)
        self.assertEqual(client.gets, ["E#0", "E#1", "E#2"])

    def test_no_keys_no_call(self):
        client = FakeDynamoDB({})
        self.assertEqual(self.read(client, []), [])
        self.assertEqual(client.batches, [])


class EndToEnd(unittest.TestCase):
    """moto behind the meter, driven with boto3."""

    @classmethod
    def setUpClass(cls):
        import boto3
        from botocore.config import Config

        cls.tmp = tempfile.TemporaryDirectory()
        cls.addClassCleanup(cls.tmp.cleanup)
        moto_port = free_port()
        moto_log = open(os.path.join(cls.tmp.name, "moto.log"), "w")
        cls.addClassCleanup(moto_log.close)
        moto = subprocess.Popen(
            [str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=moto_log,
            stderr=subprocess.STDOUT,
        )
        cls.addClassCleanup(stop, moto)
        upstream = f"http://127.0.0.1:{moto_port}"
        ready = os.path.join(cls.tmp.name, "ready")
        cls.meter_log = os.path.join(cls.tmp.name, "meter.log")
        meter_log = open(cls.meter_log, "w")
        cls.addClassCleanup(meter_log.close)
        cls.meter = subprocess.Popen(
            [sys.executable, str(HERE / "meter.py"), "--upstream", upstream, "--port", "0", "--ready-file", ready],
            stdout=subprocess.PIPE,
            stderr=meter_log,
            text=True,
        )
        cls.addClassCleanup(stop, cls.meter)
        cls.addClassCleanup(cls.meter.stdout.close)

        deadline = time.monotonic() + 30
        while True:  # moto answers
            try:
                urllib.request.urlopen(upstream + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if moto.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start: {Path(moto_log.name).read_text()}")
                time.sleep(0.1)
        while not (os.path.exists(ready) and Path(ready).read_text().strip()):
            if cls.meter.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the meter did not start: {Path(cls.meter_log).read_text()}")
            time.sleep(0.05)
        cls.url = Path(ready).read_text().strip()
        assert cls.meter.stdout.readline().strip() == f"meter listening on {cls.url}"

        def client(service):
            return boto3.session.Session().client(
                service,
                endpoint_url=cls.url,
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=Config(retries={"max_attempts": 1, "mode": "standard"}),
            )

        cls.db, cls.sqs = client("dynamodb"), client("sqs")
        cls.db.create_table(
            TableName="ledger",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "GSI1",
                    "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["amount"]},
                }
            ],
        )

    def call(self, method, path):
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def report(self):
        report = self.call("GET", "/__meter")
        self.assertEqual(report["metering_errors"], 0, Path(self.meter_log).read_text())
        return report

    def reset(self):
        self.assertEqual(self.call("POST", "/__meter/reset"), {"reset": True})

    def put(self, account, sk="E#1", day="2026-11-23", **extra):
        item = {"PK": S(f"A#{account}"), "SK": S(sk), "amount": N("1500"), "description": S("coffee")}
        if day:
            item.update(GSI1PK=S(f"{account}#{day}"), GSI1SK=S(sk))
        item.update(extra)
        return item

    def test_put_of_a_small_item_with_index_keys(self):
        self.reset()
        self.db.put_item(TableName="ledger", Item=self.put("put"))
        r = self.report()
        self.assertEqual(r["requests"], {"DynamoDB.PutItem": 1})
        self.assertEqual(r["wru"], {"PutItem": 2.0})
        self.assertEqual(r["index_wru"], {"ledger/GSI1": 1.0})
        self.assertEqual(r["partitions"], {"wru": {"ledger|A#put": 1.0, "ledger/GSI1|put#2026-11-23": 1.0}, "rru": {}})
        self.assertEqual((r["conditional_failures"], r["cancelled_transactions"]), (0, 0))

    def test_failed_condition_costs_the_existing_item_and_no_index_write(self):
        self.db.put_item(TableName="ledger", Item=self.put("cond"))
        self.reset()
        with self.assertRaises(self.db.exceptions.ConditionalCheckFailedException):
            self.db.put_item(TableName="ledger", Item=self.put("cond"), ConditionExpression="attribute_not_exists(PK)")
        r = self.report()
        self.assertEqual(r["wru"], {"PutItem": 1.0})
        self.assertEqual(r["index_wru"], {})
        self.assertEqual(r["partitions"]["wru"], {"ledger|A#cond": 1.0})
        self.assertEqual(r["conditional_failures"], 1)

    def test_updates_write_the_index_only_when_a_projected_attribute_changes(self):
        self.db.put_item(TableName="ledger", Item=self.put("upd"))
        key = {"PK": S("A#upd"), "SK": S("E#1")}
        self.reset()
        self.db.update_item(TableName="ledger", Key=key, UpdateExpression="SET description = :d", ExpressionAttributeValues={":d": S("tea")})
        r = self.report()
        self.assertEqual(r["wru"], {"UpdateItem": 1.0})
        self.assertEqual(r["index_wru"], {})
        self.db.update_item(TableName="ledger", Key=key, UpdateExpression="SET amount = :a", ExpressionAttributeValues={":a": N("1600")})
        r = self.report()
        self.assertEqual(r["wru"], {"UpdateItem": 3.0})
        self.assertEqual(r["index_wru"], {"ledger/GSI1": 1.0})
        self.assertEqual(r["partitions"]["wru"], {"ledger|A#upd": 2.0, "ledger/GSI1|upd#2026-11-23": 1.0})
        self.assertEqual(r["requests"], {"DynamoDB.UpdateItem": 2})

    def test_a_one_and_a_half_kilobyte_item_costs_2(self):
        item = self.put("big", day=None, description=S("x" * 1500))
        self.assertTrue(1024 < item_size(item) <= 2048, item_size(item))
        self.reset()
        self.db.put_item(TableName="ledger", Item=item)
        r = self.report()
        self.assertEqual(r["wru"], {"PutItem": 2.0})
        self.assertEqual(r["index_wru"], {})
        self.assertEqual(r["partitions"]["wru"], {"ledger|A#big": 2.0})
        # deleting it costs its size too
        self.db.delete_item(TableName="ledger", Key={"PK": S("A#big"), "SK": S("E#1")})
        self.assertEqual(self.report()["wru"], {"PutItem": 2.0, "DeleteItem": 2.0})

    def test_a_delete_removes_the_index_entry(self):
        self.db.put_item(TableName="ledger", Item=self.put("del"))
        self.reset()
        self.db.delete_item(TableName="ledger", Key={"PK": S("A#del"), "SK": S("E#1")})
        r = self.report()
        self.assertEqual(r["wru"], {"DeleteItem": 2.0})
        self.assertEqual(r["partitions"]["wru"], {"ledger|A#del": 1.0, "ledger/GSI1|del#2026-11-23": 1.0})

    def test_a_transaction_of_two_puts_costs_4_plus_index_writes(self):
        self.reset()
        self.db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "ledger", "Item": self.put("tx", "E#1"), "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"TableName": "ledger", "Item": self.put("tx", "E#2")}},
            ]
        )
        r = self.report()
        self.assertEqual(r["wru"], {"TransactWriteItems": 6.0})
        self.assertEqual(r["index_wru"], {"ledger/GSI1": 2.0})
        self.assertEqual(r["partitions"]["wru"], {"ledger|A#tx": 4.0, "ledger/GSI1|tx#2026-11-23": 2.0})
        self.assertEqual(r["cancelled_transactions"], 0)

    def test_a_cancelled_transaction_is_billed_and_flagged(self):
        self.db.put_item(TableName="ledger", Item=self.put("cancel"))
        self.reset()
        with self.assertRaises(self.db.exceptions.TransactionCanceledException):
            self.db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "ledger", "Item": self.put("cancel"), "ConditionExpression": "attribute_not_exists(PK)"}},
                    {"ConditionCheck": {"TableName": "ledger", "Key": {"PK": S("A#cancel"), "SK": S("E#2")}, "ConditionExpression": "attribute_not_exists(PK)"}},
                ]
            )
        r = self.report()
        self.assertEqual(r["wru"], {"TransactWriteItems": 4.0})  # 2 x 1 for the put, 2 x 1 for the check
        self.assertEqual(r["index_wru"], {})
        self.assertEqual(r["partitions"]["wru"], {"ledger|A#cancel": 4.0})
        self.assertEqual(r["cancelled_transactions"], 1)
        self.assertEqual(r["conditional_failures"], 0)

    def test_a_transaction_of_60_puts_is_metered_as_60_transactional_puts_and_is_quick(self):
        # even items carry index keys, odd ones do not; the first 10 exist already (with another amount)
        items = [self.put("tx60", f"E#{i:02}", day=None if i % 2 else "2026-11-23") for i in range(60)]

        def prepare():
            for start in range(0, len(items), 25):
                deletes = [{"DeleteRequest": {"Key": {"PK": i["PK"], "SK": i["SK"]}}} for i in items[start : start + 25]]
                self.db.batch_write_item(RequestItems={"ledger": deletes})
            self.db.batch_write_item(RequestItems={"ledger": [{"PutRequest": {"Item": dict(i, amount=N("1"))}} for i in items[:10]]})
            self.reset()

        def billed(report):
            return {k: v for k, v in report.items() if k != "requests"}

        prepare()
        started = time.monotonic()
        self.db.transact_write_items(TransactItems=[{"Put": {"TableName": "ledger", "Item": i}} for i in items])
        elapsed = time.monotonic() - started
        together = self.report()
        self.assertEqual(together["requests"], {"DynamoDB.TransactWriteItems": 1})
        self.assertEqual(together["wru"], {"TransactWriteItems": 150.0})  # 60 x 2, and 30 index writes
        self.assertEqual(together["index_wru"], {"ledger/GSI1": 30.0})
        self.assertEqual(together["partitions"]["wru"], {"ledger|A#tx60": 120.0, "ledger/GSI1|tx60#2026-11-23": 30.0})
        self.assertLess(elapsed, 1.0)

        prepare()
        for i in items:
            self.db.transact_write_items(TransactItems=[{"Put": {"TableName": "ledger", "Item": i}}])
        apart = self.report()
        self.assertEqual(apart["requests"], {"DynamoDB.TransactWriteItems": 60})
        self.assertEqual(billed(together), billed(apart))

    def test_concurrent_writes_are_metered_exactly(self):
        import threading

        def race(write):
            threads = [threading.Thread(target=lambda: [write() for _ in range(3)]) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        # 24 puts of one new item: only the first one enters the index
        self.reset()
        race(lambda: self.db.put_item(TableName="ledger", Item=self.put("race")))
        r = self.report()
        self.assertEqual(r["wru"], {"PutItem": 25.0})
        self.assertEqual(r["index_wru"], {"ledger/GSI1": 1.0})
        # 24 increments: each changes amount, which GSI1 projects
        key = {"PK": S("A#race"), "SK": S("E#1")}
        self.reset()
        race(lambda: self.db.update_item(TableName="ledger", Key=key, UpdateExpression="ADD amount :one", ExpressionAttributeValues={":one": N("1")}))
        r = self.report()
        self.assertEqual(r["requests"], {"DynamoDB.UpdateItem": 24})
        self.assertEqual(r["wru"], {"UpdateItem": 48.0})
        self.assertEqual(r["index_wru"], {"ledger/GSI1": 24.0})
        self.assertEqual(self.db.get_item(TableName="ledger", Key=key)["Item"]["amount"], N("1524"))

    def test_batch_write(self):
        self.reset()
        self.db.batch_write_item(
            RequestItems={"ledger": [{"PutRequest": {"Item": self.put("batch", f"E#{i}", day=None)}} for i in range(3)]}
        )
        r = self.report()
        self.assertEqual(r["wru"], {"BatchWriteItem": 3.0})
        self.assertEqual(r["partitions"]["wru"], {"ledger|A#batch": 3.0})

    def test_get_item_consistent_and_eventually_consistent(self):
        self.db.put_item(TableName="ledger", Item=self.put("get"))
        key = {"PK": S("A#get"), "SK": S("E#1")}
        self.reset()
        self.db.get_item(TableName="ledger", Key=key, ConsistentRead=True)
        r = self.report()
        self.assertEqual(r["rru"], {"GetItem": 1.0})
        self.assertEqual(r["partitions"]["rru"], {"ledger|A#get": 1.0})
        self.db.get_item(TableName="ledger", Key=key)
        r = self.report()
        self.assertEqual(r["rru"], {"GetItem": 1.5})
        self.assertEqual(r["partitions"], {"wru": {}, "rru": {"ledger|A#get": 1.5}})
        self.assertEqual(r["wru"], {})
        # a missing item still costs 1 (0.5 eventually consistent); the projected item costs its whole size
        self.db.get_item(TableName="ledger", Key={"PK": S("A#nobody"), "SK": S("E#1")})
        self.assertEqual(self.report()["rru"], {"GetItem": 2.0})

    def test_a_projected_read_costs_the_whole_item(self):
        self.db.put_item(TableName="ledger", Item=self.put("proj", day=None, description=S("z" * 5000)))
        self.reset()
        got = self.db.get_item(TableName="ledger", Key={"PK": S("A#proj"), "SK": S("E#1")}, ProjectionExpression="PK", ConsistentRead=True)
        self.assertEqual(got["Item"], {"PK": S("A#proj")})
        self.assertEqual(self.report()["rru"], {"GetItem": 2.0})

    def test_errors_pass_through_unbilled(self):
        self.reset()
        with self.assertRaises(self.db.exceptions.ResourceNotFoundException):
            self.db.put_item(TableName="nowhere", Item=self.put("none"))
        with self.assertRaises(self.db.exceptions.ResourceNotFoundException):
            self.db.get_item(TableName="nowhere", Key={"PK": S("A#none"), "SK": S("E#1")})
        r = self.report()  # metering_errors still 0
        self.assertEqual(r["requests"], {"DynamoDB.GetItem": 1, "DynamoDB.PutItem": 1})
        self.assertEqual((r["wru"], r["rru"]), ({}, {}))

    def test_batch_get_counts_each_key(self):
        self.db.put_item(TableName="ledger", Item=self.put("bget"))
        self.reset()
        keys = [{"PK": S("A#bget"), "SK": S("E#1")}, {"PK": S("A#bget"), "SK": S("E#missing")}]
        self.db.batch_get_item(RequestItems={"ledger": {"Keys": keys, "ConsistentRead": True}})
        r = self.report()
        self.assertEqual(r["rru"], {"BatchGetItem": 2.0})
        self.assertEqual(r["partitions"]["rru"], {"ledger|A#bget": 2.0})

    def test_queries(self):
        for i in range(3):
            self.db.put_item(TableName="ledger", Item=self.put("query", f"E#{i}", description=S("y" * 2000)))
        self.reset()
        condition = {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": S("A#query")}}
        found = self.db.query(TableName="ledger", ConsistentRead=True, **condition)
        self.assertEqual(found["Count"], 3)
        self.assertEqual(self.report()["rru"], {"Query": 2.0})  # ~6 KB read: 2 x 4 KB
        self.reset()
        self.db.query(TableName="ledger", Select="COUNT", ConsistentRead=True, **condition)
        self.assertEqual(self.report()["rru"], {"Query": 2.0})  # counting reads the items all the same
        self.reset()
        self.db.query(
            TableName="ledger",
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :p",
            ExpressionAttributeValues={":p": S("query#2026-11-23")},
        )
        r = self.report()
        self.assertEqual(r["rru"], {"Query": 0.5})  # projected items are small; an index read is eventual
        self.assertEqual(r["partitions"]["rru"], {"ledger/GSI1|query#2026-11-23": 0.5})

    def test_sqs_requests_are_counted_and_forwarded(self):
        self.reset()
        url = self.sqs.create_queue(QueueName="meter-test")["QueueUrl"]
        self.sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}])
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        self.assertEqual(sorted(m["Body"] for m in got["Messages"]), ["a", "b"])
        r = self.report()
        self.assertEqual(r["requests"], {"SQS.CreateQueue": 1, "SQS.ReceiveMessage": 1, "SQS.SendMessageBatch": 1})
        self.assertEqual((r["wru"], r["rru"]), ({}, {}))

    def test_reset_clears_everything(self):
        self.db.put_item(TableName="ledger", Item=self.put("reset"))
        self.db.get_item(TableName="ledger", Key={"PK": S("A#reset"), "SK": S("E#1")})
        self.assertNotEqual(self.report()["requests"], {})
        self.reset()
        self.assertEqual(
            self.report(),
            {
                "requests": {},
                "wru": {},
                "rru": {},
                "index_wru": {},
                "partitions": {"wru": {}, "rru": {}},
                "cancelled_transactions": 0,
                "conditional_failures": 0,
                "metering_errors": 0,
            },
        )



class Signals(unittest.TestCase):
    def test_sigterm_and_sigint_stop_the_meter_cleanly(self):
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT):
            with tempfile.TemporaryDirectory() as tmp:
                ready = os.path.join(tmp, "ready")
                process = subprocess.Popen(
                    [sys.executable, str(HERE / "meter.py"), "--upstream", "http://127.0.0.1:9", "--ready-file", ready],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                try:
                    deadline = time.monotonic() + 20
                    while not os.path.exists(ready):
                        self.assertIsNone(process.poll(), "the meter exited early")
                        self.assertLess(time.monotonic(), deadline, "the meter did not start")
                        time.sleep(0.05)
                    process.send_signal(sig)
                    self.assertEqual(process.wait(5), 0)
                    self.assertEqual(process.stderr.read(), b"")
                finally:
                    stop(process)
                    process.stderr.close()


if __name__ == "__main__":
    unittest.main()
