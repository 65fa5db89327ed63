"""Blocks of whole lines from a stream: every line once, in order, numbered, whatever the block size."""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pytest

from paybatch.convert import lines as line_blocks
from paybatch.convert.lines import count_newlines, iter_line_blocks

LINES = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * (i % 37)) for i in range(500)]


def collect(data: bytes, block_bytes: int) -> list[tuple[bytes, int, bool, int]]:
    return [(bytes(view), first, unterminated, lines) for view, first, unterminated, lines
            in iter_line_blocks(io.BytesIO(data), block_bytes)]


@pytest.mark.parametrize("block_bytes", [8, 64, 1000, 1 << 20])  # 8: every line is longer than the buffer
@pytest.mark.parametrize("terminated", [True, False])
def test_blocks_cover_every_line_once_with_its_number(block_bytes: int, terminated: bool) -> None:
    data = b"\n".join(LINES) + (b"\n" if terminated else b"")
    blocks = collect(data, block_bytes)
    assert b"".join(block for block, *_ in blocks) == data
    expected_first = 1
    for block, first, unterminated, lines in blocks:
        assert first == expected_first
        assert lines == block.count(b"\n") + unterminated
        assert unterminated == (not block.endswith(b"\n"))
        expected_first += lines
    assert expected_first - 1 == len(LINES)
    assert blocks[-1][2] == (not terminated)
    assert all(not unterminated for _, _, unterminated, _ in blocks[:-1])


def test_empty_stream_has_no_blocks() -> None:
    assert collect(b"", 64) == []


def test_blank_lines_are_lines() -> None:
    assert collect(b"a\n\n\nb\n", 1 << 10) == [(b"a\n\n\nb\n", 1, False, 4)]


def test_a_compressed_stream_that_returns_short_reads() -> None:
    data = b"\n".join(LINES) + b"\n"
    stream = pa.CompressedInputStream(pa.BufferReader(gzip.compress(data)), "gzip")
    blocks = [(bytes(v), f, u, n) for v, f, u, n in iter_line_blocks(stream, 4096)]
    assert b"".join(b for b, *_ in blocks) == data
    assert sum(n for *_, n in blocks) == len(LINES)


@pytest.mark.parametrize("end", [0, 1, 4095, 4096, 4097, 10_000])
def test_newlines_are_counted_only_up_to_the_end_across_chunks(monkeypatch: pytest.MonkeyPatch, end: int) -> None:
    monkeypatch.setattr(line_blocks, "COUNT_CHUNK", 4096)  # several chunks, and a short last one
    data = bytearray(b"ab\ncd\n\n" * 2000)
    assert count_newlines(data, end) == bytes(data[:end]).count(b"\n")
