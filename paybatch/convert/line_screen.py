"""Which lines Arrow's JSON reader may see: it crashes the process on some, and reads others as the wrong rows.

Arrow's reader (pyarrow 25) takes a stream of JSON values, not lines. Measured here:
- a block whose first value is not an object (``null``, `` null``) kills the process with SIGSEGV;
- a value nested about 100,000 deep in an unknown field overflows its stack (SIGSEGV);
- ``null`` after an object is read as a row of nulls, and two objects on one line as two rows.

So a block goes to Arrow whole only when every line has the *self-contained shape*: its first
byte ``{`` and its last ``}`` (before an optional ``\\r``), with no line nested deeper than
``MAX_DEPTH``. With that shape no value can span two lines (a ``{`` after a finished value is a
syntax error, and strings cannot hold raw newlines), so each line gives at least one value and
"as many rows as lines" means one row per line. Any other line is screened on its own: not an object
or too deep → a reject without Arrow; an object with something after it → read alone.
"""

from __future__ import annotations

import re
from enum import Enum

import numpy as np

MAX_DEPTH = 256  # deeper than any payment record; far below where Arrow's or Python's parsers recurse out
_OPEN, _CLOSE, _CR, _NL = ord("{"), ord("}"), ord("\r"), ord("\n")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_WHITESPACE = b" \t\r"


class Shape(Enum):
    JOINABLE = "joinable"  # self-contained: may be read together with other such lines
    ALONE = "alone"  # an object with something after it: Arrow reads it by itself
    NOT_AN_OBJECT = "not-an-object"  # a reject, worded by the parser; Arrow never sees it


def block_is_self_contained(block: bytes | memoryview) -> bool:
    """Whether Arrow may read this block of newline-terminated lines whole (every line self-contained)."""
    octets = np.frombuffer(block, np.uint8)
    if len(octets) == 0 or octets[-1] != _NL:
        return False
    ends = np.flatnonzero(octets == _NL)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if not np.all(octets[starts] == _OPEN):  # an empty line's first byte is its newline
        return False
    last = octets[ends - 1]
    carriage = last == _CR
    if carriage.any():
        last = last.copy()
        last[carriage] = octets[ends[carriage] - 2]  # a line of just "{\r" reads its own "{": still not "}"
    if not np.all(last == _CLOSE):
        return False
    opens = np.count_nonzero(octets == _OPEN) + np.count_nonzero(octets == ord("["))
    if opens - len(ends) < MAX_DEPTH:  # no line can hold MAX_DEPTH more openers than its first
        return True
    return all(line_depth(line) <= MAX_DEPTH for line in bytes(block).split(b"\n"))


def line_depth(line: bytes) -> int:
    """The deepest nesting of arrays and objects in one line (outside strings), without recursion."""
    if line.count(b"{") + line.count(b"[") <= MAX_DEPTH:
        return min(MAX_DEPTH, line.count(b"{") + line.count(b"["))  # a bound is enough below the limit
    bare = np.frombuffer(_STRING.sub(b"", line), np.uint8)
    steps = (np.isin(bare, (_OPEN, ord("["))).astype(np.int32) - np.isin(bare, (_CLOSE, ord("]"))).astype(np.int32))
    return int(np.cumsum(steps).max(initial=0))


def screen_line(line: bytes) -> Shape | str:
    """How one non-empty line may be read: a ``Shape``, or why it is a reject that Arrow must not read."""
    text = line.strip(_WHITESPACE)
    if line_depth(text) > MAX_DEPTH:
        return f"malformed JSON: nested deeper than {MAX_DEPTH} levels"
    if not text.startswith(b"{"):
        return Shape.NOT_AN_OBJECT
    return Shape.JOINABLE if text.endswith(b"}") else Shape.ALONE
