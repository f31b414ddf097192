"""moto's server, with every DynamoDB operation made atomic.

moto applies a TransactWriteItems by copying the tables, writing item by item, and restoring the
copies when a condition fails. Under concurrent requests that restore can erase another request's
committed writes, which DynamoDB never does: its transactions are serialisable. The tests send
concurrent transactions on purpose (one Idempotency-Key sent 16 times at once), so this launcher runs
each DynamoDB operation under one lock. SQS stays concurrent, so long polls do not stall the rest.
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_lock = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return call


for _name, _member in list(vars(DynamoDBBackend).items()):
    if callable(_member) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _atomic(_member))

if __name__ == "__main__":
    sys.exit(main())
