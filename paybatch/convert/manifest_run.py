"""One conversion run of one manifest: check, convert, commit, account, record, announce.

1. read the manifest; each listed object must still exist with the manifest's etag (missing or
   changed → that file fails with the reason, the others go on);
2. files manifested → processing (a file another writer moved elsewhere is left out; one already
   completed by an earlier attempt is converted again, as the commit replaces the batch);
3. every file is converted — in this process (the light path) or one Spark task per file, each
   task streaming its file through Arrow and writing Parquet data files itself, under the dataset's
   Iceberg table (file names unique to this attempt, so nothing committed is ever overwritten); an
   uncompressed NDJSON file above ``batching.split_file_mb`` is converted as newline-aligned byte
   ranges, one task each, with the same rows, rejects, line numbers and counts as one task;
4. one Iceberg commit (``paybatch.convert.commit``): the batch's earlier rows out, the data files of
   the files that converted in; the files of a failed file are deleted, never committed;
5. per file lines read = rows written + rows rejected, recorded on the tracking item; files →
   completed (and the object tagged for input retention) or failed; the manifest → completed /
   partial / failed with its totals and snapshot id. A status write that cannot be made raises: the
   run fails and the scheduler retries it (the retry's commit replaces this one's rows);
6. a completion message on the completion queue.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paybatch.aws import AwsClients
from paybatch.config import Settings
from paybatch.contracts.manifest import Manifest
from paybatch.contracts.tracking import OBJECT_GONE, FileStatus, ManifestStatus, utcnow
from paybatch.convert.commit import RunCommit, commit_run
from paybatch.convert.files import FileResult, convert_file, merge_ranges
from paybatch.convert.run_moves import ManifestResult, complete_files, record_result, take_files
from paybatch.convert.splits import ByteRange, aligned_ranges, can_split, count_range_newlines, first_lines
from paybatch.datasets import DatasetSchema, load_schema
from paybatch.errors import PaybatchError
from paybatch.iceberg.catalog import data_dir, rejects_table, rejects_table_name, rows_table, rows_table_name, table_location
from paybatch.retention import mark_converted
from paybatch.retry import retrying
from paybatch.spark import run_tasks
from paybatch.storage import filesystem_for, head_object
from paybatch.tracking_store import TrackingStore
from paybatch.transitions import Move, RunFence, RunSuperseded, StatusMoves

logger = logging.getLogger(__name__)
SUPERSEDED = "superseded"  # a run a newer start of its manifest replaced: it wrote nothing after that

@dataclass(frozen=True)
class FileTask:
    """One task: a whole file, or one newline-aligned byte range of it (with the number of its first line)."""

    index: int
    source: str
    byte_range: ByteRange | None = None
    first_line: int = 1


# A task → its FileResult as a dict; a Spark runner ships the same function to its tasks.
Runner = Callable[[Sequence[Any], Callable[[Any], Any]], list[Any]]


def run_in_process(tasks: Sequence[Any], work: Callable[[Any], Any]) -> list[Any]:
    """The light path: convert the files one after the other in this process."""
    return [work(task) for task in tasks]


def spark_runner(spark: Any) -> Runner:
    """One Spark task per file: the task streams its file through Arrow and writes Parquet directly."""

    def run(tasks: Sequence[Any], work: Callable[[Any], Any]) -> list[Any]:
        return run_tasks(spark, tasks, work)

    return run


def split_large_files(tasks: list[FileTask], sizes: dict[int, int], split_bytes: int, runner: Runner,
                      endpoint_url: str | None) -> list[FileTask]:
    """Each uncompressed NDJSON file above ``split_bytes`` as newline-aligned byte ranges of about that size.

    The ranges' lines are counted first, one task per range (so the conversion tasks know their first line
    numbers); a file that cannot be split (gzip, Parquet) stays one task. ``split_bytes`` 0: nothing splits.
    """
    if split_bytes <= 0:
        return tasks
    out: list[FileTask] = []
    ranges: list[tuple[FileTask, ByteRange]] = []
    for task in tasks:
        size = sizes.get(task.index, 0)
        if size <= split_bytes or not can_split(task.source):
            out.append(task)
            continue
        fs, path = filesystem_for(task.source, endpoint_url)
        ranges += [(task, r) for r in aligned_ranges(fs, path, size, split_bytes)]
    if not ranges:
        return tasks

    def count(item: tuple[FileTask, ByteRange]) -> int:
        fs, path = filesystem_for(item[0].source, endpoint_url)
        return count_range_newlines(fs, path, item[1])

    newlines = runner(ranges, count)
    per_file: dict[int, list[tuple[ByteRange, int]]] = {}
    for (task, byte_range), lines in zip(ranges, newlines, strict=True):
        per_file.setdefault(task.index, []).append((byte_range, lines))
    for task in tasks:
        if task.index in per_file:
            parts = per_file[task.index]
            starts = first_lines([lines for _, lines in parts])
            out += [FileTask(task.index, task.source, r, first) for (r, _), first in zip(parts, starts, strict=True)]
    return out


def read_manifest(clients: AwsClients, manifest_path: str) -> Manifest:
    bucket, _, key = manifest_path.removeprefix("s3://").partition("/")
    try:
        body = retrying(lambda: clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except clients.s3.exceptions.NoSuchKey:
        raise PaybatchError(f"manifest {manifest_path} does not exist") from None
    return Manifest.model_validate_json(body)


def commit_outputs(settings: Settings, schema: DatasetSchema, batch_id: str, results: Sequence[dict[str, Any]]) -> RunCommit:
    """Commit the data files of the files that converted; delete those of the files that failed (never visible)."""
    rows: list[str] = []
    rejects: list[str] = []
    doomed: list[str] = []
    marker = f"/{rejects_table_name(schema)}/"
    for result in results:
        outputs = [path if path.startswith("s3://") else f"s3://{path}" for path in result.get("outputs", [])]
        if result["error"]:
            doomed += outputs
            continue
        for path in outputs:
            (rejects if marker in path else rows).append(path)
    for path in doomed:
        fs, key = filesystem_for(path, settings.endpoint_url)
        try:
            fs.delete_file(key)
        except OSError:
            logger.warning("could not delete %s of a failed file (uncommitted; `paybatch maintain` removes it)", path)
    return commit_run(settings, schema, batch_id, rows, rejects)


def _changed_since_read(clients: AwsClients, bucket: str, key: str, etag: str) -> str | None:
    """Why a converted file's rows cannot be trusted: the object was replaced (or removed) while it was read.

    The reads (pyarrow's ranged GETs) cannot be conditional, so the version is checked before them (the etag
    check) and after them (here): rows read under one etag are committed only if the object still has it.
    A new version is registered by its own notification and converted in its own batch.
    """
    head = head_object(clients.s3, bucket, key)
    if head is None:
        return "the object was removed while it was being converted; its rows are not committed"
    now = str(head["ETag"]).strip('"')
    if now != etag:
        return f"the object changed while it was being converted (etag {etag} → {now}); its rows are not committed"
    return None


def run_manifest(settings: Settings, manifest_path: str, runner: Runner = run_in_process, *,
                 target_mb: float = 256, run_token: str | None = None) -> ManifestResult:
    """Convert one manifest end to end and record the outcome (see the module docstring).

    ``run_token`` (given by the builder's dispatch) is this run's proof that it is the manifest's recorded run:
    every tracking write is conditional on it, and a run that a newer start superseded stops without writing
    more (status ``superseded``); its uncommitted data files are left to ``paybatch maintain``.
    """
    clients = AwsClients(settings)
    manifest = read_manifest(clients, manifest_path)
    try:
        return _run(settings, clients, manifest, runner, target_mb, run_token)
    except RunSuperseded as exc:
        logger.warning("run of %s superseded: %s", manifest.batch_id, exc)
        return ManifestResult(batch_id=manifest.batch_id, status=SUPERSEDED)


def _run(settings: Settings, clients: AwsClients, manifest: Manifest, runner: Runner, target_mb: float,
         run_token: str | None) -> ManifestResult:
    started = time.monotonic()
    store = TrackingStore(clients)
    moves = StatusMoves(store)
    schema = load_schema(manifest.schema_name)
    rows_dir = data_dir(settings, rows_table_name(schema))
    rejects_dir = data_dir(settings, rejects_table_name(schema))
    output_uri = table_location(settings, rows_table_name(schema))
    rows_table(settings, schema)  # created, or evolved to the dataset's YAML, before any file is written
    rejects_table(settings, schema)
    attempt = uuid.uuid4().hex[:8]
    date, batch_id = manifest.date_prefix, manifest.batch_id
    fence = RunFence(date, batch_id, run_token) if run_token else None
    ingested_at: datetime = utcnow()

    failed: dict[str, str] = {}
    not_ours: set[str] = set()  # files another writer moved out of this batch: neither converted nor moved here
    gone: set[str] = set()  # files whose object was removed or replaced: a re-upload of the same bytes converts them
    tasks: list[FileTask] = []
    taken_all = take_files(moves, date, [entry.key for entry in manifest.files], batch_id, ingested_at, fence)
    for index, entry in enumerate(manifest.files):
        taken = taken_all[entry.key]
        if taken.outcome == Move.CONFLICT:
            failed[entry.key] = f"not converted: the file is {taken.previous or 'gone'}, no longer in this batch"
            not_ours.add(entry.key)
            continue
        head = head_object(clients.s3, entry.bucket, entry.key)
        if head is None:
            failed[entry.key] = "the object no longer exists in the input bucket"
            gone.add(entry.key)
        elif str(head["ETag"]).strip('"') != entry.etag:
            failed[entry.key] = f"the object changed since it was manifested (etag {entry.etag} → {head['ETag'].strip(chr(34))})"
            gone.add(entry.key)
        else:
            tasks.append(FileTask(index, f"s3://{entry.bucket}/{entry.key}"))
    endpoint_url = settings.endpoint_url
    tasks = split_large_files(tasks, {i: e.size for i, e in enumerate(manifest.files)},
                              int(settings.batching.split_file_mb * 1024 * 1024), runner, endpoint_url)

    def work(task: FileTask) -> dict[str, Any]:
        return convert_file(task.source, rows_dir, schema, batch_id, task.index, ingested_at, date, target_mb=target_mb,
                            endpoint_url=endpoint_url, rejects_output=rejects_dir, attempt=attempt,
                            byte_range=task.byte_range, first_line=task.first_line).to_dict()

    by_source: dict[str, list[dict[str, Any]]] = {}
    for result in runner(tasks, work):
        by_source.setdefault(result["source"], []).append(result)
    results = {source: parts[0] if len(parts) == 1 else merge_ranges(source, parts) for source, parts in by_source.items()}
    summary = ManifestResult(batch_id=batch_id, status="", output_uri=output_uri)
    per_file = []
    for entry in manifest.files:
        source = f"s3://{entry.bucket}/{entry.key}"
        result = results.get(source) or FileResult(source=source, error=failed.get(entry.key, "not converted")).to_dict()
        if result["error"] is None and result["lines_read"] != result["rows_written"] + result["rows_rejected"]:
            result["error"] = "counts do not reconcile: lines read ≠ rows written + rows rejected"
        if result["error"] is None:
            result["error"] = _changed_since_read(clients, entry.bucket, entry.key, entry.etag)
            if result["error"]:
                gone.add(entry.key)
        per_file.append((entry, result))
    if fence is not None:
        record = store.get_manifest(date, batch_id)
        if record is None or record.get("run_token") != run_token:
            raise RunSuperseded(f"batch {batch_id} has a newer run: this run's output is not committed")
    committed = commit_outputs(settings, schema, batch_id, [r for _, r in per_file])
    converted = []
    for entry, result in per_file:
        summary.files.append(result)
        if not result["error"]:
            converted.append((entry, result))
        elif entry.key not in not_ours:
            counts = {k: result[k] for k in ("lines_read", "rows_written", "rows_rejected")}
            kind = {"error_kind": OBJECT_GONE} if entry.key in gone else {}
            moves.move_file(date, entry.key, FileStatus.FAILED, expected=FileStatus.PROCESSING,
                            set_values={"error": result["error"][:2000], **counts, **kind}, batch_id=batch_id,
                            remove=[] if kind else ["error_kind"], events={"file_failed": (1, entry.size)}, fence=fence)
    completed = complete_files(moves, date, converted, batch_id, fence)
    for entry, result in converted:
        moved = completed[entry.key]
        if moved.outcome == Move.CONFLICT:
            result["error"] = f"converted, but the file is now {moved.previous or 'gone'} (moved by another writer)"
            continue
        summary.lines_read += result["lines_read"]
        summary.rows_written += result["rows_written"]
        summary.rows_rejected += result["rows_rejected"]
        try:
            retrying(mark_converted, clients.s3, entry.bucket, entry.key)
        except Exception as exc:  # noqa: BLE001 - retention only: the object and its item are kept, nothing is lost
            logger.warning("could not tag %s as converted (neither it nor its item will expire): %s", entry.key, exc)
            continue
        moves.allow_expiry(date, entry.key, entry.etag)  # the item may expire now that its object does first
    failures = sum(1 for f in summary.files if f["error"])
    status = (ManifestStatus.COMPLETED if failures == 0 else
              ManifestStatus.FAILED if failures == len(summary.files) else ManifestStatus.PARTIAL)
    summary.status = str(status)
    summary.duration_seconds = round(time.monotonic() - started, 3)
    # The message first: sent twice if recording fails and the run is retried (consumers key on batch_id),
    # never lost because the run ended after recording.
    retrying(
        clients.sqs.send_message, QueueUrl=retrying(clients.queue_url, settings.queues.completion),
        MessageBody=json.dumps({
            "batch_id": batch_id, "env": settings.env, "status": summary.status, "lines_read": summary.lines_read,
            "rows_written": summary.rows_written, "rows_rejected": summary.rows_rejected, "files_failed": failures,
            "output": {"table": f"{settings.catalog.database}.{rows_table_name(schema)}",
                       "rejects_table": f"{settings.catalog.database}.{rejects_table_name(schema)}",
                       "snapshot_id": committed.snapshot_id, "rejects_snapshot_id": committed.rejects_snapshot_id},
            "duration_seconds": summary.duration_seconds,
        }),
    )
    recorded = record_result(moves, manifest, summary, status, failures, committed, run_token)
    if recorded.outcome == Move.CONFLICT:
        raise PaybatchError(f"manifest {batch_id} is {recorded.previous or 'gone'}: this run's result was not recorded")
    return summary
