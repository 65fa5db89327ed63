"""Size and extension checks, and the crash-safe move of a rejected file to the quarantine bucket.

The move is: copy (managed copy: multipart above 5 GB) to
``quarantine/YYYY-MM-DD/<reason>/<key>`` tagged with the source etag → verify the copy →
delete the original, only if it is still that version (``IfMatch``) → mark the item ``quarantined``. Every step can be repeated: a crash
between any two leaves the item ``quarantining`` and the next attempt (redelivery or the
scheduler) finishes the move without losing the file or copying it twice.
"""

from __future__ import annotations

from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from paybatch.aws import AwsClients
from paybatch.builder.errors import QuarantineError
from paybatch.config import FileValidationConfig
from paybatch.contracts.tracking import FileStatus, QuarantineReason
from paybatch.retry import retrying
from paybatch.storage import head_object
from paybatch.transitions import StatusMoves

SOURCE_ETAG_META = "paybatch-source-etag"
_TRANSFER = TransferConfig(multipart_threshold=5 * 1024**3 - 1, multipart_chunksize=512 * 1024**2, max_concurrency=8)


def splittable(key: str) -> bool:
    """Uncompressed NDJSON: a conversion run can cut it into newline-aligned byte ranges (gzip cannot be)."""
    return key.lower().endswith((".ndjson", ".jsonl", ".json"))


def classify(key: str, size: int, rules: FileValidationConfig, *, accept_large: bool = False) -> QuarantineReason | None:
    """Why a file must be quarantined, or None if it is acceptable.

    ``accept_large`` (a bulk backfill) accepts an oversized file that conversion can split into byte ranges.
    """
    if not any(key.lower().endswith(ext) for ext in rules.allowed_extensions):
        return QuarantineReason.UNSUPPORTED
    if size == 0 or size < rules.min_bytes:
        return QuarantineReason.TOO_SMALL
    if size > rules.max_bytes and not (accept_large and splittable(key)):
        return QuarantineReason.TOO_LARGE
    return None


def quarantine_key(date_prefix: str, reason: str, key: str) -> str:
    return f"quarantine/{date_prefix}/{reason}/{key}"


class Quarantine:
    """Moves files that failed validation out of the input bucket, once."""

    def __init__(self, clients: AwsClients, moves: StatusMoves) -> None:
        self.s3 = clients.s3
        self.bucket = clients.settings.buckets.quarantine
        self.moves = moves

    def _copied(self, dest_key: str, item: dict[str, Any]) -> bool:
        head = head_object(self.s3, self.bucket, dest_key)
        return bool(
            head
            and head.get("Metadata", {}).get(SOURCE_ETAG_META) == item["etag"]
            and int(head["ContentLength"]) == int(item["size_bytes"])
        )

    def _delete_original(self, bucket: str, key: str, etag: str) -> None:
        """Delete the original only while it is still the version quarantined (S3's conditional delete, ``IfMatch``).

        A new upload to the same key between the copy and the delete is kept: it has its own notification and
        item. Already gone (an earlier attempt, or a lost answer) is done.
        """
        try:
            retrying(self.s3.delete_object, Bucket=bucket, Key=key, IfMatch=etag)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in {"PreconditionFailed", "412"}:
                return  # replaced since: the new version is not ours to delete
            if code in {"NoSuchKey", "404", "NotFound"}:
                return
            raise

    def move(self, item: dict[str, Any]) -> str:
        """Finish the move of a ``quarantining`` item; returns the quarantine path."""
        source_bucket, key, etag = item["bucket"], item["file_key"], item["etag"]
        dest_key = quarantine_key(item["date_prefix"], item["quarantine_reason"], key)
        if not self._copied(dest_key, item):
            source = head_object(self.s3, source_bucket, key)
            if source is None or source["ETag"].strip('"') != etag:
                raise QuarantineError(
                    f"cannot quarantine s3://{source_bucket}/{key}: the object (etag {etag}) is gone or was "
                    "replaced and no verified copy exists"
                )
            self.s3.copy(
                {"Bucket": source_bucket, "Key": key},
                self.bucket,
                dest_key,
                ExtraArgs={
                    "Metadata": {SOURCE_ETAG_META: etag, "paybatch-reason": item["quarantine_reason"]},
                    "MetadataDirective": "REPLACE",
                },
                Config=_TRANSFER,
            )
            if not self._copied(dest_key, item):
                raise QuarantineError(f"the quarantine copy s3://{self.bucket}/{dest_key} did not verify; original kept")
        self._delete_original(source_bucket, key, etag)
        path = f"s3://{self.bucket}/{dest_key}"
        moved = self.moves.move_file(
            item["date_prefix"], key, FileStatus.QUARANTINED, expected=FileStatus.QUARANTINING,
            set_values={"quarantine_path": path}, etag=etag,
            events={"file_quarantined": (1, int(item["size_bytes"])),
                    f"file_quarantined:{item['quarantine_reason']}": (1, int(item["size_bytes"]))},
        )
        if not moved.done:
            raise QuarantineError(f"s3://{source_bucket}/{key} was copied to {path}, but its item is now "
                                  f"{moved.previous or 'gone'}, not quarantining")
        return path
