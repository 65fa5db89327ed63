"""The compiled strict parser takes a line only where Arrow's reader gives the same row, and declines the rest.

Arrow's JSON reader is the reference: for every block the strict parser accepts, its table must equal
Arrow's; the whole conversion (rows, rejects, reasons, Parquet bytes) must not change with it on or off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paybatch import constants
from paybatch.convert import native as native_loader
from paybatch.convert import ndjson
from paybatch.convert.files import convert_file
from paybatch.convert.ndjson import NdjsonParser, strict_parser_available
from paybatch.datasets import load_schema
from paybatch.errors import PaybatchError
from paybatch.ops.package import build_glue_library
from tests.records import START, full_row

SCHEMA = load_schema("authorization")
native = ndjson._strict_ndjson
needs_native = pytest.mark.skipif(native is None, reason="the strict parser is not compiled here")


def test_the_strict_parser_is_built_and_used_here() -> None:
    """`make setup` compiles it (setup.py); without it conversion is 3-4× dearer, so CI must notice.

    Not under ``needs_native``: this is the one test that must fail, not skip, where it is missing.
    """
    assert ndjson._strict_ndjson is not None, "the compiled strict parser is missing: `make setup` did not build it"
    assert NdjsonParser(SCHEMA).strict


def parser(strict: bool) -> NdjsonParser:
    p = NdjsonParser(SCHEMA)
    p.strict = strict
    return p


def arrow_table(p: NdjsonParser, block: bytes) -> pa.Table | None:
    try:
        return p._read(block)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def taken_as_arrow_reads_it(block: bytes, lines: int) -> bool:
    """Whether the strict parser took the block; where it did, its table must be the one Arrow's reader gives."""
    p = parser(strict=True)
    strict = p._read_strict(block, lines)
    if strict is None:
        return False
    reference = arrow_table(p, block)
    assert reference is not None, "the strict parser took a block Arrow's reader refuses"
    assert strict.equals(reference), (strict.to_pylist(), reference.to_pylist())
    return True


# ---- values of every kind, well and badly formed ------------------------------------------------------

BAD_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"]


@st.composite
def json_strings(draw: st.DrawFn) -> bytes:
    text = draw(st.text(max_size=40))
    encoded = json.dumps(text, ensure_ascii=draw(st.booleans())).encode()
    twist = draw(st.sampled_from([b""] * 6 + [b"\\/", b"\x01", b"\x7f", b'\\"', b"\\ud800", b"\\udfff", b"\\ud83d\\u0041",
                                                b"\\u00E9\\uD83D\\uDE00", b"\\x", b"\\", b'"', *BAD_UTF8]))
    at = draw(st.integers(1, len(encoded) - 1))  # anywhere in the text: the parser reads 8 bytes at a time
    return encoded[:at] + twist + encoded[at:]


def int_texts() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.integers(-(2**63), 2**63 - 1).map(lambda v: str(v).encode()),
        st.sampled_from([b"-0", b"0", b"1.0", b"1e3", b"9223372036854775808", b"-9223372036854775809", b"01", b"-", b"+1"]),
    )


def double_texts() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(lambda v: repr(v).encode()),
        st.integers(-(10**30), 10**30).map(lambda v: str(v).encode()),
        st.tuples(st.integers(-(10**12), 10**12), st.integers(0, 10**25)).map(lambda t: b"%d.%d" % t),
        st.tuples(st.integers(0, 10**20), st.sampled_from([b"e", b"E"]), st.integers(-400, 400)).map(lambda t: b"%d%s%d" % t),
        st.sampled_from([b"-0.0", b"-0", b"0.1e-400", b"1e400", b"-1e400", b"1.", b".5", b"1e", b"1e+", b"5e-324",
                         b"2.2250738585072011e-308", b"0.30000000000000004", b"9007199254740993", b"1.7976931348623157e308",
                         b"00.5", b"0e309", b"0.0e309", b"100e307", b"1e-2147483649", b"0.1e309"]),
    )


