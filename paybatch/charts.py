"""Small inline-SVG charts for self-contained HTML reports (no JavaScript, no CDN, readable offline)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#9d755d")


def bars(labels: Sequence[str], values: Sequence[float], *, percent: bool = True, width: int = 420) -> str:
    """Horizontal bars, one per label; values shown as shares (percent) or plain numbers."""
    top = max(values, default=0) or 1
    rows = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        length = 230 * value / top
        shown = f"{value:.2%}" if percent else f"{value:,.4g}"
        rows.append(f'<text x="0" y="{i * 16 + 11}">{html.escape(str(label)[:26])}</text>'
                    f'<rect x="160" y="{i * 16 + 2}" width="{length:.1f}" height="12" fill="{PALETTE[0]}"/>'
                    f'<text x="{165 + length:.1f}" y="{i * 16 + 11}">{shown}</text>')
    return f'<svg class="chart" width="{width}" height="{len(labels) * 16 + 4}" role="img">{"".join(rows)}</svg>'


def histogram(values: Sequence[float] | npt.NDArray[np.float64], *, bins: int = 30, width: int = 420, height: int = 130,
              unit: str = "") -> str:
    """A histogram with the range printed under it."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return "<p>(no data)</p>"
    counts, edges = np.histogram(data, bins=min(bins, max(1, len(np.unique(data)))))
    top = counts.max() or 1
    bar = width / len(counts)
    rects = "".join(f'<rect x="{i * bar:.1f}" y="{height - 20 - (height - 20) * c / top:.1f}" width="{max(bar - 1, 1):.1f}" '
                    f'height="{(height - 20) * c / top:.1f}" fill="{PALETTE[1]}"><title>{c}</title></rect>'
                    for i, c in enumerate(counts))
    axis = (f'<text x="0" y="{height - 5}">{edges[0]:.4g}{unit}</text>'
            f'<text x="{width - 70}" y="{height - 5}">{edges[-1]:.4g}{unit}</text>')
    return f'<svg class="chart" width="{width}" height="{height}" role="img">{rects}{axis}</svg>'


def stacked_columns(columns: Sequence[str], series: dict[str, Sequence[float]], *, width: int = 640, height: int = 180) -> str:
    """Columns over time (e.g. hours), each stacked by series (e.g. file status), with a legend."""
    if not columns:
        return "<p>(no data)</p>"
    totals = [sum(s[i] for s in series.values()) for i in range(len(columns))]
    top = max(totals) or 1
    plot = height - 40
    bar = width / len(columns)
    parts = []
    for i in range(len(columns)):
        y = float(plot)
        for color, values in zip(PALETTE, series.values(), strict=False):
            h = plot * values[i] / top
            y -= h
            parts.append(f'<rect x="{i * bar:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" fill="{color}"/>')
    parts.append(f'<text x="0" y="{plot + 14}">{html.escape(columns[0])}</text>')
    parts.append(f'<text x="{width - 110}" y="{plot + 14}">{html.escape(columns[-1])}</text>')
    legend = "".join(f'<rect x="{j * 105}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{j * 105 + 14}" y="{height - 5}">{html.escape(name)}</text>'
                     for j, (color, name) in enumerate(zip(PALETTE, series, strict=False)))
    return f'<svg class="chart" width="{width}" height="{height}" role="img">{"".join(parts)}{legend}</svg>'
