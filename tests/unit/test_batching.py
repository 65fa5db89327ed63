"""The packing policy, with property-based tests: caps, no file twice, oldest first, stragglers flushed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from paybatch.builder.batching import BatchPolicy, PendingFile, plan_manifests

NOW = datetime(2025, 12, 23, 12, 0, tzinfo=UTC)

files_strategy = st.lists(
    st.builds(
        PendingFile,
        key=st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=8),
        size=st.integers(min_value=0, max_value=5_000),
        uploaded=st.integers(min_value=0, max_value=3_600).map(lambda s: NOW - timedelta(seconds=s)),
    ),
    max_size=200,
    unique_by=lambda f: f.key,
)
policy_strategy = st.builds(
    BatchPolicy,
    max_files=st.integers(min_value=1, max_value=20),
    max_bytes=st.integers(min_value=1, max_value=20_000),
    max_wait_seconds=st.integers(min_value=0, max_value=4_000),
)


@settings(max_examples=300, deadline=None)
@given(files_strategy, policy_strategy)
def test_caps_respected_and_no_file_twice(files: list[PendingFile], policy: BatchPolicy) -> None:
    batches = plan_manifests(files, policy, NOW)
    emitted = [f.key for batch in batches for f in batch]
    assert len(emitted) == len(set(emitted))
    assert set(emitted) <= {f.key for f in files}
    for batch in batches:
        assert batch
        assert len(batch) <= policy.max_files
        if len(batch) > 1:
            assert sum(f.size for f in batch) <= policy.max_bytes
        else:
            assert batch[0].size <= policy.max_bytes or len(batch) == 1


@settings(max_examples=300, deadline=None)
@given(files_strategy, policy_strategy)
def test_oldest_first_and_only_the_newest_wait(files: list[PendingFile], policy: BatchPolicy) -> None:
    batches = plan_manifests(files, policy, NOW)
    emitted = {f.key for batch in batches for f in batch}
    left = [f for f in files if f.key not in emitted]
    shareable = [f for batch in batches for f in batch if f.size <= policy.max_bytes]
    # Whatever waits is never older than anything emitted in a shared manifest.
    if left and shareable:
        assert min((f.uploaded, f.key) for f in left) >= max((f.uploaded, f.key) for f in shareable)
    # What waits fits in one manifest that is neither full nor overdue.
    if left:
        assert len(left) < policy.max_files
        assert sum(f.size for f in left) <= policy.max_bytes
        assert (NOW - min(f.uploaded for f in left)).total_seconds() < policy.max_wait_seconds


@settings(max_examples=200, deadline=None)
@given(files_strategy, policy_strategy)
def test_flush_emits_everything(files: list[PendingFile], policy: BatchPolicy) -> None:
    batches = plan_manifests(files, policy, NOW, flush=True)
    assert sorted(f.key for b in batches for f in b) == sorted(f.key for f in files)


def test_straggler_flushed_after_max_wait() -> None:
    policy = BatchPolicy(max_files=10, max_bytes=1_000, max_wait_seconds=300)
    young = [PendingFile("a", 10, NOW - timedelta(seconds=299))]
    old = [PendingFile("a", 10, NOW - timedelta(seconds=300))]
    assert plan_manifests(young, policy, NOW) == []
    assert plan_manifests(old, policy, NOW) == [old]


def test_full_manifest_emitted_at_once_and_oversized_file_alone() -> None:
    policy = BatchPolicy(max_files=2, max_bytes=100, max_wait_seconds=10_000)
    files = [PendingFile(k, 10, NOW - timedelta(seconds=i)) for i, k in enumerate("abc")]
    big = PendingFile("huge", 500, NOW)
    batches = plan_manifests([*files, big], policy, NOW)
    assert [[f.key for f in b] for b in batches] == [["c", "b"], ["huge"]]
