"""The inferred-types fast path gives exactly what the explicit-schema read gives, or steps aside."""

from __future__ import annotations

import json

import pytest

from paybatch.convert.ndjson import NdjsonParser
from paybatch.datasets import load_schema

BASE = {"sequence_number": 1, "transaction_id": "T1", "transaction_timestamp": "2025-12-23T10:00:00Z",
        "transaction_type": "PURCHASE", "mti": "0100", "hash_pan": "ab", "card_network": "VISA", "amount": 12.5,
        "currency": "USD", "response_code": "00", "approved": True}


def block(*rows: dict[str, object]) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in rows) + b"\n"


@pytest.mark.parametrize(("rows", "fast"), [
    ([BASE, {**BASE, "amount": 12}], True),                                      # ints in a double field
    ([BASE, {**BASE, "transaction_timestamp": "2025-12-23T12:00:00+02:00"}], True),  # offsets become UTC either way
    ([{**BASE, "merchant_id": "2025-12-23"}], False),                            # a date-like string stays a string
    ([{**BASE, "transaction_timestamp": "2025-12-23T10:00:00.250Z"}], False),    # fractions: the explicit read keeps them
    ([{**BASE, "amount": 9007199254740993}], False),                             # not exact as a double
    ([{**BASE, "loyalty": {"tier": "gold"}}], True),                             # unknown fields still reach _rescued
    ([{**BASE, "settlement_date": "2025-12-24"}], True),
    ([{k: v for k, v in BASE.items() if k != "mti"}], True),                     # a missing field is null either way
])
def test_fast_path_equals_the_explicit_read_or_steps_aside(rows: list[dict[str, object]], fast: bool) -> None:
    parser = NdjsonParser(load_schema("authorization"))
    data = block(*rows)
    inferred = parser._read_inferred(data)
    assert (inferred is not None) == fast
    if inferred is not None:
        explicit = parser._read(data)
        assert inferred.select(explicit.column_names).equals(explicit)
    parsed = parser.parse_block(data[:-1], 1)
    assert parsed.table.num_rows + len(parsed.rejects) == len(rows)
    if any("loyalty" in r for r in rows):
        assert json.loads(parsed.table.column("_rescued")[0].as_py()) == {"loyalty": {"tier": "gold"}}
    if any("merchant_id" in r for r in rows):
        assert parsed.table.column("merchant_id")[0].as_py() == "2025-12-23"
