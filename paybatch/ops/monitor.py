"""What monitor-pipeline.sh shows: one snapshot of the pipeline, refreshed in a live terminal view."""

from __future__ import annotations

import datetime as dt
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import FileStatus, ManifestStatus, parse_iso, utcnow
from paybatch.ops.diagnose import require_resources
from paybatch.pipeline_status import pipeline_status
from paybatch.pricing import glue_run_cost, job_dpus
from paybatch.tracking_store import TrackingStore

WINDOW_MINUTES = 15


def snapshot(clients: AwsClients) -> dict[str, Any]:
    """Files and manifests per status, backlog, runs in flight and finished, throughput, errors, cost so far."""
    require_resources(clients)
    store = TrackingStore(clients)
    manifests = store.ops_manifests()
    files = store.ops_files()
    status = pipeline_status(store, files, manifests)
    since = utcnow() - dt.timedelta(minutes=WINDOW_MINUTES)
    recent = [f for f in files if f["status"] == FileStatus.COMPLETED and f.get("completed_at")
              and parse_iso(str(f["completed_at"])) >= since]
    finished = [m for m in manifests if m["manifest_status"] in (ManifestStatus.COMPLETED, ManifestStatus.PARTIAL, ManifestStatus.FAILED)]
    errors = [{"batch_id": m["batch_id"], "status": m["manifest_status"], "error": str(m.get("last_error") or m.get("error") or "")[:200]}
              for m in manifests if m["manifest_status"] in (ManifestStatus.FAILED, ManifestStatus.PARTIAL)]
    return {
        **status,
        "runs_finished": len(finished),
        "throughput": {"window_minutes": WINDOW_MINUTES, "files": len(recent),
                       "files_per_minute": round(len(recent) / WINDOW_MINUTES, 2),
                       "mb_per_second": round(sum(int(f.get("size_bytes", 0)) for f in recent) / 2**20 / (WINDOW_MINUTES * 60), 3)},
        "errors": errors[-5:],
        "glue_cost_so_far": round(sum(glue_run_cost(float(m.get("duration_seconds") or 0),
                                                           job_dpus(clients.settings, str(m.get("job_name", "convert"))))
                                             for m in finished), 2),
        "at": utcnow().isoformat(timespec="seconds"),
    }
