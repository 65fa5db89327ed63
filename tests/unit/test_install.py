"""What `make setup` installs: every module a paybatch process imports is already compiled to bytecode.

Many machines (this one, and CI images) set PYTHONDONTWRITEBYTECODE, and uv installs without compiling; Python then
compiles every imported module from source again in every process: the CLI, Spark's worker daemon, each Lambda run
locally. That was about a CPU-second of every command and 3 of every local Spark session (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

from paybatch.paths import PROJECT_ROOT
from paybatch.spark_worker import PRELOAD

# What the CLI, a Spark session's driver and its worker daemon import before any work.
ENTRY_MODULES = ("paybatch.cli.app", "pyspark.sql", "boto3", *PRELOAD)


def _uncompiled(modules: list[tuple[str, str]]) -> list[str]:
    missing = []
    for name, file in modules:
        cached = Path(importlib.util.cache_from_source(file))
        header = cached.read_bytes()[:16] if cached.is_file() else b""
        # A timestamp-checked pyc records its source's mtime: a stale one is compiled again in memory.
        source_mtime = int(Path(file).stat().st_mtime) & 0xFFFFFFFF
        if len(header) < 16 or int.from_bytes(header[8:12], "little") != source_mtime:
            missing.append(name)
    return missing


def test_every_module_a_command_imports_is_compiled_at_install() -> None:
    listing = subprocess.run(
        [sys.executable, "-c",
         "import importlib, sys\n"
         f"for name in {ENTRY_MODULES!r}: importlib.import_module(name)\n"
         "for name, module in sorted(sys.modules.items()):\n"
         "    file = getattr(module, '__file__', None) or ''\n"
         "    if file.endswith('.py'): print(name, file)\n"],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=PROJECT_ROOT)
    modules = [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in listing.stdout.splitlines()]
    ours = [(name, file) for name, file in modules if Path(file).is_relative_to(PROJECT_ROOT / "paybatch")]
    installed = [(name, file) for name, file in modules if "site-packages" in Path(file).parts]
    assert len(ours) > 20 and len(installed) > 500, "the listing should cover paybatch and its libraries"
    missing = _uncompiled(ours + installed)
    assert not missing, (f"{len(missing)} of {len(modules)} modules compile from source in every process: {missing[:10]} "
                         "(`make setup` compiles them)")
