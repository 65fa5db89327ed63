"""Where generated files go: the environment's buckets, or one local folder / S3 prefix.

A role names the destination (lake, lake_authorization, lake_clearing, lake_chargeback,
restricted, input); the sink maps it to a bucket or to ``<output>/<role>/``. Sinks are
picklable so Spark tasks write their own files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paybatch.config import Settings
from paybatch.storage import split_s3_uri

ROLES = ("lake", "lake_authorization", "lake_clearing", "lake_chargeback", "restricted", "input")


@dataclass
class LocalSink:
    """``root/<role>/<key>`` on this machine."""

    root: Path

    def path(self, role: str, key: str) -> Path:
        return self.root / role / key

    def uri(self, role: str, key: str = "") -> str:
        return str(self.path(role, key))

    def put_bytes(self, role: str, key: str, data: bytes) -> None:
        target = self.path(role, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)  # readers never see half a file

    def put_file(self, role: str, key: str, source: Path) -> None:
        target = self.path(role, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), target)

    def get_bytes(self, role: str, key: str) -> bytes:
        return self.path(role, key).read_bytes()


@dataclass
class S3Sink:
    """Buckets per role (the environment's), or every role under one ``s3://bucket/prefix/<role>/``."""

    settings: Settings
    buckets: dict[str, str]
    prefix: str = ""
    _client: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def for_environment(cls, settings: Settings) -> S3Sink:
        b = settings.buckets
        return cls(settings, {"lake": b.lake, "lake_authorization": b.lake_authorization, "lake_clearing": b.lake_clearing,
                              "lake_chargeback": b.lake_chargeback, "restricted": b.restricted, "input": b.input})

    @classmethod
    def for_prefix(cls, settings: Settings, uri: str) -> S3Sink:
        bucket, prefix = split_s3_uri(uri)
        return cls(settings, dict.fromkeys(ROLES, bucket), prefix)

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "buckets": self.buckets, "prefix": self.prefix, "_client": None}

    @property
    def s3(self) -> Any:
        if self._client is None:
            from paybatch.aws import AwsClients  # sinks travel to Spark executors: a client only where one writes

            self._client = AwsClients(self.settings).s3
        return self._client

    def _key(self, role: str, key: str) -> str:
        return "/".join(p for p in (self.prefix, role if self.prefix else "", key) if p)

    def uri(self, role: str, key: str = "") -> str:
        return f"s3://{self.buckets[role]}/{self._key(role, key)}"

    def put_bytes(self, role: str, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.buckets[role], Key=self._key(role, key), Body=data)

    def put_file(self, role: str, key: str, source: Path) -> None:
        self.s3.upload_file(str(source), self.buckets[role], self._key(role, key))  # multipart for large feed files
        source.unlink()

    def get_bytes(self, role: str, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.buckets[role], Key=self._key(role, key))["Body"].read()
        return body


Sink = LocalSink | S3Sink


def sink_for(settings: Settings, output: str | None) -> Sink:
    """The environment's buckets by default; ``output`` (a folder or s3:// URI) takes everything instead."""
    if output is None:
        return S3Sink.for_environment(settings)
    if output.startswith(("s3://", "s3a://")):
        return S3Sink.for_prefix(settings, output)
    return LocalSink(Path(output).resolve())
