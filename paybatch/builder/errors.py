"""Errors of the manifest builder; each says what happened to which file."""

from __future__ import annotations

from paybatch.contracts.events import UnrecognizedMessage
from paybatch.errors import InternalFailure, PaybatchError

__all__ = ["DateBusy", "FileBusy", "QuarantineError", "UnrecognizedMessage"]


class FileBusy(InternalFailure):
    """A new version of a file arrived while the previous one is in a conversion run; retried later."""


class QuarantineError(InternalFailure):
    """A quarantine copy could not be made or verified; the original is kept and the move retried."""


class DateBusy(PaybatchError):
    """Another builder kept a date's packing lock longer than the caller would wait; nothing was packed."""
