"""S3 event notifications as they arrive in SQS message bodies.

S3 delivers at least once and may repeat or reorder; keys are URL-encoded (``+`` for
spaces); the first message after a notification is configured is an ``s3:TestEvent``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from paybatch.errors import PaybatchError


class UnrecognizedMessage(PaybatchError):
    """A queue message that is not an S3 event notification; it goes to the DLQ through failure."""


@dataclass(frozen=True)
class S3ObjectEvent:
    """One object event: which object, which version of it (etag), and what happened."""

    event_name: str
    bucket: str
    key: str
    size: int
    etag: str
    event_time: datetime
    sequencer: str | None = None

    @property
    def created(self) -> bool:
        return self.event_name.startswith("ObjectCreated")

    @property
    def removed(self) -> bool:
        return self.event_name.startswith("ObjectRemoved")


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_s3_message(body: str) -> list[S3ObjectEvent]:
    """All object events in one SQS message body; [] for ``s3:TestEvent``.

    Raises UnrecognizedMessage (with the reason) for anything that is not an S3 notification.
    """
    try:
        payload: Any = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise UnrecognizedMessage(f"message body is not JSON ({exc}): {str(body)[:200]!r}") from None
    if not isinstance(payload, dict):
        raise UnrecognizedMessage(f"message body is JSON but not an object: {str(body)[:200]!r}")
    if payload.get("Event") == "s3:TestEvent":
        return []
    records = payload.get("Records")
    if not isinstance(records, list) or not records:
        raise UnrecognizedMessage(f"message has no S3 'Records': {str(body)[:200]!r}")
    events = []
    for index, record in enumerate(records):
        try:
            if record.get("eventSource") != "aws:s3":
                raise UnrecognizedMessage(f"record {index} comes from {record.get('eventSource')!r}, not aws:s3")
            obj = record["s3"]["object"]
            events.append(
                S3ObjectEvent(
                    event_name=str(record["eventName"]),
                    bucket=str(record["s3"]["bucket"]["name"]),
                    key=unquote_plus(str(obj["key"])),
                    size=int(obj.get("size", 0) or 0),
                    etag=str(obj.get("eTag") or obj.get("etag") or "").strip('"'),
                    event_time=_parse_time(record.get("eventTime")),
                    sequencer=obj.get("sequencer"),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UnrecognizedMessage(f"record {index} is not a valid S3 event ({type(exc).__name__}: {exc})") from None
    return events


def s3_message(bucket: str, key: str, size: int, etag: str, *, name: str = "ObjectCreated:Put",
               at: datetime | None = None) -> str:
    """The body S3 sends to SQS for one object event (what ``parse_s3_message`` reads): for the simulated
    production day and the tests, which feed the builder as S3 does."""
    when = (at or datetime(2025, 12, 23, 10, tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    record = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": when, "eventName": name,
              "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "size": size, "eTag": etag}}}
    return json.dumps({"Records": [record]})
