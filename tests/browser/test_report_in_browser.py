"""The HTML a person reads, opened in a real browser: the pipeline report and the generator's profile.

A screenshot must not be blank, the page must log no console errors and ask for nothing beyond
itself (it is read offline), and no chart text may fall outside its chart. With
UPDATE_SCREENSHOTS=1 the screenshots are written to docs/images/ (the README shows them).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from paybatch.config import load_settings
from paybatch.generate.profile import write_profile
from paybatch.ops.report import CHARTS, render
from tests.browser.chromium import PageVisit, ink, visit

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def pipeline_data() -> dict[str, object]:
    """A day of a pipeline: files over hours in every status, manifests of several sizes, quarantines and rejects."""
    start = datetime(2026, 11, 28, 6, tzinfo=UTC)
    rng = np.random.default_rng(7)
    files = []
    for i in range(600):
        status = ["completed"] * 8 + ["pending", "quarantined", "failed"]
        files.append({"upload_time": f"{start + timedelta(minutes=int(rng.integers(0, 14 * 60))):%Y-%m-%dT%H:%M:%S.%fZ}",
                      "status": status[i % len(status)],
                      "quarantine_reason": ["too-small", "too-large", "bad-extension"][i % 3]})
    manifests = [{"manifest_status": "completed", "file_count": int(n), "total_bytes": int(n * 10.5 * 2**20),
                  "duration_seconds": float(20 + n * 1.7 + rng.normal(0, 4)), "rows_written": int(n * 41_000),
                  "rows_rejected": int(n * 3)} for n in rng.integers(5, 50, size=40)]
    rejects = Counter({"not a JSON object": 61, "missing required field": 240, "bad timestamp": 37, "line too long": 2})
    return {"files": files, "manifests": manifests, "rejects": rejects}


def check(page: PageVisit, *, charts: int) -> None:
    assert page.console == [], page.console
    assert page.requests == [], f"the page must work offline, yet asked for {page.requests}"
    assert page.charts >= charts
    assert page.clipped == [], f"chart text outside its chart: {page.clipped[:10]}"
    share, colours = ink(page.screenshot)
    assert share > 0.04 and colours > 16, f"the screenshot looks blank: {share:.1%} ink, {colours} colours"


def save(name: str, page: PageVisit) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        (DOCS_IMAGES / name).write_bytes(page.screenshot)


def test_report_reads_in_a_browser(tmp_path: Path) -> None:
    settings = load_settings("prod")
    html = render(SimpleNamespace(settings=settings), pipeline_data())  # type: ignore[arg-type]
    for chart in CHARTS:
        assert f'id="{chart}"' in html
    # Values a reader can read: shares with their unit, money in dollars, never an exponent.
    assert "61.0 %" not in html and "%" in html and "e-0" not in html and "$" in html
    assert "share of 340 rejected lines" in html and "seconds per run" in html and "MiB per manifest" in html
    path = tmp_path / "report.html"
    path.write_text(html)
    page = visit(path)
    check(page, charts=8)
    save("report.png", page)


def test_generator_profile_reads_in_a_browser(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "amount": rng.lognormal(3, 1.2, 5_000),
        "approved": rng.random(5_000) < 0.93,
        "transaction_type": rng.choice(["purchase", "refund", "cash_withdrawal", "preauthorization"], 5_000, p=[.8, .1, .06, .04]),
        "transaction_timestamp": pd.to_datetime(1_704_067_200 + rng.integers(0, 86_400, 5_000), unit="s", utc=True),
        "merchant_country": rng.choice(["US", "GB", "DE", None], 5_000),  # type: ignore[list-item]
    })
    path = write_profile(frame, tmp_path / "profile.html", title="authorization profile — 5,000 rows")
    page = visit(path, width=1000)
    check(page, charts=5)
    save("profile.png", page)
