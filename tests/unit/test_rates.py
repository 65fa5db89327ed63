"""Figures the code uses come from one file the benchmarks write (paybatch/pricing/rates.json), never copied by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from paybatch import pricing
from paybatch.config import load_settings
from paybatch.ops import cost
from paybatch.pricing import rates
from paybatch.pricing.rates import load, rate, record


def test_the_cost_model_reads_the_recorded_conversion_rate() -> None:
    recorded = load()["convert_mib_per_cpu_second"]
    assert cost.MEASURED_MIB_PER_CPU_SECOND == rate("convert_mib_per_cpu_second") == recorded["value"]
    assert recorded["by"] == "bench/bench_convert.py" and recorded["measured"]


def test_a_benchmark_records_its_measurement_with_the_date(tmp_path: Path) -> None:
    copy = tmp_path / "rates.json"
    shutil.copy(Path(rates.__file__).with_name("rates.json"), copy)
    record({"convert_mib_per_cpu_second": 123.456, "new_rate": 7.0}, by="bench/x.py", path=copy)
    data = json.loads(copy.read_text())
    assert data["convert_mib_per_cpu_second"]["value"] == 123.5 and data["convert_mib_per_cpu_second"]["by"] == "bench/x.py"
    assert "what" in data["convert_mib_per_cpu_second"] and data["new_rate"]["value"] == 7.0


def test_dpus_follow_the_worker_type_and_each_jobs_own_workers() -> None:
    """One DPU function: a G.2X worker is two DPUs (the monitor and the report once counted one), the light job its own."""
    settings = load_settings("prod")
    big = settings.model_copy(update={"glue": settings.glue.model_copy(update={"worker_type": "G.2X", "number_of_workers": 10})})
    assert pricing.job_dpus(big, "convert") == pricing.job_dpus(big, big.glue.jobs.convert) == 20.0
    assert pricing.job_dpus(big, "convert_light") == pricing.dpus("G.1X", 2) == 2.0  # its own two G.1X workers
    assert pricing.glue_run_cost(10, 20.0) == pricing.glue_run_cost(60, 20.0) == 60 / 3600 * 20 * pricing.GLUE_DPU_HOUR


def test_the_readme_quotes_the_conversion_rate_in_use() -> None:
    """The README's conversion figure is the one `paybatch cost` and `bulk plan` use (it once quoted 130 against 85.9)."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    quoted = {float(m) for m in re.findall(r"([0-9]+(?:\.[0-9]+)?) MiB per CPU-second", readme)}
    assert quoted == {rate("convert_mib_per_cpu_second")}, quoted
