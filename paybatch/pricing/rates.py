"""Measured rates, kept in one file that the benchmarks write and the cost model reads (``rates.json``).

A figure the code uses (how many MiB paybatch converts per CPU-second, say) is never copied by hand: `make bench`
measures it and records it here with the date and the benchmark that measured it.
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

RATES = "rates.json"


def load() -> dict[str, Any]:
    """Every recorded rate (read through importlib.resources: it works from Glue's paybatch.zip too)."""
    return dict(json.loads(resources.files("paybatch.pricing").joinpath(RATES).read_text()))


def rate(name: str) -> float:
    return float(load()[name]["value"])


def curve(name: str) -> list[tuple[float, float]]:
    """A rate measured at several points (``{"x": y, …}`` in rates.json), as (x, y) pairs in increasing x."""
    return sorted((float(x), float(y)) for x, y in load()[name]["value"].items())


def on_curve(points: list[tuple[float, float]], x: float) -> float:
    """y at ``x``: straight between measured points on a log scale of x, the end points' values beyond them."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
    return points[-1][1]


def record(values: dict[str, float | dict[str, float]], *, by: str, path: Path | None = None, digits: int = 1) -> Path:
    """Write measured ``values`` (name → value, or name → {point: value} for a curve) with today's date; keeps the
    descriptions already there."""
    target = path or Path(__file__).with_name(RATES)
    data = json.loads(target.read_text())
    today = datetime.date.today().isoformat()
    for name, value in values.items():
        entry = data.setdefault(name, {"what": name})
        rounded = {k: round(v, digits) for k, v in value.items()} if isinstance(value, dict) else round(value, digits)
        entry.update(value=rounded, measured=today, by=by)
    target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return target
