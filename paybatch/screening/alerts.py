"""One alert per match, sent as it is found: to the alerts queue and, when configured, to a signed webhook.

The webhook gets an HTTP POST of the alert's JSON with ``X-Paybatch-Signature: sha256=<hex HMAC-SHA-256 of the
body>`` under the configured key, and ``X-Paybatch-Alert-Id`` (the same id on every retry, so the receiver can
drop repeats). A refused or failed POST is retried with exponential backoff; after the last try the alert goes to
the alerts dead-letter queue with the reason, so no alert is ever lost silently. The queue is written first:
whatever happens to the webhook, the alert is on the queue.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paybatch.retry import retrying

SIGNATURE_HEADER = "X-Paybatch-Signature"
ALERT_ID_HEADER = "X-Paybatch-Alert-Id"


def alert_id(run_id: str, customer_id: str, entry_id: str) -> str:
    return hashlib.sha256(f"{run_id}|{customer_id}|{entry_id}".encode()).hexdigest()[:24]


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time."""
    return hmac.compare_digest(sign(key, body), signature)


@dataclass
class AlertSender:
    """Sends alerts from wherever matches are found (a Spark task, the API); counts what happened."""

    clients: Any
    webhook_url: str | None = None
    webhook_key: bytes | None = None
    retries: int = 4
    backoff_seconds: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    sent: int = 0
    webhook_delivered: int = 0
    dead_lettered: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def for_settings(cls, clients: Any) -> AlertSender:
        from paybatch.generate.cards import resolve_hash_key  # the one resolver of local:/ssm:/secretsmanager: secrets

        screening = clients.settings.screening
        key = (resolve_hash_key(screening.webhook_secret, clients, what="the screening webhook's signing key")
               if screening.webhook_url and screening.webhook_secret else None)
        return cls(clients, screening.webhook_url, key, screening.webhook_retries, screening.webhook_backoff_seconds)

    _queue_urls: dict[str, str] = field(default_factory=dict, repr=False)

    def _queue(self, name: str) -> str:
        """A queue's URL, looked up once per sender (not once per alert)."""
        if name not in self._queue_urls:
            self._queue_urls[name] = retrying(self.clients.queue_url, name)
        return self._queue_urls[name]

    def send(self, alert: dict[str, Any]) -> None:
        body = json.dumps(alert, sort_keys=True, default=str).encode()
        queue = self._queue(self.clients.settings.screening.alerts_queue)
        retrying(lambda: self.clients.sqs.send_message(QueueUrl=queue, MessageBody=body.decode()))
        self.sent += 1
        if self.webhook_url:
            self._post(alert["alert_id"], body)

    def _post(self, identifier: str, body: bytes) -> None:
        headers = {"Content-Type": "application/json", ALERT_ID_HEADER: identifier}
        if self.webhook_key:
            headers[SIGNATURE_HEADER] = sign(self.webhook_key, body)
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            request = urllib.request.Request(str(self.webhook_url), data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the configured webhook
                    if 200 <= response.status < 300:
                        self.webhook_delivered += 1
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    break  # the receiver refuses this alert: retrying will not change its mind
            except (urllib.error.URLError, OSError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        record = {"alert_id": identifier, "reason": f"webhook {self.webhook_url} failed after {attempt + 1} tries: {last}",
                  "alert": json.loads(body)}
        dlq = self._queue(self.clients.settings.screening.alerts_dlq)
        retrying(lambda: self.clients.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(record)))
        self.dead_lettered += 1
        self.errors.append(record["reason"])


def alert_for(match: Any, *, run_id: str, list_version: str, customer_name: str) -> dict[str, Any]:
    return {"alert_id": alert_id(run_id, match.customer_id, match.entry_id), "run_id": run_id, "list_version": list_version,
            "customer_id": match.customer_id, "customer_name": customer_name, "entry_id": match.entry_id,
            "matched_name": match.matched_name, "score": match.score, "explanation": match.explanation}
