"""Figures the code uses come from one file the benchmarks write (paybatch/ops/rates.json), never copied by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from paybatch.ops import cost
from paybatch.ops.rates import load, rate, record


def test_the_cost_model_reads_the_recorded_conversion_rate() -> None:
    recorded = load()["convert_mib_per_cpu_second"]
    assert cost.MEASURED_MIB_PER_CPU_SECOND == rate("convert_mib_per_cpu_second") == recorded["value"]
    assert recorded["by"] == "bench/bench_convert.py" and recorded["measured"]


def test_a_benchmark_records_its_measurement_with_the_date(tmp_path: Path) -> None:
    copy = tmp_path / "rates.json"
    shutil.copy(Path(cost.__file__).with_name("rates.json"), copy)
    record({"convert_mib_per_cpu_second": 123.456, "new_rate": 7.0}, by="bench/x.py", path=copy)
    data = json.loads(copy.read_text())
    assert data["convert_mib_per_cpu_second"]["value"] == 123.5 and data["convert_mib_per_cpu_second"]["by"] == "bench/x.py"
    assert "what" in data["convert_mib_per_cpu_second"] and data["new_rate"]["value"] == 7.0
