"""NDJSON → Arrow with per-line accounting: every line is a row or a reject with a reason.

A block of lines is first offered to the compiled strict parser (``_strict_ndjson.c``), which
takes only lines whose every key is a schema field and every value exactly of its field's type,
and declines the block at the first line that is anything else. A declined block goes through
Arrow's JSON reader with the dataset's schema, which is the reference for every line: both give
the same values for the lines the strict parser takes (tests/unit/test_strict_ndjson.py). A block
that Arrow fails on is split in halves until the failing lines stand alone, so good lines around a
bad one still take a fast path; a lone failing line gets a reason a person can act on (not UTF-8,
malformed or truncated JSON, not an object, a field of the wrong type). Rows missing a required
field are rejects too. Fields the schema does not name are kept in ``_rescued``, as compact JSON taken
from the line as written; a lone line whose unknown field Arrow cannot give one type is read again
with unknown fields ignored, so it still converts.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from paybatch import constants
from paybatch.convert.line_screen import Shape, block_is_self_contained, screen_line
from paybatch.convert.native import STRICT_PARSER
from paybatch.datasets import DatasetSchema
from paybatch.errors import PaybatchError

_strict_ndjson = STRICT_PARSER  # None where it was not built

_NATIVE_KINDS = {"string": "s", "int64": "i", "double": "d", "bool": "b", "timestamp": "t", "date": "D"}


def strict_parser_available() -> bool:
    """Whether blocks are offered to the compiled strict parser (``PAYBATCH_JSON_PARSER=arrow`` turns it off)."""
    choice = os.environ.get(constants.JSON_PARSER, "auto")
    if choice not in {"auto", "arrow"}:
        raise PaybatchError(f"{constants.JSON_PARSER} must be auto or arrow, not {choice!r}")
    return choice == "auto" and _strict_ndjson is not None


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


class _LazyLines(Sequence[bytes]):
    """The lines of a block, split (and copied out of the buffer) only if a row is rejected."""

    def __init__(self, block: bytes | memoryview) -> None:
        self.block = block
        self._lines: list[bytes] | None = None

    def _split(self) -> list[bytes]:
        if self._lines is None:
            self._lines = bytes(self.block).split(b"\n")
        return self._lines

    def __getitem__(self, index: Any) -> Any:
        return self._split()[index]

    def __len__(self) -> int:
        return len(self._split())


_JSON_KINDS: dict[type, str] = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
                                 str: "a string", list: "an array"}
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
        self.strict = strict_parser_available()
        self.strict_lines = 0  # lines the compiled parser read (the rest went through Arrow's reader or line by line)
        first, last = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
        self.date_ranges = [(f.name, *((pa.scalar(first, t), pa.scalar(last, t)) if f.type == "timestamp" else
                                       (pa.scalar(first.date(), t), pa.scalar(last.date(), t))))
                            for f, t in zip(schema.fields, self.arrow_schema.types, strict=True) if f.type in {"timestamp", "date"}]
        self._strict_kinds = "".join(_NATIVE_KINDS[f.type] for f in schema.fields)

    def _read(self, data: bytes | memoryview, unknown: str = "infer") -> pa.Table:
        """Arrow's reader with the schema; unknown fields are inferred (to find them) or, with "ignore", skipped."""
        table = pj.read_json(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=pj.ReadOptions(block_size=max(1 << 20, len(data) + 1), use_threads=False),
            parse_options=pj.ParseOptions(explicit_schema=self.read_schema, unexpected_field_behavior=unknown),
        )
        try:  # an unknown field's name is not checked by Arrow's reader: it fails only when read
            table.column_names  # noqa: B018
        except UnicodeDecodeError as exc:
            raise pa.ArrowInvalid(f"a field name is not UTF-8: {exc.reason}") from None
        # Arrow's reader lets some invalid UTF-8 through (overlong forms, encoded surrogates): refuse it here.
        for column in table.columns:
            if pa.types.is_string(column.type):
                column.validate(full=True)
        return self._parse_dates(table)

    def _read_strict(self, data: bytes | memoryview, lines: int) -> pa.Table | None:
        """The block through the compiled strict parser, or None where it declines (Arrow then reads it)."""
        assert _strict_ndjson is not None
        parsed = _strict_ndjson.parse(data, lines, self.schema.field_names, self._strict_kinds)
        if isinstance(parsed, tuple):  # (first line it does not take, why)
            return None
        arrays = []
        for spec, (validity, values, offsets, nulls) in zip(self.arrow_schema, parsed, strict=True):
            mask = pa.py_buffer(validity) if nulls else None
            buffers = [mask, pa.py_buffer(offsets), pa.py_buffer(values)] if offsets is not None else [mask, pa.py_buffer(values)]
            arrays.append(pa.Array.from_buffers(spec.type, lines, buffers, null_count=nulls))
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def _parse_dates(self, table: pa.Table) -> pa.Table:
        """YYYY-MM-DD strings to dates; Arrow's cast refuses impossible dates (strptime rolls 02-30 into March)."""
        for name in self.date_fields:
            index = table.schema.get_field_index(name)
            dates = pc.cast(table.column(name), pa.date32())
            table = table.set_column(index, pa.field(name, pa.date32()), dates)
        return table

    def parse_block(self, block: bytes | memoryview, first_line: int, unterminated_last: bool = False,
                    lines: int | None = None) -> ParsedBlock:
        """A block of whole lines, each ending in a newline but perhaps the last (``lines``: if already counted).

        The fast path reads the block in one go, straight from the caller's buffer.
        """
        lines = bytes(block).count(b"\n") + unterminated_last if lines is None else lines
        if not unterminated_last:
            table = self._read_strict(block, lines) if self.strict else None
            if table is not None:
                self.strict_lines += lines
            if table is None and block_is_self_contained(block):  # else Arrow could crash or misread: line by line
                try:
                    table = self._read(block)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    table = None
            if table is not None and table.num_rows == lines:  # no blank line was skipped
                rejects: list[Reject] = []
                numbers = range(first_line, first_line + lines)
                finished = self.finish(table, _LazyLines(block), numbers, rejects)
                return ParsedBlock(finished, rejects, lines)
        text = bytes(block)
        return self.parse((text[:-1] if text.endswith(b"\n") else text).split(b"\n"), first_line, unterminated_last)

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
        run_lines: list[bytes] = []
        run_numbers: list[int] = []
        for line, number in zip(kept_lines, kept_numbers, strict=True):
            shape = screen_line(line)
            if shape == Shape.JOINABLE:
                run_lines.append(line)
                run_numbers.append(number)
                continue
            self._parse_segment(run_lines, run_numbers, tables, rejects, last_number)
            run_lines, run_numbers = [], []
            if shape == Shape.ALONE:
                self._parse_segment([line], [number], tables, rejects, last_number)
            else:
                reason = shape if isinstance(shape, str) else self._reason(line, number == last_number, None)
                rejects.append(Reject(number, line, reason))
        self._parse_segment(run_lines, run_numbers, tables, rejects, last_number)
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
                try:  # Arrow cannot guess one type for an unknown field (an array of mixed values): skip them
                    alone = self._read(lines[0] + b"\n", unknown="ignore")
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    alone = None
                if alone is not None and alone.num_rows == 1:
                    tables.append(self.finish(alone, lines, numbers, rejects, rescue_all=True))
                    return
                rejects.append(Reject(numbers[0], lines[0], self._reason(lines[0], numbers[0] == last_number, exc)))
                return
            middle = len(lines) // 2
            self._parse_segment(lines[:middle], numbers[:middle], tables, rejects, last_number)
            self._parse_segment(lines[middle:], numbers[middle:], tables, rejects, last_number)
            return
        tables.append(self.finish(table, lines, numbers, rejects))

    def finish(self, table: pa.Table, lines: Sequence[bytes], numbers: Sequence[int], rejects: list[Reject], *,
               raw_json: bool = True, rescue_all: bool = False) -> pa.Table:
        """Reject rows with a date outside years 1-9999 or missing a required field; keep unknown fields in ``_rescued``.

        ``table`` has the schema's fields and any unknown ones; ``lines[i]`` and ``numbers[i]`` are row i's raw
        text and line number, for its reject. ``_rescued`` is taken from the raw JSON line (``raw_json``), so
        its values are the ones written, not Arrow's guesses at their types; ``rescue_all`` looks in every
        line (a table read with unknown fields ignored). Parquet inputs (no raw text) use the column values.
        """
        found: list[Reject] = []
        kept = np.arange(table.num_rows)  # the index into lines/numbers of each row still in the table

        def drop(flags: pa.Array, reason: Callable[[int], str]) -> None:
            nonlocal table, kept
            bad = flags.to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(bad):
                found.append(Reject(numbers[kept[i]], lines[kept[i]], reason(int(i))))
            table, kept = table.filter(pc.invert(flags)), kept[~bad]

        for name, low, high in self.date_ranges:
            column = table.column(name)
            outside = pc.fill_null(pc.or_(pc.less(column, low), pc.greater(column, high)), False)
            if pc.any(outside).as_py():  # Arrow reads year 0000, which Spark, Athena and Python cannot
                message = f"field {name!r}: a date outside years 0001-9999"
                drop(outside, lambda _, message=message: message)  # type: ignore[misc]
        missing = None
        for name in self.schema.required:
            null = pc.is_null(table.column(name))
            missing = null if missing is None else pc.or_(missing, null)
        if missing is not None and pc.any(missing).as_py():
            columns = [table.column(n) for n in self.schema.required]
            drop(missing, lambda i: "missing required field(s): " + ", ".join(
                n for n, c in zip(self.schema.required, columns, strict=True) if not c[i].is_valid))
        extras = [n for n in table.column_names if n not in self.names]
        rescued: list[str | None] = [None] * table.num_rows
        if extras or rescue_all:
            flagged = np.ones(table.num_rows, np.bool_)
            if not rescue_all:
                present = [pc.is_valid(table.column(n)) for n in extras]
                flagged = functools.reduce(pc.or_, present).to_numpy(zero_copy_only=False)
            failed: dict[int, str] = {}
            if raw_json:
                for i in np.flatnonzero(flagged):
                    try:
                        rescued[i] = self._rescue_line(lines[kept[i]])
                    except (ValueError, RecursionError) as exc:  # text Arrow took and Python's json does not
                        failed[int(i)] = f"fields not in the schema cannot be kept: {str(exc)[:200]}"
            else:
                rescued = _rescue_values(table.select(extras), flagged)
            if failed:
                drop(pa.array([i in failed for i in range(table.num_rows)]), failed.__getitem__)
                rescued = [r for i, r in enumerate(rescued) if i not in failed]
            table = table.drop_columns(extras)
        rejects += sorted(found, key=lambda r: r.line_number)
        table = table.select(list(self.arrow_schema.names)).cast(self.arrow_schema)
        column = pa.array(rescued, pa.string()) if extras or rescue_all else pa.nulls(table.num_rows, pa.string())
        return table.append_column(pa.field("_rescued", pa.string()), column)

    def _rescue_line(self, line: bytes) -> str | None:
        """The members of a JSON line the schema does not name, as compact JSON; None if there are none."""
        unknown = {k: v for k, v in json.loads(line).items() if k not in self.names}
        return json.dumps(unknown, ensure_ascii=False, allow_nan=False, separators=(",", ":")) if unknown else None

    def _reason(self, line: bytes, unterminated: bool, exc: Exception | None) -> str:
        """Why one line cannot be a row, in words (its nesting is bounded by the line screen)."""
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
        except RecursionError:  # the screen bounds nesting; this is the belt to its braces
            return "malformed JSON: nested too deeply"
        if not isinstance(value, dict):
            return f"not a JSON object: {_JSON_KINDS.get(type(value), type(value).__name__)}"
        for spec in self.schema.fields:
            got = value.get(spec.name)
            if got is None:
                continue
            if (isinstance(got, bool) and spec.type != "bool") or not isinstance(got, _PY_TYPES[spec.type]):
                return f"field {spec.name!r}: expected {spec.type}, got {type(got).__name__} {json.dumps(got)[:40]}"
            if isinstance(got, str) and spec.type in {"timestamp", "date"} and not _parses(got, spec.type):
                return f"field {spec.name!r}: {got[:40]!r} is not a valid {spec.type}"
        return f"rejected by the JSON reader: {str(exc).splitlines()[0][:200]}" if exc else "rejected by the JSON reader"


def _rescue_values(extras: pa.Table, flagged: np.ndarray[Any, np.dtype[np.bool_]]) -> list[str | None]:
    """Unknown Parquet columns as compact JSON per row (dates and times as their ISO text, which Python may not hold)."""
    columns = [c.cast(pa.string()) if pa.types.is_temporal(c.type) else c for c in extras.columns]
    rows = pa.Table.from_arrays(columns, names=extras.column_names).to_pylist()
    return [json.dumps({k: v for k, v in row.items() if v is not None}, default=str, ensure_ascii=False, separators=(",", ":"))
            if keep and any(v is not None for v in row.values()) else None for row, keep in zip(rows, flagged, strict=True)]


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
