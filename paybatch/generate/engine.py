"""How a generation task runs inside a Spark task: build rows with numpy, write with Arrow.

Spark spreads the tasks over executors (on Glue, over workers); each task writes its own files
straight to the sink. Nothing row-at-a-time passes through the JVM, which is why this is several
times faster than Spark SQL expressions plus Spark's Parquet writer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from paybatch.generate.cards import build_pan_dimension
from paybatch.generate.feed import ndjson_bytes
from paybatch.generate.merchants import build_merchant_pool
from paybatch.generate.plan import FEED_SUBCHUNK_ROWS, FeedTask, PanTask, TableTask, Task
from paybatch.generate.sinks import Sink
from paybatch.generate.spec import PAN_DIMENSION, TABLE_FAMILY, PaymentsSpec
from paybatch.generate.tables import Chunk, ChunkBuilder

DICTIONARY_PAGE_LIMIT = 16 << 20  # room for the 100 k card hashes, so hash_pan stays dictionary-encoded


def spec_fingerprint(spec: PaymentsSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TaskContext:
    """What every task needs, shipped once per task by Spark (the key never leaves the job)."""

    spec: PaymentsSpec
    seed: int
    key: bytes
    sink: Sink

    def __repr__(self) -> str:  # keep the HMAC key out of logs and Spark UIs
        return f"TaskContext(seed={self.seed}, sink={self.sink!r})"


_BUILDERS: dict[tuple[str, int, bytes], ChunkBuilder] = {}


def builder_for(context: TaskContext) -> ChunkBuilder:
    """One ChunkBuilder (PAN dimension and merchant pool) per worker process and (spec, seed, key)."""
    cache_key = (spec_fingerprint(context.spec), context.seed, context.key)
    if cache_key not in _BUILDERS:
        cards = build_pan_dimension(context.spec, context.seed, context.key)
        _BUILDERS[cache_key] = ChunkBuilder(context.spec, context.seed, cards, build_merchant_pool(context.spec, context.seed))
    return _BUILDERS[cache_key]


def parquet_bytes(table: pa.Table) -> bytes:
    """Snappy Parquet; pooled columns stay dictionary-encoded unless the pool dwarfs the rows."""
    columns, dictionary_columns = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            pool = max((len(c.dictionary) for c in column.chunks), default=0)
            if pool > max(1, table.num_rows // 2):
                column = column.cast(column.type.value_type)
            else:
                dictionary_columns.append(name)
        columns.append(column)
    out = io.BytesIO()
    pq.write_table(pa.table(columns, names=table.column_names), out, compression="snappy", store_schema=False,
                   use_dictionary=dictionary_columns or False, dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT)
    return out.getvalue()


def table_key(spec: PaymentsSpec, table: str, date: str, job_index: int, chunk_index: int) -> str:
    """``table/yyyy/mm/dd/part-…`` (the seed's layout) or ``table/dt=YYYY-MM-DD/part-…`` (Hive)."""
    day = dt.date.fromisoformat(date)
    folder = f"dt={date}" if spec.output.layout == "hive" else f"{day:%Y}/{day:%m}/{day:%d}"
    return f"{table}/{folder}/part-j{job_index:03d}-c{chunk_index:05d}.parquet"


def feed_key(date: str, job_index: int, part: int) -> str:
    """Input-bucket key of a feed file; it carries the date the manifest builder groups by."""
    return f"{date}/authorization-{date}-j{job_index:03d}-p{part:05d}.ndjson"


def pan_key(seed: int) -> str:
    return f"{PAN_DIMENSION}/seed={seed}/{PAN_DIMENSION}.parquet"


def _written(table: str, role: str, key: str, rows: int, size: int, date: str | None, sink: Sink) -> dict[str, Any]:
    return {"table": table, "role": role, "key": key, "uri": sink.uri(role, key), "rows": rows, "bytes": size, "date": date}


def run_table_task(context: TaskContext, task: TableTask) -> list[dict[str, Any]]:
    tables = builder_for(context).build(task.chunk, task.tables)
    written = []
    for name in task.tables:
        table = tables[name]
        if table.num_rows == 0:
            continue
        data = parquet_bytes(table)
        key = table_key(context.spec, name, task.chunk.date, task.job_index, task.chunk.index)
        for role in ("lake", f"lake_{TABLE_FAMILY[name]}"):  # the combined lake and the family's own bucket
            context.sink.put_bytes(role, key, data)
            written.append(_written(name, role, key, table.num_rows, len(data), task.chunk.date, context.sink))
    return written


def run_feed_task(context: TaskContext, task: FeedTask) -> list[dict[str, Any]]:
    """Stream one feed file in sub-chunks through a temporary file (bounded memory for 3.5 GB files)."""
    builder = builder_for(context)
    chunk = task.chunk
    size = 0
    handle = tempfile.NamedTemporaryFile(prefix="paybatch-feed-", suffix=".ndjson", delete=False)
    try:
        with handle:
            for first in range(chunk.first, chunk.first + chunk.count, FEED_SUBCHUNK_ROWS):
                count = min(FEED_SUBCHUNK_ROWS, chunk.first + chunk.count - first)
                part = Chunk(chunk.date, chunk.start, chunk.size, first, count, chunk.index)
                data = ndjson_bytes(builder.build(part, ("authorization",))["authorization"])
                handle.write(data)
                size += len(data)
        key = feed_key(chunk.date, task.job_index, task.part)
        context.sink.put_file("input", key, Path(handle.name))
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
    return [_written("authorization_feed", "input", key, chunk.count, size, chunk.date, context.sink)]


def run_pan_task(context: TaskContext) -> list[dict[str, Any]]:
    table = builder_for(context).cards.table()
    data = parquet_bytes(table)
    key = pan_key(context.seed)
    context.sink.put_bytes("restricted", key, data)
    return [_written(PAN_DIMENSION, "restricted", key, table.num_rows, len(data), None, context.sink)]


def run_task(context: TaskContext, task: Task) -> list[dict[str, Any]]:
    """Run one planned task; returns one record per file written."""
    if isinstance(task, TableTask):
        return run_table_task(context, task)
    if isinstance(task, FeedTask):
        return run_feed_task(context, task)
    if isinstance(task, PanTask):
        return run_pan_task(context)
    raise TypeError(f"unknown task {task!r}")
