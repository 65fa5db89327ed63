"""Answers now: SQL over the environment's committed tables with an embedded engine (DuckDB over Arrow scans).

Every Iceberg table of the catalog database that the statement names is scanned (its current snapshot,
through pyiceberg) and registered with DuckDB under its own name; DuckDB runs the statement. A table
name that is an SQL keyword (``authorization`` is one) is quoted for the user. For the user who wants an
answer at once; Athena and Spark read the same tables at scale.
"""

from __future__ import annotations

import re

import pyarrow as pa

from paybatch.catalog import catalog_for, list_tables
from paybatch.config import Settings
from paybatch.errors import PaybatchError


def run_query(settings: Settings, sql: str) -> pa.Table:
    import duckdb

    catalog = catalog_for(settings)
    names = list_tables(settings, catalog)
    connection = duckdb.connect()
    for name in names:
        unquoted = re.compile(rf'(?<![".\w]){re.escape(name)}(?![".\w])', re.IGNORECASE)
        if unquoted.search(sql) or f'"{name}"' in sql:
            scan = catalog.load_table(f"{settings.catalog.database}.{name}").scan().to_arrow()
            connection.register(name, scan)
            sql = unquoted.sub(f'"{name}"', sql)
    try:
        relation = connection.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})  # a statement with no rows
    except duckdb.Error as exc:
        known = ", ".join(names) or "none yet (a table is created by the first run that commits to it)"
        raise PaybatchError(f"query failed: {str(exc).splitlines()[0]} (tables in {settings.catalog.database}: {known})") from None
