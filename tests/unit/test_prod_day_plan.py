"""The simulated production day's plan and verdict, without an endpoint."""

from __future__ import annotations

from paybatch.config import load_settings
from paybatch.ops.prod_day import PROD_FILES_PER_DAY, DayRun, day_files
from paybatch.ops.prod_day_report import figures


def test_a_window_holds_the_files_nearest_the_peak_at_prods_rate() -> None:
    settings = load_settings("prod")
    files = day_files(settings, 3_380)
    arrivals = [f.arrival for f in files]
    assert arrivals == sorted(arrivals) and len({f.key for f in files}) == 3_380
    assert arrivals[0] < 14 * 3600 < arrivals[-1]
    # prod's afternoon rate (about 1.5 × the day's mean of 3.9 files a second, 5.9): the window is about 10 minutes
    assert 450 < arrivals[-1] - arrivals[0] < 750
    good = [f for f in files if not f.real]
    expected = settings.file_validation.expected_file_size_mb * 2**20
    assert all(abs(f.size - expected) <= expected * settings.file_validation.size_tolerance_percent / 100 for f in good)
    assert 0 < len(files) - len(good) < 40  # a few files sized wrong: real objects the quarantine moves


def test_the_whole_day_is_the_default_volume() -> None:
    files = day_files(load_settings("prod"), PROD_FILES_PER_DAY)
    assert files[0].arrival < 600 and files[-1].arrival > 86_400 - 600


def test_a_file_left_in_flight_fails_the_day() -> None:
    day = DayRun(3, 1, load_settings("prod"))
    day.items = [{"status": "completed"}, {"status": "completed"}, {"status": "manifested"}]
    day.manifests = [{"files": [{"key": "a", "etag": "1"}]}, {"files": [{"key": "a", "etag": "1"}]}]
    result = figures(day)
    assert not result["every_file_terminal_once"]
    assert result["problems"] == ["1 files are not terminal", "1 files are in two manifests"]
