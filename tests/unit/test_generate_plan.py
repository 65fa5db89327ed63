"""Requests, dates, chunking, the NDJSON encoder and the file sequence ledger."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from paybatch.generate.feed import ndjson_bytes
from paybatch.generate.plan import GenerationRequest, GenerationRequestError, feed_chunks, parse_dates
from paybatch.generate.sequences import Allocation, FileSequenceLedger, SequenceAllocationError
from paybatch.generate.tables import categorical


def test_dates() -> None:
    assert parse_dates("2024-02-28..2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]
    assert parse_dates("2024-01-05") == ["2024-01-05"]


@pytest.mark.parametrize(("text", "message"), [
    ("2024-13-01", "expected YYYY-MM-DD"), ("yesterday", "expected YYYY-MM-DD"),
    ("2024-01-05..2024-01-01", "ends before it starts"), ("2000-01-01..2030-01-01", "split the run")])
def test_bad_dates(text: str, message: str) -> None:
    with pytest.raises(GenerationRequestError, match=message):
        parse_dates(text)


def test_rows_spread_over_dates() -> None:
    request = GenerationRequest(rows=10, dates=("a", "b", "c"))
    assert request.rows_per_date() == {"a": 4, "b": 3, "c": 3}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rows": 0}, "--rows"), ({"format": "csv"}, "--format"), ({"tables": ("authorisation",)}, "unknown tables"),
    ({"only_dates": ("2024-02-01",)}, "not inside --dates"), ({"job_index": -1}, "--job-index"), ({"seed": -5}, "--seed")])
def test_bad_requests(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"rows": 10, "dates": ("2024-01-01",)}
    with pytest.raises(GenerationRequestError, match=message):
        GenerationRequest(**{**base, **kwargs})  # type: ignore[arg-type]


def test_feed_files_have_near_equal_sizes() -> None:
    allocation = Allocation("2024-01-01", 0, 1000, 10_050)
    sizes = [c.count for c in feed_chunks(allocation, 1000)]
    assert sum(sizes) == 10_050 and max(sizes) - min(sizes) <= 1 and len(sizes) == 10
    assert [c.count for c in feed_chunks(Allocation("d", 0, 1, 5), 1000)] == [5]


def test_ndjson_encoding_matches_json() -> None:
    table = pa.table({
        "n": pa.array([1, None, 3], pa.int64()),
        "s": pa.array(['plain', 'quote " and \\ back', None]),
        "d": categorical(pa.array([0, 1, 0]).to_numpy(), ["VISA", "AMEX"]),
        "x": pa.array([1.5, 100.0, None]),
        "b": pa.array([True, False, None]),
        "t": pa.array([0, 1_700_000_000_000_000, None], pa.timestamp("us", tz="UTC")),
        "day": pa.array([0, 19000, None], pa.date32()),
    })
    lines = ndjson_bytes(table).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"n": 1, "s": "plain", "d": "VISA", "x": 1.5, "b": True, "t": "1970-01-01T00:00:00Z", "day": "1970-01-01"},
        {"n": None, "s": 'quote " and \\ back', "d": "AMEX", "x": 100, "b": False, "t": "2023-11-14T22:13:20Z", "day": "2022-01-08"},
        {"n": 3, "s": None, "d": "VISA", "x": None, "b": None, "t": None, "day": None},
    ]
    with pytest.raises(ValueError, match="NaN"):
        ndjson_bytes(pa.table({"x": pa.array([float("nan")])}))


def test_file_ledger_reuses_a_jobs_range_and_never_overlaps(tmp_path: Path) -> None:
    ledger = FileSequenceLedger(tmp_path / "ledger.json", 1000000000000001)
    first = ledger.allocate("2024-01-01", 0, 100)
    assert (first.start, first.reused) == (1000000000000001, False)
    again = ledger.allocate("2024-01-01", 0, 100)
    assert (again.start, again.reused) == (first.start, True)
    with pytest.raises(SequenceAllocationError, match="already holds sequence numbers"):
        ledger.allocate("2024-01-01", 0, 99)
    results: list[Allocation] = []
    threads = [threading.Thread(target=lambda j=j: results.append(ledger.allocate("2024-01-01", j, 50))) for j in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ranges = sorted((a.start, a.end) for a in ledger.allocations("2024-01-01"))
    assert len(ranges) == 9
    assert all(prev_end + 1 == start for (_, prev_end), (start, _) in itertools.pairwise(ranges))  # no gaps, no overlaps
    assert ledger.allocate("2024-01-02", 3, 10).start == 1000000000000001  # every date starts at sequence_start


def test_corrupt_ledger_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(SequenceAllocationError, match="not valid JSON"):
        FileSequenceLedger(path, 1).allocate("2024-01-01", 0, 1)
