"""One conversion run of one manifest: check, convert, account, record, announce.

1. read the manifest; each listed object must still exist with the manifest's etag (missing or
   changed → that file fails with the reason, the others go on);
2. files manifested → processing; the batch's earlier output (a previous attempt) is removed;
3. every file is converted — in this process (the light path) or one Spark task per file, each
   task streaming its file through Arrow and writing Parquet itself;
4. per file lines read = rows written + rows rejected, recorded on the tracking item; files →
   completed or failed; the manifest → completed / partial / failed with its totals; metrics;
5. a completion message on the completion queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paybatch.aws import AwsClients, head_object
from paybatch.config import Settings
from paybatch.contracts.manifest import Manifest
from paybatch.contracts.tracking import FileStatus, ManifestStatus, iso, utcnow
from paybatch.convert.files import FileResult, convert_file, filesystem_for
from paybatch.datasets import load_schema
from paybatch.errors import PaybatchError
from paybatch.spark import run_tasks
from paybatch.tracking_store import MetricDelta, TrackingStore

# (index, source URI) → FileResult as a dict; a Spark runner ships the same function to its tasks.
FileTask = tuple[int, str]
Runner = Callable[[Sequence[FileTask], Callable[[FileTask], dict[str, Any]]], list[dict[str, Any]]]


def run_in_process(tasks: Sequence[FileTask], work: Callable[[FileTask], dict[str, Any]]) -> list[dict[str, Any]]:
    """The light path: convert the files one after the other in this process."""
    return [work(task) for task in tasks]


def spark_runner(spark: Any) -> Runner:
    """One Spark task per file: the task streams its file through Arrow and writes Parquet directly."""

    def run(tasks: Sequence[FileTask], work: Callable[[FileTask], dict[str, Any]]) -> list[dict[str, Any]]:
        return run_tasks(spark, tasks, work)

    return run


@dataclass
class ManifestResult:
    batch_id: str
    status: str
    files: list[dict[str, Any]] = field(default_factory=list)
    lines_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    duration_seconds: float = 0.0
    output_uri: str = ""


def read_manifest(clients: AwsClients, manifest_path: str) -> Manifest:
    bucket, _, key = manifest_path.removeprefix("s3://").partition("/")
    try:
        body = clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except clients.s3.exceptions.NoSuchKey:
        raise PaybatchError(f"manifest {manifest_path} does not exist") from None
    return Manifest.model_validate_json(body)


def remove_batch_output(output_uri: str, batch_id: str, endpoint_url: str | None = None) -> int:
    """Delete every file of this batch under parquet/ and rejects/ (a re-run replaces, never adds)."""
    import pyarrow.fs as pafs

    fs, base = filesystem_for(output_uri, endpoint_url)
    removed = 0
    for kind in ("parquet", "rejects"):
        root = f"{base}/{kind}"
        if fs.get_file_info(root).type == pafs.FileType.NotFound:
            continue
        for dt_dir in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
            batch_dir = f"{dt_dir.path}/batch_id={batch_id}"
            if fs.get_file_info(batch_dir).type == pafs.FileType.Directory:
                removed += len(fs.get_file_info(pafs.FileSelector(batch_dir, recursive=True)))
                fs.delete_dir(batch_dir)
    return removed


def run_manifest(settings: Settings, manifest_path: str, runner: Runner = run_in_process, *,
                 target_mb: float = 256) -> ManifestResult:
    """Convert one manifest end to end and record the outcome (see the module docstring)."""
    started = time.monotonic()
    clients = AwsClients(settings)
    store = TrackingStore(clients)
    manifest = read_manifest(clients, manifest_path)
    schema = load_schema(manifest.schema_name)
    output_uri = f"s3://{settings.buckets.output}"
    date, batch_id = manifest.date_prefix, manifest.batch_id
    ingested_at: datetime = utcnow()

    failed: dict[str, str] = {}
    tasks: list[FileTask] = []
    for index, entry in enumerate(manifest.files):
        head = head_object(clients.s3, entry.bucket, entry.key)
        if head is None:
            failed[entry.key] = "the object no longer exists in the input bucket"
        elif str(head["ETag"]).strip('"') != entry.etag:
            failed[entry.key] = f"the object changed since it was manifested (etag {entry.etag} → {head['ETag'].strip(chr(34))})"
        else:
            tasks.append((index, f"s3://{entry.bucket}/{entry.key}"))
        store.transition_file(date, entry.key, [FileStatus.MANIFESTED, FileStatus.PROCESSING], FileStatus.PROCESSING,
                              {"processing_started_at": iso(ingested_at)}, batch_id=batch_id)
    endpoint_url = settings.endpoint_url
    remove_batch_output(output_uri, batch_id, endpoint_url)

    def work(task: FileTask) -> dict[str, Any]:
        index, source = task
        return convert_file(source, output_uri, schema, batch_id, index, ingested_at, date, target_mb=target_mb,
                            endpoint_url=endpoint_url).to_dict()

    results = {r["source"]: r for r in runner(tasks, work)}
    summary = ManifestResult(batch_id=batch_id, status="", output_uri=output_uri)
    for entry in manifest.files:
        source = f"s3://{entry.bucket}/{entry.key}"
        result = results.get(source) or FileResult(source=source, error=failed.get(entry.key, "not converted")).to_dict()
        if result["error"] is None and result["lines_read"] != result["rows_written"] + result["rows_rejected"]:
            result["error"] = "counts do not reconcile: lines read ≠ rows written + rows rejected"
        summary.files.append(result)
        counts = {k: result[k] for k in ("lines_read", "rows_written", "rows_rejected")}
        if result["error"]:
            store.transition_file(date, entry.key, FileStatus.PROCESSING, FileStatus.FAILED,
                                  {"error": result["error"][:2000], **counts}, batch_id=batch_id,
                                  metrics=[MetricDelta(date, "file_failed", 1, entry.size)])
            continue
        summary.lines_read += result["lines_read"]
        summary.rows_written += result["rows_written"]
        summary.rows_rejected += result["rows_rejected"]
        store.transition_file(date, entry.key, FileStatus.PROCESSING, FileStatus.COMPLETED,
                              {**counts, "completed_at": iso(utcnow()), "partitions": result["partitions"]},
                              remove=["error"], batch_id=batch_id,
                              metrics=[MetricDelta(date, "file_completed", 1, entry.size),
                                       MetricDelta(date, "rows_written", result["rows_written"]),
                                       MetricDelta(date, "rows_rejected", result["rows_rejected"])])
    failures = sum(1 for f in summary.files if f["error"])
    status = (ManifestStatus.COMPLETED if failures == 0 else
              ManifestStatus.FAILED if failures == len(summary.files) else ManifestStatus.PARTIAL)
    summary.status = str(status)
    summary.duration_seconds = round(time.monotonic() - started, 3)
    run_metric = "run_failed" if status == ManifestStatus.FAILED else "run_succeeded"
    store.update_manifest(
        date, batch_id, [ManifestStatus.RUNNING, ManifestStatus.QUEUED, ManifestStatus.CREATED], status,
        {"lines_read": summary.lines_read, "rows_written": summary.rows_written, "rows_rejected": summary.rows_rejected,
         "files_failed": failures, "finished_at": iso(utcnow()), "duration_seconds": summary.duration_seconds,
         "output_uri": output_uri},
        metrics=[MetricDelta(date, run_metric, 1, manifest.totals.total_bytes)],
    )
    clients.sqs.send_message(
        QueueUrl=clients.queue_url(settings.queues.completion),
        MessageBody=json.dumps({
            "batch_id": batch_id, "env": settings.env, "status": summary.status, "lines_read": summary.lines_read,
            "rows_written": summary.rows_written, "rows_rejected": summary.rows_rejected, "files_failed": failures,
            "output": {"parquet": f"{output_uri}/parquet/", "rejects": f"{output_uri}/rejects/"},
            "duration_seconds": summary.duration_seconds,
        }),
    )
    return summary
