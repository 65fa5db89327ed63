"""Operator commands behind the scripts in environments/*/scripts: monitor, diagnose, report, cost, scale tests, upload."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from paybatch.aws import AwsClients
from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, kv_table, print_json, settings_for
from paybatch.errors import PaybatchError
from paybatch.paths import state_dir


def _clients(env: str) -> AwsClients:
    return AwsClients(settings_for(env))


def _monitor_view(snap: dict[str, Any]) -> Group:
    files = kv_table("files", snap["files"])
    manifests = kv_table("manifests", snap["manifests"])
    backlog = snap["backlog"]
    oldest = backlog["oldest_pending_age_seconds"]
    summary = kv_table("pipeline", {
        "backlog": f"{backlog['pending']} file(s), {backlog['pending_bytes'] / 2**20:.1f} MB",
        "oldest pending": f"{oldest:.0f} s" if oldest is not None else "-",
        "runs in flight": len(snap["runs"]), "runs finished": snap["runs_finished"],
        f"throughput ({snap['throughput']['window_minutes']} min)": f"{snap['throughput']['files_per_minute']} files/min, "
                                                                      f"{snap['throughput']['mb_per_second']} MB/s",
        "Glue cost so far": f"${snap['glue_cost_so_far']:,.2f}", "at": snap["at"]})
    grid = Table.grid(padding=(0, 2))
    grid.add_row(files, manifests, summary)
    errors = Table(title="latest errors")
    errors.add_column("batch")
    errors.add_column("status")
    errors.add_column("error")
    for e in snap["errors"]:
        errors.add_row(e["batch_id"], e["status"], e["error"])
    return Group(grid, errors) if snap["errors"] else Group(grid)


@clean_errors
def monitor(
    env: EnvOption = "dev",
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 5,
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    as_json: JsonOption = False,
) -> None:
    """A live view: files per status, backlog and oldest pending age, manifests, runs, throughput, errors, cost so far."""
    from paybatch.ops.monitor import snapshot

    clients = _clients(env)
    if once or as_json:
        snap = snapshot(clients)
        print_json(snap) if as_json else console.print(_monitor_view(snap))
        return
    with Live(_monitor_view(snapshot(clients)), console=console, refresh_per_second=1) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(_monitor_view(snapshot(clients)))
        except KeyboardInterrupt:
            pass


@clean_errors
def glue_errors(
    env: EnvOption = "dev",
    since_hours: Annotated[float, typer.Option(min=0, help="Look back this many hours.")] = 24,
    as_json: JsonOption = False,
) -> None:
    """Failed Glue runs with their error and the manifest and files involved."""
    from paybatch.ops.glue import failed_runs

    runs = failed_runs(_clients(env), since_hours)
    if as_json:
        print_json(runs)
        if runs:
            raise typer.Exit(1)  # as without --json: scripts test the exit status
        return
    if not runs:
        console.print(f"no failed runs in the last {since_hours:g} h")
        return
    for run in runs:
        console.print(f"[bold red]{run['state']}[/] {run['job_name']} {run['run_id']} started {run['started']}")
        console.print(f"  error: {run['error'] or '(none reported)'}")
        console.print(f"  manifest: {run['batch_id'] or '-'} ({run['manifest_status'] or 'unknown'})")
        for f in run["files"]:
            console.print(f"    {f['file']}: {f['status']}{' — ' + str(f['error']) if f.get('error') else ''}")
    raise typer.Exit(1)


@clean_errors
def diagnose(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Say what is wrong and what to do: stuck files, DLQ messages, expired locks, failed runs, quarantined files."""
    from paybatch.ops.diagnose import diagnose as run
    from paybatch.ops.diagnose import render_text

    report = run(_clients(env))
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(render_text(report))
    if not report.healthy:
        raise typer.Exit(1)


