"""The converted tables: Apache Iceberg tables in the environment's Glue Data Catalog database (pyiceberg).

One table per dataset (``<database>.<dataset>``, partitioned by the record date: ``day(<partition source>)``
named as the dataset's partition column) and one for its rejects (``<database>.<dataset>_rejects``,
partitioned by the day of ingestion). Runs write Parquet data files under the table's location themselves
and commit them here (``paybatch.convert.commit``); readers — Athena, Spark on Glue (``--datalake-formats
iceberg``), ``paybatch peek`` and ``paybatch query`` — read the committed snapshot, all of a run or none.
Tables are created on first use, and a field added to the dataset's YAML is added to the table (Iceberg
schema evolution: an optional column, older rows read it as null).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from paybatch import constants
from paybatch.config import Settings
from paybatch.convert.files import REJECT_SCHEMA
from paybatch.datasets import DatasetSchema

if TYPE_CHECKING:
    from pyiceberg.catalog.glue import GlueCatalog
    from pyiceberg.table import Table

REJECTS_SUFFIX = "_rejects"


def catalog_for(settings: Settings) -> GlueCatalog:
    """pyiceberg's Glue catalog for the environment (the local endpoint's Glue and S3 locally)."""
    from pyiceberg.catalog.glue import GlueCatalog

    properties: dict[str, str] = {"glue.region": settings.region, "s3.region": settings.region, "client.region": settings.region}
    if settings.target == "local" and settings.endpoint_url:
        for prefix in ("glue", "s3"):
            properties.update({f"{prefix}.endpoint": settings.endpoint_url, f"{prefix}.access-key-id": constants.LOCAL_ACCESS_KEY,
                               f"{prefix}.secret-access-key": constants.LOCAL_SECRET_KEY})
    return GlueCatalog(settings.catalog.database, **properties)


def table_location(settings: Settings, table: str) -> str:
    return f"s3://{settings.buckets.output}/warehouse/{table}"


def rows_table_name(schema: DatasetSchema) -> str:
    return schema.name


def rejects_table_name(schema: DatasetSchema) -> str:
    return f"{schema.name}{REJECTS_SUFFIX}"


def data_dir(settings: Settings, table: str) -> str:
    """Where a run's tasks write the table's data files (under the table's location, like Iceberg's own writers)."""
    return f"{table_location(settings, table)}/data"


def _ensure(catalog: GlueCatalog, settings: Settings, name: str, arrow_schema: pa.Schema, day_of: str, partition_name: str) -> Table:
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
    from pyiceberg.transforms import DayTransform

    identifier = f"{settings.catalog.database}.{name}"
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        try:
            table = catalog.create_table(identifier, schema=arrow_schema, location=table_location(settings, name),
                                         properties={"format-version": "2", "write.parquet.compression-codec": "snappy"})
        except TableAlreadyExistsError:  # another run created it first
            return catalog.load_table(identifier)
        try:
            with table.update_spec() as spec:
                spec.add_field(day_of, DayTransform(), partition_name)
        except CommitFailedException:  # another run partitioned it first
            pass
        return catalog.load_table(identifier)
    missing = [f.name for f in arrow_schema if f.name not in {c.name for c in table.schema().columns}]
    if missing:  # a new optional field in the dataset's YAML: evolve the table
        try:
            with table.update_schema() as update:
                update.union_by_name(arrow_schema)
        except CommitFailedException:
            pass  # another run evolved it: reloaded below
        table = catalog.load_table(identifier)
    return table


def rows_table(settings: Settings, schema: DatasetSchema, catalog: GlueCatalog | None = None) -> Table:
    """The dataset's table, created (partitioned by the record date) or evolved as its YAML declares."""
    return _ensure(catalog or catalog_for(settings), settings, rows_table_name(schema), schema.output_arrow_schema(),
                   schema.partition.source, schema.partition.column)


def rejects_table(settings: Settings, schema: DatasetSchema, catalog: GlueCatalog | None = None) -> Table:
    return _ensure(catalog or catalog_for(settings), settings, rejects_table_name(schema), REJECT_SCHEMA, "_ingested_at", "ingest_day")


def list_tables(settings: Settings, catalog: GlueCatalog | None = None) -> list[str]:
    """The Iceberg tables of the environment's database, by name."""
    catalog = catalog or catalog_for(settings)
    return sorted(name for _, name in catalog.list_tables(settings.catalog.database))


def load(settings: Settings, name: str, catalog: GlueCatalog | None = None) -> Any:
    return (catalog or catalog_for(settings)).load_table(f"{settings.catalog.database}.{name}")
