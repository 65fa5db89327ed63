"""Open a page in Debian's headless Chromium (driven by Playwright, which downloads no browser of its own here).

`.ci/run` installs the `chromium` package; where it is missing, the browser tests fail with that hint
rather than skip (a report nobody looked at is the bug they exist to catch).
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine notes advise: no background networking (this machine's network is closed), a fresh profile.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@dataclass
class PageVisit:
    screenshot: bytes
    console: list[str] = field(default_factory=list)  # console messages of type error/warning, and uncaught errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for beyond itself
    charts: int = 0  # chart SVGs on the page
    clipped: list[str] = field(default_factory=list)  # chart text drawn (partly) outside its chart's box


# Every <text> of every chart must lie inside its chart's box, or a reader sees "33.3" for "33.3 %".
_CLIPPED_TEXT = """() => {
  const out = [];
  const charts = [...document.querySelectorAll('svg.chart')];
  for (const svg of charts) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.width === 0) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.push(t.textContent);
    }
  }
  return [charts.length, out];
}"""


def visit(path: Path, *, width: int = 1400) -> PageVisit:
    """Load a local HTML file, wait until it settles, take a full-page screenshot, collect console errors."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed: apt-get install chromium (.ci/run does)"
    url = path.resolve().as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            problems: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
            page.on("request", lambda r: requests.append(r.url) if r.url != url else None)
            page.goto(url, wait_until="networkidle")
            charts, clipped = page.evaluate(_CLIPPED_TEXT)
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    return PageVisit(shot, problems, requests, charts, clipped)


def ink(png: bytes) -> tuple[float, int]:
    """How much of a screenshot is not background (share of pixels), and how many colours it has."""
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = np.asarray(image)[::4, ::4].reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    return 1 - counts.max() / len(pixels), len(colours)
