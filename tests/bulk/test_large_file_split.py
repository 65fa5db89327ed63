"""A 2 GiB NDJSON file, split into newline-aligned byte ranges converted by parallel Spark tasks, gives exactly what
one task gives: the same rows, the same rejects with the same line numbers, the same counts."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from paybatch.convert.files import convert_file, merge_ranges
from paybatch.convert.manifest_run import FileTask, spark_runner, split_large_files
from paybatch.datasets import load_schema
from paybatch.sample_files import records

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1200)]

SIZE = int(os.environ.get("BULK_SPLIT_BYTES", str(2 * 1024**3)))
SCHEMA = load_schema("authorization")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def two_gigabytes(path: Path) -> int:
    """About 10 MiB of records with poison (truncated JSON, blank lines, wrong types, a 1 MiB line), repeated to SIZE."""
    block = bytearray()
    source = records(3, "2025-12-23")
    i = 0
    while len(block) < 10 * 2**20:
        line = next(source).rstrip(b"\n")
        if i % 997 == 13:
            line = line[: len(line) // 2]
        elif i % 1499 == 7:
            line = b""
        elif i % 2003 == 5:
            line = line.replace(b'"amount":', b'"amount":"NaN?","x":', 1)
        elif i == 20_000:
            line = b'{"pad":"' + b"z" * 2**20 + b'"}'
        block += line + b"\n"
        i += 1
    with open(path, "wb") as out:
        written = 0
        while written < SIZE:
            out.write(block)
            written += len(block)
    return written


def test_two_gigabyte_file_in_byte_ranges_equals_one_task(tmp_path: Path, spark: Any) -> None:
    source = tmp_path / "huge.ndjson"
    size = two_gigabytes(source)
    whole = convert_file(str(source), str(tmp_path / "whole"), SCHEMA, "b1", 0, NOW, "2025-12-23").to_dict()

    runner = spark_runner(spark)
    tasks = split_large_files([FileTask(0, str(source))], {0: size}, 256 * 2**20, runner, None)
    assert len(tasks) == -(-size // (256 * 2**20)) and all(t.byte_range for t in tasks)
    assert tasks[0].first_line == 1 and all(b.first_line > a.first_line for a, b in itertools.pairwise(tasks))
    out = str(tmp_path / "split")

    def work(task: FileTask) -> dict[str, Any]:
        return convert_file(task.source, out, SCHEMA, "b1", task.index, NOW, "2025-12-23", byte_range=task.byte_range,
                            first_line=task.first_line).to_dict()

    parts = runner(tasks, work)
    assert len({p["worker"] for p in parts}) >= 1
    split = merge_ranges(str(source), parts)
    assert split["error"] is None and whole["error"] is None
    for key in ("lines_read", "rows_written", "rows_rejected", "partitions"):
        assert split[key] == whole[key], key
    assert whole["lines_read"] == whole["rows_written"] + whole["rows_rejected"] and whole["rows_rejected"] > 1_000

    connection = duckdb.connect()
    connection.execute("SET preserve_insertion_order = false")
    for kind in ("parquet", "rejects"):
        one = f"read_parquet('{tmp_path}/whole/{kind}/**/*.parquet', hive_partitioning=false)"
        many = f"read_parquet('{tmp_path}/split/{kind}/**/*.parquet', hive_partitioning=false)"
        for left, right in ((one, many), (many, one)):
            extra = connection.execute(f"select count(*) from (select * from {left} except all select * from {right})").fetchall()
            assert extra == [(0,)], f"{kind}: rows in one conversion and not the other"
    lines = connection.execute(f"select min(line_number), max(line_number), count(distinct line_number) "
                               f"from read_parquet('{tmp_path}/split/rejects/**/*.parquet')").fetchall()[0]
    assert lines[2] == whole["rows_rejected"] and lines[1] <= whole["lines_read"]
