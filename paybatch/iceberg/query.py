"""Answers now: SQL over the environment's committed tables with an embedded engine (DuckDB over Arrow scans).

Every Iceberg table of the catalog database that the statement names is scanned (its current snapshot,
through pyiceberg) and registered with DuckDB under its own name; DuckDB runs the statement. A table
name that is an SQL keyword (``authorization`` is one) is quoted for the user. Read-only: one SELECT (or
EXPLAIN) per call, and DuckDB without file, network or extension access (``COPY … TO``, ``ATTACH`` and
``read_csv`` are refused). For the user who wants an answer at once; Athena and Spark read the same tables at scale.
"""

from __future__ import annotations

import re

import pyarrow as pa

from paybatch.config import Settings
from paybatch.errors import PaybatchError
from paybatch.iceberg.catalog import catalog_for, list_tables

READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


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
        raise PaybatchError(f"query failed: {str(exc).splitlines()[0]} (tables in {settings.catalog.database}: {known})") from None