@st.composite
def timestamp_texts(draw: st.DrawFn) -> bytes:
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    digits = draw(st.sampled_from([0, 0, 0, 1, 3, 6, 7, 9]))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.year < 1000:
        text = f"{moment.year:04d}" + text[text.index("-"):]
    if digits:
        text += "." + f"{moment.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    text += draw(st.sampled_from(["Z"] * 5 + ["", "+01:00", "-0530", "z"]))
    odd = [text.replace("T", " "), "2025-02-30T00:00:00Z", "2024-02-29T23:59:60Z", "2025-12-23T24:00:00Z", "0000-01-01T00:00:00Z"]
    text = draw(st.sampled_from([text] * 8 + odd))
    return json.dumps(text).encode()


@st.composite
def date_texts(draw: st.DrawFn) -> bytes:
    day = draw(st.dates(min_value=date(1, 1, 1)))
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    text = draw(st.sampled_from([text] * 8 + [text + " ", "2025-02-30", "2024-02-29", "1999-13-01", "2025-1-01", "0000-01-01"]))
    return json.dumps(text).encode()


def value_for(kind: str) -> st.SearchStrategy[bytes]:
    own = {"string": json_strings(), "int64": int_texts(), "double": double_texts(), "timestamp": timestamp_texts(), "date": date_texts(),
           "bool": st.sampled_from([b"true", b"false", b"True", b"1", b'"true"'])}[kind]
    other = st.sampled_from([b"null", b'"x"', b"1", b"1.5", b"true", b"[]", b"{}", b'{"a":1}', b"nul"])
    return st.one_of(own, own, own, other)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    fields = draw(st.lists(st.sampled_from(SCHEMA.fields), unique_by=lambda f: f.name, max_size=len(SCHEMA.fields)))
    members = [b'"%s":%s' % (f.name.encode(), draw(value_for(f.type))) for f in fields]
    twist = draw(st.sampled_from(["none"] * 8 + ["unknown", "duplicate", "spaces", "trailing_comma", "two_objects", "blank",
                                                 "array", "escaped_key", "cr"]))
    if twist == "unknown":
        members.append(b'"not_in_schema":%s' % draw(st.sampled_from([b"1", b'"x"', b"null", b'{"a":[1,2]}'])))
    elif twist == "duplicate" and members:
        members.append(members[0])
    elif twist == "escaped_key" and fields:
        members[0] = b'"\\u0073' + members[0][2:]  # \u0073 is "s": a known key only once decoded
    line = b"{" + b",".join(members) + b"}"
    if twist == "spaces":
        line = b" { " + b" , ".join(m.replace(b":", b" :\t", 1) for m in members) + b" } "
    elif twist == "trailing_comma":
        line = line[:-1] + b",}"
    elif twist == "two_objects":
        line = line + b" {}"
    elif twist == "blank":
        line = b"  "
    elif twist == "array":
        line = b"[" + line + b"]"
    elif twist == "cr":
        line = line + b"\r"
    return line


@st.composite
def clean_lines(draw: st.DrawFn) -> bytes:
    """Lines of the plain form the strict parser must take (so it cannot pass by declining everything)."""
    def value(kind: str) -> st.SearchStrategy[str]:
        return {
            "string": st.text(max_size=10).map(lambda t: json.dumps(t, ensure_ascii=False)),
            "int64": st.integers(-(2**63), 2**63 - 1).map(str),
            "double": st.floats(allow_nan=False, allow_infinity=False).map(repr),
            "bool": st.sampled_from(["true", "false"]),
            "timestamp": st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31))
            .map(lambda d: json.dumps(d.strftime("%Y-%m-%dT%H:%M:%S") + (f".{d.microsecond:06d}" if d.microsecond else "") + "Z")),
            "date": st.dates(min_value=date(1000, 1, 1)).map(lambda d: json.dumps(d.isoformat())),
        }[kind]
    members = [f'"{f.name}":{draw(st.one_of(value(f.type), st.just("null")))}' for f in SCHEMA.fields if draw(st.booleans())]
    return ("{" + ",".join(draw(st.permutations(members))) + "}").encode()


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@needs_native
@SETTINGS
@given(st.lists(lines(), min_size=1, max_size=6))
def test_an_accepted_block_reads_exactly_as_arrow_reads_it(block_lines: list[bytes]) -> None:
    taken_as_arrow_reads_it(b"\n".join(block_lines) + b"\n", len(block_lines))


@st.composite
def single_values(draw: st.DrawFn) -> bytes:
    spec = draw(st.sampled_from(SCHEMA.fields))
    return b'{"%s":%s}' % (spec.name.encode(), draw(value_for(spec.type)))


