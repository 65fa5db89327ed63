"""Sanctions screening end to end on the local endpoint and real local Spark: list, run, alerts, webhook, API, Glue job."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from paybatch.aws import AwsClients
from paybatch.errors import PaybatchError
from paybatch.iceberg.catalog import load
from paybatch.screening.alerts import ALERT_ID_HEADER, SIGNATURE_HEADER, AlertSender, verify
from paybatch.screening.api import serve_in_background
from paybatch.screening.bulk import read_customers, run_screening
from paybatch.screening.lists import load_stored, parse, store
from paybatch.screening.matcher import ListIndex
from paybatch.screening.synthetic import negatives, variant, write_ofac_list
from tests.conftest import drain

pytestmark = pytest.mark.integration
GLUE_JOB = Path(__file__).resolve().parents[2] / "glue_jobs" / "screen_customers.py"


@pytest.fixture(scope="module")
def list_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ofac")
    write_ofac_list(folder, 1500, seed=9)
    return folder


def customers_file(folder: Path, list_folder: Path, path: Path, positives: int = 40, others: int = 300) -> dict[str, str]:
    """A customer CSV: variants of listed names (their entry ids returned) and people on no list."""
    sanctions = parse(list_folder)
    rng = random.Random(3)
    truth = {}
    rows = []
    for i in range(positives):
        entry = rng.choice([e for e in sanctions.entries if e.type == "individual"])
        rows.append({"id": f"p{i}", "name": variant(entry.names[0], rng.choice(["exact", "typo", "name_order"]), rng),
                     "type": "individual", "dob": "", "country": ""})
        truth[f"p{i}"] = entry.id
    rows += [{"id": c.id, "name": c.name, "type": c.type, "dob": "", "country": ""} for c in negatives(others, seed=4)]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "name", "type", "dob", "country"])
        writer.writeheader()
        writer.writerows(rows)
    return truth


def test_list_update_stores_by_version_and_the_run_commits_matches_and_alerts(
        clients: AwsClients, spark: Any, list_folder: Path, tmp_path: Path) -> None:
    sanctions = parse(list_folder)
    uri = store(clients, sanctions)
    assert uri.endswith(f"/screening/lists/{sanctions.version}/list.json.gz")
    assert load_stored(clients).version == sanctions.version == load_stored(clients, sanctions.version).version
    with pytest.raises(PaybatchError, match="no sanctions list nope"):
        load_stored(clients, "nope")
    truth = customers_file(tmp_path, list_folder, tmp_path / "customers.csv")
    result = run_screening(clients.settings, str(tmp_path / "customers.csv"), spark=spark)
    assert result.customers == 340 and result.list_version == sanctions.version and not result.errors
    committed = load(clients.settings, "screening_matches").scan().to_arrow().to_pylist()
    assert len(committed) == result.matches == result.alerts_sent and result.snapshot_id
    found = {(r["customer_id"], r["entry_id"]) for r in committed}
    assert all((cid, entry) in found for cid, entry in truth.items())  # every listed person found
    negatives_alerted = {r["customer_id"] for r in committed if r["customer_id"].startswith("n")}
    assert len(negatives_alerted) <= 6, negatives_alerted  # people on no list: a few near-identical names at most
    row = committed[0]
    assert json.loads(row["explanation"])["matched_tokens"] and row["list_version"] == sanctions.version
    alerts = [json.loads(b) for b in drain(clients, clients.settings.screening.alerts_queue)]
    assert sorted(a["alert_id"] for a in alerts) == sorted({a["alert_id"] for a in alerts}) and len(alerts) == result.matches
    summary = clients.s3.get_object(Bucket=clients.settings.buckets.artifacts, Key=f"screening/runs/{result.run_id}/summary.json")
    assert json.loads(summary["Body"].read())["matches"] == result.matches


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that fails its first ``failures`` requests, then checks signatures and keeps the alerts."""

    failures = 0
    seen: list[tuple[str, bytes, str]]  # each fixture's handler class gets its own list

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.headers[ALERT_ID_HEADER], body, self.headers.get(SIGNATURE_HEADER, "")))
        status = 503 if len(type(self).seen) <= type(self).failures else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("R", (Receiver,), {"seen": [], "failures": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/alerts", handler
    httpd.shutdown()


def test_webhook_retries_with_backoff_then_delivers_signed_and_dead_letters_after_the_last_try(
        clients: AwsClients, receiver: tuple[str, type[Receiver]]) -> None:
    url, handler = receiver
    waits: list[float] = []
    sender = AlertSender(clients, url, b"k3y", retries=3, backoff_seconds=0.01, sleep=waits.append)
    handler.failures = 2
    sender.send({"alert_id": "a1", "customer_id": "c1", "entry_id": "e1", "score": 0.97})
    assert sender.webhook_delivered == 1 and waits == [0.01, 0.02]  # two failures, backoff doubling
    ids = {alert_id for alert_id, _, _ in handler.seen}
    assert ids == {"a1"} and all(verify(b"k3y", body, sig) for _, body, sig in handler.seen)
    assert not verify(b"other", handler.seen[0][1], handler.seen[0][2])
    handler.failures = 100  # the receiver stays down: after the last try the alert is dead-lettered, never lost
    sender.send({"alert_id": "a2", "customer_id": "c2", "entry_id": "e2", "score": 0.95})
    assert sender.dead_lettered == 1 and "failed after 4 tries: HTTP 503" in sender.errors[0]
    [record] = [json.loads(b) for b in drain(clients, clients.settings.screening.alerts_dlq)]
    assert record["alert_id"] == "a2" and record["alert"]["customer_id"] == "c2"
    assert len(drain(clients, clients.settings.screening.alerts_queue)) == 2  # the queue had both all along


def test_the_api_answers_1_to_100_names_and_refuses_bad_requests(list_folder: Path) -> None:
    index = ListIndex(parse(list_folder))
    httpd, _ = serve_in_background(index)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        listed = index.sanctions.entries[0].names[0]

        def post(payload: Any) -> tuple[int, dict[str, Any]]:
            request = urllib.request.Request(f"{url}/screen", data=json.dumps(payload).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        status, answer = post({"names": [listed, {"id": "x", "name": "Wilhelmina Okonkwo-Virtanen"}]})
        assert status == 200 and answer["list_version"] == index.version
        assert answer["results"][0]["matches"][0]["entry_id"] == index.sanctions.entries[0].id
        assert answer["results"][1] == {"id": "x", "name": "Wilhelmina Okonkwo-Virtanen", "matches": []}
        assert post({"names": [f"name {i}" for i in range(100)]})[0] == 200
        for bad, message in (({"names": []}, "1 to 100 names"), ({"names": ["a"] * 101}, "not 101"), ({"x": 1}, 'send {"names"'),
                             ({"names": [{"id": 1}]}, "names[0] has no name"), ({"names": ["a"], "threshold": 3}, "threshold")):
            status, answer = post(bad)
            assert status == 400 and message in answer["error"], answer
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            assert json.loads(response.read())["entries"] == len(index.sanctions.entries)
    finally:
        httpd.shutdown()


def test_customer_files_in_every_format_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "c.ndjson").write_text('{"id": 1, "name": "Ivan Petrov", "date_of_birth": "1961"}\n')
    [one] = read_customers(str(tmp_path / "c.ndjson"))
    assert (one.id, one.name, one.dob) == ("1", "Ivan Petrov", "1961")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"customer_id": ["a"], "full_name": ["Acme LLC"], "customer_type": ["ENTITY"]}), tmp_path / "c.parquet")
    [two] = read_customers(str(tmp_path / "c.parquet"))
    assert (two.id, two.name, two.type) == ("a", "Acme LLC", "entity")
    (tmp_path / "bad.csv").write_text("ident,fullname\n1,x\n")
    with pytest.raises(PaybatchError, match="no id or name column"):
        read_customers(str(tmp_path / "bad.csv"))
    (tmp_path / "gap.csv").write_text("id,name\n1,\n")
    with pytest.raises(PaybatchError, match="row 1 has no name"):
        read_customers(str(tmp_path / "gap.csv"))
    with pytest.raises(PaybatchError, match=r"come as \.csv"):
        read_customers(str(tmp_path / "c.xlsx"))


