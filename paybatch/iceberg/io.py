"""pyiceberg's S3 file I/O under ``PAYBATCH_FAULTS``: an Iceberg commit writes manifests, manifest lists and
metadata JSON through pyiceberg's own FileIO (pyarrow's S3 client, which botocore's hooks never see).

``FaultInjectingFileIO`` is pyarrow's FileIO with the process's fault rules applied at the same points a
botocore client meets them: ``s3:PutObject`` when a file is written (an error before the write; a lost
answer after it landed), ``s3:GetObject`` when one is opened, ``s3:DeleteObject`` when one is deleted. The
errors are the ``OSError`` pyarrow raises for AWS's answers. ``paybatch.catalog.catalog_for`` selects it
(pyiceberg's ``py-io-impl``) whenever ``PAYBATCH_FAULTS`` is set.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.io import InputFile, InputStream, OutputFile, OutputStream
from pyiceberg.io.pyarrow import PyArrowFileIO

from paybatch import faults


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


class _Output(OutputStream):
    """A stream whose close is the PUT: a fault before it leaves nothing written; a lost answer, the file written."""

    def __init__(self, stream: Any, location: str) -> None:
        self._stream = stream
        self._location = location

    def write(self, b: bytes) -> int:
        return int(self._stream.write(b))

    def tell(self) -> int:
        return int(self._stream.tell())

    def close(self) -> None:
        _inject("PutObject", self._location, lost=False)
        self._stream.close()
        _inject("PutObject", self._location, lost=True)

    def __enter__(self) -> _Output:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _File(InputFile, OutputFile):
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._location = inner.location

    def __len__(self) -> int:
        return len(self._inner)

    def exists(self) -> bool:
        return bool(self._inner.exists())

    def open(self, seekable: bool = True) -> InputStream:
        _inject("GetObject", self._location, lost=False)
        return self._inner.open(seekable=seekable)  # type: ignore[no-any-return]

    def create(self, overwrite: bool = False) -> OutputStream:
        return _Output(self._inner.create(overwrite=overwrite), self._location)

    def to_input_file(self) -> _File:
        return self


class FaultInjectingFileIO(PyArrowFileIO):
    """pyarrow's FileIO, meeting ``PAYBATCH_FAULTS``'s ``s3`` rules on every read, write and delete."""

    def new_input(self, location: str) -> _File:  # type: ignore[override]
        return _File(super().new_input(location))

    def new_output(self, location: str) -> _File:  # type: ignore[override]
        return _File(super().new_output(location))

    def delete(self, location: str | InputFile | OutputFile) -> None:
        path = location if isinstance(location, str) else location.location
        _inject("DeleteObject", path, lost=False)
        super().delete(path)
        _inject("DeleteObject", path, lost=True)
