"""Coverage-guided fuzzing (atheris) of the NDJSON parsers: any bytes are rows or rejects, never a crash.

For each input block: the compiled strict parser either declines or gives exactly Arrow's table (Arrow is
asked only where the line screen lets it read the block whole); the whole block parser accounts for every
line (rows + rejects = lines) and gives the same rows and rejects with the strict parser on and off. A
SIGSEGV, an uncaught exception or a difference is a crash: libFuzzer writes the input to
``tests/fuzz/crashes/``, where ``tests/unit/test_fuzz_regressions.py`` replays it for good.

    python tests/fuzz/fuzz_ndjson.py SCRATCH_CORPUS tests/fuzz/corpus -max_total_time=60 \
        -artifact_prefix=tests/fuzz/crashes/          # what `make fuzz` runs

The C module is not built with libFuzzer's coverage hooks: the guidance comes from the Python around it,
and the C gets the mutated inputs (ASan for it: `make sanitize`).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["paybatch.convert"]):
    from paybatch.convert import ndjson
    from paybatch.convert.line_screen import block_is_self_contained
    from paybatch.convert.ndjson import NdjsonParser
    from paybatch.datasets import load_schema

SCHEMA = load_schema("authorization")
_STRICT = NdjsonParser(SCHEMA)
_ARROW = NdjsonParser(SCHEMA)
_ARROW.strict = False


def outcome(parser: NdjsonParser, data: bytes) -> tuple[list[dict[str, object]], list[tuple[int, str]], int]:
    unterminated = not data.endswith(b"\n")
    parsed = parser.parse_block(data, 1, unterminated_last=unterminated)
    return parsed.table.to_pylist(), [(r.line_number, r.reason) for r in parsed.rejects], parsed.lines


def check(data: bytes) -> None:
    """The fuzz target's property; raises AssertionError on a difference."""
    if not data:
        return
    native = ndjson._strict_ndjson
    if native is not None and data.endswith(b"\n"):
        lines = data.count(b"\n")
        taken = native.parse(data, lines, SCHEMA.field_names, _STRICT._strict_kinds)
        if not isinstance(taken, tuple):
            assert block_is_self_contained(data), "the strict parser took a block of lines that are not objects"
            strict_table = _STRICT._read_strict(data, lines)
            assert strict_table is not None
            assert strict_table.equals(_STRICT._read(data)), "the strict parser and Arrow's reader differ"
    rows, rejects, lines = outcome(_STRICT, data) if _STRICT.strict else outcome(_ARROW, data)
    assert len(rows) + len(rejects) == lines, f"{len(rows)} rows + {len(rejects)} rejects != {lines} lines"
    if _STRICT.strict:
        assert (rows, rejects, lines) == outcome(_ARROW, data), "rows or rejects change with the strict parser"


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
