"""The local Spark session's start-up tuning: the class archive's location and build, the worker daemon's path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from paybatch import spark_worker
from paybatch.errors import PaybatchError
from paybatch.paths import cds_archive
from paybatch.spark import build_cds_archive, local_jvm_options


def test_archive_location_follows_the_environment(tmp_path: Path) -> None:
    assert cds_archive({"PAYBATCH_SPARK_CDS": "off"}) is None
    assert cds_archive({"PAYBATCH_SPARK_CDS": str(tmp_path / "x.jsa")}) == tmp_path / "x.jsa"
    default = cds_archive({"JAVA_HOME": "/opt/jdk-a"})
    assert default is not None and default.name.startswith("cds-spark3.5") and default.suffix == ".jsa"
    assert cds_archive({"JAVA_HOME": "/opt/jdk-b"}) != default  # another JDK, another archive


def test_jvm_options_use_the_archive_only_when_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "spark.jsa"
    monkeypatch.setenv("PAYBATCH_SPARK_CDS", str(archive))
    assert "SharedArchiveFile" not in local_jvm_options()
    archive.write_bytes(b"archive")
    options = local_jvm_options()
    assert f"-XX:SharedArchiveFile={archive}" in options
    assert "-XX:TieredStopAtLevel=1" in options and "-Duser.timezone=UTC" in options
    monkeypatch.setenv("PAYBATCH_SPARK_CDS", "off")
    assert "SharedArchiveFile" not in local_jvm_options()


def test_a_failed_archive_build_says_why_and_leaves_nothing_behind(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYBATCH_SPARK_CDS", str(tmp_path / "spark.jsa"))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    with pytest.raises(PaybatchError, match="could not build the Spark CDS archive"):
        build_cds_archive(force=True)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_archive_is_not_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "spark.jsa"
    archive.write_bytes(b"archive")
    monkeypatch.setenv("PAYBATCH_SPARK_CDS", str(archive))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))  # a build would fail
    assert build_cds_archive() == archive


def test_worker_path_drops_sparks_archives_when_the_installed_packages_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    archives = ["/spark/python/lib/pyspark.zip", "/spark/python/lib/py4j-0.10.9.7-src.zip", "/spark/jars/spark-core.jar"]
    monkeypatch.setattr(sys, "path", [*archives, *sys.path])
    spark_worker._unzip_path()
    assert not set(archives) & set(sys.path)


def test_worker_path_keeps_the_archives_when_they_are_the_only_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    path = ["/spark/python/lib/pyspark.zip", "/spark/jars/spark-core.jar", "/nowhere"]
    monkeypatch.setattr(sys, "path", list(path))
    spark_worker._unzip_path()
    assert sys.path == path


@pytest.mark.parametrize("user_setting", [None, "250"])
def test_workers_fork_with_imports_frozen_out_of_the_gc_and_the_allocator_told_to_keep_memory(
        monkeypatch: pytest.MonkeyPatch, user_setting: str | None) -> None:
    import gc

    import pyspark.daemon

    seen: dict[str, object] = {}

    def manager() -> None:  # what the forked workers would inherit
        seen.update(frozen=gc.get_freeze_count(), gc_on=gc.isenabled(), purge=os.environ.get("MIMALLOC_PURGE_DELAY"),
                    preloaded="json" in sys.modules)

    monkeypatch.setattr(pyspark.daemon, "manager", manager)
    monkeypatch.setattr(spark_worker, "PRELOAD", ("json", "paybatch.no_such_module"))  # a missing one is skipped
    monkeypatch.setenv("MIMALLOC_PURGE_DELAY", user_setting or "")  # restored after the test either way
    if user_setting is None:
        monkeypatch.delenv("MIMALLOC_PURGE_DELAY")
    try:
        spark_worker.main()
    finally:
        gc.unfreeze()
        gc.enable()
    frozen = seen.pop("frozen")
    assert isinstance(frozen, int) and frozen > 0
    assert seen == {"gc_on": True, "purge": user_setting or "-1", "preloaded": True}


def test_a_local_spark_session_starts_without_sparks_log_noise() -> None:
    """What a user sees of `paybatch generate`/`convert`: no log-level banner, no NativeCodeLoader warning."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from paybatch.spark import get_spark; print(get_spark('quiet').range(3).count())"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr[-2000:]
    assert "Setting default log level" not in done.stderr and "NativeCodeLoader" not in done.stderr, done.stderr[-2000:]


def test_paybatch_spark_imports_from_a_zip_as_glue_ships_it(tmp_path: Path) -> None:
    """Glue imports paybatch from paybatch.zip (a relative path on the executors): importing it must not need files."""
    import subprocess
    import sys

    from paybatch.ops.package import build_glue_library

    build_glue_library(tmp_path / "paybatch.zip")
    probe = "import paybatch.spark as s; print('log4j2' in s.local_jvm_options())"
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, './paybatch.zip'); {probe}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]
