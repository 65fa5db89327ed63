"""Where bytes live: S3 URIs and local paths as pyarrow filesystems, and the S3 calls every part makes the same way."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from paybatch.retry import retrying

if TYPE_CHECKING:
    import pyarrow.fs as pafs


def split_s3_uri(uri: str) -> tuple[str, str]:
    rest = uri.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


def filesystem_for(uri: str, endpoint_url: str | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for an s3:// URI or a local path.

    ``endpoint_url`` (default: AWS_ENDPOINT_URL) points S3 at the local endpoint; None means AWS.
    """
    import pyarrow.fs as pafs  # the Lambda functions use this module's S3 calls and have no pyarrow

    parsed = urlparse(uri)
    if parsed.scheme in {"s3", "s3a"}:
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        kwargs: dict[str, Any] = {"region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        if endpoint:
            ep = urlparse(endpoint)
            kwargs.update(endpoint_override=ep.netloc, scheme=ep.scheme or "http",
                          access_key=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                          secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
        return pafs.S3FileSystem(**kwargs), f"{parsed.netloc}{parsed.path}".rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(uri).rstrip("/")


def head_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """HEAD an object (retried over throttling and 5xx); None if it does not exist (any other error is raised)."""
    try:
        return dict(retrying(s3.head_object, Bucket=bucket, Key=key))
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
