"""The local AWS endpoint: moto's server application, with DynamoDB requests made atomic.

moto's DynamoDB is not safe under concurrent requests: TransactWriteItems snapshots every table
it touches and restores the snapshots when a transaction is cancelled, which can undo a write
another client made in between, and a conditional put can interleave with another write. Real
DynamoDB gives each request (and each transaction) isolation, so the local endpoint runs
DynamoDB requests one at a time; every other service stays concurrent (SQS long polls included).

It also makes moto's SQS retention check O(1): moto recomputes every queue attribute (counting
all messages) for each message it considers in a receive, so a receive on a queue holding
thousands of messages is quadratic. Same answer, read straight from the queue.

Sending is O(1) too: moto computes every queue attribute, counting all messages, whenever it
reads any one of them, and each send reads one (ContentBasedDeduplication), so S3 notifications
into a queue holding thousands of messages were quadratic. Attributes are now computed when read.

Queries on a secondary index sort every item of the table, comparing moto's own attribute
objects in Python (most of a query's time with 2,000 files tracked). The items are now sorted on
their plain key values: the same order, with comparisons done in C; and an index query is handed
only the slice of its partition its key condition can match, so it costs what
it returns, as on DynamoDB; item reads are answered without moto's model-walking serializer
(``dynamodb_reads``, ``index_slices``).

moto's request router lists its own package folder (one ``isdir`` per service, about 150) twice
for every request, under a lock every request takes; the list is now read once.

And it makes moto's TransactWriteItems snapshot only the items a transaction touches instead of
deep-copying every table it touches (O(table size) per transaction): with DynamoDB requests
serialised, restoring those items on cancellation gives the same all-or-nothing result.

Glue's UpdateTable checks the VersionId it is given, as AWS does: Iceberg's optimistic commits
(pyiceberg's GlueCatalog) rely on it, and moto ignored it, so two concurrent commits could both
succeed and one of them be lost. A stale VersionId now gets ``ConcurrentModificationException``. Its
UpdateJob (which moto lacks) replaces a job's definition, as Glue does.

TransactWriteItems honours ``ClientRequestToken`` as AWS does: a repeat of a transaction that succeeded, with
the same token and the same request, within 10 minutes, succeeds again without writing anything (a
different request under the same token gets ``IdempotentParameterMismatchException``). moto ignored the
token, so the retry of a transaction whose answer was lost met its own write as a failed condition.

Its Step Functions run state machines (moto's ASL interpreter, switched on by provisioning), calling
back into this same server for the services a definition uses; each retry of a task that waits for a
task token gets a token of its own, as on AWS (moto reused the first attempt's, with its failure).

Run as ``python -m paybatch.local.endpoint -p PORT`` (what `paybatch local up` starts).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import io
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from paybatch.local.dynamodb_reads import SLICES
from paybatch.local.dynamodb_reads import install as install_dynamodb_reads
from paybatch.local.index_slices import item_order, table_items

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class AtomicDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (everything else passes straight through), and
    ``ClientRequestToken`` idempotency for TransactWriteItems."""

    TOKEN_SECONDS = 600.0  # AWS keeps a client token for 10 minutes

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[float, str, str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            SLICES.note_request(target)
            if target.endswith(".TransactWriteItems"):
                return self._transact(environ, start_response)
            return list(self.app(environ, start_response))

    def _transact(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        token = request.pop("ClientRequestToken", None)
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        now = time.monotonic()
        self.tokens = {t: v for t, v in self.tokens.items() if now - v[0] < self.TOKEN_SECONDS}
        if token and token in self.tokens:
            _, seen, status, headers, answer = self.tokens[token]
            if seen != digest:
                error = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                                    "message": "The request uses the same client token as a previous, but non-identical request."})
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
                return [error.encode()]
            start_response(status, headers)
            return [answer]
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            captured.update(status=status, headers=headers)
            return start_response(status, headers, *args)

        answer = b"".join(self.app(environ, capture))
        if token and str(captured.get("status", "")).startswith("200"):
            self.tokens[token] = (now, digest, captured["status"], list(captured["headers"]), answer)
        return [answer]


