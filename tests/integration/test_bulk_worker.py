"""The bulk worker's decisions, against the endpoint's real state machine, queue and ledger.

Compute is a scripted launcher here (the runs' states are set by the test), so every path is quick and exact:
a redelivered task, a late answer for an older task, a start refused for want of a slot, a run that ends
while its token is being replaced, cancel and resume. `make test-bulk` runs the same worker with real job runs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from paybatch.aws import AwsClients
from paybatch.bulk.control import BulkControl
from paybatch.bulk.handler import RETRY_LATER_SECONDS, handle
from paybatch.bulk.ledger import BulkLedger, BulkRunNotFound, ChunkStatus, RunStatus
from paybatch.bulk.plan import plan_generation
from paybatch.bulk.worker import BulkWorker, RetryLater, task_order
from paybatch.errors import PaybatchError
from paybatch.generate.plan import GenerationRequest, parse_dates
from paybatch.jobs.launcher import ConcurrentRunsExceeded
from paybatch.local.job_runner import job_state_change_event

pytestmark = pytest.mark.integration


class ScriptedLauncher:
    """Glue's start/get/stop, with each run's state set by the test."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.refuse = 0

    def start_job_run(self, job_name: str, arguments: Mapping[str, str]) -> str:
        if self.refuse:
            self.refuse -= 1
            raise ConcurrentRunsExceeded(job_name, 1)
        run_id = "jr_" + uuid.uuid4().hex
        now = datetime.now(UTC)
        self.runs[run_id] = {"Id": run_id, "JobName": job_name, "JobRunState": "RUNNING", "Arguments": dict(arguments),
                             "StartedOn": now, "WorkerType": "G.1X", "NumberOfWorkers": 2}
        return run_id

    def get_job_run(self, job_name: str, run_id: str) -> dict[str, Any]:
        return dict(self.runs[run_id])

    def list_job_runs(self, job_name: str) -> list[dict[str, Any]]:
        return list(self.runs.values())

    def stop_job_run(self, job_name: str, run_id: str) -> None:
        self.end(run_id, "STOPPED")

    def end(self, run_id: str, state: str, message: str = "") -> None:
        self.runs[run_id].update(JobRunState=state, CompletedOn=datetime.now(UTC), ErrorMessage=message)


