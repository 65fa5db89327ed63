"""What monitor-pipeline.sh shows: one snapshot of the pipeline, refreshed in a live terminal view."""

from __future__ import annotations

import datetime as dt
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import ManifestStatus, iso, parse_iso, utcnow
from paybatch.counters import by_prefix, finished_since
from paybatch.ops.diagnose import require_resources
from paybatch.pipeline_status import pipeline_status
from paybatch.pricing import glue_billed_cost, job_dpus
from paybatch.tracking_store import TrackingStore

WINDOW_MINUTES = 15


def snapshot(clients: AwsClients) -> dict[str, Any]:
    """Files and manifests per status, backlog, runs in flight and finished, throughput, errors, cost so far.

    Its reads grow with what is active (files not completed, manifests not completed) and with the manifests that
    finished in the throughput window's reach — never with what completed before (the runs finished in the last day
    and their cost come from the hourly counters).
    """
    require_resources(clients)
    settings = clients.settings
    store = TrackingStore(clients)
    now = utcnow()
    files, manifests = store.unfinished_files(), store.unfinished_manifests()
    status = pipeline_status(store, files, manifests)
    since = now - dt.timedelta(minutes=WINDOW_MINUTES)
    created_since = iso(since - dt.timedelta(minutes=settings.glue.timeout_minutes))  # a run finishing now started that long ago
    recent = [m for m in store.manifests_finished_since(created_since)
              if m.get("finished_at") and parse_iso(str(m["finished_at"])) >= since]
    day = finished_since(clients.dynamodb, settings.tables.metrics, now - dt.timedelta(days=1), now)
    converted = [(int(m.get("file_count", 0)) - int(m.get("files_failed", 0) or 0), int(m.get("total_bytes", 0)))
                 for m in recent if m["manifest_status"] != ManifestStatus.FAILED]
    errors = [{"batch_id": m["batch_id"], "status": m["manifest_status"], "error": str(m.get("last_error") or m.get("error") or "")[:200]}
              for m in manifests if m["manifest_status"] in (ManifestStatus.FAILED, ManifestStatus.PARTIAL)]
    return {
        **status,
        "runs_finished": sum(by_prefix(day, "manifests").values()),  # in the last 24 hours (by the hour)
        "throughput": {"window_minutes": WINDOW_MINUTES, "files": sum(n for n, _ in converted),
                       "files_per_minute": round(sum(n for n, _ in converted) / WINDOW_MINUTES, 2),
                       "mb_per_second": round(sum(b for _, b in converted) / 2**20 / (WINDOW_MINUTES * 60), 3)},
        "errors": errors[-5:],
        "glue_cost_so_far": round(sum(glue_billed_cost(seconds, job_dpus(settings, job))
                                      for job, seconds in by_prefix(day, "amount:billed_seconds").items()), 2),
        "at": now.isoformat(timespec="seconds"),
    }
