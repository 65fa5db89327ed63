"""Retries of idempotent AWS calls over what botocore's own retries left: a read, a HEAD, an upsert.

Botocore retries throttling and 5xx a few times inside one call; at volume some still come through
(``PAYBATCH_FAULTS`` injects exactly those). A read that can be repeated is repeated here, with
jittered backoff, before a run or a scheduler step gives up on it. Conditional writes are not retried
here: ``TrackingStore.transact`` retries them with their outcome in mind.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

T = TypeVar("T")

RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown", "RequestTimeout", "RequestTimeoutException",
    "InternalError", "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
    "TransactionInProgressException",
})
ATTEMPTS = 6
PAUSE = 0.05


def is_retryable(exc: BaseException) -> bool:
    """A throttling, 5xx or timeout answer (or a dropped connection): worth asking again."""
    if isinstance(exc, ConnectionError | ReadTimeoutError):
        return True
    if isinstance(exc, S3UploadFailedError):  # boto3's managed upload wraps the answer it gave up on
        cause = exc.__cause__ or exc.__context__
        return cause is not None and is_retryable(cause)
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in RETRYABLE_CODES or status >= 500
    return False


def retrying(call: Callable[..., T], *args: Any, attempts: int = ATTEMPTS, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, again after a retryable error, up to ``attempts`` times; the last error is raised."""
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if attempt + 1 >= attempts or not is_retryable(exc):
                raise
            time.sleep(min(2.0, PAUSE * 2**attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")
