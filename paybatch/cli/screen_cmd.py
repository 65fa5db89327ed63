"""`paybatch screen`: the sanctions list, the nightly screening run and the real-time API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for

app = typer.Typer(help="Sanctions screening: the list, the nightly run over a customer file, the real-time API.",
                  no_args_is_help=True)
list_app = typer.Typer(help="The sanctions list (OFAC SDN/ALT/ADD files or FollowTheMoney JSON), stored by version.",
                       no_args_is_help=True)
app.add_typer(list_app, name="list")

LIST_HELP = "A stored list VERSION, or a list folder/file PATH (default: the latest stored)."
FROM_HELP = "OFAC's folder (SDN.CSV, ALT.CSV, ADD.CSV), a FollowTheMoney file, or s3://… of either."
CUSTOMERS_HELP = "Customers: CSV, NDJSON or Parquet (id, name; optional type, dob, country), a path or s3://…"
OUTPUT_HELP = "A folder or s3:// prefix for the matches and summary (default: the catalog's screening_matches table)."
ListOption = Annotated[str | None, typer.Option("--list", help=LIST_HELP)]


@list_app.command("update")
@clean_errors
def list_update(
    env: EnvOption = "dev",
    source: Annotated[str, typer.Option("--from", help=FROM_HELP)] = "",
    as_json: JsonOption = False,
) -> None:
    """Parse a list, store it under its version (a checksum of its content) and make it the latest."""
    import tempfile

    from paybatch.aws import AwsClients
    from paybatch.errors import PaybatchError
    from paybatch.screening.lists import parse, store

    if not source:
        raise PaybatchError("--from is required: OFAC's folder of SDN/ALT/ADD files, or a FollowTheMoney JSON file")
    clients = AwsClients(settings_for(env))
    with tempfile.TemporaryDirectory(prefix="paybatch-list-") as scratch:
        path = _fetch(clients, source, Path(scratch)) if source.startswith("s3://") else Path(source)
        sanctions = parse(path)
    uri = store(clients, sanctions)
    summary = {"version": sanctions.version, "entries": len(sanctions.entries), "names": sanctions.name_count,
               "source": sanctions.source, "stored": uri}
    if as_json:
        print_json(summary)
    else:
        console.print(f"sanctions list [bold]{sanctions.version}[/]: {len(sanctions.entries):,} entries, "
                      f"{sanctions.name_count:,} names with aliases → {uri}")


def _fetch(clients: object, uri: str, folder: Path) -> Path:
    """An s3:// list (one object, or every object under a prefix) copied into ``folder``."""
    from paybatch.errors import PaybatchError

    s3 = clients.s3  # type: ignore[attr-defined]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
            for o in page.get("Contents", [])]
    if not keys:
        raise PaybatchError(f"nothing at {uri}")
    for k in keys:
        s3.download_file(bucket, k, str(folder / Path(k).name))
    return folder if len(keys) > 1 or Path(keys[0]).name.lower() == "sdn.csv" else folder / Path(keys[0]).name


@app.command("sample")
@clean_errors
def sample(
    out: Annotated[Path, typer.Option(help="Folder for the list (OFAC's SDN.CSV, ALT.CSV, ADD.CSV) and customers.csv.")],
    entries: Annotated[int, typer.Option(min=1, help="List entries to generate.")] = 2_000,
    customers: Annotated[int, typer.Option(min=1, help="Customers to generate (about 2 % of them variants of listed names).")] = 5_000,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same files.")] = 0,
) -> None:
    """Generate a sanctions list in OFAC's formats and a customer file to screen against it (no real list is shipped)."""
    import csv
    import random

    from paybatch.screening.synthetic import negatives, variant, write_ofac_list

    generated = write_ofac_list(out / "list", entries, seed=seed)
    from paybatch.screening.lists import parse

    sanctions = parse(out / "list")
    rng = random.Random(seed)
    rows = [(c.id, c.name, c.type) for c in negatives(customers - customers // 50, seed=seed + 1)]
    for i in range(customers // 50):
        entry = rng.choice(sanctions.entries)
        kind = rng.choice(("exact", "typo", "name_order", "transliteration"))
        rows.append((f"p{i:05d}", variant(entry.names[0], kind, rng) or entry.names[0],
                     "individual" if entry.type == "individual" else "entity"))
    rng.shuffle(rows)
    with (out / "customers.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "type"])
        writer.writerows(rows)
    console.print(f"{out / 'list'}: {generated.entries:,} entries, {generated.names:,} names; {out / 'customers.csv'}: "
                  f"{len(rows):,} customers ({customers // 50:,} of them variants of listed names)")


@app.command("run")
@clean_errors
def run(
    env: EnvOption = "dev",
    customers: Annotated[str, typer.Option(help=CUSTOMERS_HELP)] = "",
    list_source: ListOption = None,
    output: Annotated[str | None, typer.Option(help=OUTPUT_HELP)] = None,
    threshold: Annotated[float | None, typer.Option(help="Alert at this score or above, in (0, 1] (default: screening.threshold).")] = None,
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help="Send an alert per match (queue and webhook).")] = True,
    as_json: JsonOption = False,
) -> None:
    """Screen every customer of a file against the sanctions list, on Spark; alerts go out as matches are found."""
    from paybatch.errors import PaybatchError
    from paybatch.screening.bulk import run_screening

    if not customers:
        raise PaybatchError("--customers is required: a CSV, NDJSON or Parquet file of customers")
    settings = settings_for(env)
    with Progress(TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"), TimeElapsedColumn(),
                  console=console, transient=True, disable=as_json) as progress:
        bar = progress.add_task("screen", total=None)
        result = run_screening(settings, customers, list_source=list_source, output=output, threshold=threshold, alerts=alerts,
                               on_progress=lambda done, total: progress.update(bar, completed=done, total=total))
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(title=f"screening run {result.run_id} (list {result.list_version})", show_header=False)
    for key, value in (("customers", f"{result.customers:,}"), ("matches", f"{result.matches:,}"),
                       ("customers with a match", f"{result.customers_matched:,}"), ("alerts sent", f"{result.alerts_sent:,}"),
                       ("alerts dead-lettered", f"{result.alerts_dead_lettered:,}"), ("tasks", result.tasks),
                       ("duration", f"{result.duration_seconds:.1f} s ({result.names_per_second:,.0f} names/s)"),
                       ("matches written to", result.output)):
        table.add_row(key, str(value))
    console.print(table)


@app.command("serve")
@clean_errors
def serve(
    env: EnvOption = "dev",
    list_source: ListOption = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 8088,
) -> None:
    """The real-time API on 127.0.0.1: POST /screen with 1–100 names, GET /health."""
    from paybatch.errors import PaybatchError
    from paybatch.screening.api import server
    from paybatch.screening.bulk import load_list
    from paybatch.screening.matcher import ListIndex
    from paybatch.screening.similarity import ScoringPolicy

    def in_use(exc: OSError) -> PaybatchError:
        return PaybatchError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}): is another server on it? "
                             "Pick another with --port")

    settings = settings_for(env)
    try:  # before the list is loaded: a busy port is said at once
        server(None, port).server_close()  # type: ignore[arg-type]
    except OSError as exc:
        raise in_use(exc) from None
    index = ListIndex(load_list(settings, list_source), ScoringPolicy(threshold=settings.screening.threshold))
    try:
        httpd = server(index, port)
    except OSError as exc:
        raise in_use(exc) from None
    console.print(f"screening API on http://127.0.0.1:{httpd.server_address[1]} (list {index.version}, "
                  f"{len(index.names):,} names); POST /screen, GET /health. Ctrl-C stops it.")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
