"""Where deployed code goes (the artifacts bucket), shared by the deploy commands."""

from __future__ import annotations

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients
from paybatch.errors import PaybatchError


def require_artifacts_bucket(clients: AwsClients) -> str:
    """The artifacts bucket's name; a clear error when the environment has none (nothing deployed yet)."""
    settings = clients.settings
    bucket = settings.buckets.artifacts
    try:
        clients.s3.head_bucket(Bucket=bucket)
    except ClientError:
        raise PaybatchError(f"artifacts bucket {bucket} does not exist in {settings.env!r}: deploy the stack first "
                            "(or `paybatch local up` locally)") from None
    return bucket
