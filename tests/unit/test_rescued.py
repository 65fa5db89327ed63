"""Fields the schema does not name are kept in ``_rescued`` as they were written, never dropped, never a crash."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from paybatch.convert.ndjson import NdjsonParser
from paybatch.datasets import load_schema
from tests.records import full_row

SCHEMA = load_schema("authorization")


@pytest.fixture(params=[True, False], ids=["strict-parser", "arrow-only"])
def parser(request: pytest.FixtureRequest) -> NdjsonParser:
    p = NdjsonParser(SCHEMA)
    p.strict = p.strict and request.param
    return p


def parse(p: NdjsonParser, rows: list[dict[str, object] | bytes]) -> tuple[list[dict[str, object]], list[tuple[int, str]]]:
    lines = [r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() for r in rows]
    block = p.parse_block(b"\n".join(lines) + b"\n", 1, False, len(lines))
    return block.table.to_pylist(), [(r.line_number, r.reason) for r in block.rejects]


def test_unknown_values_are_kept_as_written(parser: NdjsonParser) -> None:
    extra = {"seen_at": "2025-12-23T13:33:29Z", "big": 12345678901234567890, "note": "Zoë", "nested": {"a": [1, 2]},
             "old": "0000-01-01T00:00:00"}
    rows, rejects = parse(parser, [full_row(1, **extra)])
    assert rejects == []
    assert json.loads(rows[0]["_rescued"]) == extra
    assert "Zoë" in rows[0]["_rescued"]  # kept as text, not \\u-escaped


def test_an_unknown_array_of_mixed_values_is_kept_not_rejected(parser: NdjsonParser) -> None:
    """Arrow cannot give [1, "x"] one type; the line's own fields are fine, so it converts."""
    rows, rejects = parse(parser, [full_row(1), full_row(2, tags=[1, "x", None]), full_row(3)])
    assert rejects == []
    assert [r["_rescued"] for r in rows] == [None, '{"tags":[1,"x",null]}', None]


def test_rescued_values_stay_with_their_own_rows_around_rejects(parser: NdjsonParser) -> None:
    rows = [full_row(i, extra=i) if i % 2 else full_row(i) for i in range(10)]
    rows[3] = full_row(3, extra=3, mti=None)  # missing a required field
    rows[6] = full_row(6, transaction_timestamp="0000-01-01T00:00:00Z", extra=6)  # a year Spark cannot read
    kept, rejects = parse(parser, rows)
    assert [n for n, _ in rejects] == [4, 7]
    assert rejects[0][1] == "missing required field(s): mti"
    assert rejects[1][1] == "field 'transaction_timestamp': a date outside years 0001-9999"
    assert {r["sequence_number"]: r["_rescued"] for r in kept} == {
        i: (json.dumps({"extra": i}, separators=(",", ":")) if i % 2 else None) for i in range(10) if i not in {3, 6}}


def test_an_unknown_number_python_cannot_hold_makes_the_line_a_reject(parser: NdjsonParser) -> None:
    """Arrow reads 100e307 (as infinity); JSON cannot write infinity back, so the line is kept whole as a reject."""
    line = json.dumps(full_row(1)).encode()[:-1] + b', "huge": 100e307}'
    rows, rejects = parse(parser, [full_row(0), line])
    assert [r["sequence_number"] for r in rows] == [0]
    assert rejects == [(2, "fields not in the schema cannot be kept: Out of range float values are not JSON compliant")]


def test_parquet_unknown_columns_keep_dates_python_cannot_hold() -> None:
    p = NdjsonParser(SCHEMA)
    known = p._read(json.dumps(full_row(1)).encode() + b"\n")
    table = known.append_column("legacy_ts", pa.array([-62_167_219_200_000_000], pa.timestamp("us")))
    rejects: list = []  # type: ignore[type-arg]
    out = p.finish(table, [b""], [1], rejects, raw_json=False)
    assert rejects == []
    assert json.loads(out.column("_rescued")[0].as_py()) == {"legacy_ts": "0000-01-01 00:00:00.000000"}
