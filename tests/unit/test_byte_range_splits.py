"""A file converted as newline-aligned byte ranges gives exactly what one task gives: rows, rejects, line numbers.

The cuts are forced small so they land everywhere: inside long lines, next to poison lines, blank lines,
CRLF endings and an unterminated last line. (The 2 GB case runs in `make test-bulk`.)
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest

from paybatch.convert.files import convert_file, merge_ranges
from paybatch.convert.splits import aligned_ranges, count_range_newlines, first_lines
from paybatch.datasets import load_schema
from paybatch.sample_files import records

SCHEMA = load_schema("authorization")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ndjson(path: Path, lines: int, *, crlf: bool = False, tail: bytes = b"") -> Path:
    """Sample records with poison mixed in: bad JSON, blank lines, a wrong type, a huge line."""
    out = bytearray()
    source = records(7, "2025-12-23")
    for i in range(lines):
        line = next(source).rstrip(b"\n")
        if i % 97 == 5:
            line = b'{"transaction_id": "T1", "amount": '  # truncated JSON
        elif i % 131 == 7:
            line = b""
        elif i % 173 == 11:
            line = line.replace(b'"amount":', b'"amount": "not a number", "x":', 1)
        elif i == lines // 2:
            line = b'{"pad": "' + b"x" * 200_000 + b'"}'
        out += line + (b"\r\n" if crlf and i % 3 == 0 else b"\n")
    path.write_bytes(bytes(out) + tail)
    return path


def convert_whole_and_split(tmp_path: Path, source: Path, target_bytes: int) -> tuple[dict, dict, int]:
    fs = pafs.LocalFileSystem()
    whole = convert_file(str(source), str(tmp_path / "whole"), SCHEMA, "b1", 0, NOW, "2025-12-23").to_dict()
    ranges = aligned_ranges(fs, str(source), source.stat().st_size, target_bytes)
    starts = first_lines([count_range_newlines(fs, str(source), r) for r in ranges])
    parts = [convert_file(str(source), str(tmp_path / "split"), SCHEMA, "b1", 0, NOW, "2025-12-23", byte_range=r, first_line=f).to_dict()
             for r, f in zip(ranges, starts, strict=True)]
    return whole, merge_ranges(str(source), parts), len(ranges)


def same_rows(tmp_path: Path, folder: str) -> None:
    """Every row and reject of the split run equals the whole run's (as multisets, line numbers included)."""
    for kind in ("parquet", "rejects"):
        whole = f"read_parquet('{tmp_path}/whole/{kind}/**/*.parquet', hive_partitioning=false)"
        split = f"read_parquet('{tmp_path}/{folder}/{kind}/**/*.parquet', hive_partitioning=false)"
        counts = duckdb.sql(f"select (select count(*) from {whole}), (select count(*) from {split})").fetchall()[0]
        assert counts and counts[0] == counts[1] and counts[0] > 0, (kind, counts)
        for left, right in ((whole, split), (split, whole)):
            extra = duckdb.sql(f"select count(*) from (select * from {left} except all select * from {right})").fetchall()[0]
            assert extra == (0,), f"{kind}: rows in one run and not the other"


@pytest.mark.parametrize(("crlf", "tail"), [(False, b""), (True, b'{"unterminated": true'), (False, b"\n\n")])
def test_split_equals_one_task(tmp_path: Path, crlf: bool, tail: bytes) -> None:
    source = ndjson(tmp_path / "big.ndjson", 3_000, crlf=crlf, tail=tail)
    whole, split, pieces = convert_whole_and_split(tmp_path, source, 40_000)
    assert pieces > 20
    for key in ("lines_read", "rows_written", "rows_rejected", "partitions"):
        assert split[key] == whole[key], key
    assert whole["error"] is None and split["error"] is None
    assert whole["lines_read"] == whole["rows_written"] + whole["rows_rejected"]
    same_rows(tmp_path, "split")
    rejects = f"read_parquet('{tmp_path}/split/rejects/**/*.parquet')"
    lines = duckdb.sql(f"select list(line_number order by line_number) from {rejects}").fetchall()[0]
    assert lines and len(lines[0]) == whole["rows_rejected"] and lines[0][0] == 6  # the first poison line is line 6


def test_ranges_start_at_lines_and_cover_the_file(tmp_path: Path) -> None:
    source = ndjson(tmp_path / "f.ndjson", 500)
    data = source.read_bytes()
    ranges = aligned_ranges(pafs.LocalFileSystem(), str(source), len(data), 5_000)
    assert ranges[0].start == 0 and ranges[-1].end == len(data)
    for before, after in itertools.pairwise(ranges):
        assert before.end == after.start and data[after.start - 1:after.start] == b"\n"


def test_small_file_or_no_target_is_one_range(tmp_path: Path) -> None:
    source = ndjson(tmp_path / "f.ndjson", 10)
    size = source.stat().st_size
    assert len(aligned_ranges(pafs.LocalFileSystem(), str(source), size, size)) == 1
    assert len(aligned_ranges(pafs.LocalFileSystem(), str(source), size, 0)) == 1


def test_one_long_last_line_is_not_cut(tmp_path: Path) -> None:
    source = tmp_path / "f.ndjson"
    source.write_bytes(b'{"a": 1}\n' * 200 + b"y" * 50_000)  # 1,800 bytes of short lines, then one long line
    ranges = aligned_ranges(pafs.LocalFileSystem(), str(source), source.stat().st_size, 1_000)
    assert [(r.start, r.end) for r in ranges] == [(0, 1_008), (1_008, 51_800)]
