"""Exactly once under the faults AWS really has: answers lost after the request was applied, racing commits,
re-runs of old batches, replaced objects, killed lock holders (issue 23; docs/reliability.md).

Each test injects its fault where it happens on AWS: a request that is applied and whose answer never arrives
(botocore's retry then meets the write the lost request made), commits made in the same second, a file
replaced between the etag check and the read, a run started twice, a lock holder SIGKILLed.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambda_manifest_builder.app import BuilderApp
from paybatch.catalog import data_dir, load, rows_table
from paybatch.convert.commit import commit_run
from paybatch.convert.files import filesystem_for
from paybatch.datasets import load_schema
from tests.integration.builder_support import small_settings

pytestmark = pytest.mark.integration
DATE = "2025-12-23"
SCHEMA = load_schema("authorization")


@pytest.fixture
def app(clients):  # type: ignore[no-untyped-def]
    return BuilderApp.create(small_settings(MAX_FILES_PER_MANIFEST="1", GLUE_JOB_NAME="not-deployed",
                                            EXPECTED_FILE_SIZE_MB=str(300 / 1024), SIZE_TOLERANCE_PERCENT="99"))


@contextmanager
def answer_lost(operation: str, then: Callable[[Any, dict[str, Any]], Exception], times: int = 1) -> Iterator[list[str]]:
    """The next ``times`` calls of ``operation`` (any client in this process) are sent and applied; the answer the
    caller gets is ``then(params)`` — what botocore's own retry of the lost request brought back."""
    original = botocore.client.BaseClient._make_api_call
    hits: list[str] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        result = original(self, name, params)
        if name == operation and len(hits) < times:
            hits.append(name)
            raise then(self, params)
        return result

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield hits
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def concurrent_modification(client: Any, params: dict[str, Any]) -> Exception:
    """Glue's answer to botocore's retry of an UpdateTable that was applied (its VersionId is stale now)."""
    error_class = client.exceptions.from_code("ConcurrentModificationException")
    return error_class({"Error": {"Code": "ConcurrentModificationException",  # type: ignore[no-any-return]
                                  "Message": "Update table failed due to concurrent modifications."}}, "UpdateTable")


def write_batch_file(app: BuilderApp, batch: str, rows: int = 3) -> str:
    fs, base = filesystem_for(data_dir(app.settings, "authorization"), app.settings.endpoint_url)
    table = pa.Table.from_pylist([{"sequence_number": i, "transaction_id": f"{batch}-{i}", "_batch_id": batch,
                                   "transaction_timestamp": dt.datetime(2025, 12, 23, tzinfo=dt.UTC)} for i in range(rows)],
                                 schema=SCHEMA.output_arrow_schema())
    path = f"{base}/dt={DATE}/batch_id={batch}/part-0.parquet"
    pq.write_table(table, path, filesystem=fs)
    return f"s3://{path}"


def visible_batches(app: BuilderApp) -> Counter[str]:
    rows = load(app.settings, "authorization").scan(selected_fields=("_batch_id",)).to_arrow()
    return Counter(rows.column("_batch_id").to_pylist())


# --- 1. a commit whose UpdateTable answer is lost ------------------------------------------------------------
def test_a_commit_whose_answer_is_lost_lands_once_and_leaves_the_table_readable(app: BuilderApp) -> None:
    rows_table(app.settings, SCHEMA)
    commit_run(app.settings, SCHEMA, "first", [write_batch_file(app, "first")], [])
    with answer_lost("UpdateTable", concurrent_modification) as hits:
        result = commit_run(app.settings, SCHEMA, "second", [write_batch_file(app, "second")], [])
    assert hits == ["UpdateTable"]
    assert visible_batches(app) == {"first": 3, "second": 3}  # readable, and the second batch's rows once
    table = load(app.settings, "authorization")
    assert result.snapshot_id == table.current_snapshot().snapshot_id
    assert table.current_snapshot().summary["paybatch.replaces"] == "_batch_id=second"


# --- 2. commits racing, batch ids made in the same second ----------------------------------------------------
def test_runs_of_batches_made_in_the_same_second_all_commit(app: BuilderApp) -> None:
    rows_table(app.settings, SCHEMA)
    batches = [f"20251223-101010-{i:08x}" for i in range(8)]  # alike in their first 16 characters
    commit_run(app.settings, SCHEMA, "20251223-101009-00000000", [write_batch_file(app, "20251223-101009-00000000")], [])
    files = {b: write_batch_file(app, b) for b in batches}
    errors: list[BaseException] = []

    def commit(batch: str) -> None:
        try:
            commit_run(app.settings, SCHEMA, batch, [files[batch]], [])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert visible_batches(app) == {b: 3 for b in ["20251223-101009-00000000", *batches]}
