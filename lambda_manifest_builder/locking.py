"""The per-date packing lock: one item per date prefix in LOCK_TABLE (the tracking table by default).

Acquired by a conditional write carrying an owner token, an expiry (LOCK_TTL_SECONDS) and a
monotonic fencing counter; waited for with jittered backoff up to MAX_LOCK_WAIT_SECONDS;
released only by its owner; taken over once expired. It only keeps builders from doing the
same packing work at once: a file can still be claimed once only, because every claim is a
conditional write on ``status = pending`` (see manifests.py).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import LOCK_SK, lock_pk
from paybatch.resources import TRACKING_PK, TRACKING_SK
from paybatch.tracking_store import to_ddb


@dataclass(frozen=True)
class Lease:
    date_prefix: str
    owner: str
    fence: int
    expires_at: float


class DateLock:
    """Acquire and release the packing lock of one date prefix."""

    def __init__(self, clients: AwsClients, *, clock: Callable[[], float] = time.time) -> None:
        settings = clients.settings
        self.ddb = clients.dynamodb
        self.table = settings.tables.lock
        self.ttl_seconds = settings.lock.ttl_seconds
        self.max_wait = settings.lock.max_wait_seconds
        self.clock = clock

    def _key(self, date_prefix: str) -> dict[str, object]:
        return to_ddb({TRACKING_PK: lock_pk(date_prefix), TRACKING_SK: LOCK_SK})

    def try_acquire(self, date_prefix: str, owner: str | None = None) -> Lease | None:
        """One attempt: take the lock if free or expired; None if someone else holds it."""
        owner = owner or uuid.uuid4().hex
        now = self.clock()
        expires = now + self.ttl_seconds
        try:
            response = self.ddb.update_item(
                TableName=self.table,
                Key=self._key(date_prefix),
                UpdateExpression="SET #owner = :owner, expires_at = :exp, #ttl = :ttl ADD fence :one",
                ConditionExpression="attribute_not_exists(#owner) OR expires_at < :now",
                ExpressionAttributeNames={"#owner": "owner", "#ttl": "ttl"},
                ExpressionAttributeValues=to_ddb(
                    {":owner": owner, ":exp": expires, ":now": now, ":one": 1, ":ttl": int(expires) + 86400}
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        fence = int(response["Attributes"]["fence"]["N"])
        return Lease(date_prefix, owner, fence, expires)

    def acquire(self, date_prefix: str, max_wait: float | None = None) -> Lease | None:
        """Try until acquired or ``max_wait`` (default MAX_LOCK_WAIT_SECONDS) passes, with jittered backoff."""
        deadline = time.monotonic() + (self.max_wait if max_wait is None else max_wait)
        owner = uuid.uuid4().hex
        delay = 0.05
        while True:
            lease = self.try_acquire(date_prefix, owner)
            if lease or time.monotonic() >= deadline:
                return lease
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)

    def release(self, lease: Lease) -> bool:
        """Give the lock back if we still own it; False if it expired and someone took it over."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._key(lease.date_prefix),
                UpdateExpression="REMOVE #owner, expires_at",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=to_ddb({":owner": lease.owner}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
