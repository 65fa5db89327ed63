"""Shared fixtures: one local AWS endpoint (a real moto server) and one Spark session per test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from paybatch.aws import AwsClients
from paybatch.config import Settings, load_settings
from paybatch.constants import SETTING_OVERRIDES
from paybatch.local.stack import LocalStack, free_port

FIXTURES = Path(__file__).parent / "fixtures"
# Four suites run on their own (CI runs them all): the cluster harness (`make test-cluster`), the fault
# campaign (`make test-chaos`, about 7 minutes: the whole pipeline under faults, lost answers, kills and poison input) and the
# bulk runs (`make test-bulk`: chunked runs through the endpoint's own Step Functions, killed runs, a 2 GB split).
collect_ignore = [] if os.environ.get("CLUSTER_TESTS") == "1" else ["cluster"]
if os.environ.get("CHAOS_TESTS") != "1":
    collect_ignore.append("integration/test_fault_campaign.py")
if os.environ.get("BULK_TESTS") != "1":  # `make test-bulk`: bulk runs through the endpoint's Step Functions, a 2 GB split
    collect_ignore.append("bulk")
if os.environ.get("README_TESTS") != "1":  # `make test-readme`: `make demo`, then the README's examples in order
    collect_ignore.append("readme")


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test talks to a private endpoint and state folder, never to a real AWS account."""
    state = tmp_path_factory.mktemp("paybatch-state")
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("AWS_", "PAYBATCH_")) or name in SETTING_OVERRIDES:
            del os.environ[name]
    os.environ.update(
        {
            "PAYBATCH_STATE_DIR": str(state),
            "PAYBATCH_LOCAL_PORT": str(free_port()),
            "PAYBATCH_TARGET": "local",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SPARK_LOCAL_IP": "127.0.0.1",
            "POWERTOOLS_METRICS_NAMESPACE": "paybatch-test",
            "POWERTOOLS_SERVICE_NAME": "paybatch",
        }
    )
    yield state
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings("dev")


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    """The session's local endpoint with every resource provisioned (no background services)."""
    local = LocalStack(settings)
    local.up(with_services=False)
    yield local
    local.down()


@pytest.fixture(scope="session")
def session_clients(stack: LocalStack) -> AwsClients:
    return AwsClients(stack.settings)


def reset_endpoint(clients: AwsClients) -> None:
    """Wipe the endpoint's state and provision every resource again."""
    LocalStack(clients.settings).reset()


@pytest.fixture
def clients(session_clients: AwsClients) -> AwsClients:
    """A clean slate: the endpoint's state is reset and every resource provisioned again."""
    reset_endpoint(session_clients)
    return session_clients


def drain(clients: AwsClients, queue: str) -> list[str]:
    """The bodies of every message currently visible on a queue (deleted as read)."""
    url = clients.queue_url(queue)
    messages = []
    while True:
        got = clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return messages
        for message in got:
            messages.append(message["Body"])
            clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(scope="session")
def spark(stack: LocalStack):  # type: ignore[no-untyped-def]
    """The one Spark session of the test run: local[2], s3a on the session endpoint, UTC."""
    from paybatch.spark import get_spark

    session = get_spark("paybatch-tests", endpoint_url=stack.url, cores=2)
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()
