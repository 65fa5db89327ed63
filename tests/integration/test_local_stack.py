"""The local environment: endpoint process, resources, notifications, poller and job launcher."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from paybatch.aws import AwsClients
from paybatch.contracts.events import parse_s3_message
from paybatch.jobs.launcher import TERMINAL_STATES, ConcurrentRunsExceeded, is_concurrency_refusal
from paybatch.local.launcher import LocalLauncher
from paybatch.local.poller import SqsPoller
from paybatch.local.processes import pid_alive
from paybatch.local.provision import glue_job_definition
from paybatch.resources import GlueJobSpec
from tests.conftest import FIXTURES, drain

pytestmark = pytest.mark.integration


def test_every_configured_resource_exists_with_keys_gsi_and_ttl(stack) -> None:  # type: ignore[no-untyped-def]
    report = stack.status()
    res = report["resources"]
    assert report["endpoint"]["healthy"]
    assert all(b["exists"] for b in res["buckets"].values())
    assert set(res["buckets"]) >= {"input", "manifest", "output", "quarantine", "lake", "lake_authorization",
                                   "lake_clearing", "lake_chargeback"}
    tracking = res["tables"]["tracking"]
    assert tracking["key_schema"] == {"HASH": "date_prefix", "RANGE": "file_key"}
    assert tracking["indexes"]["status-index"] == {"HASH": "status", "RANGE": "upload_time"}
    assert tracking["ttl_attribute"] == "ttl"
    assert res["tables"]["metrics"]["key_schema"] == {"HASH": "metric_date", "RANGE": "metric_type"}
    assert res["tables"]["counters"]["exists"]
    ingest = res["queues"]["ingest"]
    assert ingest["redrive_policy"]["maxReceiveCount"] == stack.settings.queues.max_receive_count
    assert ingest["redrive_policy"]["deadLetterTargetArn"].endswith(":" + stack.settings.queues.dlq)
    assert res["queues"]["completion"]["exists"]
    assert res["notifications"]["input_to_ingest_queue"]
    assert all(j["exists"] for j in res["glue_jobs"].values())


def test_object_created_reaches_the_poller_in_lambdas_event_shape(clients: AwsClients) -> None:
    s = clients.settings
    drain(clients, s.queues.ingest)  # the s3:TestEvent from configuring the notification
    key = "2025-12-23 file ünïcode+plus.ndjson"
    clients.s3.put_object(Bucket=s.buckets.input, Key=key, Body=b'{"a": 1}\n')
    seen: list[dict] = []

    def handler(event, context):  # type: ignore[no-untyped-def]
        seen.append(event)
        assert context.function_name == s.lambda_.builder_function
        assert context.get_remaining_time_in_millis() > 0
        return {"batchItemFailures": []}

    poller = SqsPoller(clients, s.queues.ingest, handler, function_name=s.lambda_.builder_function, wait_seconds=1)
    result = poller.poll_once()
    assert result.received == 1 and result.deleted == 1
    record = seen[0]["Records"][0]
    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes", "eventSource", "eventSourceARN", "awsRegion"}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":" + s.queues.ingest)
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    events = parse_s3_message(record["body"])
    assert [(e.bucket, e.key, e.created) for e in events] == [(s.buckets.input, key, True)]
    assert poller.poll_once().received == 0  # deleted, not redelivered


def test_test_event_is_ignored(clients: AwsClients) -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    assert parse_s3_message(body) == []


def test_failing_record_is_redelivered_then_dead_lettered(clients: AwsClients) -> None:
    s = clients.settings
    url = clients.queue_url(s.queues.ingest)
    clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    drain(clients, s.queues.ingest)
    clients.sqs.send_message(QueueUrl=url, MessageBody="good")
    clients.sqs.send_message(QueueUrl=url, MessageBody="poison")
    deliveries: dict[str, list[str]] = {"good": [], "poison": []}

    def handler(event, context):  # type: ignore[no-untyped-def]
        failures = []
        for record in event["Records"]:
            deliveries[record["body"]].append(record["attributes"]["ApproximateReceiveCount"])
            if record["body"] == "poison":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    poller = SqsPoller(clients, s.queues.ingest, handler, function_name="f", wait_seconds=1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(deliveries["poison"]) < s.queues.max_receive_count:
        poller.poll_once()
        time.sleep(0.3)
    for _ in range(5):  # one more receive after maxReceiveCount moves it to the DLQ
        time.sleep(1.1)
        poller.poll_once()
    assert deliveries["good"] == ["1"]
    assert deliveries["poison"] == [str(i) for i in range(1, s.queues.max_receive_count + 1)]
    assert drain(clients, s.queues.dlq) == ["poison"]


def test_dead_lettered_message_lands_in_the_dlq(clients: AwsClients) -> None:
    s = clients.settings
    url = clients.queue_url(s.queues.ingest)
    clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    drain(clients, s.queues.ingest)
    clients.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"not": "an s3 event"}))

    def handler(event, context):  # type: ignore[no-untyped-def]
        raise RuntimeError("handler crashed")  # whole batch fails, as Lambda treats it

    poller = SqsPoller(clients, s.queues.ingest, handler, function_name="f", wait_seconds=1)
    receives = 0
    deadline = time.monotonic() + 30
    dead: list[str] = []
    while time.monotonic() < deadline and not dead:
        result = poller.poll_once()
        receives += result.received
        assert result.handler_error in (None, "RuntimeError: handler crashed")
        time.sleep(1.1)
        dead = drain(clients, s.queues.dlq)
    assert [json.loads(body) for body in dead] == [{"not": "an s3 event"}]
    assert receives == s.queues.max_receive_count


def _define_job(clients: AwsClients, name: str, script: str, max_runs: int = 1) -> None:
    key = f"glue/scripts/tests/{script}"
    clients.s3.upload_file(str(FIXTURES / "jobs" / script), clients.settings.buckets.artifacts, key)
    spec = GlueJobSpec("test", name, script, "glueetl", max_runs, {"--env": clients.settings.env})
    definition = glue_job_definition(clients, spec)
    definition["Command"]["ScriptLocation"] = f"s3://{clients.settings.buckets.artifacts}/{key}"
    definition["Timeout"] = 5
    clients.glue.create_job(**definition)


def _wait(launcher: LocalLauncher, job: str, run_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = launcher.get_job_run(job, run_id)
        if run["JobRunState"] in TERMINAL_STATES:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def test_launcher_runs_spark_over_s3a_and_reports_succeeded(clients: AwsClients) -> None:
    s = clients.settings
    rows = "".join(json.dumps({"id": i, "amount": i * 1.5, "dt": "2025-12-23"}) + "\n" for i in range(50))
    clients.s3.put_object(Bucket=s.buckets.input, Key="launcher/rows.ndjson", Body=rows.encode())
    _define_job(clients, "test-ndjson-to-parquet", "ndjson_to_parquet.py")
    launcher = LocalLauncher(s, clients)
    run_id = launcher.start_job_run(
        "test-ndjson-to-parquet",
        {"--input": f"s3://{s.buckets.input}/launcher/rows.ndjson", "--output": f"s3a://{s.buckets.output}/launcher/out"},
    )
    assert run_id.startswith("jr_")
    run = _wait(launcher, "test-ndjson-to-parquet", run_id)
    log = Path(run["LogPath"]).read_text()
    assert run["JobRunState"] == "SUCCEEDED", log
    assert run["Arguments"]["--env"] == s.env  # default arguments merged like Glue
    assert run["CompletedOn"] >= run["StartedOn"]
    keys = [o["Key"] for o in clients.s3.list_objects_v2(Bucket=s.buckets.output, Prefix="launcher/out/")["Contents"]]
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert parquet
    table = pq.read_table(io.BytesIO(clients.s3.get_object(Bucket=s.buckets.output, Key=parquet[0])["Body"].read()))
    total = sum(
        pq.read_metadata(io.BytesIO(clients.s3.get_object(Bucket=s.buckets.output, Key=k)["Body"].read())).num_rows
        for k in parquet
    )
    assert total == 50 and set(table.column_names) == {"id", "amount", "dt"}
    assert [r["Id"] for r in launcher.list_job_runs("test-ndjson-to-parquet")] == [run_id]


def test_launcher_reports_failed_with_the_error(clients: AwsClients) -> None:
    _define_job(clients, "test-raises", "raises.py")
    launcher = LocalLauncher(clients.settings, clients)
    run = _wait(launcher, "test-raises", launcher.start_job_run("test-raises", {"--message": "bad input"}))
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: job failed on purpose: bad input"


def test_launcher_refuses_runs_beyond_the_cap_like_glue(clients: AwsClients) -> None:
    _define_job(clients, "test-sleeps", "sleeps.py", max_runs=1)
    launcher = LocalLauncher(clients.settings, clients)
    first = launcher.start_job_run("test-sleeps", {"--seconds": "20"})
    with pytest.raises(ConcurrentRunsExceeded) as refused:
        launcher.start_job_run("test-sleeps", {"--seconds": "1"})
    assert is_concurrency_refusal(refused.value)
    assert refused.value.response["Error"]["Code"] == "ConcurrentRunsExceededException"
    # A run whose process dies is reported as ERROR, and frees its slot.
    pid = json.loads(launcher.store.record_path("test-sleeps", first).read_text())["Pid"]
    os.kill(pid, 9)
    while pid_alive(pid):
        time.sleep(0.05)
    assert launcher.get_job_run("test-sleeps", first)["JobRunState"] == "ERROR"
    second = launcher.start_job_run("test-sleeps", {"--seconds": "0"})
    assert _wait(launcher, "test-sleeps", second)["JobRunState"] == "SUCCEEDED"


def test_unknown_job_is_refused(clients: AwsClients) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="EntityNotFoundException"):
        LocalLauncher(clients.settings, clients).start_job_run("no-such-job", {})
