"""`paybatch convert` on local files: output layout, rejects, reconciliation, errors."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from paybatch.sample_files import sample_file


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paybatch", "convert", *args], capture_output=True, text=True, timeout=120)


def test_converts_ndjson_and_gzip_with_rejects(tmp_path: Path) -> None:
    plain = tmp_path / "a.ndjson"
    plain.write_bytes(sample_file(20_000, 1, "2025-12-23") + b'{"truncated": tr')
    packed = tmp_path / "b.ndjson.gz"
    packed.write_bytes(gzip.compress(sample_file(20_000, 2, "2025-12-24")))
    out = tmp_path / "out"
    result = run(str(plain), str(packed), "--output", str(out), "--engine", "arrow", "--batch-id", "b1", "--json")
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)
    assert all(f["lines_read"] == f["rows_written"] + f["rows_rejected"] for f in files)
    assert [f["rows_rejected"] for f in files] == [1, 0]
    rows = ds.dataset(out / "parquet", format="parquet", partitioning="hive").to_table()
    assert rows.num_rows == sum(f["rows_written"] for f in files)
    assert set(rows.column("dt").to_pylist()) == {"2025-12-23", "2025-12-24"}
    assert set(rows.column("batch_id").to_pylist()) == {"b1"}
    rejects = ds.dataset(out / "rejects", format="parquet", partitioning="hive").to_table().to_pylist()
    assert rejects[0]["reason"].startswith("truncated last line") and rejects[0]["raw_text"] == '{"truncated": tr'
    # Same batch again: replaced file for file (same names), never added to.
    again = run(str(plain), str(packed), "--output", str(out), "--engine", "arrow", "--batch-id", "b1", "--json")
    assert again.returncode == 0
    assert ds.dataset(out / "parquet", format="parquet", partitioning="hive").to_table().num_rows == rows.num_rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.ndjson", "-o", "out"), "no such file: missing.ndjson"),
        (("x", "-o", "out", "--dataset", "nope"), "unknown dataset 'nope'"),
        (("x", "-o", "out", "--engine", "duck"), "unknown engine 'duck'"),
    ],
)
def test_errors_are_clear(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_parquet_input_keeps_unknown_columns_and_rejects_missing_required(tmp_path: Path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    table = pj.read_json(io.BytesIO(sample_file(5_000, 3, "2025-12-23")))
    table = table.append_column("loyalty_tier", pa_array(["gold"] * table.num_rows))
    ids = table.column("transaction_id").to_pylist()
    ids[0] = None  # a required field missing in one row
    table = table.set_column(table.schema.get_field_index("transaction_id"), "transaction_id", pa_array(ids))
    stamps = table.column("transaction_timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    stamps[1] = -62_167_219_200_000_000  # 0000-01-01: Parquet holds it, Spark and Python cannot read it
    index = table.schema.get_field_index("transaction_timestamp")
    table = table.set_column(index, "transaction_timestamp", pa.array(stamps, pa.timestamp("us", tz="UTC")))
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    result = run(str(source), "--output", str(tmp_path / "out"), "--engine", "arrow", "--json")
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout)
    assert (summary["lines_read"], summary["rows_rejected"]) == (table.num_rows, 2)
    rows = ds.dataset(tmp_path / "out" / "parquet", format="parquet", partitioning="hive").to_table().to_pylist()
    assert len(rows) == table.num_rows - 2
    assert json.loads(rows[0]["_rescued"]) == {"loyalty_tier": "gold"}
    rejects = ds.dataset(tmp_path / "out" / "rejects", format="parquet", partitioning="hive").to_table().to_pylist()
    assert [(r["line_number"], r["reason"]) for r in rejects] == [
        (1, "missing required field(s): transaction_id"), (2, "field 'transaction_timestamp': a date outside years 0001-9999")]


def pa_array(values: list) -> object:  # type: ignore[type-arg]
    import pyarrow as pa

    return pa.array(values)


def test_a_folder_converts_the_files_in_it(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    (feed / "day2").mkdir(parents=True)
    (feed / "a.ndjson").write_bytes(sample_file(10_000, 1, "2025-12-23"))
    (feed / "day2" / "b.ndjson.gz").write_bytes(gzip.compress(sample_file(10_000, 2, "2025-12-24")))
    (feed / "README.txt").write_text("not a feed file")
    (feed / ".hidden.ndjson").write_text("{}")
    result = run(str(feed), "--output", str(tmp_path / "out"), "--engine", "arrow", "--json")
    assert result.returncode == 0, result.stderr
    assert [Path(f["source"]).name for f in json.loads(result.stdout)] == ["a.ndjson", "b.ndjson.gz"]
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run(str(empty), "--output", str(tmp_path / "out"))
    assert nothing.returncode == 2 and "no files to convert in" in nothing.stderr and "Traceback" not in nothing.stderr


def test_an_output_that_is_not_a_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    source = tmp_path / "a.ndjson"
    source.write_bytes(sample_file(5_000, 1, "2025-12-23"))
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    result = run(str(source), "--output", str(taken))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"--output {taken} is a file, not a folder" in result.stderr and taken.read_text() == "keep me"