def test_the_glue_job_screens_on_local_spark(list_folder: Path, tmp_path: Path) -> None:
    customers_file(tmp_path, list_folder, tmp_path / "customers.csv", positives=10, others=50)
    done = subprocess.run([sys.executable, str(GLUE_JOB), "--customers", str(tmp_path / "customers.csv"), "--list", str(list_folder),
                           "--output", str(tmp_path / "out"), "--alerts", "false", "--JOB_NAME", "screen"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["customers"] == 60 and summary["matches"] >= 10
    assert list((tmp_path / "out" / "matches").rglob("*.parquet")) and list((tmp_path / "out").glob("summary-*.json"))


class RecordingLauncher:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, str]]] = []

    def start_job_run(self, job_name: str, arguments: dict[str, str]) -> str:
        self.started.append((job_name, dict(arguments)))
        return f"jr_{len(self.started)}"


def test_the_scheduler_starts_the_nightly_run_once_a_day_at_its_time(clients: AwsClients) -> None:
    from datetime import UTC, datetime

    from paybatch.builder.app import BuilderApp
    from paybatch.builder.scheduler import Scheduler, SchedulerReport, cron_time

    settings = clients.settings
    settings = settings.model_copy(update={"screening": settings.screening.model_copy(update={"customers_uri": "s3://b/c.csv"})})
    launcher = RecordingLauncher()
    scheduler = Scheduler(BuilderApp.create(settings, launcher=launcher))  # type: ignore[arg-type]
    assert cron_time(settings.screening.schedule) == (1, 0)
    report = SchedulerReport()
    assert scheduler.screen_customers(report, now=datetime(2026, 11, 29, 0, 59, tzinfo=UTC)) is None  # not yet
    assert scheduler.screen_customers(report, now=datetime(2026, 11, 29, 1, 0, tzinfo=UTC)) == "jr_1"
    assert scheduler.screen_customers(report, now=datetime(2026, 11, 29, 13, 0, tzinfo=UTC)) is None  # once a day
    assert scheduler.screen_customers(report, now=datetime(2026, 11, 30, 0, 10, tzinfo=UTC), due=True) == "jr_2"  # the rule
    assert launcher.started == [(settings.screening.job, {"--customers": "s3://b/c.csv"})] * 2
    assert report.screening_runs_started == 2
    with pytest.raises(ValueError, match="not a daily cron"):
        cron_time("rate(1 day)")


