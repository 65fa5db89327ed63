"""Fault injection: AWS errors at the botocore level, in the shapes AWS returns (``PAYBATCH_FAULTS``).

At volume, throttling, transaction conflicts and 5xx are the normal weather; the local endpoint has
none of them. ``PAYBATCH_FAULTS`` brings them back, for every boto3 client ``AwsClients`` makes (CLI,
poller, scheduler, job runs, Spark tasks: child processes inherit the variable):

    PAYBATCH_FAULTS="dynamodb:TransactWriteItems:TransactionConflict:0.2,dynamodb:*:ThrottlingException:0.05,seed=7"

Each rule is ``service:operation:error:probability`` (service as botocore names it — ``dynamodb``, ``s3``,
``sqs``, ``glue``; operation as the API names it, ``*``, or a pattern such as ``Put*``). The error is
raised where a call returns, after botocore's own retries (the request is never sent), so what a test
sees is what is left over on AWS once the SDK has retried. ``TransactionConflict`` arrives as AWS sends
it: a ``TransactionCanceledException`` whose cancellation reasons name the conflicting item.

``ResponseLost`` is the fault AWS really has that the others are not: the request *is* sent and applied,
and its answer never arrives — the caller gets botocore's ``ReadTimeoutError``. A write whose answer was
lost may have been made, so every retry of it must be safe either way.

pyiceberg's own I/O meets the same rules: its Glue catalog uses a client made here, and its S3 reads and
writes go through ``paybatch.iceberg.io.RetryingFileIO`` (``s3:PutObject``, ``s3:GetObject``,
``s3:DeleteObject``), so an Iceberg commit meets throttling, conflicts and lost answers too.
``PAYBATCH_FAULTS_LOG`` (a folder) records each injected fault, one file per process, for reports.
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

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
# The request is applied; its answer is lost (botocore's ReadTimeoutError after its own retries).
RESPONSE_LOST = "ResponseLost"
KNOWN = frozenset({*ERRORS, RESPONSE_LOST})


class FaultSpecError(PaybatchError):
    """``PAYBATCH_FAULTS`` does not parse; the message names the rule and what is wrong with it."""


@dataclass(frozen=True)
class FaultRule:
    service: str
    operation: str
    error: str
    probability: float

    def matches(self, service: str, operation: str) -> bool:
        return self.service in {service, "*"} and fnmatch.fnmatchcase(operation, self.operation)

    @property
    def lost(self) -> bool:
        return self.error == RESPONSE_LOST


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
        if error not in KNOWN:
            raise FaultSpecError(f"{FAULTS}: {raw!r}: unknown error {error!r} (known: {', '.join(sorted(KNOWN))})")
        try:
            probability = float(chance)
        except ValueError:
            probability = -1.0
        if not 0.0 <= probability <= 1.0:
            raise FaultSpecError(f"{FAULTS}: {raw!r}: the probability must be a number from 0 to 1, not {chance!r}")
        rules.append(FaultRule(service.lower(), operation, error, probability))
    return FaultPlan(tuple(rules), seed)


class FaultInjector:
    """botocore handlers: ``before-call`` answers some calls with an error instead of sending them;
    ``after-call`` loses the answer of some calls that were sent (``ResponseLost``)."""

    def __init__(self, plan: FaultPlan, log_dir: str | None = None) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self._log = Path(log_dir) / f"faults-{os.getpid()}.log" if log_dir else None
        if self._log:
            self._log.parent.mkdir(parents=True, exist_ok=True)

    def draw(self, service: str, operation: str, *, lost: bool) -> str | None:
        """The error to inject into this call (``lost``: only ResponseLost rules; else only the others), or None."""
        for rule in self.plan.rules:
            if rule.lost == lost and rule.matches(service, operation):
                with self._lock:
                    hit = self._random.random() < rule.probability
                    if hit:
                        self.injected[f"{service}:{operation}:{rule.error}"] += 1
                if hit:
                    self._record(service, operation, rule.error)
                    return rule.error
        return None

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        error = self.draw(model.service_model.service_id.hyphenize(), model.name, lost=False)
        return error_response(error, model.name, params) if error else None

    def after_call(self, model: Any, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        """The call was sent and answered; lose the answer (the caller sees a read timeout)."""
        if (parsed or {}).get("ResponseMetadata", {}).get("paybatchInjected"):
            return  # never sent: there is no answer to lose
        if self.draw(model.service_model.service_id.hyphenize(), model.name, lost=True):
            raise ReadTimeoutError(endpoint_url=f"{model.name} (answer lost after the request was applied)")

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


def at_call(service: str, operation: str, *, lost: bool) -> None:
    """The same rules for an emulated API call that no botocore client makes (the local job launcher's StartJobRun):
    before the call (``lost=False``) an error raised as ``ClientError``; after it (``lost=True``) the answer lost."""
    injector = injector_from_env()
    if injector is None:
        return
    error = injector.draw(service, operation, lost=lost)
    if error == RESPONSE_LOST:
        raise ReadTimeoutError(endpoint_url=f"{operation} (answer lost after the request was applied)")
    if error:
        from botocore.exceptions import ClientError

        _, parsed = error_response(error, operation, {})
        raise ClientError(parsed, operation)


def install(client: Any) -> Any:
    """Hook ``PAYBATCH_FAULTS`` (if set) into one boto3 client; the client is returned."""
    injector = injector_from_env()
    if injector is not None:
        client.meta.events.register("before-call", injector, unique_id="paybatch-faults")
        client.meta.events.register("after-call", injector.after_call, unique_id="paybatch-faults-lost")
    return client


def read_fault_logs(log_dir: Path) -> Counter[str]:
    """Faults injected by every process that logged into ``log_dir``, by service:operation:error."""
    counts: Counter[str] = Counter()
    for path in sorted(log_dir.glob("faults-*.log")):
        counts.update(line for line in path.read_text().splitlines() if line)
    return counts
