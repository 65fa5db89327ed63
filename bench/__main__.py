"""`make bench`: run every bench/bench_*.py module's main(), in name order."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> int:
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if not modules:
        print("no bench_*.py modules found in bench/")
        return 0
    for name in modules:
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
