"""One generation run, end to end: resolve the key, allocate sequences, run the tasks, check quality.

The Glue entry script (glue_jobs/generate_payments.py) and `paybatch generate` both call
``generate``; only how they collect arguments and show progress differs.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from paybatch.aws import AwsClients, endpoint_answers
from paybatch.config import Settings
from paybatch.contracts.tracking import utcnow
from paybatch.errors import PaybatchError
from paybatch.generate.cards import LOCAL_KEY_PREFIX, LOCAL_PAN_KEY, resolve_hash_key
from paybatch.generate.engine import TaskContext, builder_for, run_task
from paybatch.generate.feed import ndjson_bytes
from paybatch.generate.plan import GenerationRequest, build_plan
from paybatch.generate.sequences import Allocation, DynamoSequenceLedger, FileSequenceLedger, SequenceLedger
from paybatch.generate.sinks import LocalSink, Sink, sink_for
from paybatch.generate.spec import PaymentsSpec, load_spec
from paybatch.generate.tables import Chunk
from paybatch.paths import state_dir
from paybatch.retry import retrying
from paybatch.spark import get_spark, run_tasks
from paybatch.storage import split_s3_uri

FEED_ESTIMATE_ROWS = 2_000
LEDGER_FILE = "_sequence_ledger.json"


class QualityCheckFailed(PaybatchError):
    """The generated data broke an expectation; the report says which."""


@dataclass
class GenerationResult:
    run_id: str
    env: str
    seed: int
    dates: list[str]
    allocations: list[dict[str, Any]]
    files: list[dict[str, Any]] = field(default_factory=list)
    duration_seconds: float = 0.0
    quality: dict[str, Any] | None = None
    pan_hash_key: str = ""  # where the key came from (its source, never its value unless it is the labelled local key)

    def table_totals(self) -> dict[str, dict[str, int]]:
        """Rows, files and bytes per table, counting each file once (not again for its family bucket)."""
        totals: dict[str, dict[str, int]] = {}
        for f in self.files:
            if f["role"].startswith("lake_"):
                continue
            entry = totals.setdefault(f["table"], {"rows": 0, "files": 0, "bytes": 0})
            entry["rows"] += f["rows"]
            entry["files"] += 1
            entry["bytes"] += f["bytes"]
        return totals

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tables"] = self.table_totals()
        return data


def hash_key_source(settings: Settings, sink: Sink, clients: AwsClients | None) -> str:
    """Where the PAN hash key comes from: the configured source, or the labelled local key for a local folder.

    Generating into a local folder needs no environment: when the local endpoint is not running, the key
    is the labelled local one that ``paybatch local up`` seeds into SSM, so the hashes are the same
    whether the environment is up or not. On AWS, and into the environment's buckets, the configured
    source is always used.
    """
    source = settings.generator.pan_hash_key
    if clients is not None or source.startswith(LOCAL_KEY_PREFIX) or settings.target != "local" or not isinstance(sink, LocalSink):
        return source
    if settings.endpoint_url and endpoint_answers(settings.endpoint_url):
        return source
    return LOCAL_KEY_PREFIX + LOCAL_PAN_KEY


def ledger_for(settings: Settings, sink: Sink, spec: PaymentsSpec, clients: AwsClients | None) -> SequenceLedger:
    """The counter table of the environment; a file beside the output for a local --output folder."""
    if isinstance(sink, LocalSink):
        return FileSequenceLedger(sink.root / LEDGER_FILE, spec.sequence_start)
    assert clients is not None
    return DynamoSequenceLedger(clients.dynamodb, settings.tables.counters, spec.sequence_start)


def feed_rows_per_file(context: TaskContext, allocation: Allocation, target_bytes: float) -> int:
    """Rows per feed file for a date, from the mean line length of its first rows (deterministic)."""
    sample = Chunk(allocation.date, allocation.start, allocation.count, 0, min(FEED_ESTIMATE_ROWS, allocation.count), 0)
    data = ndjson_bytes(builder_for(context).build(sample, ("authorization",))["authorization"])
    mean = len(data) / max(1, sample.count)
    return max(1, int(target_bytes / mean))


def reports_dir_for(settings: Settings, sink: Sink, request: GenerationRequest, run_id: str) -> Path:
    """Where Data Docs and the profile are written: as asked, beside a local output, or the env's state folder.

    On AWS (a Glue job has no lasting local disk) they go to a temporary folder that ``publish_reports`` uploads.
    """
    if request.reports_dir:
        return Path(request.reports_dir)
    if isinstance(sink, LocalSink):
        return sink.root / "reports"
    if settings.target == "aws":
        return Path(tempfile.mkdtemp(prefix=f"paybatch-reports-{run_id}-"))
    return state_dir(settings.env) / "reports" / f"generate-{run_id}"


def publish_reports(clients: AwsClients, folder: Path, run_id: str) -> str:
    """Copy a run's reports to s3://<artifacts>/reports/generate-<run>/ and return that prefix."""
    bucket, prefix = clients.settings.buckets.artifacts, f"reports/generate-{run_id}"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        content_type = "text/html" if path.suffix == ".html" else "application/octet-stream"
        clients.s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}", ExtraArgs={"ContentType": content_type})
    return f"s3://{bucket}/{prefix}/"


