"""Child process of bench_screening: one nightly run (local Spark, alerts off) over a customer file; JSON on the last line."""

from __future__ import annotations

import json
import sys

from paybatch.config import load_settings
from paybatch.screening.bulk import run_screening


def main() -> None:
    customers, list_path, output = sys.argv[1:4]
    settings = load_settings("dev", environ={"PAYBATCH_TARGET": "local"})
    result = run_screening(settings, customers, list_source=list_path, output=output, alerts=False)
    print(json.dumps(result.to_dict(), default=str))


if __name__ == "__main__":
    main()
