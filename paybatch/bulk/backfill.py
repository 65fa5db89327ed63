"""What a backfill of an S3 prefix converts: the prefix's objects, and the manifests it will pack, before it runs.

``preview_conversion`` is ``paybatch bulk plan --prefix``: it only reads (a listing and the tracking table) and
packs with the builder's own planner (``paybatch.builder.batching.plan``), deciding for each object what its
registration by ``bulk convert`` would decide — new, a new version, the same bytes already pending (packed
too), or already converted or in a run (left alone) — so the preview's manifests are the run's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients
from paybatch.builder.batching import conversion_job, plan, policy_for, route_of
from paybatch.builder.quarantine import classify
from paybatch.bulk.plan import BulkPlanError
from paybatch.contracts.manifest import input_format_for
from paybatch.contracts.tracking import OBJECT_GONE, FileStatus, date_prefix_for, iso, utcnow
from paybatch.storage import split_s3_uri
from paybatch.tracking_store import TrackingStore
from paybatch.transitions import REPLACEABLE_FILE_STATUSES


@dataclass
class ListedObject:
    bucket: str
    key: str
    size: int
    last_modified: datetime
    etag: str


def list_prefix(clients: AwsClients, prefix_uri: str, since: Date | None = None) -> Iterator[ListedObject]:
    """Every object under an s3:// prefix (modified on or after ``since``), folder markers left out."""
    if not prefix_uri.startswith("s3://"):
        raise BulkPlanError(f"--prefix {prefix_uri!r}: expected s3://bucket/prefix")
    bucket, prefix = split_s3_uri(prefix_uri)
    try:
        for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/") or (since and obj["LastModified"].date() < since):
                    continue
                yield ListedObject(bucket, obj["Key"], int(obj["Size"]), obj["LastModified"], str(obj.get("ETag", "")).strip('"'))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchBucket":
            raise BulkPlanError(f"--prefix {prefix_uri}: bucket {bucket} does not exist") from None
        raise


@dataclass
class ConversionPreview:
    chunks: list[dict[str, Any]] = field(default_factory=list)  # one per manifest: date, files, bytes, route
    new_files: int = 0  # files the run would register as pending (new objects and new versions)
    pending_files: int = 0  # already tracked, still pending: packed by the run too
    tracked: int = 0  # converted, failed or in a run already, or quarantined: left alone
    quarantined: int = 0  # new objects the run would quarantine (unsupported, too small)


def _as_pending(obj: ListedObject, date_prefix: str) -> dict[str, Any]:
    """The tracking item registration would write for ``obj`` (what planning reads of it)."""
    return {"date_prefix": date_prefix, "file_key": obj.key, "size_bytes": obj.size, "upload_time": iso(obj.last_modified),
            "input_format": input_format_for([obj.key])}


def _would_register(existing: Mapping[str, Any] | None, obj: ListedObject) -> bool:
    """Whether registering ``obj`` makes a new pending item (``paybatch.builder.tracking.FileRegistry.register_object``)."""
    if existing is None:
        return True
    status = FileStatus(existing["status"])
    reuploaded = status == FileStatus.FAILED and existing.get("error_kind") == OBJECT_GONE
    if existing["etag"] == obj.etag and not reuploaded:
        return False
    return status in REPLACEABLE_FILE_STATUSES


def preview_conversion(clients: AwsClients, prefix_uri: str, since: Date | None = None) -> ConversionPreview:
    """The manifests ``bulk convert`` would pack from ``prefix_uri`` now (nothing is written)."""
    settings = clients.settings
    store = TrackingStore(clients)
    preview = ConversionPreview()
    by_date: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for obj in list_prefix(clients, prefix_uri, since):
        date_prefix = date_prefix_for(obj.key, settings.file_validation.date_prefix_pattern, obj.last_modified)
        existing = store.get_file(date_prefix, obj.key)
        if _would_register(existing, obj):
            if classify(obj.key, obj.size, settings.file_validation, accept_large=True) is not None:
                preview.quarantined += 1
                continue
            preview.new_files += 1
            by_date[date_prefix].append(_as_pending(obj, date_prefix))
        elif existing is not None and existing["status"] == FileStatus.PENDING:
            preview.pending_files += 1
            by_date[date_prefix].append(existing)
        else:
            preview.tracked += 1
    policy, now = policy_for(settings.batching), utcnow()
    for date_prefix in sorted(by_date):
        for batch in plan(by_date[date_prefix], policy, now, flush=True):
            size = sum(int(f["size_bytes"]) for f in batch)
            preview.chunks.append({"date": date_prefix, "files": len(batch), "bytes": size, "keys": [f["file_key"] for f in batch],
                                   "input_format": batch[0].get("input_format", "ndjson"),
                                   "route": route_of(settings, conversion_job(settings, size))})
    return preview