def _fast_sqs_retention_check() -> None:
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention = float(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009 - set dynamically by moto
        return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


class LazyQueueAttributes(Mapping[str, Any]):
    """A queue's attributes as moto reports them, each computed only when it is read."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        if queue.policy:
            names.append("Policy")
        if queue.redrive_policy:
            names.append("RedrivePolicy")
        self.names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        from moto.core.utils import camelcase_to_underscores

        if name not in self.names:
            raise KeyError(name)
        if name == "Policy":
            return self.queue.policy
        if name == "RedrivePolicy" and self.queue.redrive_policy:
            return json.dumps(self.queue.redrive_policy)
        value = getattr(self.queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _lazy_sqs_queue_attributes() -> None:
    from moto.sqs.models import Queue

    Queue.attributes = property(LazyQueueAttributes)  # type: ignore[assignment,method-assign]


def _listed_once_moto_modules() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def sorted_items(table: Any) -> list[Any]:
    """Every item of a moto table in moto's order (its ``Table.all_items``), sorted on plain values."""
    return sorted(table_items(table), key=item_order)


def _plain_item_order() -> None:
    from moto.dynamodb.models.table import Table

    Table.all_items = sorted_items  # type: ignore[method-assign,assignment]


def item_level_transaction_snapshots() -> None:
    """A failed transaction puts back the items it touched, not deep copies of their whole tables (moto's way: a copy
    of every item per transaction, and new table objects)."""
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


def _glue_update_table_checks_version() -> None:
    from moto.glue.exceptions import GlueClientError
    from moto.glue.responses import GlueResponse

    lock = threading.Lock()
    plain = GlueResponse.update_table

    def update_table(self: GlueResponse) -> Any:
        expected = self.parameters.get("VersionId")
        with lock:  # check and update as one step, as Glue does
            if expected is not None:
                table_input = self.parameters.get("TableInput") or {}
                table = self.glue_backend.get_table(str(self.parameters.get("DatabaseName")), str(table_input.get("Name")))
                current = str(table._current_version)
                if str(expected) != current:
                    raise GlueClientError("ConcurrentModificationException",
                                          f"Update table failed due to concurrent modifications: version {expected} is not "
                                          f"the current version {current}")
            return plain(self)

    GlueResponse.update_table = update_table  # type: ignore[method-assign]


def _glue_update_job() -> None:
    """Glue's UpdateJob, which moto lacks (it answered 500): the job's definition is replaced by ``JobUpdate`` —
    what it leaves out is reset, as on AWS — so `paybatch deploy glue` works against this endpoint too."""
    from moto.core.responses import ActionResult
    from moto.glue.responses import GlueResponse

    def update_job(self: GlueResponse) -> Any:
        name = str(self.parameters.get("JobName"))
        self.glue_backend.get_job(name)  # EntityNotFoundException for an unknown job, as Glue answers
        update = self.parameters.get("JobUpdate") or {}
        fields = {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): value for key, value in update.items()}
        allowed = set(inspect.signature(self.glue_backend.create_job).parameters) - {"name"}
        definition: dict[str, Any] = {key: fields.get(key) for key in allowed}
        self.glue_backend.create_job(name=name, **definition)
        return ActionResult({"JobName": name})

    GlueResponse.update_job = update_job  # type: ignore[attr-defined]


def _fresh_task_token_per_attempt() -> None:
    """Give every attempt of a ``.waitForTaskToken`` task its own token, as Step Functions does.

    moto's interpreter hands a retry the first attempt's token, whose callback still holds that attempt's
    failure: the first SendTaskHeartbeat of the retry reads the old failure back and fails the retry at once
    (so a chunk retried with backoff, then heartbeated while it runs, ended failed). A fresh token per attempt
    also means an answer meant for an earlier attempt can never settle a later one.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    plain = StateTaskServiceCallback._eval_execution

    def _eval_execution(self: Any, env: Any) -> None:
        state = env.states.context_object.context_object_data.get("State", {})
        if (self._is_integration_pattern() and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns
                and state.get("RetryCount", 0) > 0):
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        plain(self, env)

    StateTaskServiceCallback._eval_execution = _eval_execution  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    # moto's Step Functions interpreter calls the services a state machine uses (SQS, S3, DynamoDB) through
    # boto3 at localhost:MOTO_PORT: this server.
    os.environ["MOTO_PORT"] = str(args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _fast_sqs_retention_check()
    _lazy_sqs_queue_attributes()
    _plain_item_order()
    install_dynamodb_reads()
    _listed_once_moto_modules()
    item_level_transaction_snapshots()
    _glue_update_table_checks_version()
    _glue_update_job()
    _fresh_task_token_per_attempt()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, AtomicDynamoDB(app), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
