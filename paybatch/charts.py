"""Charts for self-contained HTML reports: matplotlib drawn to inline SVG (no JavaScript, no CDN, readable offline).

Every chart has axes with units, and its values printed where a reader would look for them. Text
stays text in the SVG (selectable, crisp at any zoom); output is deterministic for the same data.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#9d755d")
_STYLE: Any = {
    "svg.fonttype": "none",  # text as <text>, in the page's font
    "svg.hashsalt": "paybatch",  # stable element ids: same data, same SVG
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
}
Formatter = Callable[[float], str]


def percent(value: float) -> str:
    """A share as a percentage: 33.3 %, 0.42 %, < 0.01 %."""
    if value == 0:
        return "0 %"
    if value < 0.0001:
        return "< 0.01 %"
    return f"{value * 100:.1f} %" if value >= 0.01 else f"{value * 100:.2f} %"


def number(value: float) -> str:
    """A count or measure with thousands separators and at most 3 significant decimals, never an exponent."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{max(0, 2 - math.floor(math.log10(abs(value))))}f}".rstrip("0").rstrip(".")


def dollars(value: float) -> str:
    """Money: $1,234.56; $0.12; small amounts with two significant digits ($0.0000039), never 3.9e-06."""
    if value == 0:
        return "$0"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:.{1 - math.floor(math.log10(abs(value)))}f}"


def _svg(figure: Any) -> str:
    """The figure as an inline <svg> element (no XML prolog, no fixed pixel size: it scales with its box)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r"<svg ", '<svg class="chart" role="img" ', text, count=1)


def _figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure and its axes (no pyplot: no global figure state, safe in any thread); called inside ``_draw``."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=72)
    return figure, figure.add_subplot()


def _draw(draw: Callable[[], Any]) -> str:
    """Build a figure with paybatch's style in force (rc settings apply as artists are made) and return its SVG."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        return _svg(draw())


def bars(labels: Sequence[str], values: Sequence[float], *, fmt: Formatter = percent, axis_label: str = "share",
         width: float = 5.6) -> str:
    """Horizontal bars, one per label, the value printed at each bar's end; the axis names the unit."""
    if not labels:
        return "<p>(no data)</p>"

    def draw() -> Any:
        from matplotlib.ticker import MaxNLocator

        figure, axes = _figure(width, 0.6 + 0.26 * len(labels))
        positions = np.arange(len(labels))
        axes.barh(positions, values, color=PALETTE[0], height=0.7)
        axes.set_yticks(positions, [str(label) for label in labels])
        axes.invert_yaxis()
        axes.set_xlabel(axis_label)
        top = max(max(values, default=0), 1e-12)
        axes.set_xlim(0, top * 1.3)  # room for the value labels
        ticks = [t for t in MaxNLocator(nbins=4).tick_values(0, top * 1.3) if 0 <= t <= top * 1.3]
        if fmt is percent:  # whole percents on the axis, and no share above 100 %
            axes.set_xticks([t for t in ticks if t <= 1.0], [f"{t * 100:.0f} %" for t in ticks if t <= 1.0])
        else:
            axes.set_xticks(ticks, [fmt(t) for t in ticks])
        for y, value in zip(positions, values, strict=True):
            axes.annotate(fmt(value), (value, y), xytext=(3, 0), textcoords="offset points", va="center")
        return figure

    return _draw(draw)


def histogram(values: Sequence[float] | npt.NDArray[np.float64], *, bins: int = 30, axis_label: str = "value",
              fmt: Formatter = number, width: float = 5.6, height: float = 2.2) -> str:
    """A histogram with a count axis and the value axis labelled with its unit."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return "<p>(no data)</p>"

    def draw() -> Any:
        figure, axes = _figure(width, height)
        axes.hist(data, bins=min(bins, max(1, len(np.unique(data)))), color=PALETTE[1], edgecolor="white", linewidth=0.5)
        axes.set_xlabel(axis_label)
        axes.set_ylabel("count")
        axes.xaxis.set_major_formatter(lambda x, _pos: fmt(x))
        axes.yaxis.set_major_formatter(lambda y, _pos: number(y))
        axes.set_title(f"n = {data.size:,}   min {fmt(float(data.min()))}   median {fmt(float(np.median(data)))}"
                       f"   max {fmt(float(data.max()))}", loc="left")
        return figure

    return _draw(draw)


def stacked_columns(columns: Sequence[str], series: dict[str, Sequence[float]], *, axis_label: str = "count",
                    width: float = 8.5, height: float = 2.8) -> str:
    """Columns over time (e.g. hours), each stacked by series (e.g. file status), with a legend and a count axis."""
    if not columns:
        return "<p>(no data)</p>"

    def draw() -> Any:
        figure, axes = _figure(width, height)
        positions = np.arange(len(columns))
        bottom = np.zeros(len(columns))
        for color, (name, values) in zip(PALETTE, series.items(), strict=False):
            axes.bar(positions, values, bottom=bottom, color=color, label=name, width=0.8)
            bottom += np.asarray(values, dtype=float)
        step = max(1, len(columns) // 12)  # at most a dozen tick labels
        axes.set_xticks(positions[::step], [columns[i] for i in positions[::step]], rotation=30, ha="right")
        axes.set_ylabel(axis_label)
        axes.yaxis.set_major_formatter(lambda y, _pos: number(y))
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        return figure

    return _draw(draw)
