"""The generator's lake tables in the Glue Data Catalog, queryable by Athena without registering partitions.

Each of the six tables is a Parquet table over the combined lake bucket (``s3://<lake>/<table>/``) whose
date partitions are found by **partition projection**: one ``dt`` key of type date, its values projected
from a range and put into the key by a storage location template — ``<table>/yyyy/mm/dd/`` as seed 000
lays them out (or ``<table>/dt=YYYY-MM-DD/`` for the Hive layout). The PAN dimension (clear card numbers,
the restricted bucket) is never registered here. Local provisioning and the CDK stack use the same
``TableInput`` from this module.
"""

from __future__ import annotations

from typing import Any

from paybatch.config import Settings
from paybatch.datasets import load_schema
from paybatch.generate.spec import TABLES, load_spec

GLUE_TYPES = {"string": "string", "int64": "bigint", "double": "double", "bool": "boolean", "timestamp": "timestamp",
              "date": "date"}
PROJECTION_START = "2000/01/01"


def lake_table_inputs(settings: Settings) -> list[dict[str, Any]]:
    """Glue ``TableInput`` of every generator table (not the PAN dimension), with partition projection."""

    hive = load_spec().output.layout == "hive"
    date_format, folder = ("yyyy-MM-dd", "dt=${dt}") if hive else ("yyyy/MM/dd", "${dt}")
    start = PROJECTION_START.replace("/", "-") if hive else PROJECTION_START
    inputs = []
    for table in TABLES:
        location = f"s3://{settings.buckets.lake}/{table}/"
        inputs.append({
            "Name": table,
            "Description": f"paybatch generator: {table} (partition projection on dt; no partitions to add)",
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": "dt", "Type": "date"}],
            "Parameters": {
                "classification": "parquet", "EXTERNAL": "TRUE",
                "projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": date_format,
                "projection.dt.range": f"{start},NOW", "projection.dt.interval": "1", "projection.dt.interval.unit": "DAYS",
                "storage.location.template": f"{location}{folder}",
            },
            "StorageDescriptor": {
                "Columns": [{"Name": f.name, "Type": GLUE_TYPES[f.type]} for f in load_schema(table).fields],
                "Location": location,
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
            },
        })
    return inputs
