"""Convert one input file to partitioned Parquet plus rejects, streaming, with its line accounting.

Output layout under a base URI (s3://bucket/prefix or a local folder):

    parquet/dt=YYYY-MM-DD/batch_id=<id>/part-<file>-<n>.parquet   rows, with lineage columns
    rejects/dt=YYYY-MM-DD/batch_id=<id>/part-<file>.parquet       source_file, line_number, raw, reason

The batch id is a partition of its own, so re-running a batch replaces exactly its own files.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from paybatch.convert.lines import iter_line_blocks
from paybatch.convert.ndjson import NdjsonParser, ParsedBlock, Reject
from paybatch.convert.splits import ByteRange, RangeReader, open_range
from paybatch.datasets import DatasetSchema
from paybatch.iceberg.catalog import REJECT_SCHEMA
from paybatch.storage import filesystem_for


@dataclass
class FileResult:
    """What became of one input file: counts that reconcile, outputs, or the error."""

    source: str
    lines_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    outputs: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    error: str | None = None
    strict_lines: int = 0  # lines the compiled strict parser read; the rest went through Arrow's reader
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getcwd()}")  # where it ran (host, executor dir)

    @property
    def reconciles(self) -> bool:
        return self.lines_read == self.rows_written + self.rows_rejected

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merge_ranges(source: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The results of one file's byte ranges as the one file's result (any range's error is the file's)."""
    merged = FileResult(source=source, worker=",".join(sorted({p["worker"] for p in parts})))
    for part in parts:
        merged.lines_read += part["lines_read"]
        merged.rows_written += part["rows_written"]
        merged.rows_rejected += part["rows_rejected"]
        merged.strict_lines += part["strict_lines"]
        merged.outputs += part["outputs"]
        merged.error = merged.error or part["error"]
    merged.partitions = sorted({d for part in parts for d in part["partitions"]})
    return merged.to_dict()


ROW_GROUP_ROWS = 128 * 1024  # about 20 MiB of Parquet for the authorization feed


class PartitionedWriter:
    """Writes row tables into dt partitions of one batch, rolling files at a target size.

    Rows wait in memory (at most ``row_group_rows`` over all partitions) so that a row group spans
    several input blocks: one row group per 16 MiB block would be about 3 MiB, small for readers.
    """

    def __init__(self, fs: pafs.FileSystem, root: str, schema: DatasetSchema, batch_id: str, file_index: int | str,
                 target_bytes: int, row_group_rows: int = ROW_GROUP_ROWS, attempt: str = "") -> None:
        self.fs, self.root, self.schema, self.batch_id, self.attempt = fs, root, schema, batch_id, attempt
        self.file_index, self.target_bytes, self.row_group_rows = file_index, target_bytes, row_group_rows
        self.pending: dict[str, list[pa.Table]] = {}  # dt → rows not yet written
        self.pending_rows = 0
        self.output_schema = schema.output_arrow_schema()
        self.open: dict[str, pq.ParquetWriter] = {}  # dt → its current file
        self.sizes: dict[str, int] = {}  # dt → bytes written to its current file (in memory terms)
        self.parts: dict[str, int] = {}  # dt → number of its current file
        self.paths: list[str] = []

    def _writer(self, dt: str, incoming: int) -> pq.ParquetWriter:
        writer = self.open.get(dt)
        if writer is not None and self.sizes[dt] > 0 and self.sizes[dt] + incoming > self.target_bytes:
            writer.close()
            writer = None
            self.parts[dt] += 1
        if writer is None:
            part = self.parts.setdefault(dt, 0)
            suffix = f"-{self.attempt}" if self.attempt else ""
            name = f"{self.file_index:05d}" if isinstance(self.file_index, int) else self.file_index
            path = f"{self.root}/dt={dt}/batch_id={self.batch_id}/part-{name}-{part:03d}{suffix}.parquet"
            self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            # Dictionary pages only where values repeat: trying them on ids and hashes costs about 30 % of the write.
            writer = pq.ParquetWriter(path, self.output_schema, filesystem=self.fs, compression="snappy",
                                      use_dictionary=self.schema.dictionary_columns)
            self.open[dt], self.sizes[dt] = writer, 0
            self.paths.append(path)
        self.sizes[dt] += incoming
        return writer

    def write(self, rows: pa.Table) -> list[str]:
        """Write rows (output schema); returns the dt values they went to."""
        if rows.num_rows == 0:
            return []
        dates = pc.cast(rows.column(self.schema.partition.source), pa.date32())  # the UTC date
        values = pc.unique(dates)
        names = []
        for value in values:
            dt = value.as_py().isoformat()
            part = rows.filter(pc.equal(dates, value)) if len(values) > 1 else rows
            self.pending.setdefault(dt, []).append(part)
            names.append(dt)
        self.pending_rows += rows.num_rows
        if self.pending_rows >= self.row_group_rows:
            self.flush()
        return names

    def flush(self) -> None:
        """Write every partition's waiting rows, one row group each."""
        for dt, parts in self.pending.items():
            table = pa.concat_tables(parts)
            self._writer(dt, table.nbytes).write_table(table, row_group_size=max(1, table.num_rows))
        self.pending.clear()
        self.pending_rows = 0

    def close(self) -> list[str]:
        self.flush()
        for writer in self.open.values():
            writer.close()
        self.open.clear()
        return self.paths


