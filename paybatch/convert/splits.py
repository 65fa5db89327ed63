"""Byte ranges of one large uncompressed NDJSON file, converted by parallel tasks as if by one.

A file is cut at newline-aligned offsets (each range starts at a line's first byte, so no line is split):
the driver probes a few KiB at each nominal cut for the next newline. Line numbers stay those of the
whole file: each range's lines are counted first (in parallel: one task per range), and range k starts at
line 1 + the newlines of ranges 0..k-1. A range that ends inside the file ends just after a newline, so
only the last range can hold an unterminated last line, exactly as in the whole file. Gzip has no
random access: a compressed file is never split.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.fs as pafs

from paybatch.convert.lines import COUNT_CHUNK, count_newlines

PROBE_BYTES = 64 * 1024
READ_BYTES = 8 << 20


@dataclass(frozen=True)
class ByteRange:
    index: int
    start: int
    end: int  # exclusive


def can_split(path: str) -> bool:
    """Only uncompressed NDJSON has byte offsets that are line offsets."""
    return path.lower().endswith((".ndjson", ".jsonl", ".json"))


def aligned_ranges(fs: pafs.FileSystem, path: str, size: int, target_bytes: int) -> list[ByteRange]:
    """Ranges of about ``target_bytes``, each starting at a line's first byte (one range if the file is small)."""
    if target_bytes <= 0 or size <= target_bytes:
        return [ByteRange(0, 0, size)]
    cuts = [0]
    with fs.open_input_file(path) as handle:
        nominal = target_bytes
        while nominal < size:
            position = max(nominal, cuts[-1] + 1) - 1  # a cut at c needs byte c-1 to be a newline
            cut = None
            while position < size:
                handle.seek(position)
                probe = handle.read(PROBE_BYTES)
                found = probe.find(b"\n")
                if found >= 0:
                    cut = position + found + 1
                    break
                position += len(probe)
            if cut is None or cut >= size:
                break  # the rest of the file is one (long) last line
            cuts.append(cut)
            nominal = cut + target_bytes
    cuts.append(size)
    return [ByteRange(i, start, end) for i, (start, end) in enumerate(itertools.pairwise(cuts))]


class RangeReader:
    """A readable stream over ``[start, end)`` of a random-access file (what ``iter_line_blocks`` reads)."""

    def __init__(self, handle: Any, start: int, end: int) -> None:
        self.handle, self.remaining = handle, end - start
        handle.seek(start)

    def readinto(self, view: memoryview) -> int:
        want = min(len(view), self.remaining)
        if want <= 0:
            return 0
        data = self.handle.read(want)
        view[:len(data)] = data
        self.remaining -= len(data)
        return len(data)

    def close(self) -> None:
        self.handle.close()


def open_range(fs: pafs.FileSystem, path: str, byte_range: ByteRange) -> RangeReader:
    return RangeReader(fs.open_input_file(path), byte_range.start, byte_range.end)


def count_range_newlines(fs: pafs.FileSystem, path: str, byte_range: ByteRange) -> int:
    """Newlines in one range (its lines, for every range but an unterminated last one)."""
    reader = open_range(fs, path, byte_range)
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    scratch = np.empty(COUNT_CHUNK, np.bool_)
    total = 0
    try:
        while got := reader.readinto(view):
            total += count_newlines(buffer, got, scratch)
    finally:
        reader.close()
    return total


def first_lines(newlines: list[int]) -> list[int]:
    """The number of each range's first line, from the newlines of the ranges before it."""
    starts, line = [], 1
    for count in newlines:
        starts.append(line)
        line += count
    return starts
