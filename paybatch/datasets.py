"""Dataset schemas, declared once in YAML (paybatch/schemas/<name>.yaml) and read by every part.

The converter builds its Arrow and Spark schemas from here; required fields, nullability and
the partition column are part of the declaration, not of any one engine.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paybatch.errors import ConfigError

SCHEMA_DIR = resources.files("paybatch") / "schemas"  # a folder, or a folder inside paybatch.zip on Glue
FieldType = Literal["string", "int64", "double", "bool", "timestamp", "date"]
LINEAGE_COLUMNS = ("_rescued", "_source_file", "_batch_id", "_ingested_at")


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    type: FieldType
    required: bool = False
    categorical: bool = False  # few distinct values: written with Parquet dictionary pages (others are not tried)


class PartitionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    source: str


class DatasetSchema(BaseModel):
    """One versioned dataset: its fields and how its output is partitioned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int = Field(ge=1)
    partition: PartitionSpec
    fields: tuple[FieldSpec, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def dictionary_columns(self) -> list[str]:
        """Output columns worth dictionary pages: the categorical fields and the per-file lineage strings."""
        return [f.name for f in self.fields if f.categorical] + ["_source_file", "_batch_id"]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def arrow_schema(self) -> Any:
        """The parse schema (input fields only, every field nullable: required is checked per row)."""
        import pyarrow as pa

        types = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(), "bool": pa.bool_(),
                 "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32()}
        return pa.schema([pa.field(f.name, types[f.type], nullable=True) for f in self.fields])

    def output_arrow_schema(self) -> Any:
        """What the converter writes: the fields plus lineage columns (partition column in the path)."""
        import pyarrow as pa

        lineage = [pa.field("_rescued", pa.string()), pa.field("_source_file", pa.string()),
                   pa.field("_batch_id", pa.string()), pa.field("_ingested_at", pa.timestamp("us", tz="UTC"))]
        return pa.schema(list(self.arrow_schema()) + lineage)


@lru_cache(maxsize=16)
def load_schema(name: str) -> DatasetSchema:
    """The dataset schema named ``name``; ConfigError naming the known ones if there is none."""
    path = SCHEMA_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.name.removesuffix(".yaml") for p in SCHEMA_DIR.iterdir() if p.name.endswith(".yaml")))
        raise ConfigError(f"unknown dataset {name!r} (known: {known})")
    try:
        schema = DatasetSchema.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"dataset schema {path} is invalid: {exc}") from None
    if schema.partition.source not in schema.field_names:
        raise ConfigError(f"dataset schema {path}: partition source {schema.partition.source!r} is not a field")
    return schema
