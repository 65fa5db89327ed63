"""Parsing S3 notifications from SQS bodies: several records, URL-encoded keys, test events, garbage."""

from __future__ import annotations

import json

import pytest

from paybatch.contracts.events import UnrecognizedMessage, parse_s3_message


def record(key: str, name: str = "ObjectCreated:Put", size: int = 10) -> dict:
    return {"eventSource": "aws:s3", "eventName": name, "eventTime": "2025-12-23T10:00:00.000Z",
            "s3": {"bucket": {"name": "in"}, "object": {"key": key, "size": size, "eTag": '"abc"'}}}


def test_several_records_in_one_message_with_encoded_keys() -> None:
    body = json.dumps({"Records": [record("2025-12-23+file%C3%BC.ndjson"), record("a%2Bb.ndjson", "ObjectRemoved:Delete")]})
    events = parse_s3_message(body)
    assert [(e.key, e.created, e.removed, e.etag) for e in events] == [
        ("2025-12-23 fileü.ndjson", True, False, "abc"), ("a+b.ndjson", False, True, "abc")]


def test_test_event_yields_nothing() -> None:
    assert parse_s3_message(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({"hello": "world"}), "no S3 'Records'"),
        (json.dumps({"Records": [{"eventSource": "aws:sns"}]}), "not aws:s3"),
        (json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}), "not a valid S3 event"),
    ],
)
def test_unrecognized_messages_say_why(body: str, reason: str) -> None:
    with pytest.raises(UnrecognizedMessage, match=reason):
        parse_s3_message(body)
