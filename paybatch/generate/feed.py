"""NDJSON encoding of generated tables, done column-wise by Arrow's string kernels.

Each column becomes JSON text (quoted strings, numbers, booleans, ISO timestamps, ``null``),
then every row's pieces are joined into one line; the joined array's data buffer is the file's
bytes. No Python object is made per row, which keeps the feed as cheap as the Parquet output.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _quoted(strings: pa.Array) -> pa.Array:
    """JSON string literals; rows with characters that need escaping go through json.dumps."""
    quoted = pc.binary_join_element_wise('"', strings, '"', "")
    if pc.any(pc.match_substring_regex(strings, _NEEDS_ESCAPE)).as_py():
        rows = [None if s is None else json.dumps(s) for s in strings.to_pylist()]
        quoted = pa.array(rows, pa.string())
    return quoted


def json_values(column: pa.Array) -> pa.Array:
    """The JSON text of every value of ``column`` (``null`` for nulls)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        values = _quoted(column.dictionary) if pa.types.is_string(kind.value_type) else json_values(column.dictionary)
        text = values.take(column.indices)
    elif pa.types.is_string(kind):
        text = _quoted(column)
    elif pa.types.is_timestamp(kind):
        seconds = column.cast(pa.timestamp("s", tz="UTC"), safe=False)
        text = pc.binary_join_element_wise('"', pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ"), '"', "")
    elif pa.types.is_date(kind):
        days = column.cast(pa.timestamp("s", tz="UTC"))
        text = pc.binary_join_element_wise('"', pc.strftime(days, format="%Y-%m-%d"), '"', "")
    elif pa.types.is_floating(kind):
        if pc.any(pc.is_nan(column)).as_py() or pc.any(pc.is_inf(column)).as_py():
            raise ValueError("NaN and infinity have no JSON form")
        text = pc.cast(column, pa.string())
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        text = pc.cast(column, pa.string())
    else:
        raise TypeError(f"no JSON encoding for Arrow type {kind}")
    return pc.fill_null(text, "null")


def ndjson_bytes(table: pa.Table) -> bytes:
    """The table as NDJSON: one compact object per line, fields in schema order."""
    if table.num_rows == 0:
        return b""
    pieces: list[pa.Array | str] = []
    for i, name in enumerate(table.column_names):
        pieces.append(("{" if i == 0 else ",") + json.dumps(name) + ":")
        pieces.append(json_values(table.column(i).combine_chunks()))
    pieces.append("}\n")
    lines = pc.binary_join_element_wise(*pieces, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    data = lines.buffers()[2]
    return bytes(data.to_pybytes()[offsets[0]:offsets[-1]])
