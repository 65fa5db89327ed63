"""`paybatch report`: one self-contained HTML page about an environment's pipeline, with charts.

Files per status over time, manifest sizes, run durations, throughput, quarantine and reject
reasons, and cost (so far, from the runs' durations, and projected per day). Works offline.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from paybatch.aws import AwsClients
from paybatch.charts import bars, dollars, histogram, stacked_columns
from paybatch.contracts.tracking import FileStatus, ManifestStatus, parse_iso, utcnow
from paybatch.iceberg.catalog import REJECTS_SUFFIX, catalog_for, list_tables
from paybatch.ops.cost import DESIGN_MIB_PER_CPU_SECOND, MEASURED_MIB_PER_CPU_SECOND, estimate
from paybatch.ops.diagnose import require_resources
from paybatch.pricing import glue_run_cost, job_dpus
from paybatch.tracking_store import TrackingStore

_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1400px}h1{font-size:1.4rem}
h2{font-size:1.05rem;margin:0 0 .4rem}.card{display:inline-block;vertical-align:top;margin:0 1rem 1.5rem 0;padding:.8rem;
border:1px solid #ddd;border-radius:6px}table{border-collapse:collapse;font-size:.85rem}td,th{padding:2px 10px 2px 0;text-align:left}
svg.chart{max-width:100%;height:auto;display:block}"""

CHARTS = ("files-over-time", "manifest-sizes", "run-durations", "throughput", "quarantine-reasons", "reject-reasons", "cost")


def reject_reasons(clients: AwsClients) -> Counter[str]:
    """Rejected lines per reason (the text before the first colon), read from the committed rejects tables."""
    settings = clients.settings
    catalog = catalog_for(settings)
    reasons: Counter[str] = Counter()
    for name in [n for n in list_tables(settings, catalog) if n.endswith(REJECTS_SUFFIX)]:
        table = catalog.load_table(f"{settings.catalog.database}.{name}").scan(selected_fields=("reason",)).to_arrow()
        reasons.update(str(r).split(":", 1)[0] for r in table.column("reason").to_pylist())
    return reasons


def collect(clients: AwsClients) -> dict[str, Any]:
    require_resources(clients)
    store = TrackingStore(clients)
    return {"files": store.ops_files(), "manifests": store.ops_manifests(), "rejects": reject_reasons(clients)}


def _card(title: str, body: str, chart_id: str) -> str:
    return f'<div class="card" id="{chart_id}"><h2>{html.escape(title)}</h2>{body}</div>'


def render(clients: AwsClients, data: dict[str, Any]) -> str:
    settings = clients.settings
    files, manifests, rejects = data["files"], data["manifests"], data["rejects"]
    hours: dict[str, Counter[str]] = defaultdict(Counter)
    for f in files:
        hours[parse_iso(f["upload_time"]).strftime("%m-%d %H:00")][str(f["status"])] += 1
    columns = sorted(hours)
    statuses = [str(s) for s in FileStatus if any(hours[c][str(s)] for c in columns)]
    over_time = stacked_columns(columns, {s: [hours[c][s] for c in columns] for s in statuses}, axis_label="files")

    finished = [m for m in manifests if m["manifest_status"] in (ManifestStatus.COMPLETED, ManifestStatus.PARTIAL, ManifestStatus.FAILED)]
    sizes_files = [int(m.get("file_count", 0)) for m in manifests]
    sizes_mb = [int(m.get("total_bytes", 0)) / 2**20 for m in manifests]
    durations = [float(m["duration_seconds"]) for m in finished if m.get("duration_seconds")]
    throughput = [(int(m.get("total_bytes", 0)) / 2**20) / float(m["duration_seconds"])
                  for m in finished if m.get("duration_seconds")]
    quarantine = Counter(str(f.get("quarantine_reason")) for f in files if f["status"] == FileStatus.QUARANTINED)

    so_far = sum(glue_run_cost(float(m["duration_seconds"]), job_dpus(settings, str(m.get("job_name", "convert"))))
                 for m in finished if m.get("duration_seconds"))
    daily = estimate(settings, files_per_day=max(1, len(files)), file_size_gb=settings.file_validation.expected_file_size_mb / 1024,
                     mib_per_cpu_second=MEASURED_MIB_PER_CPU_SECOND)
    design = estimate(settings, files_per_day=max(1, len(files)), file_size_gb=settings.file_validation.expected_file_size_mb / 1024,
                      mib_per_cpu_second=DESIGN_MIB_PER_CPU_SECOND)
    cost_rows = [("Glue so far (runs recorded here, per-second billing, 1-minute minimum)", dollars(so_far)),
                 (f"projected per day if {len(files):,} such files arrived daily (paybatch, {MEASURED_MIB_PER_CPU_SECOND} MiB/CPU-s)",
                  dollars(daily.total_per_day)),
                 (f"design documents' estimate (Spark's reader, {DESIGN_MIB_PER_CPU_SECOND} MiB/CPU-s)", dollars(design.total_per_day))]
    cost = "<table>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in cost_rows) + "</table>"
    cost += bars(["Glue", "Lambda", "DynamoDB", "S3", "SQS"],
                 [daily.glue_per_day, daily.lambda_per_day, daily.dynamodb_per_day, daily.s3_per_day, daily.sqs_per_day],
                 fmt=dollars, axis_label="projected cost per day, by service")

    summary = (f"{len(files):,} files ({', '.join(f'{k} {v}' for k, v in sorted(Counter(str(f['status']) for f in files).items()))}); "
               f"{len(manifests):,} manifests; {sum(int(m.get('rows_written', 0)) for m in manifests):,} rows written, "
               f"{sum(int(m.get('rows_rejected', 0)) for m in manifests):,} rejected")
    cards = [
        _card("Files per status, by upload hour", over_time, CHARTS[0]),
        _card("Manifest sizes", histogram(sizes_files, axis_label="files per manifest")
              + histogram(sizes_mb, axis_label="MiB per manifest"), CHARTS[1]),
        _card("Run durations", histogram(durations, axis_label="seconds per run"), CHARTS[2]),
        _card("Throughput per run", histogram(throughput, axis_label="MiB per second"), CHARTS[3]),
        _card("Quarantine reasons", bars(list(quarantine), [c / max(1, sum(quarantine.values())) for c in quarantine.values()],
                                         axis_label=f"share of {sum(quarantine.values()):,} quarantined files")
              if quarantine else "<p>none</p>", CHARTS[4]),
        _card("Reject reasons", bars(list(rejects), [c / max(1, sum(rejects.values())) for c in rejects.values()],
                                     axis_label=f"share of {sum(rejects.values()):,} rejected lines")
              if rejects else "<p>none</p>", CHARTS[5]),
        _card("Cost", cost, CHARTS[6]),
    ]
    title = f"paybatch {settings.env} — pipeline report, {utcnow():%Y-%m-%d %H:%M} UTC"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>{''.join(cards)}</body></html>")


def write_report(clients: AwsClients, path: Path) -> Path:
    page = render(clients, collect(clients))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
