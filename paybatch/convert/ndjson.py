"""NDJSON → Arrow with per-line accounting: every line is a row or a reject with a reason.

Blocks of lines go through Arrow's JSON reader with the dataset's schema (the fast path). A block
that fails is split in halves until the failing lines stand alone, so good lines around a bad
one still take the fast path; a lone failing line gets a reason a person can act on (not UTF-8,
malformed or truncated JSON, not an object, a field of the wrong type). Rows missing a required
field are rejects too. Fields the schema does not name are kept as JSON in ``_rescued``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from paybatch.datasets import DatasetSchema


@dataclass(frozen=True)
class Reject:
    line_number: int
    raw: bytes
    reason: str


@dataclass
class ParsedBlock:
    """The good rows of a block (schema fields + ``_rescued``) and its rejected lines."""

    table: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    lines: int = 0


def iter_line_blocks(stream: IO[bytes], block_bytes: int = 16 << 20) -> Iterator[tuple[bytes, int, bool, int]]:
    """Stream (block of whole lines without its last newline, first line number, last line unterminated, lines).

    Never holds more than one block (plus one partial line) of the file in memory.
    """
    carry = b""
    line_number = 1
    while True:
        chunk = stream.read(block_bytes)
        if not chunk:
            break
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        block, carry = data[:cut], data[cut + 1 :]
        lines = block.count(b"\n") + 1
        yield block, line_number, False, lines
        line_number += lines
    if carry:
        yield carry, line_number, True, carry.count(b"\n") + 1


class _LazyLines(Sequence[bytes]):
    """The lines of a block, split only if a row is rejected (the fast path never needs them)."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        self._lines: list[bytes] | None = None

    def _split(self) -> list[bytes]:
        if self._lines is None:
            self._lines = self.block.split(b"\n")
        return self._lines

    def __getitem__(self, index: Any) -> Any:
        return self._split()[index]

    def __len__(self) -> int:
        return len(self._split())


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "int64": (int,), "double": (int, float), "bool": (bool,), "timestamp": (str,), "date": (str,),
}