@clean_errors
def batch_config(
    env: EnvOption = "dev",
    preset: Annotated[str | None, typer.Option(help="light (half), standard (the config file), heavy (double).")] = None,
    max_files: Annotated[int | None, typer.Option(min=1, help="Files per manifest.")] = None,
    max_size_gb: Annotated[float | None, typer.Option(min=0.001, help="Manifest size cap in GB.")] = None,
    max_wait_seconds: Annotated[int | None, typer.Option(min=0, help="Flush a partial manifest after this wait.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Glue workers of the conversion job.")] = None,
    max_concurrent_runs: Annotated[int | None, typer.Option(min=1, help="Concurrent conversion runs.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Apply to the Lambdas and the Glue job (default: show the diff only).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate a batch configuration change, show the diff, and (with --apply) push it to the Lambdas and the Glue job."""
    from paybatch.ops import batch_config as bc
    from paybatch.ops.diagnose import require_resources

    clients = _clients(env)
    if preset is None and all(v is None for v in (max_files, max_size_gb, max_wait_seconds, workers, max_concurrent_runs)):
        raise PaybatchError("nothing to change: give --preset light|standard|heavy or explicit values (see --help)")
    new, changes = bc.plan(clients.settings, preset, {
        "max_files_per_manifest": max_files, "max_batch_size_gb": max_size_gb, "max_wait_seconds": max_wait_seconds,
        "number_of_workers": workers, "max_concurrent_runs": max_concurrent_runs})
    require_resources(clients)
    live = bc.live_values(clients)
    applied = bc.apply(clients, new) if apply and changes else []
    if as_json:
        print_json({"changes": [c.__dict__ for c in changes], "deployed": live, "applied": applied})
        return
    table = Table(title=f"batch configuration of {env}" + (f" — preset {preset}" if preset else ""))
    for column in ("setting", "config", "deployed", "new"):
        table.add_column(column)
    for change in changes:
        table.add_row(change.name, str(change.current), str((live or {}).get(change.name, "-")), f"[bold]{change.new}[/]")
    console.print(table if changes else "no change: the values equal the configuration")
    if applied:
        console.print("applied:\n  " + "\n  ".join(applied))
    elif changes:
        console.print("dry run: add --apply to push these values")


@clean_errors
def report(
    env: EnvOption = "dev",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file (default: .paybatch/<env>/reports/pipeline.html).")]
    = None,
) -> None:
    """Write a self-contained HTML report with charts: statuses over time, sizes, durations, throughput, reasons, cost."""
    from paybatch.ops.report import write_report

    path = write_report(_clients(env), output or state_dir(env) / "reports" / "pipeline.html")
    console.print(f"report: {path}")


@clean_errors
def cost(
    env: EnvOption = "prod",
    files_per_day: Annotated[int, typer.Option(min=0, help="Files per day.")] = 338_000,
    file_size_gb: Annotated[float | None, typer.Option(min=1e-6, help="File size in GB (default: the env's expected size).")] = None,
    mib_per_cpu_second: Annotated[float | None, typer.Option(
        min=0.001, help="Conversion throughput (default: measured by make bench).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Projected daily and monthly cost, beside the design documents' estimate for the same volume."""
    from paybatch.ops.cost import DESIGN_MIB_PER_CPU_SECOND, MEASURED_MIB_PER_CPU_SECOND, estimate

    settings = settings_for(env)
    size = file_size_gb if file_size_gb is not None else settings.file_validation.expected_file_size_mb / 1024
    try:
        ours = estimate(settings, files_per_day, size, mib_per_cpu_second or MEASURED_MIB_PER_CPU_SECOND)
        design = estimate(settings, files_per_day, size, DESIGN_MIB_PER_CPU_SECOND)
    except ValueError as exc:
        raise PaybatchError(str(exc)) from None
    if as_json:
        print_json({"paybatch": ours.to_dict(), "design_estimate": design.to_dict()})
        return
    table = Table(title=f"{env}: {files_per_day:,} files/day × {size:g} GB")
    table.add_column("per day")
    table.add_column(f"paybatch ({ours.mib_per_cpu_second:g} MiB/CPU-s)", justify="right")
    table.add_column(f"design estimate ({design.mib_per_cpu_second:g} MiB/CPU-s)", justify="right")
    for label, attr in (("Glue", "glue_per_day"), ("Lambda", "lambda_per_day"), ("DynamoDB", "dynamodb_per_day"),
                        ("S3 requests", "s3_per_day"), ("SQS", "sqs_per_day"), ("total", "total_per_day")):
        table.add_row(label, f"${getattr(ours, attr):,.2f}", f"${getattr(design, attr):,.2f}")
    table.add_row("per month (30 days)", f"${ours.per_month:,.0f}", f"${design.per_month:,.0f}")
    table.add_row("per TB", f"${ours.per_tb:,.2f}", f"${design.per_tb:,.2f}")
    console.print(table)


@clean_errors
def queues(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Depth and age of the file-event queue, its dead-letter queue and the completion queue, with a DLQ sample."""
    from paybatch.ops.diagnose import require_resources
    from paybatch.resources import queue_specs

    clients = _clients(env)
    require_resources(clients)
    rows = []
    for spec in queue_specs(clients.settings):
        url = clients.queue_url(spec.name)
        attrs = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        rows.append({"queue": spec.name, "role": spec.role, "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
                     "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))})
    dlq = clients.queue_url(clients.settings.queues.dlq)
    sample = [m["Body"][:300] for m in clients.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=5, VisibilityTimeout=0)
              .get("Messages", [])]
    if as_json:
        print_json({"queues": rows, "dlq_sample": sample})
        return
    table = Table(title=f"queues of {env}")
    for column in ("queue", "role", "visible", "in flight"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["queue"]), str(r["role"]), str(r["visible"]), str(r["in_flight"]))
    console.print(table)
    for body in sample:
        console.print(f"DLQ: {body}")


@clean_errors
def logs(
    env: EnvOption = "dev",
    minutes: Annotated[int, typer.Option(min=1, help="Look back this many minutes (AWS).")] = 60,
    lines: Annotated[int, typer.Option(min=1, help="Lines to show.")] = 50,
    errors_only: Annotated[bool, typer.Option("--errors", help="Only lines that mention an error.")] = False,
) -> None:
    """The manifest builder's and scheduler's logs: CloudWatch on AWS, the local services log locally."""
    settings = settings_for(env)
    found: list[str] = []
    if settings.target == "local":
        log = state_dir(env) / "services.log"
        if not log.is_file():
            raise PaybatchError(f"no local services log at {log}: start the environment with `paybatch local up --env {env}`")
        found = log.read_text(errors="replace").splitlines()
    else:
        client = AwsClients(settings).client("logs")
        start = int((time.time() - minutes * 60) * 1000)
        for function in (settings.lambda_.builder_function, settings.lambda_.scheduler_function):
            try:
                events = client.filter_log_events(logGroupName=f"/aws/lambda/{function}", startTime=start, limit=lines)["events"]
            except client.exceptions.ResourceNotFoundException:
                raise PaybatchError(f"no log group for {function}: is the function deployed (deploy-lambda.sh)?") from None
            found += [f"{function}: {e['message'].rstrip()}" for e in events]
    if errors_only:
        found = [line for line in found if any(w in line.lower() for w in ("error", "exception", "traceback", "failed"))]
    typer.echo("\n".join(found[-lines:]) or "(no log lines)")


@clean_errors
def upload(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to upload to the input bucket (keys keep the relative path).")],
    env: EnvOption = "dev",
) -> None:
    """Upload local files (e.g. a generated feed folder) to the environment's input bucket."""
    from paybatch.ops.diagnose import require_resources

    clients = _clients(env)
    require_resources(clients)
    count = 0
    for path in paths:
        if not path.exists():
            raise PaybatchError(f"no such file or folder: {path}")
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        for file in files:
            key = file.name if path.is_file() else str(file.relative_to(path))
            clients.s3.upload_file(str(file), clients.settings.buckets.input, key)
            count += 1
    console.print(f"uploaded {count} file(s) to s3://{clients.settings.buckets.input}/")


def register(app: typer.Typer) -> None:
    for name, command in (("monitor", monitor), ("glue-errors", glue_errors), ("diagnose", diagnose), ("batch-config", batch_config),
                          ("report", report), ("cost", cost), ("queues", queues), ("logs", logs),
                          ("upload", upload)):
        app.command(name)(command)
