"""Operator scripts and commands against the local environment (and botocore's Stubber where moto lacks a call)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from pyiceberg.expressions import In

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import FileStatus
from paybatch.datasets import load_schema
from paybatch.iceberg.catalog import rows_table
from paybatch.ops.batch_config import apply as apply_batch_config
from paybatch.ops.batch_config import plan as plan_batch_config
from paybatch.ops.glue import deploy_glue
from paybatch.ops.lambdas import bulk_worker_role_name, deploy_lambdas, lambda_role_name, screening_api_role_name
from paybatch.ops.package import build_glue_library, build_lambda_bundles
from paybatch.ops.report import CHARTS, write_report
from paybatch.resources import glue_job_specs
from paybatch.tracking_store import TrackingStore

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "environments").glob("*/scripts/*.sh"))
EXPECTED = {"deploy-lambda.sh", "deploy-glue.sh", "monitor-pipeline.sh", "check-glue-errors.sh", "test-production-scale.sh",
            "update-batch-config.sh", "generate-test-data.sh", "upload-test-data.sh", "check-lambda-logs.sh",
            "check-dynamodb-files.sh", "check-sqs-queue.sh", "diagnose-pipeline.sh"}


def script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    path = next(p for p in SCRIPTS if p.name == name)
    return subprocess.run(["bash", str(path), *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_every_script_exists_has_help_and_refuses_an_unknown_environment() -> None:
    assert {p.name for p in SCRIPTS} == EXPECTED
    for path in SCRIPTS:
        shown = subprocess.run(["bash", str(path), "--help"], capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and "usage:" in shown.stdout, path.name
        wrong = subprocess.run(["bash", str(path), "--env", "staging"], capture_output=True, text=True, timeout=30)
        assert wrong.returncode == 2 and "unknown environment 'staging'" in wrong.stderr, (path.name, wrong.stderr)


@pytest.mark.parametrize(("name", "args"), [
    ("diagnose-pipeline.sh", ()), ("check-sqs-queue.sh", ()), ("monitor-pipeline.sh", ("--once",)),
    ("check-glue-errors.sh", ()), ("check-dynamodb-files.sh", ()), ("update-batch-config.sh", ("--preset", "heavy")),
])
def test_scripts_say_when_the_resources_are_missing(name: str, args: tuple[str, ...]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    result = script(name, *args, env={"PAYBATCH_LOCAL_PORT": str(port)}, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    text = result.stderr + result.stdout
    assert "no pipeline resources" in text or "Could not connect" in text or "not deployed" in text or "error:" in text, text


def test_diagnose_reports_each_problem_with_an_action(clients: AwsClients) -> None:
    settings = clients.settings
    store = TrackingStore(clients)
    old = "2020-01-01T00:00:00.000000Z"
    clients.dynamodb.put_item(TableName=settings.tables.tracking, Item={
        "date_prefix": {"S": "2020-01-01"}, "file_key": {"S": "stuck.ndjson"}, "status": {"S": FileStatus.PENDING},
        "upload_time": {"S": old}, "size_bytes": {"N": "10"}, "etag": {"S": "e"}})
    clients.dynamodb.put_item(TableName=settings.tables.tracking, Item={
        "date_prefix": {"S": "2020-01-01"}, "file_key": {"S": "tiny.ndjson"}, "status": {"S": FileStatus.QUARANTINED},
        "quarantine_reason": {"S": "too-small"}, "upload_time": {"S": old}, "size_bytes": {"N": "1"}, "etag": {"S": "e"}})
    clients.dynamodb.put_item(TableName=settings.tables.lock, Item={
        "date_prefix": {"S": "lock#2020-01-01"}, "file_key": {"S": "lock"}, "owner": {"S": "builder-1"},
        "expires_at": {"N": str(time.time() - 100)}})
    clients.sqs.send_message(QueueUrl=clients.queue_url(settings.queues.dlq), MessageBody='{"poison": true}')
    assert len(store.all_files()) == 2
    result = script("diagnose-pipeline.sh", "--json")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("{"), result.stdout[:2000] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    found = {f["what"].split(" ", 1)[1][:30]: f for f in report["findings"]}
    assert any("pending for more than" in f["what"] and "flush" in f["action"] for f in report["findings"]), found
    assert any("dead-letter queue" in f["what"] and '{"poison": true}' in f["detail"][0] for f in report["findings"])
    assert any("expired lock" in f["what"] and "builder-1" in f["detail"][0] for f in report["findings"])
    assert any("quarantined" in f["what"] and "too-small: 1" in f["detail"] for f in report["findings"])
    text = script("diagnose-pipeline.sh")
    assert "NEEDS ATTENTION" in text.stdout and "→" in text.stdout


def test_deploy_glue_creates_jobs_locally_and_updates_them_on_aws_shape(clients: AwsClients, tmp_path: Path) -> None:
    library = build_glue_library(tmp_path / "paybatch.zip")
    names = zipfile.ZipFile(library).namelist()  # the compiled parser, without its source (test_strict_ndjson loads it)
    assert "paybatch/convert/ndjson.py" in names and not [n for n in names if n.endswith(".c")]
    assert [n for n in names if n.startswith("paybatch/convert/_strict_ndjson") and n.endswith(".so")]
    for spec in glue_job_specs(clients.settings):
        clients.glue.delete_job(JobName=spec.name)
    created = script("deploy-glue.sh", "--env", "dev", "--library", str(library), "--json")  # the operator's script
    assert created.returncode == 0, created.stderr[-2000:]
    assert {d["action"] for d in json.loads(created.stdout)} == {"created"}
    job = clients.glue.get_job(JobName=clients.settings.glue.jobs.convert)["Job"]
    assert job["NumberOfWorkers"] == clients.settings.glue.number_of_workers and job["GlueVersion"] == "5.1"
    assert clients.s3.head_object(Bucket=clients.settings.buckets.artifacts, Key="glue/lib/paybatch.zip")["ContentLength"] > 0
    # moto has no update_job: the update path runs against botocore's Stubber with the same client shape.
    glue = clients.glue
    with Stubber(glue) as stub:
        for spec in glue_job_specs(clients.settings):
            stub.add_response("get_job", {"Job": {"Name": spec.name}}, {"JobName": spec.name})
            stub.add_response("update_job", {"JobName": spec.name}, {"JobName": spec.name, "JobUpdate": ANY})
        updated = deploy_glue(clients, library)
        stub.assert_no_pending_responses()
    assert {d.action for d in updated} == {"updated"}


def test_deploy_glue_runs_a_step_again_after_throttling_or_a_lost_answer(clients: AwsClients, tmp_path: Path) -> None:
    """Issue 23: deploy retries what AWS tells it to retry; each job's step is idempotent."""
    library = build_glue_library(tmp_path / "paybatch.zip")
    specs = glue_job_specs(clients.settings)
    with Stubber(clients.glue) as stub:
        first = specs[0].name
        stub.add_response("get_job", {"Job": {"Name": first}}, {"JobName": first})
        stub.add_client_error("update_job", service_error_code="ThrottlingException", http_status_code=400)
        for spec in specs:  # the first job's step again, then the others
            stub.add_response("get_job", {"Job": {"Name": spec.name}}, {"JobName": spec.name})
            stub.add_response("update_job", {"JobName": spec.name}, {"JobName": spec.name, "JobUpdate": ANY})
        deployed = deploy_glue(clients, library)
        stub.assert_no_pending_responses()
    assert [d.action for d in deployed] == ["updated"] * len(specs)


