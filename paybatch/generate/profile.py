"""A self-contained HTML profile of a table sample: per-column statistics with inline SVG charts (paybatch.charts).

Works offline (no CDN, no JavaScript): numeric columns get a histogram, text and boolean columns
their most common values, every column its null share and distinct count.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from paybatch.charts import bars, histogram

_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}h1{font-size:1.4rem}
.col{display:inline-block;vertical-align:top;width:430px;margin:0 1rem 1.5rem 0;padding:.8rem;border:1px solid #ddd;border-radius:6px}
.col h2{font-size:1rem;margin:0 0 .4rem}table{border-collapse:collapse;font-size:.8rem}td{padding:1px 8px 1px 0}
.kind{color:#777;font-weight:normal}svg.chart{max-width:100%;height:auto;display:block}"""


def column_section(name: str, column: pd.Series) -> str:
    n = len(column)
    present = column.dropna()
    stats = {"rows": f"{n:,}", "nulls": f"{(n - len(present)) / max(n, 1):.2%}", "distinct": f"{present.nunique():,}"}
    chart = ""
    kind = str(column.dtype)
    if pd.api.types.is_bool_dtype(column) or (column.dtype == object and present.map(type).eq(bool).all() and len(present)):
        shares = present.astype(bool).value_counts(normalize=True)
        chart = bars([str(k) for k in shares.index], list(shares.values), axis_label="share of rows", width=4.6)
    elif pd.api.types.is_numeric_dtype(column) and len(present):
        values = present.to_numpy(dtype=float)
        stats.update(min=f"{values.min():.6g}", median=f"{np.median(values):.6g}", mean=f"{values.mean():.6g}",
                     max=f"{values.max():.6g}")
        clipped = values.size > 100
        chart = histogram(np.clip(values, None, np.quantile(values, 0.99)) if clipped else values, width=4.6,
                          axis_label=f"{name}{' (top 1 % folded into the last bin)' if clipped else ''}")
    elif pd.api.types.is_datetime64_any_dtype(column) and len(present):
        stats.update(min=str(present.min()), max=str(present.max()))
        hours = present.dt.hour.value_counts(normalize=True).sort_index()
        chart = histogram(present.dt.hour.to_numpy(dtype=float), bins=24, axis_label="hour of day (UTC)", width=4.6) if len(hours) else ""
    elif len(present):
        shares = present.astype(str).value_counts(normalize=True).head(12)
        chart = bars(list(shares.index), list(shares.values), axis_label="share of rows (12 most common)", width=4.6)
    table = "".join(f"<tr><td>{k}</td><td>{html.escape(v)}</td></tr>" for k, v in stats.items())
    return f'<div class="col"><h2>{html.escape(name)} <span class="kind">{kind}</span></h2><table>{table}</table>{chart}</div>'


def write_profile(frame: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Write the profile of ``frame`` to ``path`` and return it."""
    sections = "".join(column_section(name, frame[name]) for name in frame.columns)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{sections}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
