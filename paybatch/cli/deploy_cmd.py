"""`paybatch deploy`: code and job definitions to an environment (AWS, or the local endpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from paybatch.aws import AwsClients
from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for
from paybatch.paths import PROJECT_ROOT

app = typer.Typer(help="Deploy code and job definitions to an environment (AWS, or the local endpoint).", no_args_is_help=True)


@app.command("glue")
@clean_errors
def deploy_glue(
    env: EnvOption = "dev",
    library: Annotated[Path | None, typer.Option(help="paybatch.zip for --extra-py-files (default: built now).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Upload the job scripts and the paybatch library, then create or update every Glue job with the env's settings."""
    from paybatch.ops.glue import deploy_glue as run
    from paybatch.ops.package import build_glue_library

    clients = AwsClients(settings_for(env))
    zip_path = library or build_glue_library(PROJECT_ROOT / "deploy" / "build" / "paybatch.zip")
    deployed = run(clients, zip_path)
    if as_json:
        print_json([d.__dict__ for d in deployed])
        return
    table = Table(title=f"Glue jobs of {env}")
    for column in ("job", "action", "script", "workers", "max concurrent runs"):
        table.add_column(column)
    for d in deployed:
        table.add_row(d.name, d.action, d.script, str(d.workers or "-"), str(d.max_concurrent_runs))
    console.print(table)


@app.command("lambda")
@clean_errors
def deploy_lambda(
    env: EnvOption = "dev",
    bundle: Annotated[Path | None, typer.Option(
        help="Folder of the functions' bundles, one subfolder each (default: deploy/build/lambda, built by make package).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Zip and upload each function's bundle, then create or update the builder, scheduler, bulk worker and screening API."""
    from paybatch.ops.lambdas import deploy_lambdas

    folder = bundle or PROJECT_ROOT / "deploy" / "build" / "lambda"
    deployed = deploy_lambdas(AwsClients(settings_for(env)), folder)
    if as_json:
        print_json([d.__dict__ for d in deployed])
        return
    for d in deployed:
        console.print(f"{d.action:>8} {d.name}  (code s3://{settings_for(env).buckets.artifacts}/{d.code_key})")
