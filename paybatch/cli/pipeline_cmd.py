"""Pipeline commands: files, manifests, status, wait, reprocess (same calls on AWS and locally)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from paybatch.aws import AwsClients
from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for
from paybatch.contracts.tracking import TERMINAL_MANIFEST_STATUSES, FileStatus
from paybatch.errors import PaybatchError
from paybatch.pipeline_status import pipeline_status
from paybatch.tracking_store import OPS_COMPLETED_DAYS, TrackingStore
from paybatch.transitions import StatusMoves, requeue_manifest


def _store(env: str) -> TrackingStore:
    return TrackingStore(AwsClients(settings_for(env)))


def register(app: typer.Typer) -> None:
    app.command("files")(files)
    app.command("manifests")(manifests)
    app.command("status")(status)
    app.command("wait")(wait)
    app.command("reprocess")(reprocess)
    app.command("flush")(flush)
    app.command("upload-samples")(upload_samples)


@clean_errors
def files(
    env: EnvOption = "dev",
    status_filter: Annotated[str | None, typer.Option("--status", help="Only files in this status.")] = None,
    days: Annotated[float, typer.Option("--days", min=0, help="Completed files: only those uploaded in the last N days.")]
    = OPS_COMPLETED_DAYS,
    as_json: JsonOption = False,
) -> None:
    """Tracked files with their status, size, manifest and error (every file not completed, and the recently completed)."""
    if status_filter and status_filter not in {s.value for s in FileStatus}:
        raise PaybatchError(f"unknown status {status_filter!r}; one of: {', '.join(s.value for s in FileStatus)}")
    store = _store(env)
    if status_filter == FileStatus.COMPLETED:
        items = [f for f in store.ops_files(days) if f["status"] == FileStatus.COMPLETED]
    else:
        items = store.files_with_status(FileStatus(status_filter)) if status_filter else store.ops_files(days)
    items.sort(key=lambda i: (i["date_prefix"], i["upload_time"], i["file_key"]))
    if as_json:
        print_json(items)
        return
    table = Table(title=f"{len(items)} file(s)")
    for column in ("date", "key", "status", "MB", "batch / quarantine", "error"):
        table.add_column(column)
    for i in items:
        where = i.get("batch_id") or i.get("quarantine_path") or ""
        table.add_row(i["date_prefix"], i["file_key"], i["status"], f"{i.get('file_size_mb', 0)}", where,
                      (i.get("error") or "")[:80])
    console.print(table)


@clean_errors
def manifests(
    env: EnvOption = "dev",
    days: Annotated[float, typer.Option("--days", min=0, help="Completed manifests: only those created in the last N days.")]
    = OPS_COMPLETED_DAYS,
    as_json: JsonOption = False,
) -> None:
    """Manifests with their status, size, run and last error (every one not completed, and the recently completed)."""
    items = _store(env).ops_manifests(days)
    if as_json:
        print_json(items)
        return
    table = Table(title=f"{len(items)} manifest(s)")
    for column in ("batch id", "status", "files", "MB", "job / run", "attempts", "note"):
        table.add_column(column)
    for m in items:
        run = f"{m.get('job_name', '')} {m.get('run_id', '')[:16]}".strip()
        note = m.get("last_error") or m.get("queue_reason") or ""
        table.add_row(m["batch_id"], m["manifest_status"], str(m.get("file_count", 0)),
                      f"{int(m.get('total_bytes', 0)) / 1024 / 1024:.2f}", run, str(m.get("attempts", 0)), note[:80])
    console.print(table)


@clean_errors
def status(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Counts per status, backlog and oldest pending age, manifests per status, runs in flight."""
    report = pipeline_status(_store(env))
    if as_json:
        print_json(report)
        return
    _render(report)


def _render(report: dict[str, Any]) -> None:
    table = Table(title="paybatch pipeline")
    table.add_column("files")
    table.add_column("", justify="right")
    table.add_column("manifests")
    table.add_column("", justify="right")
    file_rows = list(report["files"].items())
    manifest_rows = list(report["manifests"].items())
    for i in range(max(len(file_rows), len(manifest_rows))):
        f = file_rows[i] if i < len(file_rows) else ("", "")
        m = manifest_rows[i] if i < len(manifest_rows) else ("", "")
        table.add_row(f[0], str(f[1]), m[0], str(m[1]))
    console.print(table)
    backlog = report["backlog"]
    age = backlog["oldest_pending_age_seconds"]
    console.print(f"backlog: {backlog['pending']} pending file(s), {backlog['pending_bytes'] / 1024 / 1024:.1f} MB, "
                  f"oldest waiting {age if age is not None else '-'} s · runs in flight: {len(report['runs'])}"
                  f" · quarantined by reason: {report['quarantine_reasons'] or '-'}")


