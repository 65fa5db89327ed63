"""Raw input retention: a converted object is tagged, and the input bucket's lifecycle rule expires tagged objects.

An object no run converted (pending, failed) carries no tag and is never expired: nothing is lost to
retention. The tag is per object version, so a key uploaded again is untagged until its own run converts it.
The same rule is applied locally (`paybatch local up`) and by the CDK stack (``lifecycle_rule``).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from paybatch.config import Settings

CONVERTED_TAG = "paybatch-converted"
RULE_ID = "expire-converted-input"


def mark_converted(s3: Any, bucket: str, key: str) -> None:
    """Tag one input object as converted (its lifecycle rule may now expire it)."""
    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": CONVERTED_TAG, "Value": "true"}]})


def is_converted(s3: Any, bucket: str, key: str, etag: str) -> bool:
    """Whether a run converted this version of the object (an object that is gone counts as done)."""
    try:
        tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"NoSuchKey", "404", "NotFound"}:
            return True
        raise
    return any(t["Key"] == CONVERTED_TAG and t["Value"] == "true" for t in tags)


def lifecycle_rule(settings: Settings) -> dict[str, Any] | None:
    """The input bucket's S3 lifecycle rule (S3 API shape), or None where raw input is kept for good."""
    days = settings.input_retention.expire_after_days
    if days is None:
        return None
    return {"ID": RULE_ID, "Status": "Enabled", "Filter": {"Tag": {"Key": CONVERTED_TAG, "Value": "true"}},
            "Expiration": {"Days": days}}


def apply_lifecycle(s3: Any, settings: Settings) -> None:
    """Put the input bucket's lifecycle configuration (abort stale multipart uploads; expire converted input)."""
    rules: list[dict[str, Any]] = [{"ID": "abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
                                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]
    rule = lifecycle_rule(settings)
    if rule:
        rules.append(rule)
    s3.put_bucket_lifecycle_configuration(Bucket=settings.buckets.input, LifecycleConfiguration={"Rules": rules})