@needs_native
@settings(max_examples=1500, deadline=None)
@given(single_values())
def test_each_value_alone_reads_as_arrow_reads_it(line: bytes) -> None:
    """One field a line, so that every edge case of every kind is taken or declined on its own."""
    taken_as_arrow_reads_it(line + b"\n", 1)


@pytest.mark.parametrize("line", [
    b'{"transaction_timestamp":"2025-12-23T24:00:00Z"}',
    b'{"transaction_timestamp":"2025-12-23T23:59:60Z"}', b'{"transaction_timestamp":"2025-02-29T00:00:00Z"}',
    b'{"transaction_timestamp":"2025-12-23T13:33:29.1234567Z"}', b'{"transaction_timestamp":"2025-12-23T13:33:29.Z"}',
    b'{"settlement_date":"2025-02-30"}', b'{"settlement_date":"2025-12-23 "}', b'{"sequence_number":9223372036854775808}',
    b'{"sequence_number":1.0}', b'{"amount":1e400}', b'{"amount":0e309}', b'{"amount":"1.5"}', b'{"mti":"\\ud800"}', b'{"mti":"\\udc00x"}',
    b'{"mti":"a\x01b"}', b'{"mti":"\xff"}', b'{"mti":"a","mti":"b"}', b'{"approved":True}', b'{"mti":"x",}',
])
@needs_native
def test_what_arrow_refuses_is_declined(line: bytes) -> None:
    p = parser(strict=True)
    assert arrow_table(p, line + b"\n") is None
    assert p._read_strict(line + b"\n", 1) is None


@needs_native
@pytest.mark.parametrize("at", range(17))
def test_every_byte_offset_of_a_long_string_is_checked(at: int) -> None:
    """The parser scans strings 8 bytes at a time: a special byte at any offset must still be seen."""
    p = parser(strict=True)
    for special, taken in [(b"\x01", False), (b"\x1f", False), (b"\xff", False), (b"\xc0\x80", False), (b"\xed\xa0\x80", False),
                           (b'\\"', True), (b"\\\\", True), (b"\\n", True), (b"\xc3\xa9", True), (b"\x7f", True), (b"~", True)]:
        text = b"abcdefghijklmnopqrstuvwx"
        block = b'{"merchant_name":"%s%s%s"}\n' % (text[:at], special, text[at:])
        strict, reference = p._read_strict(block, 1), arrow_table(p, block)
        if taken:
            assert strict is not None and reference is not None and strict.equals(reference), (special, at)
        else:
            assert strict is None, (special, at)


@pytest.mark.parametrize(("field", "text", "value"), [
    ("transaction_timestamp", '"2025-12-23T13:33:29.1Z"', datetime(2025, 12, 23, 13, 33, 29, 100000, tzinfo=UTC)),
    ("transaction_timestamp", '"2024-02-29T23:59:59.000042Z"', datetime(2024, 2, 29, 23, 59, 59, 42, tzinfo=UTC)),
    ("settlement_date", '"1000-01-01"', date(1000, 1, 1)),
    ("merchant_name", '"a\\/b\\\\c\\u00e9\\ud83d\\ude00"', "a/b\\cé\U0001f600"),
    ("amount", "-0.0", -0.0),
    ("amount", "0.1e-400", 0.0),
    ("amount", "123456789012345678901234567890", 1.2345678901234568e29),
    ("sequence_number", "-9223372036854775808", -(2**63)),
])
@needs_native
def test_values_taken_are_exact(field: str, text: str, value: object) -> None:
    table = parser(strict=True)._read_strict(b'{"%s":%s}\n' % (field.encode(), text.encode()), 1)
    assert table is not None
    assert table.column(field).to_pylist() == [value]


@needs_native
@SETTINGS
@given(st.lists(clean_lines(), min_size=1, max_size=6))
def test_plain_lines_are_taken_and_equal_arrow(block_lines: list[bytes]) -> None:
    block = b"\n".join(block_lines) + b"\n"
    assert taken_as_arrow_reads_it(block, len(block_lines)), native.parse(block, len(block_lines), SCHEMA.field_names,
                                                                          parser(True)._strict_kinds)


