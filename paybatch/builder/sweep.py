"""The input sweep: registers every object whose S3 notification never arrived, whatever its age.

Its cost grows with what is new, not with what the bucket holds:
- **open dates** (today and the last ``sweep.open_days``): each pass lists their key prefixes
  (``sweep.date_prefix``) and reads their tracking items with one query per date partition, instead of
  one ``GetItem`` per object;
- **the full reconcile**: the rest of the bucket is walked a slice a pass (``sweep.full_pages_per_pass``
  list pages, items read 100 keys per ``BatchGetItem``), its place kept in the tracking table, starting
  again once a day, so no pass is ever cut off by the Lambda timeout and a lost notification for any
  key is found within a day.

An object with no item is registered (a lost notification). The tracking TTL removes only finished
items of objects that expire first (``input_retention``); an object a conversion run tagged as converted
is never registered again, even if its item has gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from paybatch.builder.errors import FileBusy
from paybatch.contracts.tracking import iso, parse_iso, utcnow
from paybatch.retention import is_converted
from paybatch.retry import retrying

if TYPE_CHECKING:
    from paybatch.builder.app import BuilderApp

logger = Logger(service="manifest-scheduler")

SWEEP_GRACE_SECONDS = 30  # leave fresh objects to their own notification
FULL_WALK_EVERY = timedelta(days=1)
CURSOR_PK, CURSOR_SK = "sweep#full", "cursor"


@dataclass
class SweepResult:
    registered: int = 0
    objects_seen: int = 0
    requests: int = 0  # list pages, item reads and registrations: what one pass costs
    full_walk_pages: int = 0
    errors: list[str] = field(default_factory=list)


class InputSweep:
    """One sweep pass over the input bucket (see the module docstring)."""

    page_keys = 1000  # keys per list page of the full walk (S3's maximum)

    def __init__(self, app: BuilderApp, *, clock: Any = utcnow) -> None:
        self.app = app
        self.settings = app.settings
        self.store = app.store
        self.s3 = app.clients.s3
        self.bucket = self.settings.buckets.input
        self.clock = clock

    def open_dates(self, now: datetime) -> list[str]:
        return [(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in range(self.settings.sweep.open_days + 1)]

    def run(self) -> SweepResult:
        result = SweepResult()
        now = self.clock()
        for date_prefix in self.open_dates(now):
            try:
                self.sweep_date(date_prefix, now, result)
            except Exception as exc:
                logger.exception("sweep of an open date failed", date_prefix=date_prefix)
                result.errors.append(f"sweep {date_prefix}: {type(exc).__name__}: {exc}")
        try:
            self.full_walk_slice(now, result)
        except Exception as exc:
            logger.exception("full sweep slice failed")
            result.errors.append(f"full sweep: {type(exc).__name__}: {exc}")
        return result

    # --- open dates ------------------------------------------------------------------------------
    def sweep_date(self, date_prefix: str, now: datetime, result: SweepResult) -> None:
        prefix = self.settings.sweep.date_prefix.format(date=date_prefix)
        objects = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            result.requests += 1
            objects += page.get("Contents", [])
        if not objects:
            return
        tracked, reads = self.store.file_etags_for_date(date_prefix)
        result.requests += reads
        self._check(objects, now, result, lambda key, dp: tracked.get(key) if dp == date_prefix else self._one(dp, key, result))

    def _one(self, date_prefix: str, key: str, result: SweepResult) -> str | None:
        result.requests += 1
        item = self.store.get_file(date_prefix, key)
        return str(item["etag"]) if item else None

    # --- the full reconcile ------------------------------------------------------------------------
    def full_walk_slice(self, now: datetime, result: SweepResult) -> None:
        cursor = self.store.get_file(CURSOR_PK, CURSOR_SK) or {}
        result.requests += 1
        token = cursor.get("token")
        if token is None:
            started = cursor.get("started_at")
            if started and now - parse_iso(started) < FULL_WALK_EVERY:
                return  # today's walk is done
            cursor = {"started_at": iso(now)}
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "MaxKeys": self.page_keys}
        for _ in range(self.settings.sweep.full_pages_per_pass):
            if token:
                kwargs["ContinuationToken"] = token
            page = self.s3.list_objects_v2(**kwargs)
            result.requests += 1
            result.full_walk_pages += 1
            objects = page.get("Contents", [])
            if objects:
                keys = [(self.app.registry.date_prefix(o["Key"], o["LastModified"]), o["Key"]) for o in objects]
                tracked, reads = self.store.file_etags(keys)
                result.requests += reads
                self._check(objects, now, result, lambda key, dp, tracked=tracked: tracked.get((dp, key)))
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if token is None:
                break
        self.store.save_item(CURSOR_PK, CURSOR_SK, {"started_at": cursor.get("started_at", iso(now)), "token": token,
                                                    "updated_at": iso(now)})
        result.requests += 1

    # --- shared --------------------------------------------------------------------------------------
    def _check(self, objects: Iterable[dict[str, Any]], now: datetime, result: SweepResult, etag_of: Any) -> None:
        for obj in objects:
            result.objects_seen += 1
            modified = obj["LastModified"]
            if (now - modified).total_seconds() < SWEEP_GRACE_SECONDS:
                continue
            key, etag = obj["Key"], obj["ETag"].strip('"')
            date_prefix = self.app.registry.date_prefix(key, modified)
            known = etag_of(key, date_prefix)
            if known == etag:
                continue
            if known is None:
                result.requests += 1
                if retrying(is_converted, self.s3, self.bucket, key, etag):
                    continue  # its item expired after conversion; the object waits for its lifecycle rule
            head = {"ContentLength": obj["Size"], "ETag": obj["ETag"], "LastModified": modified}
            try:
                self.app.registry.register_object(self.bucket, key, head, date_prefix)
            except FileBusy:
                continue
            result.requests += 1
            result.registered += 1
            logger.warning("registered a file its notification never delivered", key=key)
