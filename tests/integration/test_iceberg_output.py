"""Exactly-once, queryable output: each run commits atomically to an Iceberg table in the local Glue catalog."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from paybatch.builder.app import BuilderApp
from paybatch.contracts.tracking import FileStatus, ManifestStatus
from paybatch.convert.commit import commit_run
from paybatch.convert.manifest_run import run_in_process, run_manifest
from paybatch.datasets import FieldSpec, load_schema
from paybatch.iceberg.catalog import data_dir, load, rows_table
from paybatch.iceberg.maintenance import maintain
from paybatch.iceberg.query import run_query
from paybatch.sample_files import sample_file
from paybatch.storage import filesystem_for
from tests.integration.builder_support import deliver_all, one_file_per_manifest_settings

pytestmark = pytest.mark.integration
DATE = "2025-12-23"
SCHEMA = load_schema("authorization")


@pytest.fixture
def app(clients):  # type: ignore[no-untyped-def]
    return BuilderApp.create(one_file_per_manifest_settings())


def visible(app: BuilderApp) -> list[dict[str, Any]]:
    return load(app.settings, "authorization").scan(selected_fields=("_source_file", "sequence_number", "_batch_id")).to_arrow().to_pylist()


def run(app: BuilderApp, record: dict[str, Any]) -> Any:
    moves = app.moves
    if record["manifest_status"] != ManifestStatus.RUNNING:
        moves.move_manifest(record["manifest_date"], record["batch_id"], ManifestStatus.RUNNING,
                            expected=[ManifestStatus.QUEUED, ManifestStatus.CREATED])
    return run_manifest(app.settings, record["manifest_path"], run_in_process)


def put(app: BuilderApp, key: str, body: bytes) -> None:
    app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=key, Body=body)


def test_a_truncated_gzip_shows_nothing_and_its_fixed_upload_shows_once(app: BuilderApp) -> None:
    good = sample_file(120_000, 1, DATE) * 2  # ≈ 240 KB of lines: most of them convert before the gzip breaks
    key = f"{DATE}-feed.ndjson.gz"
    put(app, key, gzip.compress(good)[:-40])
    deliver_all(app)
    [record] = app.store.all_manifests()
    result = run(app, record)
    assert result.status == "failed" and app.store.get_file(DATE, key)["status"] == "failed"  # type: ignore[index]
    assert visible(app) == []  # rows converted before the break are never committed
    fs, base = filesystem_for(data_dir(app.settings, "authorization"), app.settings.endpoint_url)
    import pyarrow.fs as pafs
    assert [i for i in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
            if i.type == pafs.FileType.File] == []  # and its data files were deleted
    put(app, key, gzip.compress(good))  # fixed: a new etag, a new batch
    deliver_all(app)
    fixed = next(m for m in app.store.all_manifests() if m["batch_id"] != record["batch_id"])
    assert run(app, fixed).status == "completed"
    rows = visible(app)
    lines = good.count(b"\n")
    assert len(rows) == lines and len({(r["_source_file"], r["sequence_number"]) for r in rows}) == lines // 2 * 1
    assert {r["_batch_id"] for r in rows} == {fixed["batch_id"]}


def test_reprocess_replaces_the_batch_with_a_new_snapshot(app: BuilderApp) -> None:
    put(app, f"{DATE}-a.ndjson", sample_file(100_000, 2, DATE))
    deliver_all(app)
    [record] = app.store.all_manifests()
    first = run(app, record)
    before = load(app.settings, "authorization").current_snapshot().snapshot_id
    app.moves.move_manifest(DATE, record["batch_id"], ManifestStatus.QUEUED, expected=ManifestStatus.COMPLETED)
    app.moves.move_file(DATE, f"{DATE}-a.ndjson", FileStatus.MANIFESTED, expected=FileStatus.COMPLETED)
    again = run(app, app.store.get_manifest(DATE, record["batch_id"]))  # type: ignore[arg-type]
    table = load(app.settings, "authorization")
    assert again.rows_written == first.rows_written == len(visible(app))  # totals unchanged
    assert table.current_snapshot().snapshot_id != before
    assert run_query(app.settings, "select count(*) as n from authorization").to_pylist() == [{"n": first.rows_written}]


def test_a_run_killed_before_its_commit_shows_nothing_and_its_retry_commits_once(app: BuilderApp) -> None:
    put(app, f"{DATE}-k.ndjson", sample_file(100_000, 3, DATE))
    deliver_all(app)
    [record] = app.store.all_manifests()
    app.moves.move_manifest(DATE, record["batch_id"], ManifestStatus.RUNNING, expected=[ManifestStatus.QUEUED, ManifestStatus.CREATED])
    # A real SIGKILL of a real run process, at the one moment that matters: data files written, commit not made.
    code = ("import os, signal, sys; from paybatch.convert import manifest_run as m; from paybatch.config import load_settings;"
            "m.commit_run = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL);"
            f"m.run_manifest(load_settings('dev'), {record['manifest_path']!r}, m.run_in_process)")
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120,
                            env={**__import__("os").environ, "EXPECTED_FILE_SIZE_MB": str(300 / 1024), "SIZE_TOLERANCE_PERCENT": "99"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    fs, base = filesystem_for(data_dir(app.settings, "authorization"), app.settings.endpoint_url)
    import pyarrow.fs as pafs
    leftovers = [i.path for i in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
                 if i.type == pafs.FileType.File]
    assert leftovers  # the data files were written ...
    table = load(app.settings, "authorization") if _exists(app) else None
    assert table is None or table.current_snapshot() is None or visible(app) == []  # ... and nothing is visible
    result = run(app, app.store.get_manifest(DATE, record["batch_id"]))  # type: ignore[arg-type]  # the scheduler's retry
    assert len(visible(app)) == result.rows_written > 0  # committed once
    reports = maintain(app.settings, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    assert sum(r["orphans_removed"] for r in reports) == len(leftovers)
    assert not any(r["errors"] for r in reports)
    assert all(fs.get_file_info(p).type == pafs.FileType.NotFound for p in leftovers)
    assert len(visible(app)) == result.rows_written  # housekeeping changed no row


def _exists(app: BuilderApp) -> bool:
    return "authorization" in {t["Name"] for t in app.clients.glue.get_tables(DatabaseName=app.settings.catalog.database)["TableList"]}


def test_ten_runs_committing_at_once_all_land(app: BuilderApp) -> None:
    rows_table(app.settings, SCHEMA)
    fs, base = filesystem_for(data_dir(app.settings, "authorization"), app.settings.endpoint_url)
    files = []
    for i in range(10):
        table = pa.Table.from_pylist([{"sequence_number": i, "transaction_id": f"T{i}", "_batch_id": f"b{i}",
                                       "transaction_timestamp": dt.datetime(2025, 12, 23, tzinfo=dt.UTC)}],
                                     schema=SCHEMA.output_arrow_schema())
        path = f"{base}/dt={DATE}/batch_id=b{i}/part-0.parquet"
        pq.write_table(table, path, filesystem=fs)
        files.append(f"s3://{path}")
    outcomes: list[Any] = []
    threads = [threading.Thread(target=lambda i=i: outcomes.append(commit_run(app.settings, SCHEMA, f"b{i}", [files[i]], [])))
               for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 10
    assert sorted(r["_batch_id"] for r in visible(app)) == sorted(f"b{i}" for i in range(10))  # no commit lost
    assert max(o.attempts for o in outcomes) > 1  # they did race (the local Glue refuses a stale VersionId)


def test_a_new_optional_field_evolves_the_table(app: BuilderApp) -> None:
    rows_table(app.settings, SCHEMA)
    evolved = SCHEMA.model_copy(update={"fields": (*SCHEMA.fields, FieldSpec(name="loyalty_tier", type="string"))})
    table = rows_table(app.settings, evolved)
    assert "loyalty_tier" in {c.name for c in table.schema().columns}
    assert not table.schema().find_field("loyalty_tier").required


def test_the_lake_tables_are_queryable_by_partition_projection(app: BuilderApp) -> None:
    tables = app.clients.glue.get_tables(DatabaseName=app.settings.catalog.lake_database)["TableList"]
    assert sorted(t["Name"] for t in tables) == sorted(["authorization", "authorization_hash", "clearing", "clearing_hash",
                                                         "chargeback", "chargeback_hash"])  # no PAN dimension
    auth = next(t for t in tables if t["Name"] == "authorization")
    params = auth["Parameters"]
    assert params["projection.enabled"] == "true" and params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy/MM/dd"
    assert params["storage.location.template"] == f"s3://{app.settings.buckets.lake}/authorization/${{dt}}"
    assert auth["PartitionKeys"] == [{"Name": "dt", "Type": "date"}]
    assert app.clients.glue.get_partitions(DatabaseName=app.settings.catalog.lake_database, TableName="authorization")["Partitions"] == []


def test_query_errors_name_the_tables(app: BuilderApp) -> None:
    from paybatch.errors import PaybatchError

    rows_table(app.settings, SCHEMA)
    with pytest.raises(PaybatchError, match=r"query failed: .*tables in paybatch_dev: authorization"):
        run_query(app.settings, "select * from nowhere")
    assert json.dumps(run_query(app.settings, "select count(*) as n from authorization").to_pylist()) == '[{"n": 0}]'


@pytest.mark.parametrize(("sql", "said"), [
    ("copy authorization to '{out}'", "read-only: COPY"),
    ("attach '{out}' as other", "read-only: ATTACH"),
    ("create table copied as select * from authorization", "read-only: CREATE"),
    ("insert into authorization select * from authorization", "read-only: INSERT"),
    ("select * from read_csv('{out}')", "file system operations are disabled"),
    ("select 1; copy authorization to '{out}'", "one statement"),
    ("", "give a SELECT statement"),
    ("   ", "give a SELECT statement"),
    ("selec 1", "query failed"),
])
def test_query_is_read_only_and_refuses_what_writes_or_reaches_files(app: BuilderApp, tmp_path: Path, sql: str, said: str) -> None:
    from paybatch.errors import PaybatchError

    rows_table(app.settings, SCHEMA)
    out = tmp_path / "x.csv"
    out.write_text("a\n1\n")
    with pytest.raises(PaybatchError, match=re.escape(said)):
        run_query(app.settings, sql.format(out=out))
    assert out.read_text() == "a\n1\n"
    assert not (tmp_path / "other").exists()
    assert run_query(app.settings, "with n as (select count(*) as n from authorization) select n from n").to_pylist() == [{"n": 0}]


def test_maintain_compacts_small_files_and_expires_old_snapshots(app: BuilderApp) -> None:
    rows_table(app.settings, SCHEMA)
    fs, base = filesystem_for(data_dir(app.settings, "authorization"), app.settings.endpoint_url)
    for run_index in range(9):  # nine small runs into one date partition: nine files, nine snapshots
        batch = f"small-{run_index}"
        table = pa.Table.from_pylist([{"sequence_number": run_index * 10 + i, "transaction_id": f"T{run_index}-{i}",
                                       "_batch_id": batch, "transaction_timestamp": dt.datetime(2025, 12, 23, tzinfo=dt.UTC)}
                                      for i in range(10)], schema=SCHEMA.output_arrow_schema())
        path = f"{base}/dt={DATE}/batch_id={batch}/part-0.parquet"
        pq.write_table(table, path, filesystem=fs)
        commit_run(app.settings, SCHEMA, batch, [f"s3://{path}"], [])
    before = sorted((r["_batch_id"], r["sequence_number"]) for r in visible(app))
    assert len(load(app.settings, "authorization").inspect.files()) == 9
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    keep_two = app.settings.model_copy(update={"catalog": app.settings.catalog.model_copy(update={"keep_snapshots": 2})})
    snapshots = len(load(app.settings, "authorization").snapshots())
    [report] = [r for r in maintain(keep_two, now=later) if r["table"] == "authorization"]
    assert report["errors"] == [] and report["files_compacted"] == 9 and report["files_written"] == 1
    assert report["snapshots_expired"] == snapshots - 2  # all but the newest two (older than the retention)
    table = load(app.settings, "authorization")
    assert sorted((r["_batch_id"], r["sequence_number"]) for r in visible(app)) == before  # no row changed
    assert [p.rsplit("/", 1)[1][:10] for p in table.inspect.files().column("file_path").to_pylist()] == ["compacted-"]
    # A re-run of one batch still replaces exactly its rows (the compacted file is rewritten without them).
    commit_run(app.settings, SCHEMA, "small-3", [], [])
    assert sorted(r["_batch_id"] for r in visible(app)).count("small-3") == 0 and len(visible(app)) == 80


def test_maintain_before_anything_was_converted_has_nothing_to_do(app: BuilderApp) -> None:
    """An environment whose Glue database does not exist yet (nothing converted): no tables, no error."""
    fresh = app.settings.model_copy(update={"catalog": app.settings.catalog.model_copy(update={"database": "paybatch_never_converted"})})
    assert maintain(fresh) == []


def test_query_reads_the_generators_lake_tables(app: BuilderApp, spark: Any) -> None:
    """`lake.<table>`: the lake database's tables as their Glue definitions say, ``dt`` from the folders."""
    from paybatch.generate.job import generate
    from paybatch.generate.plan import GenerationRequest

    generate(app.settings, GenerationRequest(rows=400, dates=("2024-03-01", "2024-03-02"), seed=3, format="parquet",
                                             tables=("authorization", "clearing"), quality=False), spark=spark, clients=app.clients)
    per_day = run_query(app.settings, "select dt, count(*) as n from lake.clearing group by dt order by dt").to_pylist()
    assert [str(r["dt"]) for r in per_day] == ["2024-03-01", "2024-03-02"] and all(r["n"] > 0 for r in per_day)
    assert run_query(app.settings, "select count(*) as n from lake.authorization where dt = DATE '2024-03-01'").to_pylist()[0]["n"] > 0
    from paybatch.errors import PaybatchError

    with pytest.raises(PaybatchError, match=r"lake\.chargeback has no files yet"):
        run_query(app.settings, "select count(*) from lake.chargeback")
    with pytest.raises(PaybatchError, match=r"the generator's lake tables: lake\.authorization, .*lake\.clearing"):
        run_query(app.settings, "select * from lake.nowhere")
