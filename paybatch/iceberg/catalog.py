"""The converted tables: Apache Iceberg tables in the environment's Glue Data Catalog database (pyiceberg).

One table per dataset (``<database>.<dataset>``, partitioned by the record date: ``day(<partition source>)``
named as the dataset's partition column) and one for its rejects (``<database>.<dataset>_rejects``,
partitioned by the day of ingestion). Runs write Parquet data files under the table's location themselves
and commit them here (``paybatch.convert.commit``); readers — Athena, Spark on Glue (``--datalake-formats
iceberg``), ``paybatch peek`` and ``paybatch query`` — read the committed snapshot, all of a run or none.
Tables are created on first use, and a field added to the dataset's YAML is added to the table (Iceberg
schema evolution: an optional column, older rows read it as null).

The catalog is ``paybatch.iceberg.glue.OutcomeAwareGlueCatalog`` over a Glue client made by ``AwsClients``
(so ``PAYBATCH_FAULTS`` reaches it), with ``paybatch.iceberg.io.RetryingFileIO`` for its S3 objects.
The batch id column keeps full (untruncated) bounds in the tables' metadata: Iceberg's conflict check of a
batch's replacement then tells apart batch ids made in the same second (``20251223-101010-…``).
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from paybatch import constants
from paybatch.aws import AwsClients
from paybatch.config import Settings
from paybatch.datasets import DatasetSchema
from paybatch.retry import is_retryable

if TYPE_CHECKING:
    from pyiceberg.catalog.glue import GlueCatalog
    from pyiceberg.table import Table

REJECT_SCHEMA = pa.schema([
    pa.field("source_file", pa.string()), pa.field("line_number", pa.int64()), pa.field("raw", pa.binary()),
    pa.field("raw_text", pa.string()), pa.field("reason", pa.string()), pa.field("_batch_id", pa.string()),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC")),
])
# The rejects table of every dataset: each line that did not convert, with its reason.
REJECTS_SUFFIX = "_rejects"
BATCH_COLUMN = "_batch_id"
ENSURE_ATTEMPTS = 12
# Full min/max of the batch id in each data file's metadata (pyiceberg's default keeps 16 characters).
TABLE_PROPERTIES = {"format-version": "2", "write.parquet.compression-codec": "snappy",
                    f"write.metadata.metrics.column.{BATCH_COLUMN}": "full"}


def catalog_for(settings: Settings, clients: AwsClients | None = None) -> GlueCatalog:
    """The environment's Glue catalog (the local endpoint's Glue and S3 locally): see the module docstring."""
    from paybatch.iceberg.glue import OutcomeAwareGlueCatalog  # pyiceberg's catalog: not on Spark executors' path

    properties: dict[str, str] = {"glue.region": settings.region, "s3.region": settings.region, "client.region": settings.region}
    if settings.target == "local" and settings.endpoint_url:
        for prefix in ("glue", "s3"):
            properties.update({f"{prefix}.endpoint": settings.endpoint_url, f"{prefix}.access-key-id": constants.LOCAL_ACCESS_KEY,
                               f"{prefix}.secret-access-key": constants.LOCAL_SECRET_KEY})
    properties["py-io-impl"] = "paybatch.iceberg.io.RetryingFileIO"
    glue = (clients or AwsClients(settings)).glue
    return OutcomeAwareGlueCatalog(settings.catalog.database, client=glue, **properties)


def table_location(settings: Settings, table: str) -> str:
    return f"s3://{settings.buckets.output}/warehouse/{table}"


def rows_table_name(schema: DatasetSchema) -> str:
    return schema.name


def rejects_table_name(schema: DatasetSchema) -> str:
    return f"{schema.name}{REJECTS_SUFFIX}"


def data_dir(settings: Settings, table: str) -> str:
    """Where a run's tasks write the table's data files (under the table's location, like Iceberg's own writers)."""
    return f"{table_location(settings, table)}/data"


def ensure_table(catalog: GlueCatalog, settings: Settings, name: str, arrow_schema: pa.Schema,
                 day_partition: tuple[str, str] | None = None) -> Table:
    """Load the table, creating, partitioning (``(source column, partition name)``: by day), evolving or
    re-configuring it as needed.

    Each step is idempotent and checked on a fresh load, so a step that lost a race (or whose answer was
    lost) is simply looked at again; ``ENSURE_ATTEMPTS`` loads at most.
    """
    from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException, NoSuchTableError, TableAlreadyExistsError
    from pyiceberg.transforms import DayTransform

    identifier = f"{settings.catalog.database}.{name}"
    last: Exception | None = None
    for _ in range(ENSURE_ATTEMPTS):
        try:
            try:
                table = catalog.load_table(identifier)
            except NoSuchTableError:
                try:
                    catalog.create_table(identifier, schema=arrow_schema, location=table_location(settings, name),
                                         properties=TABLE_PROPERTIES)
                except TableAlreadyExistsError:  # another run created it first (or our answer was lost)
                    pass
                continue
            if day_partition and not table.spec().fields:
                with table.update_spec() as spec:
                    spec.add_field(day_partition[0], DayTransform(), day_partition[1])
                continue
            if any(table.properties.get(k) != v for k, v in TABLE_PROPERTIES.items() if k.startswith("write.metadata")):
                with table.transaction() as tx:
                    tx.set_properties({k: v for k, v in TABLE_PROPERTIES.items() if k.startswith("write.metadata")})
                continue
            if [f.name for f in arrow_schema if f.name not in {c.name for c in table.schema().columns}]:
                with table.update_schema() as update:  # a new optional field in the dataset's YAML: evolve the table
                    update.union_by_name(arrow_schema)
                continue
            return table
        except (CommitFailedException, CommitStateUnknownException, OSError) as exc:  # raced, or the answer was lost
            last = exc
            time.sleep(random.uniform(0.05, 0.3))
        except Exception as exc:
            if not is_retryable(exc):
                raise
            last = exc
            time.sleep(random.uniform(0.05, 0.3))
    raise RuntimeError(f"table {identifier} could not be created or brought up to date: {type(last).__name__}: {last}")


def rows_table(settings: Settings, schema: DatasetSchema, catalog: GlueCatalog | None = None) -> Table:
    """The dataset's table, created (partitioned by the record date) or evolved as its YAML declares."""
    return ensure_table(catalog or catalog_for(settings), settings, rows_table_name(schema), schema.output_arrow_schema(),
                        (schema.partition.source, schema.partition.column))


def rejects_table(settings: Settings, schema: DatasetSchema, catalog: GlueCatalog | None = None) -> Table:
    return ensure_table(catalog or catalog_for(settings), settings, rejects_table_name(schema), REJECT_SCHEMA,
                        ("_ingested_at", "ingest_day"))


def list_tables(settings: Settings, catalog: GlueCatalog | None = None) -> list[str]:
    """The Iceberg tables of the environment's database, by name (none while nothing was converted: no database yet)."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    catalog = catalog or catalog_for(settings)
    try:
        return sorted(name for _, name in catalog.list_tables(settings.catalog.database))
    except NoSuchNamespaceError:
        return []


def load(settings: Settings, name: str, catalog: GlueCatalog | None = None) -> Any:
    return (catalog or catalog_for(settings)).load_table(f"{settings.catalog.database}.{name}")
