"""`paybatch local up/down/status`: the whole pipeline on this machine."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for
from paybatch.local.stack import LocalStack

app = typer.Typer(help="Run the pipeline locally: a local AWS endpoint, its resources, the Lambda poller and scheduler.",
                  no_args_is_help=True)


def _render_status(report: dict[str, Any]) -> None:
    ok, bad = "[green]✓[/]", "[red]✗[/]"
    console.print(f"[bold]paybatch local — {report['env']}[/]  endpoint {report['endpoint_url']}  "
                  f"{ok if report['endpoint']['healthy'] else bad} healthy  "
                  f"{ok if report['services']['running'] else bad} poller+scheduler  "
                  f"({'ready' if report['ready'] else 'not ready'})")
    resources = report.get("resources")
    if not resources:
        console.print("The endpoint is not running: start it with [bold]paybatch local up --env "
                      f"{report['env']}[/] (or make local-up).")
        return
    table = Table(show_header=True)
    table.add_column("kind")
    table.add_column("role")
    table.add_column("name")
    table.add_column("", justify="center")
    table.add_column("details")
    for kind in ("buckets", "tables", "queues", "glue_jobs", "state_machines"):
        for role, item in resources[kind].items():
            details = ""
            if kind == "tables" and item["exists"]:
                details = f"keys {item['key_schema']}"
                if item["indexes"]:
                    details += f" · GSI {', '.join(item['indexes'])}"
                if item["ttl_attribute"]:
                    details += f" · TTL {item['ttl_attribute']}"
            elif kind == "queues" and item["exists"]:
                details = f"{item['messages']} visible, {item['in_flight']} in flight"
                if item.get("redrive_policy"):
                    details += f" · DLQ after {item['redrive_policy']['maxReceiveCount']} receives"
            elif kind == "glue_jobs" and item["exists"]:
                details = f"{item['script']} · max {item['max_concurrent_runs']} runs"
            elif kind == "state_machines" and item["exists"]:
                details = f"{item['arn']} · run by the endpoint's Step Functions (paybatch bulk)"
            table.add_row(kind, role, item["name"], ok if item["exists"] else bad, details)
    console.print(table)
    console.print(f"S3 → SQS notification on the input bucket: "
                  f"{ok if resources['notifications']['input_to_ingest_queue'] else bad}")


@app.command("up")
@clean_errors
def up(env: EnvOption = "dev",
       services: bool = typer.Option(True, help="Also start the Lambda poller and the scheduler."),
       as_json: JsonOption = False) -> None:
    """Start the local endpoint, create every resource, start the poller and scheduler (idempotent)."""
    stack = LocalStack(settings_for(env))
    with console.status(f"starting the local environment on {stack.url} …"):
        report = stack.up(with_services=services)
    if as_json:
        print_json(report)
    else:
        _render_status(report)
        console.print(f"Files put in s3://{stack.settings.buckets.input}/ now flow through the pipeline. "
                      f"Stop with [bold]paybatch local down --env {env}[/].")


@app.command("down")
@clean_errors
def down(env: EnvOption = "dev") -> None:
    """Stop everything `local up` started (services, job runs, endpoint), by pid."""
    stopped = LocalStack(settings_for(env)).down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command("status")
@clean_errors
def status(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Health of the endpoint and services, and every resource with its keys, GSI and TTL."""
    report = LocalStack(settings_for(env)).status()
    if as_json:
        print_json(report)
    else:
        _render_status(report)