def write_result(settings: Settings, result: GenerationResult, uri: str) -> None:
    """Keep a run's result as JSON at ``uri`` (s3://…), where a bulk run's worker reads it back."""
    import json


    bucket, key = split_s3_uri(uri)
    body = json.dumps(result.to_dict(), default=str).encode()
    retrying(AwsClients(settings).s3.put_object, Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def generate(
    settings: Settings,
    request: GenerationRequest,
    *,
    spark: Any = None,
    slices: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    clients: AwsClients | None = None,
) -> GenerationResult:
    """Generate the requested tables (and feed files), then run the quality suite unless disabled."""
    started = time.monotonic()
    spec = load_spec(Path(request.spec_path) if request.spec_path else None)
    sink = sink_for(settings, request.output)
    key_source = hash_key_source(settings, sink, clients)
    needs_aws = not isinstance(sink, LocalSink) or not key_source.startswith(LOCAL_KEY_PREFIX)
    clients = clients or (AwsClients(settings) if needs_aws else None)
    key = resolve_hash_key(key_source, clients)
    ledger = ledger_for(settings, sink, spec, clients)
    if request.slices:  # a bulk chunk: its jobs' ranges were allocated, in order, when the bulk run was planned
        allocations = [ledger.allocate(s.date, s.job_index, s.rows) for s in request.slices]
    else:
        per_date = request.rows_per_date()
        allocations = [ledger.allocate(d, request.job_index, per_date[d]) for d in request.selected_dates()]
    context = TaskContext(spec, request.seed, key, sink)
    feed_rows: dict[str, int] = {}
    if request.ndjson and request.ndjson_rows_per_file:
        feed_rows = {a.date: request.ndjson_rows_per_file for a in allocations}
    elif request.ndjson:
        target = (request.ndjson_file_mb or settings.ndjson_file_mb) * 1024 * 1024
        feed_rows = {a.date: feed_rows_per_file(context, a, target) for a in allocations}
    plan = build_plan(request, allocations, spec.volumes.rows_per_file, feed_rows)

    run_id = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    result = GenerationResult(run_id, settings.env, request.seed, sorted({a.date for a in allocations}),
                              [asdict(a) for a in allocations], pan_hash_key=key_source)
    if spark is None:
        spark = get_spark("paybatch-generate")
    batches = run_tasks(spark, plan.tasks, lambda task: run_task(context, task), slices=slices, on_progress=on_progress)
    result.files = [f for batch in batches for f in batch]
    result.duration_seconds = round(time.monotonic() - started, 3)
    if request.quality and request.parquet:
        from paybatch.generate.quality import run_quality  # Great Expectations: seconds to import, only when checked

        reports = reports_dir_for(settings, sink, request, run_id)
        result.quality = run_quality(spec, sink, result, reports, max_rows=settings.generator.quality_max_rows, key=key)
        if settings.target == "aws" and clients is not None and not request.reports_dir:
            result.quality["report"] = publish_reports(clients, reports, run_id) + "data_docs/index.html"
        if not result.quality["success"]:
            failed = "; ".join(result.quality["failures"][:10])
            raise QualityCheckFailed(f"generated data failed its quality suite: {failed} (report: {result.quality['report']})")
    return result