@needs_native
@SETTINGS
@given(st.lists(st.one_of(lines(), clean_lines()), min_size=1, max_size=8), st.booleans())
def test_whole_blocks_give_the_same_rows_and_rejects_either_way(block_lines: list[bytes], unterminated: bool) -> None:
    block = b"\n".join(block_lines) + (b"" if unterminated else b"\n")
    fast = parser(strict=True).parse_block(block, 7, unterminated, len(block_lines))
    reference = parser(strict=False).parse_block(block, 7, unterminated, len(block_lines))
    assert fast.lines == reference.lines == len(block_lines)
    assert fast.table.equals(reference.table)
    assert fast.rejects == reference.rejects
    assert fast.table.num_rows + len(fast.rejects) == len(block_lines)


@needs_native
@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 8))
def test_any_bytes_are_declined_or_parsed_never_a_crash(data: bytes, counted: int) -> None:
    result = native.parse(data, counted, SCHEMA.field_names, parser(True)._strict_kinds)
    assert isinstance(result, (list, tuple))
    if isinstance(result, list):
        assert (data.count(b"\n") == counted and data.endswith(b"\n")) or counted == 0 == len(data)


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"not_in_schema":1}', "unknown field"),
    (b'{"mti":"0100","mti":"0100"}', "duplicate field"),
    (b'{"sequence_number":1.0}', "not an integer"),
    (b'{"sequence_number":9223372036854775808}', "integer out of int64 range"),
    (b'{"amount":1e400}', "exponent over 308"),
    (b'{"amount":100e307}', "number out of double range"),
    (b'{"amount":"1.5"}', "not a number"),
    (b'{"approved":1}', "not a boolean"),
    (b'{"mti":100}', "not a string"),
    (b'{"mti":"\xc0\x80"}', "invalid UTF-8"),
    (b'{"mti":"\\ud800"}', "lone surrogate escape"),
    (b'{"mti":"a\tb"}', "control character in string"),
    (b'{"transaction_timestamp":"2025-12-23T13:33:29+01:00"}', "timestamp not in the plain form"),
    (b'{"settlement_date":"2025-02-30"}', "date not in the plain form"),
    (b'{"m\\u0074i":"0100"}', "key with an escape"),
    (b'{"mti":"0100",}', "expected a key"),
    (b'{"mti":"0100"} {}', "text after the object"),
    (b"   ", "blank line"),
    (b"[1]", "not an object"),
])
@needs_native
def test_declines_say_which_line_and_why(line: bytes, reason: str) -> None:
    block = b'{"mti":"0100"}\n' + line + b"\n"
    assert native.parse(block, 2, SCHEMA.field_names, parser(True)._strict_kinds) == (1, reason)


@needs_native
def test_a_miscounted_block_is_declined() -> None:
    kinds = parser(True)._strict_kinds
    assert native.parse(b"{}\n{}\n", 1, SCHEMA.field_names, kinds) == (1, "more lines than counted")
    assert native.parse(b"{}\n", 2, SCHEMA.field_names, kinds) == (1, "fewer lines than counted")
    assert native.parse(b"{}\n{}", 2, SCHEMA.field_names, kinds) == (1, "last line has no newline")


@needs_native
def test_bad_arguments_are_errors() -> None:
    with pytest.raises(ValueError, match="one kind per name"):
        native.parse(b"{}\n", 1, ("a", "b"), "s")
    with pytest.raises(ValueError, match="unknown kind x"):
        native.parse(b"{}\n", 1, ("a",), "x")


@needs_native
def test_the_parser_can_be_turned_off_and_a_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(constants.JSON_PARSER, "arrow")
    assert not strict_parser_available() and not NdjsonParser(SCHEMA).strict
    monkeypatch.setenv(constants.JSON_PARSER, "fast")
    with pytest.raises(PaybatchError, match="PAYBATCH_JSON_PARSER must be auto or arrow, not 'fast'"):
        NdjsonParser(SCHEMA)


@needs_native
def test_arrow_path_rejects_the_invalid_utf8_its_reader_lets_through() -> None:
    """Arrow's reader accepts overlong forms and encoded surrogates; the converter must not write them."""
    good = json.dumps(full_row(1)).encode()
    bad = [json.dumps(full_row(2, mti="@")).encode().replace(b"@", raw) for raw in (b"\xed\xa0\x80", b"\xc0\x80")]
    block = b"\n".join([good, bad[0], good, bad[1]]) + b"\n"
    for strict in (True, False):
        parsed = parser(strict).parse_block(block, 1, False, 4)
        assert parsed.table.num_rows == 2
        assert [(r.line_number, r.reason.split(":")[0]) for r in parsed.rejects] == [(2, "not UTF-8"), (4, "not UTF-8")]


