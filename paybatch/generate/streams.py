"""Counter-based random numbers: every value is a pure function of (seed, labels, counter).

A stream is keyed by the seed and labels such as (table, partition date, column); the counter
is the row's sequence number. No generator state flows from one row to the next, so a row's
values do not depend on which task, partition or executor made it, and any slice of rows can
be regenerated alone. The mixer is SplitMix64's finaliser, vectorised over numpy uint64.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_TO_MINUS_53 = 1.0 / (1 << 53)


def stream_key(seed: int, *labels: str) -> int:
    """A 64-bit key for one stream, from the seed and labels (stable across Python versions and hosts)."""
    text = "\x1f".join([str(seed), *labels]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def mix(values: U64) -> U64:
    """SplitMix64's finaliser: a bijection on uint64 with good avalanche (wraps on overflow by design)."""
    with np.errstate(over="ignore"):
        z = values.copy()
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


class Stream:
    """Random values for a vector of counters; same key and counters, same values, always."""

    def __init__(self, seed: int, *labels: str) -> None:
        self.key = np.uint64(stream_key(seed, *labels))

    def bits(self, counters: U64) -> U64:
        with np.errstate(over="ignore"):
            return mix(counters * _GOLDEN + self.key)

    def uniform(self, counters: U64) -> F64:
        """Uniform floats in [0, 1) with 53 random bits."""
        values: F64 = (self.bits(counters) >> np.uint64(11)).astype(np.float64) * _TWO_TO_MINUS_53
        return values

    def integers(self, counters: U64, high: int | npt.NDArray[np.int64]) -> I64:
        """Integers in [0, high) (high may vary per row); the modulo bias is below 2**-40 for high < 2**24."""
        return (self.bits(counters) % np.asarray(high, dtype=np.uint64)).astype(np.int64)

    def normal(self, counters: U64) -> F64:
        """Standard normal values (Box-Muller over two sub-streams of this key)."""
        with np.errstate(over="ignore"):
            u1 = (mix(counters * _GOLDEN + self.key + np.uint64(1)) >> np.uint64(11)).astype(np.float64) * _TWO_TO_MINUS_53
            u2 = (mix(counters * _GOLDEN + self.key + np.uint64(2)) >> np.uint64(11)).astype(np.float64) * _TWO_TO_MINUS_53
        values: F64 = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * math.pi * u2)
        return values

    def choice(self, counters: U64, weights: list[float]) -> I64:
        """Indices into ``weights`` drawn with those probabilities."""
        cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
        cumulative /= cumulative[-1]
        return np.minimum(np.searchsorted(cumulative, self.uniform(counters), side="right"), len(weights) - 1).astype(np.int64)


class ExactSelection:
    """Exactly ``k`` of the positions 0..n-1, chosen by a keyed affine permutation of the slice.

    Position i is selected when perm⁻¹(i) < k, with perm(j) = (a·j + b) mod n; membership is
    one vectorised expression, so each task decides its own rows and the total is exact.
    """

    def __init__(self, seed: int, n: int, k: int, *labels: str) -> None:
        if not 0 <= k <= n:
            raise ValueError(f"cannot select {k} of {n}")
        if n >= 2**31:
            raise ValueError(f"a slice of {n} rows is too large for exact selection (limit 2**31)")
        self.n, self.k = n, k
        key = stream_key(seed, "exact", *labels)
        a = (key % max(n - 1, 1)) + 1 if n > 1 else 1
        while math.gcd(a, n) != 1:
            a += 1
        self.a_inverse = pow(a, -1, n) if n > 1 else 0
        self.b = (key >> 32) % n if n else 0

    def selected(self, positions: I64) -> npt.NDArray[np.bool_]:
        if self.n == 0:
            return np.zeros(len(positions), dtype=bool)
        inverse = ((positions - self.b) % self.n) * self.a_inverse % self.n
        result: npt.NDArray[np.bool_] = inverse < self.k
        return result
