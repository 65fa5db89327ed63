"""Output row groups span input blocks, memory waits for at most one row group, partitions stay apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from paybatch.convert.files import PartitionedWriter, _with_lineage
from paybatch.convert.ndjson import NdjsonParser
from paybatch.datasets import load_schema

SCHEMA = load_schema("authorization")


def block(day: str, count: int, start: int = 0) -> bytes:
    rows = [{"sequence_number": start + i, "transaction_id": f"T{start + i}", "transaction_timestamp": f"{day}T10:00:00Z",
             "transaction_type": "PURCHASE", "mti": "0100", "hash_pan": "ab", "card_network": "VISA", "amount": 1.5,
             "currency": "USD", "response_code": "00", "approved": True} for i in range(count)]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def rows(*blocks: bytes) -> list:
    parser = NdjsonParser(SCHEMA)
    now = datetime(2025, 12, 23, tzinfo=UTC)
    return [_with_lineage(parser.parse_block(b, 1).table, "src", "b1", now) for b in blocks]


def row_groups(path: str) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def test_row_groups_span_blocks_and_the_rest_is_written_on_close(tmp_path: Path) -> None:
    writer = PartitionedWriter(pafs.LocalFileSystem(), str(tmp_path), SCHEMA, "b1", 0, 1 << 30, row_group_rows=10)
    for table in rows(*(block("2025-12-23", 4, 4 * i) for i in range(4))):
        writer.write(table)
    paths = writer.close()
    assert len(paths) == 1
    assert row_groups(paths[0]) == [12, 4]
    assert pq.read_table(paths[0]).column("sequence_number").to_pylist() == list(range(16))


def test_waiting_rows_are_bounded_over_all_partitions(tmp_path: Path) -> None:
    writer = PartitionedWriter(pafs.LocalFileSystem(), str(tmp_path), SCHEMA, "b1", 0, 1 << 30, row_group_rows=6)
    for table in rows(block("2025-12-23", 3), block("2025-12-24", 3, 3), block("2025-12-23", 2, 6)):
        writer.write(table)
        assert writer.pending_rows < 6
    paths = sorted(writer.close())
    assert [p.split("/dt=")[1][:10] for p in paths] == ["2025-12-23", "2025-12-24"]
    assert row_groups(paths[0]) == [3, 2] and row_groups(paths[1]) == [3]
