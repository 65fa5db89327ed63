"""Counter-based streams, exact selections, card numbers and keyed hashing."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from paybatch.errors import ConfigError
from paybatch.generate.cards import build_pan_dimension, hash_pan, luhn_check_digit, luhn_valid, resolve_hash_key
from paybatch.generate.spec import load_spec
from paybatch.generate.streams import ExactSelection, Stream


def test_a_value_depends_only_on_key_and_counter() -> None:
    counters = np.arange(1000, 3000, dtype=np.uint64)
    whole = Stream(7, "authorization", "2024-01-01", "amount").uniform(counters)
    pieces = np.concatenate([Stream(7, "authorization", "2024-01-01", "amount").uniform(counters[i:i + 300])
                             for i in range(0, 2000, 300)])
    assert np.array_equal(whole, pieces)
    assert not np.array_equal(whole, Stream(8, "authorization", "2024-01-01", "amount").uniform(counters))
    assert not np.array_equal(whole, Stream(7, "authorization", "2024-01-02", "amount").uniform(counters))
    assert 0.0 <= whole.min() and whole.max() < 1.0


def test_streams_have_the_declared_distributions() -> None:
    counters = np.arange(200_000, dtype=np.uint64)
    normal = Stream(1, "n").normal(counters)
    assert abs(normal.mean()) < 0.01 and abs(normal.std() - 1) < 0.01
    picks = Stream(1, "c").choice(counters, [0.85, 0.05, 0.1])
    assert np.allclose(np.bincount(picks) / picks.size, [0.85, 0.05, 0.1], atol=0.004)


@pytest.mark.parametrize(("n", "k"), [(1, 0), (1, 1), (1000, 3), (500_000, 1500), (999_983, 999)])
def test_exact_selection_picks_exactly_k_whatever_the_chunking(n: int, k: int) -> None:
    selection = ExactSelection(0, n, k, "fraud", "2024-01-01")
    positions = np.arange(n, dtype=np.int64)
    assert int(selection.selected(positions).sum()) == k
    chunked = sum(int(selection.selected(positions[i:i + 7919]).sum()) for i in range(0, n, 7919))
    assert chunked == k


def test_exact_selection_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError, match="cannot select"):
        ExactSelection(0, 10, 11, "x")
    with pytest.raises(ValueError, match="too large"):
        ExactSelection(0, 2**31, 1, "x")


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("41111111x1111111")
    payload = np.array([[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]])
    assert luhn_check_digit(payload).tolist() == [1]


def test_pan_dimension_cards_are_valid_distinct_test_numbers_with_keyed_hashes() -> None:
    spec = load_spec()
    dim = build_pan_dimension(spec, 0, b"k1")
    assert len(dim.pans) == spec.volumes.pans == len(set(dim.pans))
    assert all(luhn_valid(p) for p in dim.pans)
    bins = {b for card in spec.cards.values() for b in card.bins}
    assert all(p[:6] in bins for p in dim.pans)
    lengths = {name: {len(p) for p, n in zip(dim.pans, dim.network, strict=True) if n == i} for i, name in enumerate(spec.cards)}
    assert lengths == {"VISA": {16}, "MASTERCARD": {16}, "AMEX": {15}, "DISCOVER": {16}}
    first = dim.pans[0]
    assert dim.hashes[0].as_py() == hash_pan(b"k1", first)
    # A bare SHA-256 of the PAN is what PCI DSS 3.5.1.1 rules out: the hash must not be one.
    assert dim.hashes[0].as_py() != hashlib.sha256(first.encode()).hexdigest()
    assert build_pan_dimension(spec, 0, b"k2").hashes[0].as_py() != dim.hashes[0].as_py()  # the key matters
    assert build_pan_dimension(spec, 0, b"k1").pans == dim.pans  # deterministic


def test_hash_key_sources() -> None:
    assert resolve_hash_key("local:abc") == b"abc"
    with pytest.raises(ConfigError, match="needs AWS access"):
        resolve_hash_key("ssm:/x")
    with pytest.raises(ConfigError, match="must start with one of"):
        resolve_hash_key("vault:/x", clients=object())
