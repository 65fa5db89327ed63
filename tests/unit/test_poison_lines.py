"""A bad line becomes one reject with a reason, whatever its bytes: never a crash, never a misread row.

These are the lines that killed a conversion before the line screen (tests/../line_screen.py): a lone
``null`` (SIGSEGV inside Arrow's reader), an unknown field nested 100,000 deep (SIGSEGV in Arrow,
RecursionError in the reason's wording), ``null`` after an object (read as a row of nulls) and two
objects on one line beside an empty one (read as two rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paybatch.convert.line_screen import MAX_DEPTH, Shape, block_is_self_contained, line_depth, screen_line
from paybatch.convert.ndjson import NdjsonParser
from paybatch.datasets import load_schema
from tests.records import full_row

SCHEMA = load_schema("authorization")
GOOD = json.dumps(full_row(1)).encode()
DEEP = b'{"zz":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def parse(block: bytes, strict: bool) -> tuple[int, list[tuple[int, str]]]:
    p = NdjsonParser(SCHEMA)
    p.strict = strict and p.strict
    parsed = p.parse_block(block, 1)
    assert parsed.table.num_rows + len(parsed.rejects) == parsed.lines
    return parsed.table.num_rows, [(r.line_number, r.reason) for r in parsed.rejects]


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "arrow"])
@pytest.mark.parametrize(("block", "rows", "rejects"), [
    (b"null\n", 0, [(1, "not a JSON object: null")]),
    (b" null\n", 0, [(1, "not a JSON object: null")]),
    (GOOD + b"\nnull\n", 1, [(2, "not a JSON object: null")]),
    (b"[1]\n\"s\"\n12\ntrue\n", 0, [(1, "not a JSON object: an array"), (2, "not a JSON object: a string"),
                                    (3, "not a JSON object: a number"), (4, "not a JSON object: a boolean")]),
    (GOOD + b" " + GOOD + b"\n\n", 0, [(1, "malformed JSON: Extra data at column 468"), (2, "empty line")]),
    (DEEP + b"\n" + GOOD + b"\n", 1, [(1, f"malformed JSON: nested deeper than {MAX_DEPTH} levels")]),
    (b'{"zz":\n' + GOOD + b"} " + GOOD + b"\n", 0, [(1, "malformed JSON: Expecting value at column 7"),
                                                     (2, "malformed JSON: Extra data at column 468")]),
])
def test_poison_lines_are_single_rejects_with_reasons(block: bytes, rows: int, rejects: list[tuple[int, str]], strict: bool) -> None:
    got_rows, got_rejects = parse(block, strict)
    assert got_rows == rows
    assert [n for n, _ in got_rejects] == [n for n, _ in rejects]
    for (_, reason), (_, expected) in zip(got_rejects, rejects, strict=True):
        assert reason.split(" at column")[0] == expected.split(" at column")[0]


@pytest.mark.parametrize("line", [b"null", DEEP, b"{" * 300_000, b'"' + b"[" * 300 + b'"'])
def test_convert_cli_survives_a_file_of_one_poison_line(tmp_path: Path, line: bytes) -> None:
    """In a process of its own: a crash here is a SIGSEGV, which no try/except could catch."""
    source = tmp_path / "poison.ndjson"
    source.write_bytes(line + b"\n")
    for parser in ("auto", "arrow"):
        result = subprocess.run([sys.executable, "-m", "paybatch", "convert", str(source), "--output", str(tmp_path / parser),
                                 "--json"], capture_output=True, text=True, timeout=120, env={**os.environ, "PAYBATCH_JSON_PARSER": parser})
        assert result.returncode == 0, (parser, result.returncode, result.stderr[-2000:])
        [summary] = json.loads(result.stdout)
        assert (summary["lines_read"], summary["rows_written"], summary["rows_rejected"]) == (1, 0, 1), summary


def test_depth_is_counted_outside_strings_without_recursion() -> None:
    assert line_depth(b'{"a":[{"b":1}]}') <= MAX_DEPTH
    assert line_depth(b"[" * 10_000) == 10_000
    assert line_depth(b'{"s":"' + b"[" * 10_000 + b'"}') <= MAX_DEPTH  # brackets in a string do not nest
    assert line_depth(b'{"s":"\\"' + b"[" * 1_000 + b'"}') <= MAX_DEPTH  # nor after an escaped quote


@pytest.mark.parametrize(("line", "shape"), [
    (GOOD, Shape.JOINABLE), (b"  " + GOOD + b"\r", Shape.JOINABLE), (GOOD + b" null", Shape.ALONE),
    (b'{"a":', Shape.ALONE), (b"null", Shape.NOT_AN_OBJECT), (b"x", Shape.NOT_AN_OBJECT),
])
def test_each_line_is_screened(line: bytes, shape: Shape) -> None:
    assert screen_line(line) == shape


@pytest.mark.parametrize(("block", "whole"), [
    (GOOD + b"\n" + GOOD + b"\n", True), (GOOD + b"\r\n", True), (GOOD + b"\n\n", False), (b"{\r\n", False),
    (b"null\n", False), (GOOD + b" null\n", False), (GOOD, False), (b"", False),
    ((b'{"a":' + b"[" * 300 + b"]" * 300 + b"}\n"), False), ((GOOD + b"\n") * 400, True),
])
def test_a_block_goes_to_arrow_whole_only_when_every_line_is_self_contained(block: bytes, whole: bool) -> None:
    assert block_is_self_contained(block) is whole


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([GOOD, b"null", b"", b" ", b"[]", b"{}", b'{"a":', b"}", b"{" + b"[" * 300, GOOD + b" null",
                                 GOOD + b" " + GOOD, b'{"zz":{"q":[1,{"r":2}]}}', b"\\", b"\xff"]), min_size=1, max_size=12))
def test_any_mix_of_poison_lines_accounts_for_every_line_the_same_either_way(lines: list[bytes]) -> None:
    block = b"\n".join(lines) + b"\n"
    strict_result = parse(block, strict=True)
    assert strict_result == parse(block, strict=False)
    assert strict_result[0] == lines.count(GOOD)  # a row is only ever a whole good line (the others lack fields)
