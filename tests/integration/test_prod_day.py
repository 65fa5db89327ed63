"""`paybatch scale-test --day prod`: a window of a production day through the real builder, on its own endpoint.

The run's report must account for every file once, count the requests per file by caller, price the day, and
read in a real browser; the user's own environment (the test's endpoint) must not see a single item of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paybatch.aws import AwsClients
from tests.browser.chromium import visit
from tests.browser.test_report_in_browser import check

pytestmark = pytest.mark.integration


def test_a_window_of_the_production_day_runs_on_its_own_endpoint(clients: AwsClients, tmp_path: Path) -> None:
    tracking = clients.settings.tables.tracking
    before = clients.dynamodb.scan(TableName=tracking, Select="COUNT")["Count"]
    report = tmp_path / "day.html"
    done = subprocess.run(
        [sys.executable, "-m", "paybatch", "scale-test", "--day", "prod", "--files", "300", "--builders", "2", "--json",
         "--output", str(report)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PAYBATCH_STATE_DIR": str(tmp_path / "state")})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["every_file_terminal_once"], result["problems"]
    assert sum(result["statuses"].values()) == 300
    assert set(result["statuses"]) <= {"completed", "quarantined"} and result["statuses"]["completed"] >= 290
    assert result["manifests"] >= 3  # 100 files a manifest, as prod packs them
    by_role = result["dynamodb_write_requests_per_file_by_role"]
    # registration and claim; the run: take and complete a transaction per 98 files, then each file made expirable
    assert by_role["builder"] > 0.9 and 1 < by_role["runs"] < 1.5
    assert result["dynamodb_write_requests_per_file"] == pytest.approx(sum(by_role.values()), abs=0.02)
    assert result["write_floor_met"] and result["dynamodb_write_requests_per_file"] <= 3  # the floor
    assert result["lock"]["taken"] >= result["manifests"] // 2 and result["runs"]["started"] == result["manifests"]
    assert result["cost"]["Glue"] > 0 and result["cost_per_prod_day"] > 0
    assert result["backlog"] and result["backlog"][-1]["completed"] == result["statuses"]["completed"]
    assert clients.dynamodb.scan(TableName=tracking, Select="COUNT")["Count"] == before  # not one item here
    page = visit(report)
    check(page, charts=5)


def test_the_output_must_be_a_file(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "paybatch", "scale-test", "--day", "prod", "--output", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is a folder" in done.stderr and "Traceback" not in done.stderr
