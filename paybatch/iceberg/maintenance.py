"""Housekeeping of the converted Iceberg tables: expire old snapshots, remove orphan files, compact small files.

Run by `paybatch maintain --env ENV` and by the scheduler every ``catalog.maintain_every_minutes``:
- snapshots older than ``catalog.snapshot_retention_days`` are expired, never the newest ``keep_snapshots``;
- a data file no snapshot references any more — the files a re-run replaced, once their snapshots expired,
  and the files of runs that died before their commit — is deleted once older than ``orphan_min_age_hours``
  (younger ones may belong to a run still about to commit);
- a date partition holding ``compact_min_files`` or more files under ``compact_small_file_mb`` has them
  rewritten as one file (rows ordered by batch id), in one commit that replaces exactly those files
  (``paybatch.iceberg.commit.commit_tagged``: retried and checked like every commit; if a run replaced one of
  those files meanwhile, the compaction gives up and tries again next time; rows never change). A later
  re-run of one of those batches rewrites the compacted file without that batch's rows (copy-on-write).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from paybatch.config import Settings
from paybatch.iceberg.catalog import catalog_for, list_tables
from paybatch.iceberg.commit import GiveUp, commit_tagged
from paybatch.storage import filesystem_for


@dataclass
class TableUpkeep:
    table: str
    snapshots_expired: int = 0
    orphans_removed: int = 0
    orphan_bytes: int = 0
    files_compacted: int = 0
    files_written: int = 0
    errors: list[str] = field(default_factory=list)


def maintain(settings: Settings, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Housekeeping of every Iceberg table in the environment's database; a report per table."""
    now = now or dt.datetime.now(dt.UTC)
    catalog = catalog_for(settings)
    reports = []
    for name in list_tables(settings, catalog):
        report = TableUpkeep(name)
        table = catalog.load_table(f"{settings.catalog.database}.{name}")
        for step in (expire_snapshots, compact, remove_orphans):
            try:
                step(settings, table, now, report)
            except Exception as exc:  # noqa: BLE001 - one table's or step's trouble must not stop the others
                report.errors.append(f"{step.__name__}: {type(exc).__name__}: {exc}")
            table = catalog.load_table(f"{settings.catalog.database}.{name}")
        reports.append(asdict(report))
    return reports


def expire_snapshots(settings: Settings, table: Any, now: dt.datetime, report: TableUpkeep) -> None:
    cutoff = (now - dt.timedelta(days=settings.catalog.snapshot_retention_days)).timestamp() * 1000
    snapshots = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
    current = table.current_snapshot()
    old = [s.snapshot_id for s in snapshots[:-settings.catalog.keep_snapshots]
           if s.timestamp_ms < cutoff and (current is None or s.snapshot_id != current.snapshot_id)]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
        report.snapshots_expired = len(old)


def remove_orphans(settings: Settings, table: Any, now: dt.datetime, report: TableUpkeep) -> None:
    referenced = set(table.inspect.all_files().column("file_path").to_pylist()) if table.current_snapshot() else set()
    fs, base = filesystem_for(f"{table.location()}/data", settings.endpoint_url)
    cutoff = now - dt.timedelta(hours=settings.catalog.orphan_min_age_hours)
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
        if info.type != pafs.FileType.File or f"s3://{info.path}" in referenced or info.path in referenced:
            continue
        if info.mtime is not None and info.mtime.astimezone(dt.UTC) > cutoff:
            continue  # maybe a run about to commit
        fs.delete_file(info.path)
        report.orphans_removed += 1
        report.orphan_bytes += int(info.size or 0)


def compact(settings: Settings, table: Any, now: dt.datetime, report: TableUpkeep) -> None:
    """Rewrite each partition's small files as one file per batch, replacing exactly those files in one commit."""
    if table.current_snapshot() is None:
        return
    small = settings.catalog.compact_small_file_mb * 2**20
    files = table.inspect.files().select(["file_path", "file_size_in_bytes", "partition"]).to_pylist()
    groups: dict[str, list[str]] = defaultdict(list)
    for f in files:
        if f["file_size_in_bytes"] < small:
            groups[repr(sorted((f["partition"] or {}).items()))].append(f["file_path"])
    for paths in groups.values():
        if len(paths) < settings.catalog.compact_min_files:
            continue
        parts = []
        for path in paths:
            fs, key = filesystem_for(path, settings.endpoint_url)
            parts.append(pq.read_table(key, filesystem=fs))
        merged = pa.concat_tables(parts, promote_options="default").sort_by("_batch_id")
        folder = paths[0].rsplit("/", 2)[0]  # .../data/dt=…
        path = f"{folder}/compacted-{uuid.uuid4().hex[:12]}.parquet"
        fs, key = filesystem_for(path, settings.endpoint_url)
        pq.write_table(merged, key, filesystem=fs, compression="snappy")
        try:
            commit_tagged(table.refresh, _replace_files(paths, [path]), f"compaction of {len(paths)} files in {folder}")
        except GiveUp:  # a run replaced some of these files first: leave the partition for the next pass
            fs.delete_file(key)
            continue
        report.files_compacted += len(paths)
        report.files_written += 1


def _replace_files(old: list[str], new: list[str]) -> Callable[[Any, Any, dict[str, str]], None]:
    """The change of one snapshot: the ``old`` data files out, the ``new`` (same rows) in; gives up if any is gone."""

    def change(table: Any, tx: Any, properties: dict[str, str]) -> None:
        from pyiceberg.io.pyarrow import parquet_file_to_data_file

        wanted = set(old)
        snapshot = table.current_snapshot()
        live = [entry.data_file for manifest in (snapshot.manifests(table.io) if snapshot else [])
                for entry in manifest.fetch_manifest_entry(table.io) if entry.data_file.file_path in wanted]
        if len(live) != len(wanted):
            raise GiveUp(f"{len(wanted) - len(live)} of the files to compact were replaced meanwhile")
        with tx.update_snapshot(snapshot_properties=properties).overwrite() as rewrite:
            for data_file in live:
                rewrite.delete_data_file(data_file)
            for path in new:
                rewrite.append_data_file(parquet_file_to_data_file(table.io, tx.table_metadata, path))

    return change
