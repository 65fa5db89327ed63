"""One generation engine, run in its own process by bench_generate.

``python -m bench.generate_engines ENGINE ROWS OUTPUT_DIR`` prints one JSON line with the rows
written and the driver's own peak memory. The parent measures wall time and machine CPU time.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

from bench.sessions import jvm_work_session, paybatch_session

DATE = "2024-01-15"
TYPES = ["PURCHASE", "CASH_ADVANCE", "BALANCE_TRANSFER", "REFUND", "ACCOUNT_VERIFICATION", "QUASI_CASH", "FEE"]


def _paybatch(rows: int, out: str, tables: tuple[str, ...], days: int = 1) -> int:
    from paybatch.config import load_settings
    from paybatch.generate.job import generate
    from paybatch.generate.plan import GenerationRequest, parse_dates

    dates = tuple(parse_dates(f"{DATE}..2024-01-{14 + days:02d}"))
    settings = load_settings("dev", environ={**os.environ, "PAN_HASH_KEY": "local:paybatch-bench-key"})  # no endpoint needed
    result = generate(settings, GenerationRequest(rows=rows, dates=dates, tables=tables, output=out, quality=False),
                      spark=paybatch_session("bench-generate"))
    return int(result.table_totals()["authorization"]["rows"])


def paybatch_authorization(rows: int, out: str) -> int:
    return _paybatch(rows, out, ("authorization",))


def paybatch_all_tables(rows: int, out: str) -> int:
    from paybatch.generate.spec import PAN_DIMENSION, TABLES

    return _paybatch(rows, out, (*TABLES, PAN_DIMENSION), days=max(1, rows // 1_000_000))


def dbldatagen_authorization(rows: int, out: str) -> int:
    """dbldatagen's spec for the same 26 columns and distributions, written by Spark's Parquet writer."""
    import dbldatagen as dg

    spark = jvm_work_session("bench-generate-dbldatagen")
    spec = (
        dg.DataGenerator(spark, name="authorization", rows=rows, partitions=4, randomSeed=42)
        .withColumn("sequence_number", "long", minValue=1000000000000001, maxValue=1000000000000000 + rows)
        .withColumn("transaction_id", "string", expr=f"concat('T{DATE.replace('-', '')}', cast(sequence_number as string))",
                    baseColumn="sequence_number")
        .withColumn("transaction_timestamp", "timestamp", begin=f"{DATE} 00:00:00", end=f"{DATE} 23:59:59",
                    interval="1 second", random=True)
        .withColumn("transaction_type", "string", values=TYPES, weights=[85, 5, 4, 3, 1, 1, 1], random=True)
        .withColumn("mti", "string", values=["0100", "0200", "0220"], weights=[89, 10, 1], random=True)
        .withColumn("pan_id", "int", minValue=0, maxValue=99_999, random=True, omit=True)
        .withColumn("hash_pan", "string", expr="sha2(concat('k', cast(pan_id as string)), 256)", baseColumn="pan_id")
        .withColumn("card_network", "string", values=["VISA", "MASTERCARD", "AMEX", "DISCOVER"], weights=[55, 30, 10, 5], random=True)
        .withColumn("card_product", "string", values=["CSP", "CSR", "CFU", "CFX", "WOH", "BUS", "PLT", "GLD", "GRN"], random=True)
        .withColumn("amount", "double", minValue=0.5, maxValue=5000.0, distribution=dg.distributions.Gamma(1.0, 2.0), random=True)
        .withColumn("currency", "string", values=["USD", "GBP", "EUR", "CAD", "MXN", "JPY", "AUD", "BRL"], random=True)
        .withColumn("merchant_id", "string", format="MID%012d", minValue=0, maxValue=19_999, random=True)
        .withColumn("merchant_name", "string", values=[f"Merchant {i}" for i in range(200)], random=True)
        .withColumn("mcc", "string", values=["5411", "5812", "5814", "5541", "5999", "5311", "5732", "5912", "4111"],
                    random=True, percentNulls=0.05)
        .withColumn("merchant_country", "string", values=["US", "GB", "DE", "FR", "CA", "ES", "MX", "JP", "AU", "BR"], random=True)
        .withColumn("latitude", "double", minValue=-90.0, maxValue=90.0, random=True, percentNulls=0.01)
        .withColumn("longitude", "double", minValue=-180.0, maxValue=180.0, random=True, percentNulls=0.01)
        .withColumn("device_id", "string", format="DEV-%016x", minValue=0, maxValue=99_999, random=True, percentNulls=0.08)
        .withColumn("channel", "string", values=["POS", "ECOM", "CONTACTLESS", "RECURRING", "ATM"], random=True)
        .withColumn("response_code", "string", values=["00", "05", "51", "54", "61", "85", "87"],
                    weights=[92, 3, 2, 1, 1, 0.5, 0.5], random=True)
        .withColumn("approved", "boolean", expr="response_code = '00'", baseColumn="response_code")
        .withColumn("decline_reason", "string", expr="case when response_code = '00' then null else 'DO_NOT_HONOR' end",
                    baseColumn="response_code")
        .withColumn("risk_score", "double", minValue=0.0, maxValue=1.0, random=True)
        .withColumn("risk_alert", "boolean", expr="amount >= 2500", baseColumn="amount")
        .withColumn("is_fraud", "boolean", expr="rand(7) < 0.003")
        .withColumn("settlement_date", "date", expr="date_add(to_date(transaction_timestamp), 2)", baseColumn="transaction_timestamp")
        .withColumn("auth_code", "string", format="%06X", minValue=0, maxValue=0xFFFFFF, random=True)
    )
    frame = spec.build()
    frame.write.mode("overwrite").parquet(out)
    return int(spark.read.parquet(out).count())


def _over(days: int) -> Any:
    def run(rows: int, out: str) -> int:
        from paybatch.generate.spec import PAN_DIMENSION, TABLES

        return _paybatch(rows, out, (*TABLES, PAN_DIMENSION), days=days)

    return run


ENGINES = {
    "paybatch, authorization": paybatch_authorization,
    "dbldatagen, authorization (same columns)": dbldatagen_authorization,
    "paybatch, all six tables + PAN dimension": paybatch_all_tables,
}
OVER_DATES = "paybatch, all six tables + PAN dimension, {} dates"  # any number of dates: one file per table and date


def main() -> None:
    engine, rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    prefix = OVER_DATES.split("{}")[0]
    written = _over(int(engine.removeprefix(prefix).split()[0]))(rows, out) if engine.startswith(prefix) else ENGINES[engine](rows, out)
    Path(out).mkdir(parents=True, exist_ok=True)
    driver_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": written, "driver_peak_mib": driver_mib}))


if __name__ == "__main__":
    main()
