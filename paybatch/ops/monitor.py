"""What monitor-pipeline.sh shows: one snapshot of the pipeline, refreshed in a live terminal view."""

from __future__ import annotations

import datetime as dt
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import ManifestStatus, utcnow
from paybatch.counters import bucket_start, by_prefix, finished_since
from paybatch.ops.diagnose import require_resources
from paybatch.pipeline_status import pipeline_status
from paybatch.pricing import glue_billed_cost, job_dpus
from paybatch.tracking_store import TrackingStore

WINDOW_MINUTES = 15


def snapshot(clients: AwsClients) -> dict[str, Any]:
    """Files and manifests per status, backlog, runs in flight and finished, throughput, errors, cost so far.

    Its reads grow only with what is active (files not completed, manifests not completed): the runs finished in the
    last day, their cost and the throughput come from the buckets finished manifests are counted in
    (``paybatch.counters``), never from the completed items.
    """
    require_resources(clients)
    settings = clients.settings
    store = TrackingStore(clients)
    now = utcnow()
    files, manifests = store.unfinished_files(), store.unfinished_manifests()
    status = pipeline_status(store, files, manifests)
    day = finished_since(clients.dynamodb, settings.tables.metrics, now - dt.timedelta(days=1), now)
    window_start = bucket_start(now - dt.timedelta(minutes=WINDOW_MINUTES), 15)
    recent = finished_since(clients.dynamodb, settings.tables.metrics, window_start, now, minutes=15)
    window_minutes = (now - window_start).total_seconds() / 60  # 15 to 30: the last whole quarter hour and this one
    converted, converted_bytes = recent.get("amount:files_converted", 0), recent.get("amount:bytes_converted", 0)
    errors = [{"batch_id": m["batch_id"], "status": m["manifest_status"], "error": str(m.get("last_error") or m.get("error") or "")[:200]}
              for m in manifests if m["manifest_status"] in (ManifestStatus.FAILED, ManifestStatus.PARTIAL)]
    return {
        **status,
        "runs_finished": sum(by_prefix(day, "manifests").values()),  # in the last 24 hours (by the hour)
        "throughput": {"window_minutes": round(window_minutes, 1), "files": converted,
                       "files_per_minute": round(converted / window_minutes, 2),
                       "mb_per_second": round(converted_bytes / 2**20 / (window_minutes * 60), 3)},
        "errors": errors[-5:],
        "glue_cost_so_far": round(sum(glue_billed_cost(seconds, job_dpus(settings, job))
                                      for job, seconds in by_prefix(day, "amount:billed_seconds").items()), 2),
        "at": now.isoformat(timespec="seconds"),
    }