@clean_errors
def wait(
    env: EnvOption = "dev",
    timeout: Annotated[float, typer.Option(min=0, help="Give up after this many seconds (exit 1).")] = 600,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between checks.")] = 2,
) -> None:
    """Return when nothing is pending, manifested, processing or running; exit 1 on timeout."""
    store = _store(env)
    deadline = time.monotonic() + timeout
    while True:
        report = pipeline_status(store)
        if report["idle"]:
            console.print(f"idle: {report['files']}")
            return
        if time.monotonic() >= deadline:
            console.print(f"[red]timed out after {timeout:.0f}s[/]: files {report['files']}, "
                          f"manifests {report['manifests']}")
            raise typer.Exit(1)
        time.sleep(interval)


@clean_errors
def reprocess(
    env: EnvOption = "dev",
    batch_id: Annotated[str | None, typer.Option("--batch-id", help="Run this manifest again.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Send every failed file back to pending.")] = False,
) -> None:
    """Re-run one manifest (its output is replaced, not duplicated), or retry every failed file."""
    if bool(batch_id) == failed:
        raise PaybatchError("give exactly one of --batch-id ID or --failed")
    store = _store(env)
    if batch_id:
        record = next((m for m in store.all_manifests() if m["batch_id"] == batch_id), None)
        if record is None:
            raise PaybatchError(f"no manifest with batch id {batch_id!r} (see `paybatch manifests --env {env}`)")
        if record["manifest_status"] not in TERMINAL_MANIFEST_STATUSES:
            raise PaybatchError(f"manifest {batch_id} is {record['manifest_status']}; only a finished manifest is re-run")
        requeue_manifest(StatusMoves(store), record, "reprocess requested")
        console.print(f"manifest {batch_id} queued again; the scheduler starts its run")
        return
    from paybatch.ops.reprocess import retry_failed_files

    count = retry_failed_files(store.clients.settings, store)
    console.print(f"{count} failed file(s) back to pending")


@clean_errors
def flush(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Run one scheduler pass now, packing every pending file whatever its age (stragglers included)."""
    from lambda_manifest_builder.scheduler import scheduler_for
    from paybatch.builder.app import BuilderApp

    report = scheduler_for(BuilderApp.create(settings_for(env))).run_once(flush=True)
    if as_json:
        print_json(report.__dict__)
        return
    console.print(f"manifests created: {len(report.manifests_created)} · runs started: {report.runs_started} · "
                  f"runs retried: {report.runs_retried} · files swept: {report.files_swept}"
                  + (f" · errors: {report.errors}" if report.errors else ""))


@clean_errors
def upload_samples(
    env: EnvOption = "dev",
    count: Annotated[int, typer.Option(min=1, help="Files inside the expected size window.")] = 6,
    outliers: Annotated[bool, typer.Option(help="Also upload a too-small, a too-large and an unsupported file.")] = True,
    date: Annotated[str, typer.Option(help="Partition date in the keys (YYYY-MM-DD).")] = "2025-12-23",
) -> None:
    """Upload sample NDJSON payment files to the input bucket (some outside the size range)."""
    from paybatch.sample_files import upload_samples as upload

    settings = settings_for(env)
    clients = AwsClients(settings)
    rules = settings.file_validation
    inside = rules.expected_file_size_mb * (1 - rules.size_tolerance_percent / 200)
    keys = upload(clients, [inside] * count, date)
    if outliers:
        keys += upload(clients, [rules.min_bytes / 1024 / 1024 / 4], date, prefix="too-small")
        keys += upload(clients, [rules.max_bytes / 1024 / 1024 * 1.2], date, prefix="too-large")
        keys += upload(clients, [0.01], date, prefix="notes", extension=".csv")
    console.print(f"uploaded {len(keys)} file(s) to s3://{settings.buckets.input}/")
