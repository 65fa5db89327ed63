"""The manifest JSON contract (version 1): what a conversion run is told to convert.

Written by the manifest builder to ``s3://<manifest bucket>/manifests/YYYY-MM-DD/manifest-<batch_id>.json``
and read by the conversion job (Spark or the light path). See docs/manifest.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_VERSION: Literal[1] = 1


class ManifestFile(BaseModel):
    """One input object, pinned to the version (etag) that was registered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    key: str
    size: int = Field(ge=0)
    etag: str


class ManifestTotals(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file_count: int = Field(ge=0)
    total_bytes: int = Field(ge=0)


class Manifest(BaseModel):
    """A batch of files to convert together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_version: Literal[1] = MANIFEST_VERSION
    batch_id: str
    env: str
    date_prefix: str
    created_at: datetime
    input_format: Literal["ndjson", "parquet"] = "ndjson"
    schema_name: str = "authorization"
    files: tuple[ManifestFile, ...]
    totals: ManifestTotals

    @classmethod
    def build(
        cls, *, batch_id: str, env: str, date_prefix: str, created_at: datetime, files: list[ManifestFile],
        input_format: Literal["ndjson", "parquet"] = "ndjson", schema_name: str = "authorization",
    ) -> Manifest:
        return cls(
            batch_id=batch_id, env=env, date_prefix=date_prefix, created_at=created_at, input_format=input_format,
            schema_name=schema_name, files=tuple(files),
            totals=ManifestTotals(file_count=len(files), total_bytes=sum(f.size for f in files)),
        )


def manifest_key(date_prefix: str, batch_id: str) -> str:
    return f"manifests/{date_prefix}/manifest-{batch_id}.json"


def input_format_for(keys: list[str]) -> Literal["ndjson", "parquet"]:
    """Parquet when every file is Parquet; NDJSON (plain or gzip) otherwise."""
    return "parquet" if keys and all(k.endswith(".parquet") for k in keys) else "ndjson"
