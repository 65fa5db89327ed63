"""Chart values a person can read: units, no exponents, no cut-off labels; the same data draws the same SVG."""

from __future__ import annotations

import pytest

from paybatch.charts import bars, dollars, histogram, number, percent, stacked_columns


@pytest.mark.parametrize(("value", "shown"), [(0.333333, "33.3 %"), (0.0042, "0.42 %"), (0.00001, "< 0.01 %"), (0, "0 %"), (1, "100.0 %")])
def test_percent(value: float, shown: str) -> None:
    assert percent(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(3.93e-06, "$0.0000039"), (0.12345, "$0.12"), (1234.5, "$1,234.50"), (0, "$0")])
def test_dollars_never_in_exponent_notation(value: float, shown: str) -> None:
    assert dollars(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(1_234_567, "1,234,567"), (2.5, "2.5"), (0.01234, "0.0123"), (40.0, "40"), (0, "0")])
def test_number(value: float, shown: str) -> None:
    assert number(value) == shown


def test_bars_print_values_and_axis_label_as_text() -> None:
    svg = bars(["too-small", "too-large"], [2 / 3, 1 / 3], axis_label="share of 3 quarantined files")
    assert svg.startswith('<svg class="chart" role="img"') and "<?xml" not in svg
    for text in ("too-small", "66.7 %", "33.3 %", "share of 3 quarantined files", "0 %"):
        assert f">{text}<" in svg, text
    assert svg == bars(["too-small", "too-large"], [2 / 3, 1 / 3], axis_label="share of 3 quarantined files")  # deterministic


def test_money_bars_and_histogram_and_columns() -> None:
    money = bars(["Glue", "S3"], [1.76, 3.6e-06], fmt=dollars, axis_label="projected cost per day")
    assert ">$1.76<" in money and ">$0.0000036<" in money and "e-0" not in money
    hist = histogram([1.0, 2.0, 2.0, 3.0], axis_label="seconds per run")
    assert ">seconds per run<" in hist and ">count<" in hist and "median 2" in hist
    columns = stacked_columns(["11-28 06:00", "11-28 07:00"], {"completed": [3, 4], "failed": [1, 0]}, axis_label="files")
    assert ">completed<" in columns and ">failed<" in columns and ">files<" in columns
    assert histogram([]) == bars([], []) == stacked_columns([], {}) == "<p>(no data)</p>"
