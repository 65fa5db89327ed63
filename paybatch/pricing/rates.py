"""Measured rates, kept in one file that the benchmarks write and the cost model reads (``rates.json``).

A figure the code uses (how many MiB paybatch converts per CPU-second, say) is never copied by hand: `make bench`
measures it and records it here with the date and the benchmark that measured it.
"""

from __future__ import annotations

import datetime
import json
from importlib import resources
from pathlib import Path
from typing import Any

RATES = "rates.json"


def load() -> dict[str, Any]:
    """Every recorded rate (read through importlib.resources: it works from Glue's paybatch.zip too)."""
    return dict(json.loads(resources.files("paybatch.pricing").joinpath(RATES).read_text()))


def rate(name: str) -> float:
    return float(load()[name]["value"])


def record(values: dict[str, float], *, by: str, path: Path | None = None, digits: int = 1) -> Path:
    """Write measured ``values`` (name → value) with today's date; keeps the descriptions already there."""
    target = path or Path(__file__).with_name(RATES)
    data = json.loads(target.read_text())
    today = datetime.date.today().isoformat()
    for name, value in values.items():
        entry = data.setdefault(name, {"what": name})
        entry.update(value=round(value, digits), measured=today, by=by)
    target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return target
