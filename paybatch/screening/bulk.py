"""The nightly screening run: every customer of a file against one list version, on Spark.

The driver reads the customers (CSV, NDJSON or Parquet: ``id``, ``name``, optional ``type``, ``dob`` and
``country``), builds the list's index once and broadcasts it; one Spark task screens one chunk of customers
and sends an alert per match as it finds it. The matches become the ``screening_matches`` Iceberg table of
the environment's catalog in one commit that replaces the run's rows (a re-run replaces, never adds), or
Parquet under ``--output``; the run summary goes beside them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from paybatch.aws import AwsClients
from paybatch.config import Settings
from paybatch.contracts.tracking import utcnow
from paybatch.errors import PaybatchError
from paybatch.iceberg.catalog import catalog_for, data_dir, ensure_table
from paybatch.iceberg.commit import replace_rows
from paybatch.screening.alerts import AlertSender, alert_for
from paybatch.screening.lists import SanctionsList, load_stored, parse
from paybatch.screening.matcher import Customer, ListIndex
from paybatch.screening.similarity import ScoringPolicy
from paybatch.spark import get_spark, run_tasks
from paybatch.storage import filesystem_for

MATCHES_TABLE = "screening_matches"
MATCHES_SCHEMA = pa.schema([
    pa.field("run_id", pa.string(), nullable=False), pa.field("customer_id", pa.string(), nullable=False),
    pa.field("customer_name", pa.string()), pa.field("entry_id", pa.string(), nullable=False),
    pa.field("matched_name", pa.string()), pa.field("score", pa.float64()), pa.field("explanation", pa.string()),
    pa.field("list_version", pa.string()), pa.field("screened_at", pa.timestamp("us", tz="UTC")),
])
COLUMNS = {"id": ("id", "customer_id"), "name": ("name", "full_name"), "type": ("type", "customer_type"),
           "dob": ("dob", "date_of_birth", "birth_date"), "country": ("country", "nationality")}


class ScreeningInputError(PaybatchError):
    """A customer file that cannot be screened: which file and why."""


def read_customers(uri: str, endpoint_url: str | None = None) -> list[Customer]:
    """Customers from CSV, NDJSON or Parquet (local or s3://): ``id`` and ``name`` required, the rest optional."""

    fs, path = filesystem_for(uri, endpoint_url)
    lower = path.lower()
    if not lower.endswith((".parquet", ".ndjson", ".jsonl", ".json", ".csv")):
        raise ScreeningInputError(f"{uri}: customers come as .csv, .ndjson/.jsonl or .parquet")
    try:
        with fs.open_input_file(path) as handle:
            if lower.endswith(".parquet"):
                table = pq.read_table(handle)
            elif lower.endswith((".ndjson", ".jsonl", ".json")):
                table = pjson.read_json(handle)
            else:
                table = pcsv.read_csv(handle, convert_options=pcsv.ConvertOptions(strings_can_be_null=False,
                                                                                   column_types={"id": pa.string()}))
    except (OSError, pa.ArrowInvalid) as exc:
        raise ScreeningInputError(f"cannot read customers from {uri}: {exc}") from None
    names = {c.lower(): c for c in table.column_names}
    found = {key: next((names[a] for a in aliases if a in names), None) for key, aliases in COLUMNS.items()}
    missing = [k for k in ("id", "name") if found[k] is None]
    if missing:
        raise ScreeningInputError(f"{uri}: no {' or '.join(missing)} column (has: {', '.join(table.column_names)})")
    columns = {k: [None if v is None else str(v) for v in table.column(c).to_pylist()] if c else [None] * table.num_rows
               for k, c in found.items()}
    customers = []
    for i in range(table.num_rows):
        if not columns["id"][i] or not columns["name"][i]:
            raise ScreeningInputError(f"{uri}: row {i + 1} has no {'id' if not columns['id'][i] else 'name'}")
        customers.append(Customer(columns["id"][i] or "", columns["name"][i] or "", (columns["type"][i] or "").lower(),
                                  columns["dob"][i] or "", columns["country"][i] or ""))
    return customers


class ScreeningSetupError(PaybatchError):
    """Something the run needs is not there (the alert queue, a bucket): said before Spark starts."""


def check_destinations(settings: Settings, clients: Any, *, alerts: bool, output: str | None) -> None:
    """The alert queue and the artifacts bucket answer, in seconds, before any Spark starts (one sentence if not)."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"environment {settings.env!r} ({settings.endpoint_url or settings.region})"
    up = f"paybatch local up --env {settings.env}" if settings.target == "local" else "paybatch deploy"
    checks: list[tuple[Callable[[], Any], str, str]] = []
    if alerts:
        queue = settings.screening.alerts_queue
        checks.append((lambda: clients.quick("sqs").get_queue_url(QueueName=queue),
                       f"alerts go to the SQS queue {queue!r} of {where}, which", "run with --no-alerts to screen without alerts"))
    if output is None:
        bucket = settings.buckets.artifacts
        checks.append((lambda: clients.quick("s3").head_bucket(Bucket=bucket),
                       f"the run summary goes to the bucket {bucket!r} of {where}, which", "or give --output FOLDER"))
    for check, what, otherwise in checks:
        try:
            check()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            missing = code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NoSuchBucket", "404"}
            reason = "does not exist" if missing else f"refused the check ({code})"
            raise ScreeningSetupError(f"{what} {reason}: set it up ({up}), {otherwise}") from None
        except BotoCoreError:
            raise ScreeningSetupError(f"{what} cannot be reached: is it up? ({up}); {otherwise}") from None


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0 < threshold <= 1:
        raise ScreeningInputError(f"--threshold {threshold} is outside (0, 1]: a score is between 0 and 1 (default 0.92)")


def load_list(settings: Settings, source: str | None, clients: Any = None) -> SanctionsList:
    """A list file or folder (OFAC or FollowTheMoney), else a stored version (default: the latest)."""
    if source and (Path(source).exists() or "/" in source):
        return parse(Path(source))
    if clients is None:
        clients = AwsClients(settings)
    return load_stored(clients, source)


@dataclass
class ScreeningResult:
    run_id: str
    list_version: str
    customers: int
    matches: int = 0
    customers_matched: int = 0
    alerts_sent: int = 0
    alerts_dead_lettered: int = 0
    tasks: int = 0
    duration_seconds: float = 0.0
    names_per_second: float = 0.0
    output: str = ""
    snapshot_id: int | None = None
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _screen_chunk(index: ListIndex, customers: list[Customer], threshold: float, run_id: str, screened_at: str,
                  send: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    """One task: match a chunk a slice at a time, alert per match as found, return the rows.

    An alert that cannot be queued fails the task (Spark retries it); a retried task sends its alerts again under
    the same alert ids, so a receiver drops the repeats.
    """

    rows: list[dict[str, Any]] = []
    names = {c.id: c.name for c in customers}
    step = 500
    for start in range(0, len(customers), step):
        for match in index.match(customers[start:start + step], threshold):
            rows.append({"run_id": run_id, "customer_id": match.customer_id, "customer_name": names[match.customer_id],
                         "entry_id": match.entry_id, "matched_name": match.matched_name, "score": match.score,
                         "explanation": json.dumps(match.explanation, sort_keys=True), "list_version": index.version,
                         "screened_at": screened_at})
            if send is not None:
                send(alert_for(match, run_id=run_id, list_version=index.version, customer_name=names[match.customer_id]))
    return rows


def run_screening(settings: Settings, customers_uri: str, *, list_source: str | None = None, output: str | None = None,
                  threshold: float | None = None, alerts: bool = True, spark: Any = None,
                  on_progress: Callable[[int, int], None] | None = None) -> ScreeningResult:
    """Screen a customer file; commit the matches; return (and write) the run summary."""

    started = time.monotonic()
    check_threshold(threshold)
    clients = AwsClients(settings) if (alerts or output is None or not list_source) else None
    if clients is not None:
        check_destinations(settings, clients, alerts=alerts, output=output)
    sanctions = load_list(settings, list_source, clients)
    customers = read_customers(customers_uri, settings.endpoint_url)
    policy = ScoringPolicy(threshold=threshold or settings.screening.threshold)
    index = ListIndex(sanctions, policy)
    run_id = f"screen-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    screened_at = utcnow().isoformat()
    size = settings.screening.customers_per_task
    chunks = [customers[i:i + size] for i in range(0, len(customers), size)]
    if spark is None:
        spark = get_spark("paybatch-screen")
    shared = spark.sparkContext.broadcast(index)  # built once, sent once per executor
    want_alerts = alerts

    def work(chunk: list[Customer]) -> tuple[list[dict[str, Any]], list[str], int, int]:
        """(rows, webhook failures, alerts sent, alerts dead-lettered) of one chunk."""
        if not want_alerts:
            return _screen_chunk(shared.value, chunk, policy.threshold, run_id, screened_at, None), [], 0, 0

        sender = AlertSender.for_settings(AwsClients(settings))
        rows = _screen_chunk(shared.value, chunk, policy.threshold, run_id, screened_at, sender.send)
        return rows, sender.errors, sender.sent, sender.dead_lettered

    outcomes = run_tasks(spark, chunks, work, on_progress=on_progress)
    rows = [r for outcome in outcomes for r in outcome[0]]
    result = ScreeningResult(run_id, sanctions.version, len(customers), matches=len(rows),
                             customers_matched=len({r["customer_id"] for r in rows}), tasks=len(chunks),
                             alerts_sent=sum(o[2] for o in outcomes), alerts_dead_lettered=sum(o[3] for o in outcomes),
                             errors=[e for o in outcomes for e in o[1]])
    table = pa.Table.from_pylist([{**r, "screened_at": datetime.fromisoformat(r["screened_at"])} for r in rows],
                                 schema=MATCHES_SCHEMA)
    result.output, result.snapshot_id = write_matches(settings, table, run_id, output)
    result.duration_seconds = round(time.monotonic() - started, 3)
    result.names_per_second = round(len(customers) / max(result.duration_seconds, 1e-9), 1)
    write_summary(settings, result, output, clients)
    return result


def write_matches(settings: Settings, table: pa.Table, run_id: str, output: str | None) -> tuple[str, int | None]:
    """To ``output`` as Parquet, or one Iceberg commit replacing this run's rows in the catalog's matches table."""
    if output is not None:
        fs, base = filesystem_for(output.rstrip("/"), settings.endpoint_url)
        path = f"{base}/matches/run_id={run_id}/part-00000.parquet"
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        pq.write_table(table, path, filesystem=fs)
        return f"{output.rstrip('/')}/matches/run_id={run_id}/", None

    catalog = catalog_for(settings)
    catalog.create_namespace_if_not_exists(settings.catalog.database)
    ensure_table(catalog, settings, MATCHES_TABLE, MATCHES_SCHEMA)  # before any file is written under it
    uri = f"{data_dir(settings, MATCHES_TABLE)}/run_id={run_id}/part-{uuid.uuid4().hex[:12]}.parquet"
    fs, path = filesystem_for(uri, settings.endpoint_url)
    pq.write_table(table, path, filesystem=fs)
    identifier = f"{settings.catalog.database}.{MATCHES_TABLE}"
    replaced = replace_rows(lambda: catalog.load_table(identifier), "run_id", run_id, [uri])
    return identifier, replaced.snapshot_id


def write_summary(settings: Settings, result: ScreeningResult, output: str | None, clients: Any) -> None:
    body = json.dumps(result.to_dict(), indent=2, default=str).encode()
    if output is not None:
        fs, base = filesystem_for(output.rstrip("/"), settings.endpoint_url)
        with fs.open_output_stream(f"{base}/summary-{result.run_id}.json") as handle:
            handle.write(body)
        return
    clients.s3.put_object(Bucket=settings.buckets.artifacts, Key=f"screening/runs/{result.run_id}/summary.json", Body=body)