def test_deploy_glue_without_artifacts_bucket_is_refused(clients: AwsClients, tmp_path: Path) -> None:
    from paybatch.errors import PaybatchError

    bucket = clients.settings.buckets.artifacts
    for obj in clients.s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        clients.s3.delete_object(Bucket=bucket, Key=obj["Key"])
    clients.s3.delete_bucket(Bucket=bucket)
    with pytest.raises(PaybatchError, match=r"artifacts bucket .* does not exist"):
        deploy_glue(clients, build_glue_library(tmp_path / "paybatch.zip"))


def test_deploy_lambda_then_batch_config_diff_and_apply(clients: AwsClients, tmp_path: Path) -> None:
    settings = clients.settings
    iam = clients.client("iam")
    for role_name in (lambda_role_name(settings), screening_api_role_name(settings), bulk_worker_role_name(settings)):
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}))
    bundle = tmp_path / "lambda"
    folders = build_lambda_bundles(bundle, with_dependencies=False)
    # One bundle per function, each with only what its handler imports: no Iceberg, Spark or matcher in the builder
    assert sorted(folders) == ["builder", "bulk-worker", "scheduler", "screening-api"]
    assert (folders["builder"] / "lambda_manifest_builder" / "handler.py").is_file()
    assert not (folders["builder"] / "paybatch" / "screening").exists() and not (folders["builder"] / "paybatch" / "iceberg").exists()
    assert not (folders["screening-api"] / "paybatch" / "builder").exists()
    assert (folders["screening-api"] / "paybatch" / "screening" / "matcher.py").is_file()
    first = script("deploy-lambda.sh", "--env", "dev", "--bundle", str(bundle), "--json")  # the operator's script
    assert first.returncode == 0, first.stderr[-2000:]
    assert [d["action"] for d in json.loads(first.stdout)] == ["created"] * 4
    again = deploy_lambdas(clients, bundle)
    assert [d.action for d in again] == ["updated"] * 4
    worker = clients.client("lambda").get_function_configuration(FunctionName=settings.bulk.worker_function)
    assert worker["Handler"] == "paybatch.bulk.handler.lambda_handler" and worker["Role"].endswith(f"/{bulk_worker_role_name(settings)}")
    api = clients.client("lambda").get_function_configuration(FunctionName=settings.screening.api_function)
    assert api["Handler"] == "paybatch.screening.api.lambda_handler" and api["Role"].endswith(f"/{screening_api_role_name(settings)}")
    config = clients.client("lambda").get_function_configuration(FunctionName=settings.lambda_.builder_function)
    assert config["Environment"]["Variables"]["MAX_FILES_PER_MANIFEST"] == str(settings.batching.max_files_per_manifest)
    # The diff through the script: the heavy preset doubles the env's values, validated, nothing applied without --apply.
    shown = script("update-batch-config.sh", "--env", "dev", "--preset", "heavy", "--json")
    assert shown.returncode == 0, shown.stderr
    changes = {c["name"]: (c["current"], c["new"]) for c in json.loads(shown.stdout)["changes"]}
    assert changes["max_files_per_manifest"] == (50, 100) and changes["number_of_workers"] == (10, 20)
    refused = script("update-batch-config.sh", "--env", "dev", "--max-files", "5000")
    assert refused.returncode == 2 and "max_files_per_manifest" in refused.stderr and "less than or equal to 1000" in refused.stderr
    nothing = script("update-batch-config.sh", "--env", "dev")
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    # Apply: the Lambdas on the endpoint, the Glue job through the Stubber (moto lacks update_job).
    new, _ = plan_batch_config(settings, "heavy", {})
    glue = clients.glue
    with Stubber(glue) as stub:
        stub.add_response("get_job", {"Job": {"Name": settings.glue.jobs.convert, "NumberOfWorkers": 10, "Role": "r",
                                              "Command": {"Name": "glueetl"}}}, {"JobName": settings.glue.jobs.convert})
        stub.add_response("update_job", {"JobName": settings.glue.jobs.convert}, {
            "JobName": settings.glue.jobs.convert,
            "JobUpdate": {"Role": "r", "Command": {"Name": "glueetl"}, "NumberOfWorkers": 20,
                          "ExecutionProperty": {"MaxConcurrentRuns": 10}}})
        done = apply_batch_config(clients, new)
        stub.assert_no_pending_responses()
    assert len(done) == 5  # the builder, the scheduler, the screening API, the bulk worker and the conversion job
    live = clients.client("lambda").get_function_configuration(FunctionName=settings.lambda_.scheduler_function)
    assert live["Environment"]["Variables"]["MAX_FILES_PER_MANIFEST"] == "100"