@needs_native
def test_a_file_converts_to_the_same_parquet_bytes_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [json.dumps(full_row(i), ensure_ascii=i % 2 == 0) for i in range(3000)]
    source = tmp_path / "feed.ndjson"
    source.write_text("\n".join([*rows[:1500], '{"sequence_number": "bad"}', *rows[1500:]]) + "\n")
    outputs = {}
    for choice in ("auto", "arrow"):
        monkeypatch.setenv(constants.JSON_PARSER, choice)
        result = convert_file(str(source), str(tmp_path / choice), SCHEMA, "b1", 0, START, "2025-12-23", block_bytes=64 << 10)
        assert (result.lines_read, result.rows_written, result.rows_rejected) == (3001, 3000, 1)
        outputs[choice] = {Path(p).relative_to(tmp_path / choice): Path(p).read_bytes() for p in result.outputs}
    assert len(outputs["auto"]) >= 2
    assert outputs["auto"] == outputs["arrow"]


@needs_native
def test_from_the_glue_zip_the_parser_is_copied_out_and_loaded(tmp_path: Path) -> None:
    """Glue imports paybatch from paybatch.zip (--extra-py-files), where a compiled module cannot load in place."""
    library = build_glue_library(tmp_path / "paybatch.zip")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from paybatch.convert import ndjson; "
            "from paybatch.datasets import load_schema; "
            "print(ndjson.__file__); print(ndjson._strict_ndjson.__file__); "
            "print(ndjson.NdjsonParser(load_schema('authorization')).strict)")
    for _ in range(2):  # the second process finds the copy the first one made
        done = subprocess.run([sys.executable, "-c", code, str(library)], capture_output=True, text=True, check=False,
                              env={**os.environ, "TMPDIR": str(scratch)}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        module_file, parser_file, strict = done.stdout.split()
        assert module_file.startswith(str(library)) and parser_file.startswith(str(scratch)) and strict == "True"
    assert len(list(scratch.glob("paybatch-native-*/_strict_ndjson*.so"))) == 1


@needs_native
def test_the_copy_out_of_the_zip_cannot_be_planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = b"the module's bytes"
    folder = tmp_path / f"paybatch-native-{os.getuid()}-{hashlib.sha256(data).hexdigest()[:16]}"
    folder.mkdir(mode=0o700)
    (folder / "m.so").write_bytes(b"something else")  # a stale or planted file under the expected name
    assert native_loader.private_copy("m.so", data) == folder / "m.so"
    assert (folder / "m.so").read_bytes() == data
    folder.chmod(0o777)  # a folder others can write to is not used
    elsewhere = native_loader.private_copy("m.so", data)
    assert elsewhere.parent != folder and elsewhere.read_bytes() == data


@needs_native
def test_mutated_feed_lines_are_taken_only_as_arrow_reads_them() -> None:
    """Real-shaped lines with a few bytes flipped, inserted or deleted (seeded): the decisions that matter in a feed."""
    import random

    rng = random.Random(20261122)
    lines = [json.dumps(full_row(i, device_id=f"DEV-{i:016x}", risk_score=i / 1000, is_fraud=False), ensure_ascii=i % 2 == 0).encode()
             for i in range(50)]
    alphabet = b'{}[]":,\\/0123456789.eE+-tfnulrsaxzTZ \t\r\x00\x01\x7f\x80\xbf\xc0\xc3\xa9\xed\xa0\xf0\x9f\xf4\x90\xff'
    taken = 0
    for _ in range(3000):
        line = bytearray(rng.choice(lines))
        for _ in range(rng.randint(1, 3)):
            at, op = rng.randrange(len(line)), rng.random()
            if op < 0.4:
                line[at] = rng.choice(alphabet)
            elif op < 0.7:
                line[at:at] = bytes([rng.choice(alphabet)])
            else:
                del line[at]
        taken += taken_as_arrow_reads_it(bytes(line).replace(b"\n", b" ") + b"\n", 1)
    assert taken > 100  # the checks above ran on lines the parser took, not only on declines
