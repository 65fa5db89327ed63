"""Answers now: SQL over the environment's committed tables with an embedded engine (DuckDB over Arrow scans).

Every Iceberg table of the catalog database that the statement names is scanned (its current snapshot,
through pyiceberg) and registered with DuckDB under its own name; DuckDB runs the statement. The generator's
lake tables (the lake database's Glue tables, partition projection on ``dt``) are ``lake.<table>``: Parquet read
where their Glue definition says, ``dt`` taken from the folders as Athena's projection takes it. A table
name that is an SQL keyword (``authorization`` is one) is quoted for the user. Read-only: one SELECT (or
EXPLAIN) per call, and DuckDB without file, network or extension access (``COPY … TO``, ``ATTACH`` and
``read_csv`` are refused). For the user who wants an answer at once; Athena and Spark read the same tables at scale.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from paybatch.aws import AwsClients
from paybatch.config import Settings
from paybatch.errors import PaybatchError
from paybatch.iceberg.catalog import catalog_for, list_tables
from paybatch.storage import filesystem_for

READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")
LAKE = "lake"
_DATE_FOLDERS = pa.schema([("_y", pa.string()), ("_m", pa.string()), ("_d", pa.string())])  # yyyy/MM/dd


def lake_tables(settings: Settings, clients: AwsClients | None = None) -> dict[str, dict[str, Any]]:
    """The lake database's Glue tables by name (none where the database does not exist)."""
    glue = (clients or AwsClients(settings)).glue
    try:
        pages = glue.get_paginator("get_tables").paginate(DatabaseName=settings.catalog.lake_database)
        return {t["Name"]: t for page in pages for t in page["TableList"]}
    except glue.exceptions.EntityNotFoundException:
        return {}


def _register_lake_table(connection: Any, settings: Settings, table: dict[str, Any]) -> None:
    """``lake.<name>``: the table's Parquet files, with ``dt`` a DATE from its folders (``yyyy/MM/dd`` or ``dt=``)."""
    name = table["Name"]
    if not re.fullmatch(r"[a-z0-9_]+", name):  # Glue's own rule for table names: safe inside the statement below
        raise PaybatchError(f"lake table {name!r} has a name paybatch query does not read")
    fs, path = filesystem_for(table["StorageDescriptor"]["Location"].rstrip("/"), settings.endpoint_url)
    hive = table.get("Parameters", {}).get("projection.dt.format") == "yyyy-MM-dd"
    try:
        dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive" if hive else ds.partitioning(_DATE_FOLDERS))
    except (FileNotFoundError, OSError):
        raise PaybatchError(f"lake.{name} has no files yet: generate into this environment first (paybatch generate)") from None
    connection.register(f"__lake_{name}", dataset)
    dt = "CAST(dt AS DATE)" if hive else "CAST(concat(_y, '-', _m, '-', _d) AS DATE)"
    dropped = "dt" if hive else "_y, _m, _d"
    connection.sql(f'CREATE VIEW {LAKE}."{name}" AS SELECT * EXCLUDE ({dropped}), {dt} AS dt FROM "__lake_{name}"')  # noqa: S608


def _check_read_only(sql: str) -> None:
    """One SELECT (or WITH … SELECT, or EXPLAIN): nothing that writes, copies, attaches or changes settings."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise PaybatchError(f"query failed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise PaybatchError(f"paybatch query runs one statement at a time (this has {len(statements)})")
    kind = statements[0].type.name
    if kind not in READ_ONLY_STATEMENTS:
        raise PaybatchError(f"paybatch query is read-only: {kind} statements are refused (SELECT, WITH … SELECT and "
                            "EXPLAIN are answered)")


def run_query(settings: Settings, sql: str) -> pa.Table:
    import duckdb

    if not sql.strip():
        raise PaybatchError('give a SELECT statement, e.g. paybatch query "select count(*) from authorization"')
    catalog = catalog_for(settings)
    names = list_tables(settings, catalog)
    # No file, network or extension access, and no way to turn it back on: the tables come in as Arrow scans.
    connection = duckdb.connect(config={"enable_external_access": False, "lock_configuration": True})
    connection.sql(f"CREATE SCHEMA {LAKE}")
    lake = lake_tables(settings)
    for name, table in lake.items():
        named = re.compile(rf'(?<![".\w]){LAKE}\.("?){re.escape(name)}\1(?![".\w])', re.IGNORECASE)
        if named.search(sql):
            _register_lake_table(connection, settings, table)
            sql = named.sub(f'{LAKE}."{name}"', sql)  # quoted: `authorization` is an SQL keyword
    for name in names:
        unquoted = re.compile(rf'(?<![".\w]){re.escape(name)}(?![".\w])', re.IGNORECASE)
        if unquoted.search(sql) or f'"{name}"' in sql:
            scan = catalog.load_table(f"{settings.catalog.database}.{name}").scan().to_arrow()
            connection.register(name, scan)
            sql = unquoted.sub(f'"{name}"', sql)
    try:
        _check_read_only(sql)
        relation = connection.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})  # a statement with no rows
    except duckdb.Error as exc:
        known = ", ".join(names) or "none yet (a table is created by the first run that commits to it)"
        generated = ", ".join(f"{LAKE}.{n}" for n in sorted(lake)) or "none"
        raise PaybatchError(f"query failed: {str(exc).splitlines()[0]} (tables in {settings.catalog.database}: {known}; "
                            f"the generator's lake tables: {generated})") from None
