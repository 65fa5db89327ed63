"""The per-date packing lock: one item per date prefix in LOCK_TABLE (the tracking table by default).

Acquired by a conditional write carrying an owner token, an expiry and a monotonic fencing counter; waited
for with jittered backoff up to MAX_LOCK_WAIT_SECONDS; released only by its owner; taken over once expired.
The lease is short (``lock.lease_seconds``, 15 s) and renewed by a thread of the live holder every third of
it, for at most ``lock.ttl_seconds`` (LOCK_TTL_SECONDS) in all: a holder that is killed blocks its date for
one lease, not for the whole TTL. A retried acquire by the same owner (its first answer lost) takes the lock
it already holds. The lock only keeps builders from doing the same packing work at once: a file can still
be claimed once only, because every claim is a conditional write on ``status = pending`` (see manifests.py).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import LOCK_SK, lock_pk
from paybatch.dynamo import from_item, holds, update, write_if
from paybatch.resources import TRACKING_PK, TRACKING_SK
from paybatch.retry import is_retryable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    date_prefix: str
    owner: str
    fence: int
    expires_at: float


class DateLock:
    """Acquire, renew and release the packing lock of one date prefix."""

    def __init__(self, clients: AwsClients, *, clock: Callable[[], float] = time.time) -> None:
        settings = clients.settings
        self.ddb = clients.dynamodb
        self.table = settings.tables.lock or settings.tables.tracking
        self.ttl_seconds = settings.lock.ttl_seconds
        self.lease_seconds = settings.lock.lease_seconds
        self.max_wait = settings.lock.max_wait_seconds
        self.clock = clock
        self._renewals: dict[str, threading.Event] = {}

    def _key(self, date_prefix: str) -> dict[str, str]:
        return {TRACKING_PK: lock_pk(date_prefix), TRACKING_SK: LOCK_SK}

    def try_acquire(self, date_prefix: str, owner: str | None = None) -> Lease | None:
        """One attempt: take the lock if free, expired or already ours; None if someone else holds it.

        Taking it again as the same owner is allowed, so a retry after a lost answer lands (with a higher fence).
        """
        owner = owner or uuid.uuid4().hex
        now = self.clock()
        expires = now + self.lease_seconds
        request = {**update(self.table, self._key(date_prefix),
                            set={"owner": owner, "expires_at": expires, "ttl": int(now + self.ttl_seconds) + 86400}, add={"fence": 1},
                            condition="attribute_not_exists(#owner) OR expires_at < :now OR #owner = :owner",
                            names={"#owner": "owner"}, values={":owner": owner, ":now": now}),
                   "ReturnValues": "ALL_NEW"}
        answer: dict[str, Any] = {}
        if not write_if(lambda **kwargs: answer.update(self.ddb.update_item(**kwargs)), request):
            return None
        return Lease(date_prefix, owner, int(from_item(answer["Attributes"])["fence"]), expires)

    def acquire(self, date_prefix: str, max_wait: float | None = None) -> Lease | None:
        """Try until acquired or ``max_wait`` (default MAX_LOCK_WAIT_SECONDS) passes; the lease is then renewed
        in the background until ``release`` (or ``ttl_seconds``)."""
        deadline = time.monotonic() + (self.max_wait if max_wait is None else max_wait)
        owner = uuid.uuid4().hex
        delay = 0.05
        while True:
            try:
                lease = self.try_acquire(date_prefix, owner)
            except Exception as exc:
                if not is_retryable(exc):  # a lost answer or throttling: asking again as the same owner is safe
                    raise
                lease = None
            if lease:
                self._start_renewing(lease)
                return lease
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)

    def _as_owner(self, lease: Lease, *, set_values: dict[str, Any] | None = None, remove: tuple[str, ...] = ()) -> bool:
        """One update of the lock item, made only while ``lease``'s owner holds it; False if it no longer does."""
        request = update(self.table, self._key(lease.date_prefix), set=set_values, remove=remove, condition="#owner = :owner",
                         names={"#owner": "owner"}, values={":owner": lease.owner})
        # after a lost answer: a release landed if the owner is gone, a renewal if the item holds its new expiry
        landed = holds(set_values) if set_values else (lambda item: item.get("owner") != lease.owner)
        return write_if(self.ddb.update_item, request, landed=landed)

    def renew(self, lease: Lease) -> bool:
        """Extend a lease we still own by ``lease_seconds``; False if it was lost (expired and taken over)."""
        return self._as_owner(lease, set_values={"expires_at": self.clock() + self.lease_seconds})

    def _start_renewing(self, lease: Lease) -> None:
        stop = threading.Event()
        self._renewals[lease.owner] = stop
        until = time.monotonic() + self.ttl_seconds - self.lease_seconds

        def renew_while_held() -> None:
            while not stop.wait(self.lease_seconds / 3) and time.monotonic() < until:
                try:
                    if not self.renew(lease):
                        logger.warning("the packing lock of %s was taken over; renewals stop", lease.date_prefix)
                        return
                except Exception as exc:  # noqa: BLE001 - a missed renewal is retried at the next tick
                    logger.warning("could not renew the packing lock of %s: %s", lease.date_prefix, exc)

        threading.Thread(target=renew_while_held, name=f"lock-renewal-{lease.date_prefix}", daemon=True).start()

    def release(self, lease: Lease) -> bool:
        """Stop renewing and give the lock back if we still own it; False if it expired and someone took it over."""
        stop = self._renewals.pop(lease.owner, None)
        if stop is not None:
            stop.set()
        return self._as_owner(lease, remove=("owner", "expires_at"))
