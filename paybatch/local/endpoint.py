"""The local AWS endpoint: moto's server application, with DynamoDB requests made atomic.

moto's DynamoDB is not safe under concurrent requests: TransactWriteItems snapshots every table
it touches and restores the snapshots when a transaction is cancelled, which can undo a write
another client made in between, and a conditional put can interleave with another write. Real
DynamoDB gives each request (and each transaction) isolation, so the local endpoint runs
DynamoDB requests one at a time; every other service stays concurrent (SQS long polls included).

It also makes moto's SQS retention check O(1): moto recomputes every queue attribute (counting
all messages) for each message it considers in a receive, so a receive on a queue holding
thousands of messages is quadratic. Same answer, read straight from the queue.

And it makes moto's TransactWriteItems snapshot only the items a transaction touches instead of
deep-copying every table it touches (O(table size) per transaction): with DynamoDB requests
serialised, restoring those items on cancellation gives the same all-or-nothing result.

Run as ``python -m paybatch.local.endpoint -p PORT`` (what `paybatch local up` starts).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class AtomicDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, everything else passes straight through."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def _fast_sqs_retention_check() -> None:
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention = float(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009 - set dynamically by moto
        return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


def _item_level_transaction_snapshots() -> None:
    import copy
    import types

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items

    def deepcopy_except_tables(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    no_table_copies = types.SimpleNamespace(deepcopy=deepcopy_except_tables, copy=copy.copy)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots = []
        for entry in transact_items:
            if len(entry) != 1:
                break  # let moto raise its own validation error
            op_type, op = next(iter(entry.items()))
            try:
                table = self.get_table(op["TableName"])
                attrs = op["Item"] if op_type == "Put" else op["Key"]
                key = {name: attrs[name] for name in (table.hash_key_attr, table.range_key_attr) if name}
                current = self.get_item(op["TableName"], key)
            except Exception:  # noqa: BLE001, S112 - moto reports malformed items itself
                continue
            snapshots.append((op["TableName"], key, None if current is None else current.to_json()["Attributes"]))
        setattr(models, "copy", no_table_copies)  # noqa: B010 - the module moto snapshots with
        try:
            original(self, transact_items)
        except BaseException:
            for table_name, key, attributes in reversed(snapshots):
                if attributes is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, copy.deepcopy(attributes))
            raise
        finally:
            setattr(models, "copy", copy)  # noqa: B010

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _fast_sqs_retention_check()
    _item_level_transaction_snapshots()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, AtomicDynamoDB(app), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
