"""What a simulated production day measured (``paybatch.ops.prod_day``): figures, floors and the HTML report.

Per-file figures are the day's requests over its files; AWS prices come from ``paybatch.pricing``, Glue's run
time from the measured conversion rate. What the simulation stands in for is priced as AWS would bill it: the
conversion run's read of each file and the tag it sets, the S3 event's SQS message, and the poller's receive and
delete (one each per batch).
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from paybatch.charts import bars, dollars, number, stacked_columns
from paybatch.contracts.tracking import TERMINAL_FILE_STATUSES
from paybatch.ops.prod_day import PROD_FILES_PER_DAY, DayRun
from paybatch.pricing import (
    DYNAMODB_READ,
    DYNAMODB_WRITE,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    S3_GET,
    S3_PUT,
    SQS_REQUEST,
    glue_run_cost,
    job_dpus,
)

WRITE_FLOOR = 3.0  # DynamoDB write requests per file (the floor)
BACKLOG = ("pending", "manifested", "processing", "completed")


def _clock(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86_400)
    return f"{'+' * days}{rest // 3600:02d}:{rest % 3600 // 60:02d}"


def figures(day: DayRun) -> dict[str, Any]:
    """The day's figures as plain data (what ``--json`` prints and the report draws)."""
    files = max(1, day.files)
    counter = day.counter
    statuses = Counter(str(i["status"]) for i in day.items)
    named = Counter((f["key"], f["etag"]) for m in day.manifests for f in m.get("files", []))
    problems = []
    if len(day.items) != day.files:
        problems.append(f"{day.files - len(day.items):,} files have no tracking item")
    stuck = sum(n for s, n in statuses.items() if s not in TERMINAL_FILE_STATUSES)
    if stuck:
        problems.append(f"{stuck:,} files are not terminal")
    if named and max(named.values()) > 1:
        problems.append(f"{sum(1 for n in named.values() if n > 1):,} files are in two manifests")
    ddb_writes = {role: counter.total("dynamodb", writes=True, role=role) for role in ("builder", "scheduler", "runs")}
    writes_per_file = sum(ddb_writes.values()) / files
    ddb_reads = counter.total("dynamodb", writes=False)
    operations: Counter[str] = Counter()
    for (role, service, operation), n in counter.requests.items():
        if service == "dynamodb":
            operations[f"{operation} ({role})"] += n
    s3_writes, s3_reads = counter.total("s3", writes=True), counter.total("s3", writes=False)
    completed = statuses.get("completed", 0)
    settings = day.settings
    glue = sum(glue_run_cost(r.ends - r.started, job_dpus(settings, r.job)) for r in day.runs)
    cost = {
        "Glue": glue,
        "DynamoDB": sum(counter.items_written.values()) * DYNAMODB_WRITE + ddb_reads * DYNAMODB_READ,
        "Lambda": (day.batches + day.scheduler_passes) * LAMBDA_REQUEST
        + day.handler_seconds * settings.lambda_.memory_mb / 1024 * LAMBDA_GB_SECOND,
        "S3": (s3_writes + completed) * S3_PUT + (s3_reads + completed) * S3_GET,
        "SQS": (day.files + 2 * day.batches) * SQS_REQUEST,
    }
    total = sum(cost.values())
    scale = PROD_FILES_PER_DAY / files
    return {
        "files": day.files, "share_of_prod_day": round(day.files / PROD_FILES_PER_DAY, 4), "builders": day.workers,
        "window": [_clock(day.backlog[0]["seconds"]) if day.backlog else "", _clock(day.day_seconds)],
        "statuses": dict(sorted(statuses.items())), "manifests": len(day.manifests),
        "files_per_manifest": round(sum(len(m.get("files", [])) for m in day.manifests) / max(1, len(day.manifests)), 1),
        "every_file_terminal_once": not problems, "problems": problems,
        "dynamodb_write_requests_per_file": round(writes_per_file, 2),
        "dynamodb_write_requests_per_file_by_role": {r: round(n / files, 2) for r, n in ddb_writes.items()},
        "dynamodb_write_units_per_file": round(sum(counter.items_written.values()) / files, 2),
        "dynamodb_read_requests_per_file": round(ddb_reads / files, 2),
        "dynamodb_requests_by_operation": dict(operations.most_common()),
        "s3_requests_per_file": round((s3_writes + s3_reads) / files, 2),
        "write_floor": WRITE_FLOOR, "write_floor_met": writes_per_file <= WRITE_FLOOR,
        "lock": {"taken": day.lock.taken, "waited": day.lock.waited, "refused": day.lock.refused,
                 "wait_seconds": round(day.lock.wait_seconds, 1)},
        "runs": {"started": len(day.runs), "refused_for_slots": day.runs_refused, "most_at_once": day.most_running,
                 "limit": settings.glue.max_concurrent_runs},
        "backlog": [{"time": _clock(b["seconds"]), **{s: b.get(s, 0) for s in BACKLOG}} for b in day.backlog],
        "cost": {k: round(v, 6) for k, v in cost.items()}, "cost_per_file": round(total / files, 6),
        "cost_per_prod_day": round(total * scale, 2),
        "wall_seconds": round(day.wall_seconds, 1),
        "simulated_seconds": round(day.day_seconds - (day.backlog[0]["seconds"] if day.backlog else 0), 1),
    }


