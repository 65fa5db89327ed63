"""Spark's Python worker daemon, with paybatch's task code imported once before it forks the workers.

Spark starts ``python -m <spark.python.daemon.module>`` and forks one worker per task slot from
it. Stock pyspark imports pyarrow, pandas, numpy and paybatch in every worker, on its first task
(about 1.5 CPU-s each); imported here, the workers inherit them from the fork. Only imports happen
before the fork: no thread pool or file handle is opened here.

Spark also puts its archived copies of pyspark and py4j (pyspark.zip, the py4j zip and the
spark-core jar, thousands of entries) first on the workers' path, and every task calls
``importlib.invalidate_caches()``, which makes Python 3.11 re-read each archive's directory (about
0.1 CPU-s a task). When the installed pyspark and py4j are importable without them, the archives
are taken off the path before anything is imported from them.

The imported objects are then frozen out of the garbage collector (``gc.freeze()``, as Python's
documentation advises before forking): otherwise every worker's collections walk them all again,
writing to the pages it shares with the daemon. In a profile of small tasks that was half of each
worker's time. Arrow's allocator is told to keep the memory a task frees (``MIMALLOC_PURGE_DELAY``)
so that the next block reuses it instead of faulting in fresh zeroed pages: a task's peak memory is
bounded anyway.
"""

from __future__ import annotations

import gc
import importlib
import importlib.machinery
import os
import sys


def _unzip_path() -> None:
    zipped = [p for p in sys.path
              if p.endswith(".jar") or (p.endswith(".zip") and os.path.basename(p).startswith(("pyspark", "py4j")))]
    rest = [p for p in sys.path if p not in zipped]
    if zipped and all(importlib.machinery.PathFinder.find_spec(name, rest) for name in ("pyspark", "py4j")):
        sys.path[:] = rest
        for path in zipped:
            sys.path_importer_cache.pop(path, None)


# pandas: pyarrow imports it on its first pa.array() of Python values.
PRELOAD = ("numpy", "pandas", "pyarrow.compute", "pyarrow.json", "pyarrow.parquet",
           "paybatch.convert.files", "paybatch.convert.manifest_run", "paybatch.generate.engine")


# Read by the mimalloc inside pyarrow when it first allocates (a user's own setting wins).
ALLOCATOR_ENV = {"MIMALLOC_PURGE_DELAY": "-1"}


def main() -> None:
    _unzip_path()
    for key, value in ALLOCATOR_ENV.items():
        os.environ.setdefault(key, value)
    gc.disable()  # nothing to collect while importing
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # a worker that lacks it fails in the task that needs it, with the task's own error
            continue
    from pyspark.daemon import manager

    gc.freeze()
    gc.enable()

    manager()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
