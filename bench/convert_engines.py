"""One conversion engine over a folder of NDJSON files, run in its own process by bench_convert.

``python -m bench.convert_engines ENGINE INPUT_DIR OUTPUT_DIR`` prints one JSON line with the rows
written. The parent process measures wall time, machine CPU time and peak memory around it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.sessions import jvm_work_session, paybatch_session


def paybatch_spark(files: list[str], out: str) -> int:
    from paybatch.convert.files import convert_file
    from paybatch.convert.manifest_run import spark_runner
    from paybatch.datasets import load_schema

    schema, now = load_schema("authorization"), datetime.now(UTC)
    results = spark_runner(paybatch_session("bench-convert"))(
        list(enumerate(files)),
        lambda t: convert_file(t[1], out, schema, "bench", t[0], now, "2025-12-23").to_dict(),
    )
    return sum(int(r["rows_written"]) for r in results)


def paybatch_spark_arrow_reader(files: list[str], out: str) -> int:
    """The same, with every block read by Arrow's JSON reader (the compiled strict parser off): its A/B."""
    import os

    from paybatch import constants

    os.environ[constants.JSON_PARSER] = "arrow"  # before the JVM starts, so its Python workers inherit it
    return paybatch_spark(files, out)


def paybatch_light(files: list[str], out: str) -> int:
    from paybatch.convert.files import convert_file
    from paybatch.datasets import load_schema

    schema, now = load_schema("authorization"), datetime.now(UTC)
    return sum(convert_file(f, out, schema, "bench", i, now, "2025-12-23").rows_written for i, f in enumerate(files))


def _spark_native(files: list[str], out: str, explicit: bool) -> int:
    from paybatch.datasets import load_schema

    spark = jvm_work_session("bench-convert-native")
    reader = spark.read
    if explicit:
        ddl = {"string": "STRING", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMP",
               "date": "DATE"}
        reader = reader.schema(", ".join(f"{f.name} {ddl[f.type]}" for f in load_schema("authorization").fields))
    frame = reader.json(files)
    frame.write.mode("overwrite").parquet(out)
    return int(spark.read.parquet(out).count())


def spark_native_explicit(files: list[str], out: str) -> int:
    return _spark_native(files, out, explicit=True)


def spark_native_inferred(files: list[str], out: str) -> int:
    return _spark_native(files, out, explicit=False)


def duckdb(files: list[str], out: str) -> int:
    import duckdb as db

    con = db.connect()
    con.execute("SET threads=2")
    Path(out).mkdir(parents=True, exist_ok=True)
    listing = ", ".join(f"'{f}'" for f in files)
    con.execute(f"COPY (SELECT * FROM read_json([{listing}], format='newline_delimited')) "
                f"TO '{out}/part.parquet' (FORMAT parquet, COMPRESSION snappy)")
    return int(con.execute(f"SELECT count(*) FROM '{out}/part.parquet'").fetchone()[0])  # type: ignore[index]


def pyarrow(files: list[str], out: str) -> int:
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    Path(out).mkdir(parents=True, exist_ok=True)
    rows = 0
    for i, f in enumerate(files):
        table = pj.read_json(f, read_options=pj.ReadOptions(block_size=16 << 20))
        pq.write_table(table, f"{out}/part-{i}.parquet", compression="snappy")
        rows += table.num_rows
    return rows


ENGINES = {
    "paybatch (spark, task per file)": paybatch_spark,
    "paybatch (spark, Arrow reader only)": paybatch_spark_arrow_reader,
    "paybatch (light path)": paybatch_light,
    "spark native, explicit schema": spark_native_explicit,
    "spark native, inferred schema": spark_native_inferred,
    "duckdb": duckdb,
    "pyarrow": pyarrow,
}


def main() -> None:
    engine, source, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    files = sorted(str(p) for p in source.glob("*.ndjson"))
    print(json.dumps({"rows": ENGINES[engine](files, out)}))


if __name__ == "__main__":
    main()