def receive(clients: AwsClients, run_id: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The next ``count`` work-queue messages of ``run_id`` (as the state machine sent them).

    Messages of other runs are dropped: an earlier test's executions live on in the interpreter's threads after the
    endpoint is reset, and may still send a task into the re-created queue.
    """
    url = clients.queue_url(clients.settings.bulk.work_queue)
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < count and time.monotonic() < deadline:
        for message in clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            if body.get("run_id") == run_id:
                bodies.append(body)
    assert len(bodies) == count, bodies
    return sorted(bodies, key=lambda b: b.get("chunk", {}).get("chunk_id", -1))


def write_result(clients: AwsClients, run: Mapping[str, Any], rows: int) -> None:
    """What the generate job writes at its --result_uri when it succeeds."""
    bucket, key = run["Arguments"]["--result_uri"][5:].split("/", 1)
    body = {"tables": {"authorization": {"rows": rows, "files": 1, "bytes": 100}}, "allocations": [],
            "files": [{"role": "lake", "table": "authorization", "uri": "s3://lake/authorization/dt=x/part.parquet",
                       "rows": rows, "bytes": 100}]}
    clients.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())


@pytest.fixture
def started(clients: AwsClients) -> tuple[BulkControl, BulkWorker, ScriptedLauncher, str]:
    launcher = ScriptedLauncher()
    control = BulkControl(clients.settings, clients)
    plan = plan_generation(clients.settings, GenerationRequest(rows=3_000, dates=tuple(parse_dates("2024-08-01..2024-08-03")),
                                                               quality=False), rows_per_job=1_000, chunks=3)
    run_id = control.start_generation(plan, max_concurrency=3, tolerance=0)["run_id"]
    return control, BulkWorker(clients.settings, clients, launcher), launcher, run_id


def test_chunks_settle_from_job_events_and_the_run_aggregates(clients: AwsClients, started: Any) -> None:
    control, worker, launcher, run_id = started
    tasks = receive(clients, run_id, 3)
    for task in tasks:
        worker.handle_message(task)
    ledger = BulkLedger(clients)
    chunks = {c["chunk_id"]: c for c in ledger.chunks(run_id)}
    assert all(c["status"] == "running" and c["attempts"] == 1 for c in chunks.values())
    assert worker.watch().heartbeats == 3

    for chunk in chunks.values():  # each run ends; its Glue state-change event settles it
        write_result(clients, launcher.runs[chunk["job_run_id"]], 1_000)
        launcher.end(chunk["job_run_id"], "SUCCEEDED")
        event = job_state_change_event({**launcher.runs[chunk["job_run_id"]], "CompletedOn": "now"})
        assert handle(event, None, worker) == {"settled": True}
        assert handle(event, None, worker) == {"settled": False}  # a repeated event changes nothing
    [aggregate] = receive(clients, run_id, 1)
    assert aggregate["action"] == "aggregate"
    worker.handle_message(aggregate)
    status = control.wait(run_id, timeout=30)
    assert status["run"]["status"] == "succeeded" and status["execution"]["status"] == "SUCCEEDED"
    assert control.result(run_id)["rows"] == 3_000


def test_a_redelivered_or_late_task_never_starts_a_second_run(clients: AwsClients, started: Any) -> None:
    _, worker, launcher, run_id = started
    tasks = receive(clients, run_id, 3)
    worker.handle_message(tasks[0])
    worker.handle_message(tasks[0])  # SQS delivered it twice: the chunk keeps its one run
    assert len(launcher.runs) == 1
    chunk = BulkLedger(clients).get_chunk(run_id, 0)
    newer = {**tasks[0], "task_token": "newer-token", "retry": 1}
    worker.handle_message(newer)  # the state machine's retry while the run still goes: it takes the new token
    assert BulkLedger(clients).get_chunk(run_id, 0)["task_token"] == "newer-token"
    worker.handle_message(tasks[0])  # and a late copy of the older task does not take it back
    after = BulkLedger(clients).get_chunk(run_id, 0)
    assert after["task_token"] == "newer-token" and after["job_run_id"] == chunk["job_run_id"] and len(launcher.runs) == 1
    assert task_order("run-2", 0) > task_order("run-1", 5) > task_order("run-1", 0)


def test_no_free_slot_comes_back_soon_and_a_failed_start_fails_the_attempt(clients: AwsClients, started: Any) -> None:
    _, worker, launcher, run_id = started
    tasks = receive(clients, run_id, 3)
    launcher.refuse = 1
    with pytest.raises(RetryLater):
        worker.handle_message(tasks[0])
    assert BulkLedger(clients).get_chunk(run_id, 0)["status"] == "pending"

    # through the handler: the record is reported failed and comes back in RETRY_LATER_SECONDS, not the queue's timeout
    # (a queue of its own, so no task of another test's lingering execution lands in it)
    url = clients.sqs.create_queue(QueueName="bulk-retry-probe", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    clients.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(tasks[0]))
    message = clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]
    launcher.refuse = 1
    event = {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
                          "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                          "eventSourceARN": clients.queue_arn("bulk-retry-probe"), "awsRegion": "us-east-1"}]}
    assert handle(event, None, worker)["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert RETRY_LATER_SECONDS < 300
    assert not clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")  # hidden for now
    deadline, back = time.monotonic() + RETRY_LATER_SECONDS + 5, []
    while not back and time.monotonic() < deadline:
        back = clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    assert [m["MessageId"] for m in back] == [message["MessageId"]]  # ... and back within RETRY_LATER_SECONDS

    class Broken(ScriptedLauncher):
        def start_job_run(self, job_name: str, arguments: Mapping[str, str]) -> str:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "StartJobRun")

    broken = BulkWorker(clients.settings, clients, Broken())
    broken.handle_message(tasks[1])  # the attempt fails with the reason; the state machine retries it
    chunk = BulkLedger(clients).get_chunk(run_id, 1)
    assert chunk["status"] == "failed" and "AccessDeniedException" in chunk["last_error"]


def test_a_failed_run_fails_its_chunk_and_a_stale_token_is_not_an_error(clients: AwsClients, started: Any) -> None:
    _, worker, launcher, run_id = started
    tasks = receive(clients, run_id, 3)
    worker.handle_message(tasks[2])
    chunk = BulkLedger(clients).get_chunk(run_id, 2)
    launcher.end(chunk["job_run_id"], "FAILED", "OutOfMemoryError: Java heap space")
    assert worker.watch().settled == 1
    failed = BulkLedger(clients).get_chunk(run_id, 2)
    assert failed["status"] == "failed" and "OutOfMemoryError" in failed["last_error"]
    assert worker.succeed("no-such-token", {}) is False  # a token the state machine gave up on: logged, not raised
    with pytest.raises(ValueError, match="unknown bulk work action"):
        worker.handle_message({"action": "dance"})


def test_cancel_stops_runs_and_resume_continues_only_unfinished_chunks(clients: AwsClients, started: Any) -> None:
    control, worker, launcher, run_id = started
    tasks = receive(clients, run_id, 3)
    for task in tasks:
        worker.handle_message(task)
    ledger = BulkLedger(clients)
    first = ledger.get_chunk(run_id, 0)
    write_result(clients, launcher.runs[first["job_run_id"]], 1_000)
    launcher.end(first["job_run_id"], "SUCCEEDED")
    worker.watch()
    cancelled = BulkControl(clients.settings, clients, launcher).cancel(run_id)
    assert cancelled["status"] == "cancelled" and cancelled["runs_stopped"] == 2
    assert {c["chunk_id"]: c["status"] for c in ledger.chunks(run_id)} == {0: "succeeded", 1: "cancelled", 2: "cancelled"}
    deadline = time.monotonic() + 15
    while control.execution_status(ledger.get_run(run_id))["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert control.execution_status(ledger.get_run(run_id))["status"] == "ABORTED"

    resumed = control.resume(run_id)
    assert resumed["status"] == "running" and resumed["execution"] == f"{run_id}-2"
    again = receive(clients, run_id, 2)  # only the two unfinished chunks
    assert [t["chunk"]["chunk_id"] for t in again] == [1, 2]
    with pytest.raises(BulkRunNotFound):
        control.resume("no-such-run")


def test_redrive_goes_to_step_functions_for_a_failed_execution_only(clients: AwsClients, started: Any) -> None:
    control, _, _, run_id = started
    run = BulkLedger(clients).get_run(run_id)
    with pytest.raises(PaybatchError, match="only a failed, aborted or timed-out execution"):
        control.resume(run_id, redrive=True)  # it is running
    stubbed = BulkControl(clients.settings, clients)
    stubber = Stubber(stubbed.sfn)
    described = {"executionArn": run["execution_arn"], "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m",
                 "status": "FAILED", "startDate": datetime.now(UTC)}
    stubber.add_response("describe_execution", described, {"executionArn": run["execution_arn"]})
    stubber.add_response("redrive_execution", {"redriveDate": datetime.now(UTC)}, {"executionArn": run["execution_arn"]})
    with stubber:
        assert stubbed.resume(run_id, redrive=True)["status"] == "running"
    stubber.assert_no_pending_responses()


def test_diagnose_names_failed_bulk_runs_and_how_to_continue(clients: AwsClients) -> None:
    from paybatch.contracts.tracking import iso, utcnow
    from paybatch.ops.diagnose import diagnose

    ledger = BulkLedger(clients)
    for run_id, status in (("generate-old-ok", "succeeded"), ("generate-broken", "failed")):
        ledger.create_run({"run_id": run_id, "kind": "generate", "env": "dev", "status": status, "created_at": iso(utcnow()),
                           "request": "{}", "chunk_count": 1, "max_concurrency": 1, "tolerated_failure_percent": 0,
                           "result": {"chunks": {"failed": 1}}}, [{"chunk_id": 0}])
    findings = [f for f in diagnose(clients).findings if "bulk run" in f.what]
    assert len(findings) == 1 and findings[0].severity == "error"
    assert findings[0].detail == ["generate-broken failed: 1 chunk(s) failed"] and "bulk resume RUN" in findings[0].action


def test_an_aggregation_of_a_replaced_execution_changes_nothing(clients: AwsClients, started: Any) -> None:
    control, worker, _, run_id = started
    receive(clients, run_id, 3)
    control.resume(run_id)  # now <run>-2 owns the run
    ledger = BulkLedger(clients)
    answered: list[tuple[str, str]] = []
    worker.fail = lambda token, error, cause: answered.append((token, error)) or True  # type: ignore[method-assign]
    worker.handle_message({"action": "aggregate", "task_token": "old", "run_id": run_id, "execution": f"{run_id}-1"})
    assert answered == [("old", "BulkRun.Superseded")]
    run = ledger.get_run(run_id)
    assert run["status"] == "running" and "result" not in run and control.result(run_id) is None


def test_cancelling_a_run_that_ended_leaves_its_outcome(clients: AwsClients) -> None:
    """Issue 23 (11): `bulk cancel` on a finished run used to turn "succeeded" into "cancelled"."""
    from paybatch.bulk.control import BulkRunEnded
    from paybatch.contracts.tracking import iso, utcnow

    ledger = BulkLedger(clients)
    ledger.create_run({"run_id": "generate-done", "kind": "generate", "env": "dev", "status": "succeeded",
                       "created_at": iso(utcnow()), "request": "{}", "chunk_count": 1, "max_concurrency": 1,
                       "tolerated_failure_percent": 0}, [{"chunk_id": 0}])
    with pytest.raises(BulkRunEnded, match="already ended succeeded: nothing to cancel"):
        BulkControl(clients.settings, clients).cancel("generate-done")
    assert ledger.get_run("generate-done")["status"] == "succeeded"


@pytest.mark.parametrize(("options", "message"), [({"max_concurrency": 0}, "--max-concurrency must be at least 1"),
                                                  ({"tolerance": 150.0}, "--tolerate must be a percentage")])
def test_a_refused_bulk_generation_reserves_no_sequence_range(clients: AwsClients, options: dict[str, Any], message: str) -> None:
    """Issue 23 (11): the options were checked after every job's sequence range had been reserved."""
    from paybatch.bulk.plan import BulkPlanError, plan_generation
    from paybatch.generate.plan import GenerationRequest, parse_dates

    plan = plan_generation(clients.settings, GenerationRequest(rows=4_000, dates=tuple(parse_dates("2024-03-01..2024-03-02")),
                                                               quality=False), rows_per_job=1_000, chunks=2)
    with pytest.raises(BulkPlanError, match=message):
        BulkControl(clients.settings, clients).start_generation(plan, **options)
    assert clients.dynamodb.scan(TableName=clients.settings.tables.counters)["Items"] == []
    assert BulkLedger(clients).find_run("anything") is None


def test_ledger_moves_whose_answers_were_lost_land_once_and_read_as_made(clients: AwsClients, tmp_path: Path) -> None:
    """Half of the ledger's writes are applied and their answers lost: each move is retried, finds its own write and
    reports it made — never an error, never "someone else moved it" — and the chunks end as the moves left them."""
    from paybatch.faults import read_fault_logs
    from tests.integration.builder_support import faults_in_this_process

    run_id = f"generate-lost-{uuid.uuid4().hex[:6]}"
    BulkLedger(clients).create_run({"run_id": run_id, "kind": "generate", "status": "running", "max_concurrency": 2},
                                   [{"chunk_id": i} for i in range(12)])
    with faults_in_this_process("dynamodb:UpdateItem:ResponseLost:0.5,dynamodb:PutItem:ResponseLost:0.5,seed=5", tmp_path):
        ledger = BulkLedger(AwsClients(clients.settings))
        for i in range(12):
            assert ledger.start_chunk(run_id, i, task_token=f"t{i}", execution=f"{run_id}-1", task_order=1000, job_name="job",
                                      job_run_id=f"jr_{i}", route="spark", attempts=0)
            assert ledger.finish_chunk(run_id, i, f"jr_{i}", ChunkStatus.SUCCEEDED if i % 3 else ChunkStatus.FAILED, {"rows": i})
        assert ledger.update_run(run_id, {"status": "partial"}, expected={RunStatus.RUNNING})
        assert not ledger.update_run(run_id, {"status": "failed"}, expected={RunStatus.RUNNING})  # really moved on
    chunks = BulkLedger(clients).chunks(run_id)
    assert [c["status"] for c in chunks] == ["failed" if i % 3 == 0 else "succeeded" for i in range(12)]
    assert all(c["attempts"] == 1 and len(c["attempt_log"]) == 2 for c in chunks)  # each move applied once
    assert sum(n for name, n in read_fault_logs(tmp_path).items() if "ResponseLost" in name) >= 10