def _open(fs: pafs.FileSystem, path: str) -> IO[bytes]:
    """A streaming reader; ``.gz`` is decompressed on the fly (pyarrow detects it by extension)."""
    stream: IO[bytes] = fs.open_input_stream(path, compression="detect")
    return stream


def _with_lineage(table: pa.Table, source: str, batch_id: str, ingested_at: datetime) -> pa.Table:
    n = table.num_rows
    stamp = pa.scalar(ingested_at, pa.timestamp("us", tz="UTC"))
    table = table.append_column(pa.field("_source_file", pa.string()), pa.repeat(pa.scalar(source, pa.string()), n))
    table = table.append_column(pa.field("_batch_id", pa.string()), pa.repeat(pa.scalar(batch_id, pa.string()), n))
    return table.append_column(pa.field("_ingested_at", pa.timestamp("us", tz="UTC")), pa.repeat(stamp, n))


def _reject_table(rejects: list[Reject], source: str, batch_id: str, ingested_at: datetime) -> pa.Table:
    return pa.table({
        "source_file": [source] * len(rejects), "line_number": [r.line_number for r in rejects],
        "raw": [r.raw for r in rejects], "raw_text": [r.raw.decode("utf-8", errors="replace") for r in rejects],
        "reason": [r.reason for r in rejects], "_batch_id": [batch_id] * len(rejects),
        "_ingested_at": [ingested_at] * len(rejects),
    }, schema=REJECT_SCHEMA)


def convert_file(source: str, output: str, schema: DatasetSchema, batch_id: str, file_index: int,
                 ingested_at: datetime, reject_date: str, *, target_mb: float = 256,
                 block_bytes: int = 16 << 20, endpoint_url: str | None = None, rejects_output: str | None = None,
                 attempt: str = "", byte_range: ByteRange | None = None, first_line: int = 1) -> FileResult:
    """Convert one NDJSON(.gz) or Parquet file; never raises for bad data (it is counted and kept).

    Rows go to ``output``/parquet/ and rejects to ``output``/rejects/ (the layout of `paybatch convert`), or, with
    ``rejects_output``, rows straight under ``output`` and rejects under ``rejects_output`` (a run writing into
    its tables' data folders). ``attempt`` makes the file names of one run attempt its own, so a re-run never
    overwrites a file an earlier commit references. ``byte_range`` (with ``first_line``, the number of its
    first line in the whole file) converts one newline-aligned range of an uncompressed NDJSON file
    (``paybatch.convert.splits``); its output files carry the range's number.
    """
    result = FileResult(source=source)
    in_fs, in_path = filesystem_for(source, endpoint_url)
    out_fs, base = filesystem_for(output, endpoint_url)
    if rejects_output is None:
        rows_root, rejects_root = f"{base}/parquet", f"{base}/rejects"
    else:
        rows_root, rejects_root = base, filesystem_for(rejects_output, endpoint_url)[1]
    name = f"{file_index:05d}" if byte_range is None else f"{file_index:05d}-r{byte_range.index:04d}"
    writer = PartitionedWriter(out_fs, rows_root, schema, batch_id, name, int(target_mb * 1024 * 1024), attempt=attempt)
    rejects: list[Reject] = []
    partitions: set[str] = set()
    parser: NdjsonParser | None = None
    try:
        if in_path.endswith(".parquet"):
            blocks = _parquet_blocks(in_fs, in_path, schema)
        else:
            parser = NdjsonParser(schema)
            stream: IO[bytes] | RangeReader = _open(in_fs, in_path) if byte_range is None else open_range(in_fs, in_path, byte_range)
            blocks = (parser.parse_block(data, first, last, count)
                      for data, first, last, count in iter_line_blocks(stream, block_bytes, first_line))
        for block in blocks:
            result.lines_read += block.lines
            result.rows_written += block.table.num_rows
            rejects += block.rejects
            partitions.update(writer.write(_with_lineage(block.table, source, batch_id, ingested_at)))
    except (OSError, pa.ArrowException, EOFError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.outputs = writer.close()
        result.strict_lines = parser.strict_lines if parser is not None else 0
    if rejects:
        suffix = f"-{attempt}" if attempt else ""
        path = f"{rejects_root}/dt={reject_date}/batch_id={batch_id}/part-{name}{suffix}.parquet"
        out_fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        pq.write_table(_reject_table(rejects, source, batch_id, ingested_at), path, filesystem=out_fs)
        result.outputs.append(path)
    result.rows_rejected = len(rejects)
    result.partitions = sorted(partitions)
    return result


def _parquet_blocks(fs: pafs.FileSystem, path: str, schema: DatasetSchema) -> Iterator[ParsedBlock]:
    """Parquet input, through the same row checks as NDJSON (row number as line number, no raw text)."""
    parser = NdjsonParser(schema)
    row = 1
    with fs.open_input_file(path) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=64 * 1024):
            count = batch.num_rows
            columns = {f.name: batch.column(f.name).cast(f.type) if f.name in batch.schema.names else pa.nulls(count, f.type)
                       for f in parser.arrow_schema}
            unknown = {name: batch.column(name) for name in batch.schema.names if name not in columns}
            rejects: list[Reject] = []
            good = parser.finish(pa.table({**columns, **unknown}), [b""] * count, range(row, row + count), rejects, raw_json=False)
            row += count
            yield ParsedBlock(good, rejects, count)
