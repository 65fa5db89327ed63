"""boto3 clients for one environment: the local endpoint or real AWS, same calls either way.

This is the seam the architecture names: business logic asks for a client here and never
asks where it runs. Retries use botocore's standard retry mode; ``PAYBATCH_FAULTS`` (paybatch.faults)
injects the errors that are left over after them on AWS into every client made here.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

from paybatch import constants, faults
from paybatch.config import Settings

_RETRY_CONFIG = {"mode": "standard", "max_attempts": 5}


class AwsClients:
    """Thread-safe cache of boto3 clients bound to one environment's region and endpoint."""

    def __init__(self, settings: Settings, *, max_pool_connections: int = 32) -> None:
        self.settings = settings
        self._config = Config(
            region_name=settings.region,
            retries=_RETRY_CONFIG,
            max_pool_connections=max_pool_connections,
            connect_timeout=5,
            read_timeout=60,
        )
        self._session = boto3.session.Session(**self._session_kwargs(settings))
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        faults.injector_from_env()  # a bad PAYBATCH_FAULTS stops here, at start, with the rule named

    @staticmethod
    def _session_kwargs(settings: Settings) -> dict[str, str]:
        if settings.target != "local":
            return {"region_name": settings.region}
        return {
            "region_name": settings.region,
            "aws_access_key_id": constants.LOCAL_ACCESS_KEY,
            "aws_secret_access_key": constants.LOCAL_SECRET_KEY,
        }

    def client(self, service: str) -> Any:
        """A cached client for ``service`` (boto3 clients are thread-safe; sessions are not)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = faults.install(self._session.client(
                    service, endpoint_url=self.settings.endpoint_url, config=self._config
                ))
            return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def glue(self) -> Any:
        return self.client("glue")

    def quick(self, service: str) -> Any:
        """A client that answers in seconds or fails: one attempt, short timeouts (checks before long work starts)."""
        config = self._config.merge(Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}))
        return self._session.client(service, endpoint_url=self.settings.endpoint_url, config=config)

    def queue_url(self, name: str) -> str:
        return str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])

    def queue_arn(self, name: str) -> str:
        account = self.settings.account_id or self.client("sts").get_caller_identity()["Account"]
        return f"arn:aws:sqs:{self.settings.region}:{account}:{name}"


def local_process_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process (job run, Spark, services) that must reach the same endpoint."""
    env = dict(os.environ if base is None else base)
    env[constants.ENV_NAME] = settings.env
    env[constants.TARGET] = settings.target
    env["AWS_DEFAULT_REGION"] = settings.region
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    if settings.target == "local" and settings.endpoint_url:
        env["AWS_ENDPOINT_URL"] = settings.endpoint_url
        env["AWS_ACCESS_KEY_ID"] = constants.LOCAL_ACCESS_KEY
        env["AWS_SECRET_ACCESS_KEY"] = constants.LOCAL_SECRET_KEY
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
    return env


def account_id(clients: AwsClients) -> str:
    """The local endpoint's fixed account, or the caller's AWS account."""
    return clients.settings.account_id or str(clients.client("sts").get_caller_identity()["Account"])


def endpoint_answers(url: str) -> bool:
    """True when the moto server answers its own API (not just any process on the port).

    Its dashboard, not ``/moto-api/data.json``: that dump of every backend fails (HTTP 500) once the Glue
    catalog holds an Iceberg table, and grows with everything stored.
    """
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200 and b"moto" in response.read(4096).lower())
    except (urllib.error.URLError, OSError, ValueError):
        return False
