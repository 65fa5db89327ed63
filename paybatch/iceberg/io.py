"""pyiceberg's S3 file I/O, retried like every other AWS call of the project, and under ``PAYBATCH_FAULTS``.

An Iceberg commit reads and writes a few dozen objects (metadata JSON, manifest lists, manifests, the data
files' footers) through pyiceberg's FileIO — pyarrow's S3 client, which neither botocore's hooks nor
``paybatch.retry`` see. ``RetryingFileIO`` is pyarrow's FileIO with each object operation retried over
throttling, 5xx and dropped connections (as ``paybatch.retry`` retries boto3 calls): a read is repeated; a
metadata write is buffered and uploaded whole again (every object an Iceberg commit writes has a name of its own, so
a repeat after a lost answer writes the same bytes); a delete is repeated (already gone is done).

The process's ``PAYBATCH_FAULTS`` rules are applied inside those retries, where botocore's are: ``s3:PutObject``
when a file is written (an error before the write; a lost answer after it landed), ``s3:GetObject`` when one
is opened, ``s3:DeleteObject`` when one is deleted, as the ``OSError`` pyarrow raises for AWS's answers.
``paybatch.iceberg.catalog.catalog_for`` always selects it (pyiceberg's ``py-io-impl``).
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pyiceberg.io import InputFile, InputStream, OutputFile, OutputStream
from pyiceberg.io.pyarrow import PyArrowFileIO

from paybatch import faults
from paybatch.retry import ATTEMPTS, PAUSE

T = TypeVar("T")
# How pyarrow words the S3 answers worth asking again (its errors are OSError, with AWS's code in the text).
TRANSIENT = ("SLOW_DOWN", "SlowDown", "HTTP status 5", "503", "500", "INTERNAL_FAILURE", "InternalError",
             "SERVICE_UNAVAILABLE", "ServiceUnavailable", "NETWORK_CONNECTION", "REQUEST_TIMEOUT", "RequestTimeout",
             "THROTTLING", "Throttling", "timed out", "Connection reset")


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and any(t in str(exc) for t in TRANSIENT)


def _inject(operation: str, location: str, *, lost: bool) -> None:
    injector = faults.injector_from_env()
    if injector is None:
        return
    error = injector.draw("s3", operation, lost=lost)
    if error == faults.RESPONSE_LOST:
        raise OSError(f"When {operation} '{location}': AWS Error NETWORK_CONNECTION during {operation} operation: "
                      "the answer was lost after the request was applied (read timeout)")
    if error:
        status, message = faults.ERRORS[error]
        raise OSError(f"When {operation} '{location}': AWS Error {error} (HTTP status {status}) during {operation} "
                      f"operation: {message}")


def _retried(operation: str, location: str, call: Callable[[], T]) -> T:
    for attempt in range(ATTEMPTS):
        try:
            _inject(operation, location, lost=False)
            result = call()
            _inject(operation, location, lost=True)
            return result
        except OSError as exc:
            if attempt + 1 >= ATTEMPTS or not is_transient(exc):
                raise
            time.sleep(min(2.0, PAUSE * 2**attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


class _Upload(io.BytesIO):
    """Buffers what pyiceberg writes; ``close`` uploads it whole, retried (metadata and manifests are small)."""

    def __init__(self, inner: Any, location: str) -> None:
        super().__init__()
        self._inner = inner
        self._location = location

    def close(self) -> None:
        if self.closed:
            return
        data = self.getvalue()

        def upload() -> None:
            with self._inner.create(overwrite=True) as stream:
                stream.write(data)

        _retried("PutObject", self._location, upload)
        super().close()


class _File(InputFile, OutputFile):
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._location = inner.location

    def __len__(self) -> int:
        return _retried("HeadObject", self._location, lambda: len(self._inner))

    def exists(self) -> bool:
        return _retried("HeadObject", self._location, lambda: bool(self._inner.exists()))

    def open(self, seekable: bool = True) -> InputStream:
        return _retried("GetObject", self._location, lambda: self._inner.open(seekable=seekable))  # type: ignore[no-any-return]

    def create(self, overwrite: bool = False) -> OutputStream:
        if self._location.endswith(".parquet"):  # a data file pyiceberg writes itself (compaction): streamed, not buffered
            return self._inner.create(overwrite=overwrite)  # type: ignore[no-any-return]
        if not overwrite and self.exists():
            raise FileExistsError(f"Cannot create file, already exists: {self._location}")
        return _Upload(self._inner, self._location)

    def to_input_file(self) -> _File:
        return self


class RetryingFileIO(PyArrowFileIO):
    """pyarrow's FileIO with every object operation retried, and ``PAYBATCH_FAULTS``'s ``s3`` rules applied."""

    def new_input(self, location: str) -> _File:  # type: ignore[override]
        return _File(super().new_input(location))

    def new_output(self, location: str) -> _File:  # type: ignore[override]
        return _File(super().new_output(location))

    def delete(self, location: str | InputFile | OutputFile) -> None:
        path = location if isinstance(location, str) else location.location

        def delete() -> None:
            try:
                super(RetryingFileIO, self).delete(path)
            except FileNotFoundError:
                pass  # gone already (an earlier attempt whose answer was lost)

        _retried("DeleteObject", path, delete)
