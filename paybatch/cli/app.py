"""The `paybatch` command: one entry point for operators, scripts and the Makefile."""

from __future__ import annotations

import typer

from paybatch.cli import (
    bulk_cmd,
    config_cmd,
    convert_cmd,
    deploy_cmd,
    generate_cmd,
    local_cmd,
    ops_cmd,
    pipeline_cmd,
    scale_cmd,
    screen_cmd,
    tables_cmd,
)

app = typer.Typer(
    name="paybatch",
    help="paybatch — manifest-driven payment data pipeline on AWS Glue, Lambda, DynamoDB, S3 and SQS "
    "(or all of it on this machine).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(local_cmd.app, name="local")
app.add_typer(screen_cmd.app, name="screen")
app.add_typer(bulk_cmd.app, name="bulk")
app.add_typer(deploy_cmd.app, name="deploy")
pipeline_cmd.register(app)
app.command("convert")(convert_cmd.convert)
app.command("generate")(generate_cmd.generate)
ops_cmd.register(app)
app.command("scale-test")(scale_cmd.scale_test)
tables_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
