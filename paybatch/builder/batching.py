"""The packing policy: which pending files go together into which manifest, and which job converts it (pure, no I/O).

``plan`` is the one planner: the builder packs with it and a bulk backfill's preview (``paybatch bulk plan
--prefix``) shows what it will pack with it. One input format per manifest; within a format, oldest first;
at most ``max_files`` files and ``max_bytes`` bytes per manifest; a full manifest is emitted at once; the
last, partial one only once its oldest file has waited ``max_wait_seconds`` (so no straggler waits forever);
a file larger than the size cap on its own gets a manifest of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from paybatch.config import BatchingConfig, Settings
from paybatch.contracts.tracking import parse_iso
from paybatch.resources import glue_job_specs


@dataclass(frozen=True)
class PendingFile:
    key: str
    size: int
    uploaded: datetime


@dataclass(frozen=True)
class BatchPolicy:
    max_files: int
    max_bytes: int
    max_wait_seconds: float


def plan_manifests(pending: Sequence[PendingFile], policy: BatchPolicy, now: datetime,
                   *, flush: bool = False) -> list[list[PendingFile]]:
    """Group pending files into the manifests to emit now; files not returned stay pending.

    ``flush`` emits the last partial manifest regardless of its age (used on demand).
    """
    ordered = sorted(pending, key=lambda f: (f.uploaded, f.key))
    batches: list[list[PendingFile]] = []
    current: list[PendingFile] = []
    current_bytes = 0
    for item in ordered:
        if item.size > policy.max_bytes:
            batches.append([item])  # too big to share: alone, at once
            continue
        if current and (len(current) >= policy.max_files or current_bytes + item.size > policy.max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += item.size
    if current:
        full = len(current) >= policy.max_files
        waited = (now - current[0].uploaded).total_seconds() >= policy.max_wait_seconds
        if full or waited or flush:
            batches.append(current)
    return batches


def policy_for(batching: BatchingConfig) -> BatchPolicy:
    return BatchPolicy(batching.max_files_per_manifest, int(batching.max_batch_size_gb * 1024**3), batching.max_wait_seconds)


def plan(pending: Sequence[Mapping[str, Any]], policy: BatchPolicy, now: datetime, *, flush: bool = False
         ) -> list[list[Mapping[str, Any]]]:
    """Tracking items of pending files (``file_key``, ``size_bytes``, ``upload_time``, ``input_format``) → the
    manifests to emit now, each of one input format (formats in name order)."""
    by_key = {item["file_key"]: item for item in pending}
    manifests: list[list[Mapping[str, Any]]] = []
    for fmt in sorted({item.get("input_format", "ndjson") for item in pending}):
        group = [PendingFile(i["file_key"], int(i["size_bytes"]), parse_iso(i["upload_time"]))
                 for i in pending if i.get("input_format", "ndjson") == fmt]
        manifests += [[by_key[f.key] for f in batch] for batch in plan_manifests(group, policy, now, flush=flush)]
    return manifests


def conversion_job(settings: Settings, total_bytes: int) -> str:
    """The light (non-Spark) job for a manifest under ``batching.light_path_max_mb`` when it is deployed, else Spark's."""
    light_deployed = any(spec.role == "convert_light" for spec in glue_job_specs(settings))
    if light_deployed and total_bytes < settings.batching.light_path_max_mb * 1024 * 1024:
        return settings.glue.jobs.convert_light
    return settings.glue.jobs.convert


def route_of(settings: Settings, job_name: str) -> Literal["light", "spark"]:
    """How a conversion job runs: ``light`` (one small Python job) or ``spark``."""
    return "light" if job_name == settings.glue.jobs.convert_light else "spark"