def render(result: dict[str, Any]) -> str:
    """The self-contained HTML report (inline SVG charts, no scripts)."""
    backlog = result["backlog"]
    step = max(1, len(backlog) // 48)  # at most about 48 columns
    sampled = backlog[::step]
    chart_backlog = stacked_columns([b["time"] for b in sampled], {s: [b[s] for b in sampled] for s in BACKLOG if s != "completed"},
                                    axis_label="files waiting or in flight")
    chart_done = stacked_columns([b["time"] for b in sampled], {"completed": [b["completed"] for b in sampled]},
                                 axis_label="files completed so far")
    by_role = result["dynamodb_write_requests_per_file_by_role"]
    chart_writes = bars(list(by_role), list(by_role.values()), fmt=number, axis_label="DynamoDB write requests per file")
    operations = dict(list(result["dynamodb_requests_by_operation"].items())[:12])
    chart_ops = bars(list(operations), [v / max(1, result["files"]) for v in operations.values()], fmt=number,
                     axis_label="DynamoDB requests per file, by operation (caller)")
    chart_cost = bars(list(result["cost"]), [v * PROD_FILES_PER_DAY / max(1, result["files"]) for v in result["cost"].values()],
                      fmt=dollars, axis_label="cost of a production day on AWS, by service")
    verdict = "every file terminal once" if result["every_file_terminal_once"] else "; ".join(result["problems"])
    floor = "met" if result["write_floor_met"] else "NOT met"
    rows = [
        ("files", f"{result['files']:,} ({result['share_of_prod_day']:.2%} of prod's {PROD_FILES_PER_DAY:,} a day, "
                  f"simulated {result['window'][0]}–{result['window'][1]})"),
        ("statuses", ", ".join(f"{k} {v:,}" for k, v in result["statuses"].items())),
        ("correctness", verdict),
        ("manifests", f"{result['manifests']:,} ({result['files_per_manifest']} files each on average)"),
        ("DynamoDB writes per file", f"{result['dynamodb_write_requests_per_file']} requests ("
                                     f"{result['dynamodb_write_units_per_file']} write units); floor ≤ {result['write_floor']:g}: {floor}"),
        ("DynamoDB reads per file", str(result["dynamodb_read_requests_per_file"])),
        ("date lock", f"taken {result['lock']['taken']:,} times, {result['lock']['waited']:,} after waiting for another "
                      f"builder ({result['lock']['wait_seconds']} s in all), refused {result['lock']['refused']:,}"),
        ("conversion runs", f"{result['runs']['started']:,} started, at most {result['runs']['most_at_once']} at once "
                            f"(limit {result['runs']['limit']}), {result['runs']['refused_for_slots']:,} starts refused for a slot"),
        ("cost", f"{dollars(result['cost_per_file'])} a file; {dollars(result['cost_per_prod_day'])} for a production day"),
        ("run time", f"{result['wall_seconds']:,} s here for {result['simulated_seconds']:,} simulated seconds"),
    ]
    table = "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows) + "</table>"
    title = "paybatch — a production day, simulated"
    cards = [("Backlog over the day", chart_backlog), ("Completed over the day", chart_done),
             ("DynamoDB writes per file, by caller", chart_writes), ("DynamoDB requests per file", chart_ops),
             ("What the day costs on AWS", chart_cost)]
    body = "".join(f"<section><h2>{html.escape(name)}</h2>{chart}</section>" for name, chart in cards)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head>"
            f"<body><h1>{title}</h1>{table}{body}</body></html>")


_CSS = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
        "th{text-align:left;padding-right:1em;vertical-align:top}td{padding:.15em 0}"
        "section{margin-top:1.5em}svg{max-width:100%;height:auto}")