class NdjsonParser:
    """Parses blocks of NDJSON lines against one dataset schema."""

    def __init__(self, schema: DatasetSchema) -> None:
        self.schema = schema
        self.arrow_schema = schema.arrow_schema()
        self.names = set(schema.field_names)
        # Arrow's JSON reader cannot read dates from strings: read them as strings, cast after.
        self.date_fields = [f.name for f in schema.fields if f.type == "date"]
        self.read_schema = pa.schema([pa.field(f.name, pa.string()) if f.name in self.date_fields else f
                                      for f in self.arrow_schema])
        self.output_schema = self.arrow_schema.append(pa.field("_rescued", pa.string()))
        self.dates_only = pa.schema([pa.field(name, pa.string()) for name in self.date_fields])

    def _read(self, data: bytes) -> pa.Table:
        table = pj.read_json(
            io.BytesIO(data),
            read_options=pj.ReadOptions(block_size=max(1 << 20, len(data) + 1), use_threads=False),
            parse_options=pj.ParseOptions(explicit_schema=self.read_schema, unexpected_field_behavior="infer"),
        )
        return self._parse_dates(table)

    def _read_inferred(self, data: bytes) -> pa.Table | None:
        """The cheaper read: Arrow infers the types (about 30 % less CPU than converting to an explicit schema).

        Accepted only when every inferred type is the declared one or converts to it exactly (null → any,
        int64 → double, timestamp → timestamp in UTC); anything else returns None and the block is read
        with the explicit schema, so a value is never reformatted and the rejects stay the same.
        """
        try:
            table = pj.read_json(
                io.BytesIO(data),
                read_options=pj.ReadOptions(block_size=max(1 << 20, len(data) + 1), use_threads=False),
                parse_options=pj.ParseOptions(explicit_schema=self.dates_only, unexpected_field_behavior="infer"),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        columns, fields = [], []
        for target in self.read_schema:
            if target.name not in table.column_names:
                columns.append(pa.nulls(table.num_rows, target.type))
            else:
                column = table.column(target.name)
                if not _exact(column.type, target.type):
                    return None
                try:
                    columns.append(column.cast(target.type) if column.type != target.type else column)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    return None  # e.g. an integer beyond 2**53 for a double field: let the explicit read decide
            fields.append(target)
        for name in table.column_names:
            if name not in self.names:  # unknown fields, folded into _rescued later
                columns.append(table.column(name))
                fields.append(table.schema.field(name))
        return self._parse_dates(pa.Table.from_arrays(columns, schema=pa.schema(fields)))

    def _parse_dates(self, table: pa.Table) -> pa.Table:
        """YYYY-MM-DD strings to dates; Arrow's cast refuses impossible dates (strptime rolls 02-30 into March)."""
        for name in self.date_fields:
            index = table.schema.get_field_index(name)
            dates = pc.cast(table.column(name), pa.date32())
            table = table.set_column(index, pa.field(name, pa.date32()), dates)
        return table

    def parse_block(self, block: bytes, first_line: int, unterminated_last: bool = False, lines: int | None = None) -> ParsedBlock:
        """A block of whole lines (no trailing newline): the fast path reads it in one go (``lines``: if already counted)."""
        lines = block.count(b"\n") + 1 if lines is None else lines
        if not unterminated_last:
            data = block + b"\n"
            try:
                table = self._read_inferred(data)
                if table is None:
                    table = self._read(data)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                table = None
            if table is not None and table.num_rows == lines:  # no blank line was skipped
                rejects: list[Reject] = []
                numbers = range(first_line, first_line + lines)
                finished = self._finish(table, _LazyLines(block), numbers, rejects)
                return ParsedBlock(finished, rejects, lines)
        return self.parse(block.split(b"\n"), first_line, unterminated_last)

    def parse(self, lines: list[bytes], first_line: int, unterminated_last: bool = False) -> ParsedBlock:
        numbers = list(range(first_line, first_line + len(lines)))
        rejects: list[Reject] = []
        kept_lines, kept_numbers = [], []
        for line, number in zip(lines, numbers, strict=True):
            if line.strip():
                kept_lines.append(line)
                kept_numbers.append(number)
            else:
                rejects.append(Reject(number, line, "empty line"))
        last_number = numbers[-1] if (unterminated_last and numbers) else None
        tables: list[pa.Table] = []
        self._parse_segment(kept_lines, kept_numbers, tables, rejects, last_number)
        table = pa.concat_tables(tables) if tables else self.output_schema.empty_table()
        rejects.sort(key=lambda r: r.line_number)
        return ParsedBlock(table, rejects, len(lines))

    def _parse_segment(self, lines: list[bytes], numbers: list[int], tables: list[pa.Table], rejects: list[Reject],
                       last_number: int | None) -> None:
        if not lines:
            return
        try:
            table = self._read(b"\n".join(lines) + b"\n")
            if table.num_rows != len(lines):
                raise pa.ArrowInvalid(f"{table.num_rows} rows from {len(lines)} lines")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            if len(lines) == 1:
                rejects.append(Reject(numbers[0], lines[0], self._reason(lines[0], numbers[0] == last_number, exc)))
                return
            middle = len(lines) // 2
            self._parse_segment(lines[:middle], numbers[:middle], tables, rejects, last_number)
            self._parse_segment(lines[middle:], numbers[middle:], tables, rejects, last_number)
            return
        tables.append(self._finish(table, lines, numbers, rejects))

    def _finish(self, table: pa.Table, lines: Sequence[bytes], numbers: Sequence[int], rejects: list[Reject]) -> pa.Table:
        """Reject rows missing a required field; fold unknown fields into ``_rescued``."""
        missing = None
        for name in self.schema.required:
            null = pc.is_null(table.column(name))
            missing = null if missing is None else pc.or_(missing, null)
        if missing is not None and pc.any(missing).as_py():
            flags = missing.to_pylist()
            for i, bad in enumerate(flags):
                if bad:
                    absent = [n for n in self.schema.required if table.column(n)[i].as_py() is None]
                    rejects.append(Reject(numbers[i], lines[i], f"missing required field(s): {', '.join(absent)}"))
            table = table.filter(pc.invert(missing))
        extras = [n for n in table.column_names if n not in self.names]
        if extras:
            rows = table.select(extras).to_pylist()
            rescued = [
                json.dumps({k: v for k, v in row.items() if v is not None}, default=str, separators=(",", ":"))
                if any(v is not None for v in row.values()) else None
                for row in rows
            ]
            table = table.drop_columns(extras)
            rescued_column = pa.array(rescued, pa.string())
        else:
            rescued_column = pa.nulls(table.num_rows, pa.string())
        table = table.select(list(self.arrow_schema.names)).cast(self.arrow_schema)
        return table.append_column(pa.field("_rescued", pa.string()), rescued_column)

    def _reason(self, line: bytes, unterminated: bool, exc: Exception) -> str:
        """Why one line cannot be a row, in words."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            return f"not UTF-8: {err.reason} at byte {err.start}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            if unterminated:
                return f"truncated last line (no newline, {err.msg} at column {err.colno})"
            return f"malformed JSON: {err.msg} at column {err.colno}"
        if not isinstance(value, dict):
            return f"not a JSON object: {type(value).__name__}"
        for spec in self.schema.fields:
            got = value.get(spec.name)
            if got is None:
                continue
            if (isinstance(got, bool) and spec.type != "bool") or not isinstance(got, _PY_TYPES[spec.type]):
                return f"field {spec.name!r}: expected {spec.type}, got {type(got).__name__} {json.dumps(got)[:40]}"
            if isinstance(got, str) and spec.type in {"timestamp", "date"} and not _parses(got, spec.type):
                return f"field {spec.name!r}: {got[:40]!r} is not a valid {spec.type}"
        return f"rejected by the JSON reader: {str(exc).splitlines()[0][:200]}"


def _exact(inferred: pa.DataType, declared: pa.DataType) -> bool:
    """Whether a column Arrow inferred converts to the declared type without changing any value's meaning."""
    if inferred == declared or pa.types.is_null(inferred):
        return True
    if pa.types.is_floating(declared):
        return bool(pa.types.is_integer(inferred) or pa.types.is_floating(inferred))
    if pa.types.is_timestamp(declared):
        return bool(pa.types.is_timestamp(inferred))
    return False


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parses(value: str, kind: str) -> bool:
    try:
        if kind == "date":
            if not _ISO_DATE.fullmatch(value):
                return False
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts (tests and small tools)."""
    return list(table.to_pylist())