def test_dev_scripts_generate_upload_and_inspect(clients: AwsClients, tmp_path: Path) -> None:
    made = script("generate-test-data.sh", "3", "200", "--output", str(tmp_path), "--dates", "2024-08-01")
    assert made.returncode == 0, made.stderr[-2000:]
    files = sorted((tmp_path / "input").rglob("*.ndjson"))
    assert len(files) == 3 and all(len(f.read_text().splitlines()) == 200 for f in files)
    bad = script("generate-test-data.sh", "three", "200")
    assert bad.returncode == 2 and "whole numbers" in bad.stderr
    uploaded = script("upload-test-data.sh", str(tmp_path / "input"))
    assert uploaded.returncode == 0 and "uploaded 3 file(s)" in uploaded.stdout, uploaded.stderr
    keys = [o["Key"] for o in clients.s3.list_objects_v2(Bucket=clients.settings.buckets.input)["Contents"]]
    assert sorted(keys) == sorted(str(f.relative_to(tmp_path / "input")) for f in files)
    queue = script("check-sqs-queue.sh", "--json")
    roles = {q["role"] for q in json.loads(queue.stdout)["queues"]} if queue.returncode == 0 else set()
    assert roles == {"ingest", "dlq", "completion", "screening_alerts", "screening_alerts_dlq", "bulk_work", "bulk_work_dlq"}, queue.stderr
    assert script("check-dynamodb-files.sh").returncode == 0
    errors = script("check-glue-errors.sh", "--env", "dev", "--json")
    assert errors.stdout.startswith("["), errors.stderr[-3000:]
    runs = json.loads(errors.stdout)
    assert errors.returncode == (1 if runs else 0) and all({"job_name", "error", "files"} <= set(r) for r in runs)