def test_list_update_from_s3_through_the_cli(clients: AwsClients, list_folder: Path) -> None:
    from typer.testing import CliRunner

    from paybatch.cli.app import app

    bucket = clients.settings.buckets.artifacts
    for path in list_folder.iterdir():
        clients.s3.upload_file(str(path), bucket, f"incoming/ofac/{path.name}")
    result = CliRunner().invoke(app, ["screen", "list", "update", "--env", "dev", "--from", f"s3://{bucket}/incoming/ofac/", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["version"] == parse(list_folder).version == load_stored(clients).version
    missing = CliRunner().invoke(app, ["screen", "list", "update", "--env", "dev", "--from", f"s3://{bucket}/nothing/"])
    assert missing.exit_code == 2 and "nothing at s3://" in missing.output


def test_the_webhook_key_comes_from_configuration_and_a_missing_one_is_named(clients: AwsClients) -> None:
    from paybatch.errors import ConfigError

    def with_webhook(secret: str) -> AwsClients:
        settings = clients.settings
        screening = settings.screening.model_copy(update={"webhook_url": "http://127.0.0.1:9/alerts", "webhook_secret": secret})
        return AwsClients(settings.model_copy(update={"screening": screening}))

    sender = AlertSender.for_settings(with_webhook("local:s3cret"))
    assert sender.webhook_key == b"s3cret" and sender.webhook_url == "http://127.0.0.1:9/alerts"
    with pytest.raises(ConfigError, match="cannot read the screening webhook's signing key from ssm:/paybatch/dev/nope"):
        AlertSender.for_settings(with_webhook("ssm:/paybatch/dev/nope"))
