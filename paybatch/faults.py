"""Fault injection: AWS errors at the botocore level, in the shapes AWS returns (``PAYBATCH_FAULTS``).

At volume, throttling, transaction conflicts and 5xx are the normal weather; the local endpoint has
none of them. ``PAYBATCH_FAULTS`` brings them back, for every boto3 client ``AwsClients`` makes (CLI,
poller, scheduler, job runs, Spark tasks: child processes inherit the variable):

    PAYBATCH_FAULTS="dynamodb:TransactWriteItems:TransactionConflict:0.2,dynamodb:*:ThrottlingException:0.05,seed=7"

Each rule is ``service:operation:error:probability`` (service as botocore names it — ``dynamodb``, ``s3``,
``sqs``, ``glue``; operation as the API names it, or ``*``). The error is raised where a call returns,
after botocore's own retries (the request is never sent), so what a test sees is what is left over on
AWS once the SDK has retried. ``TransactionConflict`` arrives as AWS sends it: a
``TransactionCanceledException`` whose cancellation reasons name the conflicting item.
``PAYBATCH_FAULTS_LOG`` (a folder) records each injected fault, one file per process, for reports.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from paybatch.errors import PaybatchError

FAULTS = "PAYBATCH_FAULTS"
FAULTS_LOG = "PAYBATCH_FAULTS_LOG"

# code → (HTTP status, message) as the services send them.
ERRORS: dict[str, tuple[int, str]] = {
    "TransactionConflict": (400, "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]"),
    "ThrottlingException": (400, "Rate of requests exceeds the allowed throughput."),
    "ProvisionedThroughputExceededException": (400, "The level of configured provisioned throughput for the table was exceeded."),
    "RequestLimitExceeded": (400, "Throughput exceeds the current throughput limit for your account."),
    "InternalServerError": (500, "Internal server error"),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "ServiceUnavailable": (503, "Service Unavailable"),
    "SlowDown": (503, "Please reduce your request rate."),
    "RequestTimeout": (400, "Your socket connection to the server was not read from or written to within the timeout period."),
    "ThrottledException": (400, "Rate exceeded"),
    "ConcurrentRunsExceededException": (400, "Concurrent runs exceeded"),
    "InternalServiceException": (500, "An internal service error occurred"),
}


class FaultSpecError(PaybatchError):
    """``PAYBATCH_FAULTS`` does not parse; the message names the rule and what is wrong with it."""


@dataclass(frozen=True)
class FaultRule:
    service: str
    operation: str
    error: str
    probability: float

    def matches(self, service: str, operation: str) -> bool:
        return self.service in {service, "*"} and self.operation in {operation, "*"}


@dataclass(frozen=True)
class FaultPlan:
    rules: tuple[FaultRule, ...]
    seed: int | None = None


def parse_faults(spec: str) -> FaultPlan:
    """``service:operation:error:probability`` rules and an optional ``seed=N``, comma separated."""
    rules: list[FaultRule] = []
    seed: int | None = None
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        if raw.startswith("seed="):
            try:
                seed = int(raw.removeprefix("seed="))
            except ValueError:
                raise FaultSpecError(f"{FAULTS}: {raw!r}: the seed must be an integer") from None
            continue
        parts = raw.split(":")
        if len(parts) != 4:
            raise FaultSpecError(f"{FAULTS}: {raw!r}: expected service:operation:error:probability")
        service, operation, error, chance = parts
        if error not in ERRORS:
            raise FaultSpecError(f"{FAULTS}: {raw!r}: unknown error {error!r} (known: {', '.join(sorted(ERRORS))})")
        try:
            probability = float(chance)
        except ValueError:
            probability = -1.0
        if not 0.0 <= probability <= 1.0:
            raise FaultSpecError(f"{FAULTS}: {raw!r}: the probability must be a number from 0 to 1, not {chance!r}")
        rules.append(FaultRule(service.lower(), operation, error, probability))
    return FaultPlan(tuple(rules), seed)


class FaultInjector:
    """A botocore ``before-call`` handler that answers some calls with an error instead of sending them."""

    def __init__(self, plan: FaultPlan, log_dir: str | None = None) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self._log = Path(log_dir) / f"faults-{os.getpid()}.log" if log_dir else None
        if self._log:
            self._log.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        service = model.service_model.service_id.hyphenize()
        operation = model.name
        for rule in self.plan.rules:
            if rule.matches(service, operation):
                with self._lock:
                    hit = self._random.random() < rule.probability
                    if hit:
                        self.injected[f"{service}:{operation}:{rule.error}"] += 1
                if hit:
                    self._record(service, operation, rule.error)
                    return error_response(rule.error, operation, params)
        return None

    def _record(self, service: str, operation: str, error: str) -> None:
        if self._log:
            with self._log.open("a") as log:
                log.write(f"{service}:{operation}:{error}\n")


def error_response(error: str, operation: str, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    """The (HTTP response, parsed body) botocore would have made of AWS's error answer."""
    status, message = ERRORS[error]
    code = "TransactionCanceledException" if error == "TransactionConflict" else error
    parsed: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0, "paybatchInjected": True},
    }
    if error == "TransactionConflict":
        items = _transact_items(params)
        conflicting = random.randrange(max(1, items))
        parsed["CancellationReasons"] = [
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"} if i == conflicting else {"Code": "None"}
            for i in range(max(1, items))
        ]
    return AWSResponse(url="", status_code=status, headers={}, raw=None), parsed


def _transact_items(params: dict[str, Any]) -> int:
    body = params.get("body")
    if isinstance(body, bytes | str):
        try:
            return len(json.loads(body).get("TransactItems", []))
        except ValueError:
            return 1
    return 1


_injector: FaultInjector | None = None
_injector_spec: str | None = None
_injector_lock = threading.Lock()


def injector_from_env() -> FaultInjector | None:
    """The process's injector for ``PAYBATCH_FAULTS`` (one per process, so its dice and counts are shared)."""
    global _injector, _injector_spec
    spec = os.environ.get(FAULTS, "").strip()
    if not spec:
        return None
    with _injector_lock:
        if _injector is None or spec != _injector_spec:
            _injector = FaultInjector(parse_faults(spec), os.environ.get(FAULTS_LOG) or None)
            _injector_spec = spec
        return _injector


def install(client: Any) -> Any:
    """Hook ``PAYBATCH_FAULTS`` (if set) into one boto3 client; the client is returned."""
    injector = injector_from_env()
    if injector is not None:
        client.meta.events.register("before-call", injector, unique_id="paybatch-faults")
    return client


def read_fault_logs(log_dir: Path) -> Counter[str]:
    """Faults injected by every process that logged into ``log_dir``, by service:operation:error."""
    counts: Counter[str] = Counter()
    for path in sorted(log_dir.glob("faults-*.log")):
        counts.update(line for line in path.read_text().splitlines() if line)
    return counts
