"""Date fields take YYYY-MM-DD calendar dates only; anything else is a reject that says so."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from paybatch.convert.ndjson import NdjsonParser
from paybatch.datasets import load_schema

BASE = {"sequence_number": 1, "transaction_id": "T1", "transaction_timestamp": "2025-12-23T10:00:00Z",
        "transaction_type": "PURCHASE", "mti": "0100", "hash_pan": "ab", "card_network": "VISA", "amount": 12.5,
        "currency": "USD", "response_code": "00", "approved": True}


def parse(*values: str) -> tuple[list[object], list[tuple[int, str]]]:
    parser = NdjsonParser(load_schema("authorization"))
    data = b"".join(json.dumps({**BASE, "settlement_date": v}).encode() + b"\n" for v in values)
    parsed = parser.parse_block(data, 1)
    return parsed.table.column("settlement_date").to_pylist(), [(r.line_number, r.reason) for r in parsed.rejects]


def test_calendar_dates_convert() -> None:
    dates, rejects = parse("2025-12-24", "2024-02-29")
    assert dates == [dt.date(2025, 12, 24), dt.date(2024, 2, 29)]
    assert rejects == []


@pytest.mark.parametrize("bad", ["2025-02-30", "2025-13-01", "2025-2-3", " 2025-12-23", "20251223", "2025-12-23T00:00:00"])
def test_a_date_that_is_not_a_calendar_date_is_a_reject_and_its_neighbours_convert(bad: str) -> None:
    dates, rejects = parse("2025-12-24", bad, "2025-12-26")
    assert dates == [dt.date(2025, 12, 24), dt.date(2025, 12, 26)]
    assert rejects == [(2, f"field 'settlement_date': {bad!r} is not a valid date")]
