"""moto's server, with every DynamoDB operation made atomic.

moto applies a TransactWriteItems by copying the tables, writing item by item, and restoring the
copies when a condition fails. Under concurrent requests that restore can erase another request's
committed writes, which DynamoDB never does: its transactions are serialisable. The tests send
concurrent transactions on purpose (one Idempotency-Key sent 16 times at once), so this launcher runs
each DynamoDB operation under one lock. SQS stays concurrent, so long polls do not stall the rest.
Under that lock a transaction also backs up each table once, not once per item (see _OncePerTable).
"""

import copy
import functools
import sys
import threading

import moto.dynamodb.models as _models
from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_lock = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return call


class _OncePerTable:
    """`copy` for one transaction: moto backs up a table once per item of a TransactWriteItems (a
    deep copy of the whole table and its stream each time, which grows with the table: seconds for a
    transaction of 50 items on a table of a thousand); one backup per table restores the same state."""

    def __init__(self):
        self._copies = {}

    def deepcopy(self, obj, *args, **kwargs):
        if id(obj) not in self._copies:
            self._copies[id(obj)] = copy.deepcopy(obj, *args, **kwargs)
        return self._copies[id(obj)]

    def __getattr__(self, name):
        return getattr(copy, name)


def _backed_up_once(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        _models.copy = _OncePerTable()
        try:
            return method(*args, **kwargs)
        finally:
            _models.copy = copy

    return call


DynamoDBBackend.transact_write_items = _backed_up_once(DynamoDBBackend.transact_write_items)

for _name, _member in list(vars(DynamoDBBackend).items()):
    if callable(_member) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _atomic(_member))

if __name__ == "__main__":
    sys.exit(main())
