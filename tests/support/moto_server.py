"""moto's server, with every DynamoDB operation made atomic.

moto applies a TransactWriteItems by copying the tables, writing item by item, and restoring the
copies when a condition fails. Under concurrent requests that restore can erase another request's
committed writes, which DynamoDB never does: its transactions are serialisable. The tests send
concurrent transactions on purpose (one Idempotency-Key sent 16 times at once), so this launcher runs
each DynamoDB operation under one lock. SQS stays concurrent, so long polls do not stall the rest.
Under that lock a transaction also backs up each table once, not once per item (see _OncePerTable).
"""

import argparse
import copy
import functools
import os
import sys
import threading

import moto.dynamodb.models as _models
from moto.dynamodb.models import DynamoDBBackend
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

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


def serve(argv):
    """Serves on `--port`, or on a free port the kernel picks with `--port 0`. The bound port is
    written to `--port-file` once the socket listens: a caller that picked a port itself could lose
    it to another process between its check and the bind, and then talk to that process's
    emulator."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--port-file")
    args = parser.parse_args(argv)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    # moto names the port in the URLs it hands out (SQS queue URLs).
    os.environ["MOTO_PORT"] = str(server.port)
    if args.port_file:
        partial = f"{args.port_file}.partial"
        with open(partial, "w", encoding="ascii") as out:
            out.write(str(server.port))
        os.replace(partial, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