def test_cost_command_prints_ours_beside_the_design_estimate() -> None:
    result = subprocess.run([sys.executable, "-m", "paybatch", "cost", "--env", "prod", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["design_estimate"]["per_month"] > data["paybatch"]["per_month"] > 0
    assert 45_000 < data["design_estimate"]["per_month"] < 60_000  # the design documents' ≈ $50 k/month for prod's volume
    bad = subprocess.run([sys.executable, "-m", "paybatch", "cost", "--file-size-gb", "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Invalid value for '--file-size-gb'" in bad.stderr and "Traceback" not in bad.stderr


def test_report_and_scale_test_through_the_running_pipeline(clients: AwsClients, stack: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = {"EXPECTED_FILE_SIZE_MB": "0.1", "MAX_WAIT_SECONDS": "2"}  # small files, quick flushes
    for key, value in overrides.items():
        monkeypatch.setenv(key, value)
    stack.start_services()
    try:
        result = script("test-production-scale.sh", "--env", "dev", "--phases", "10,100", timeout=900, env=overrides)
        logs = script("check-lambda-logs.sh", "--lines", "5")
        monitor = script("monitor-pipeline.sh", "--env", "dev", "--once", "--json")
    finally:
        stack.services.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("PASS") >= 2 and "projected $/day" in result.stdout
    assert result.stdout.count("its rows removed from the tables again") == 2
    # The phases' rows went through dev's own table and were taken out again: readers are left with none of them.
    batches = {str(m["batch_id"]) for m in TrackingStore(clients).all_manifests() if str(m["manifest_date"]) >= "2031"}
    table = rows_table(clients.settings, load_schema("authorization"))
    assert len(batches) >= 2 and table.scan(row_filter=In("_batch_id", batches)).to_arrow().num_rows == 0
    assert int(table.current_snapshot().summary["deleted-records"]) > 0
    assert logs.returncode == 0 and logs.stdout.strip()
    snap = json.loads(monitor.stdout)
    assert snap["files"]["completed"] == 110 and snap["runs_finished"] >= 2 and snap["throughput"]["files"] == 110
    page = write_report(clients, tmp_path / "report.html").read_text()
    for chart in CHARTS:
        assert f'id="{chart}"' in page
    assert page.count("<svg") >= 6 and "completed 110" in page  # quarantine and reject charts say "none" here
    failed = script("test-production-scale.sh", "--env", "dev", "--phases", "0")
    assert failed.returncode == 2 and "at least one file" in failed.stderr


def test_deploy_glue_works_against_the_local_endpoint(clients: AwsClients, tmp_path: Path) -> None:
    """moto has no UpdateJob: locally a job is replaced (deleted, created again), as provisioning does it."""
    deployed = deploy_glue(clients, build_glue_library(tmp_path / "paybatch.zip"))
    assert {d.action for d in deployed} == {"updated"} and len(deployed) == len(glue_job_specs(clients.settings))
    job = clients.glue.get_job(JobName=clients.settings.glue.jobs.convert)["Job"]
    assert job["Command"]["ScriptLocation"].startswith(f"s3://{clients.settings.buckets.artifacts}/")
