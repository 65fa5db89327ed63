"""Conversion end to end on the local endpoint: files → builder → manifest → run → Parquet, counts reconcile."""

from __future__ import annotations

import json
import time

import pytest

from lambda_manifest_builder.scheduler import scheduler_for
from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.contracts.tracking import FileStatus, ManifestStatus
from paybatch.convert.manifest_run import run_in_process, run_manifest, spark_runner
from paybatch.iceberg.catalog import load
from paybatch.sample_files import sample_file
from tests.conftest import drain
from tests.integration.builder_support import deliver_all, small_settings

pytestmark = pytest.mark.integration

BAD_LINES = b'{"broken": \n\xff\xfe not utf-8\n{"sequence_number": "x"}\n'


def upload_feed(app: BuilderApp, count: int, bad: bool = True) -> dict[str, int]:
    """Upload ``count`` files of ~1 KiB; the first gets three bad lines. Returns lines per key."""
    lines = {}
    for i in range(count):
        data = sample_file(900, seed=i, date_prefix="2025-12-23")
        if bad and i == 0:
            data += BAD_LINES
        key = f"2025-12-23-feed-{i:03}.ndjson"
        app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=key, Body=data)
        lines[key] = data.count(b"\n")
    return lines


def parquet_rows(app: BuilderApp, kind: str = "parquet") -> list[dict]:
    """The committed rows (or rejects) of the authorization table: what a reader sees."""
    name = "authorization" if kind == "parquet" else "authorization_rejects"
    return load(app.settings, name).scan().to_arrow().to_pylist()


def wait_for_manifests(app: BuilderApp, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manifests = app.store.all_manifests()
        if manifests and all(m["manifest_status"] in {"completed", "partial", "failed"} for m in manifests):
            return manifests
        scheduler_for(app).run_once(sweep=False)
        time.sleep(0.5)
    raise AssertionError(f"manifests did not finish: {app.store.all_manifests()}")


def test_files_flow_to_parquet_and_counts_reconcile(clients: AwsClients) -> None:
    app = BuilderApp.create(small_settings(MAX_FILES_PER_MANIFEST="3", LIGHT_PATH_MAX_MB="64",
                                           GLUE_JOB_NAME="paybatch-dev-convert-manifest"))
    drain(app.clients, app.settings.queues.completion)
    lines = upload_feed(app, 3)
    deliver_all(app)
    [manifest] = wait_for_manifests(app)
    assert manifest["job_name"] == app.settings.glue.jobs.convert_light  # small: the light path
    assert manifest["manifest_status"] == ManifestStatus.COMPLETED, manifest
    assert manifest["lines_read"] == sum(lines.values()) == manifest["rows_written"] + manifest["rows_rejected"]
    assert manifest["rows_rejected"] == 3
    files = app.store.all_files()
    assert {f["status"] for f in files} == {"completed"}
    for f in files:
        assert f["lines_read"] == lines[f["file_key"]] == f["rows_written"] + f["rows_rejected"]
    rows = parquet_rows(app)
    assert len(rows) == manifest["rows_written"]
    assert {r["transaction_timestamp"].date().isoformat() for r in rows} == {"2025-12-23"}
    assert {r["_batch_id"] for r in rows} == {manifest["batch_id"]} and all(r["_source_file"] for r in rows)
    table = load(app.settings, "authorization")  # an Iceberg table in the Glue catalog, partitioned by the record date
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("dt", "day")]
    glue = app.clients.glue.get_table(DatabaseName=app.settings.catalog.database, Name="authorization")["Table"]
    assert glue["Parameters"]["table_type"] == "ICEBERG"
    assert manifest["snapshot_id"] == table.current_snapshot().snapshot_id
    rejects = parquet_rows(app, "rejects")
    assert sorted(r["line_number"] for r in rejects) == [lines["2025-12-23-feed-000.ndjson"] - 2 + i for i in range(3)]
    assert {r["reason"].split(":")[0] for r in rejects} == {"malformed JSON", "not UTF-8", "field 'sequence_number'"}
    [message] = [json.loads(b) for b in drain(app.clients, app.settings.queues.completion)]
    assert message["batch_id"] == manifest["batch_id"] and message["status"] == "completed"
    assert message["rows_written"] == manifest["rows_written"]
    assert message["output"]["snapshot_id"] == manifest["snapshot_id"]
    assert message["output"]["table"] == f"{app.settings.catalog.database}.authorization"


def test_missing_and_changed_files_fail_alone_and_rerun_replaces_output(clients: AwsClients, spark) -> None:  # type: ignore[no-untyped-def]
    settings = small_settings(MAX_FILES_PER_MANIFEST="4", GLUE_JOB_NAME="not-deployed")
    app = BuilderApp.create(settings)
    upload_feed(app, 4, bad=False)
    deliver_all(app)
    [manifest] = app.store.all_manifests()
    path = manifest["manifest_path"]
    # Same manifest through Spark (one task per file) and through the light path: identical output.
    app.moves.move_manifest(manifest["manifest_date"], manifest["batch_id"], ManifestStatus.RUNNING, expected=ManifestStatus.QUEUED)
    spark_result = run_manifest(settings, path, spark_runner(spark))

    def committed():  # type: ignore[no-untyped-def]
        return load(settings, "authorization").scan().to_arrow().drop_columns(["_ingested_at"]).sort_by("sequence_number")

    spark_rows = committed()
    first_snapshot = load(settings, "authorization").current_snapshot().snapshot_id
    app.moves.move_manifest(manifest["manifest_date"], manifest["batch_id"], ManifestStatus.QUEUED, expected=ManifestStatus.COMPLETED)
    light_result = run_manifest(settings, path, run_in_process)
    light_rows = committed()
    assert spark_result.rows_written == light_result.rows_written == light_rows.num_rows  # replaced, not doubled
    assert spark_rows.equals(light_rows)
    assert load(settings, "authorization").current_snapshot().snapshot_id != first_snapshot  # a new snapshot
    # One object deleted, one replaced: those two fail with the reason, the others convert; partial.
    inputs = settings.buckets.input
    app.clients.s3.delete_object(Bucket=inputs, Key="2025-12-23-feed-001.ndjson")
    app.clients.s3.put_object(Bucket=inputs, Key="2025-12-23-feed-002.ndjson", Body=sample_file(900, 99, "2025-12-23"))
    app.moves.move_manifest(manifest["manifest_date"], manifest["batch_id"], ManifestStatus.QUEUED, expected=ManifestStatus.COMPLETED)
    for key in (f"2025-12-23-feed-{i:03}.ndjson" for i in range(4)):  # as `paybatch reprocess --batch-id` does
        app.moves.move_file("2025-12-23", key, FileStatus.MANIFESTED, expected=FileStatus.COMPLETED)
    result = run_manifest(settings, path, run_in_process)
    assert result.status == "partial"
    errors = {f["file_key"]: f.get("error") for f in app.store.all_files()}
    assert "no longer exists" in errors["2025-12-23-feed-001.ndjson"]
    assert "changed since it was manifested" in errors["2025-12-23-feed-002.ndjson"]
    assert errors["2025-12-23-feed-000.ndjson"] is None
    assert len(parquet_rows(app)) == result.rows_written  # only the two good files' rows remain
