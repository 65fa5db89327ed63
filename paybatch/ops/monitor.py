"""What monitor-pipeline.sh shows: one snapshot of the pipeline, refreshed in a live terminal view."""

from __future__ import annotations

import datetime as dt
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import ManifestStatus, iso, parse_iso, utcnow
from paybatch.ops.diagnose import require_resources
from paybatch.pipeline_status import pipeline_status
from paybatch.pricing import glue_run_cost, job_dpus
from paybatch.tracking_store import TrackingStore

WINDOW_MINUTES = 15


def snapshot(clients: AwsClients) -> dict[str, Any]:
    """Files and manifests per status, backlog, runs in flight and finished, throughput, errors, cost so far.

    Its reads grow with what is active (files not completed, manifests not completed) and with the manifests that
    finished in the last day — never with the completed files (counted by the counters).
    """
    require_resources(clients)
    settings = clients.settings
    store = TrackingStore(clients)
    now = utcnow()
    files, manifests = store.unfinished_files(), store.unfinished_manifests()
    status = pipeline_status(store, files, manifests)
    day = now - dt.timedelta(days=1)
    created_since = iso(day - dt.timedelta(minutes=settings.glue.timeout_minutes))  # a run finishing now started that long ago
    finished = [m for m in store.manifests_finished_since(created_since)
                if m.get("finished_at") and parse_iso(str(m["finished_at"])) >= day]
    since = now - dt.timedelta(minutes=WINDOW_MINUTES)
    recent = [m for m in finished if parse_iso(str(m["finished_at"])) >= since]
    converted = [(int(m.get("file_count", 0)) - int(m.get("files_failed", 0) or 0), int(m.get("total_bytes", 0)))
                 for m in recent if m["manifest_status"] != ManifestStatus.FAILED]
    errors = [{"batch_id": m["batch_id"], "status": m["manifest_status"], "error": str(m.get("last_error") or m.get("error") or "")[:200]}
              for m in manifests if m["manifest_status"] in (ManifestStatus.FAILED, ManifestStatus.PARTIAL)]
    return {
        **status,
        "runs_finished": len(finished),  # in the last 24 hours
        "throughput": {"window_minutes": WINDOW_MINUTES, "files": sum(n for n, _ in converted),
                       "files_per_minute": round(sum(n for n, _ in converted) / WINDOW_MINUTES, 2),
                       "mb_per_second": round(sum(b for _, b in converted) / 2**20 / (WINDOW_MINUTES * 60), 3)},
        "errors": errors[-5:],
        "glue_cost_so_far": round(sum(glue_run_cost(float(m.get("duration_seconds") or 0),
                                                    job_dpus(settings, str(m.get("job_name", "convert")))) for m in finished), 2),
        "at": now.isoformat(timespec="seconds"),
    }
