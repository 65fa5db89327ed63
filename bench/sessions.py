"""Spark sessions for the benchmarks: paybatch's own, and a fair one for engines that work inside the JVM.

paybatch's local sessions drop the JVM's optimising compiler, because their JVM only schedules
Python tasks. Spark's JSON reader and dbldatagen do their work in the JVM, so they get a session
that keeps it, with the same class archive, so they start as cheaply as they can.
"""

from __future__ import annotations

from typing import Any


def paybatch_session(app: str) -> Any:
    from paybatch.spark import get_spark

    return get_spark(app, cores=2)


def jvm_work_session(app: str) -> Any:
    from pyspark.sql import SparkSession

    from paybatch.spark import CLIENT_COMPILER_ONLY, local_conf

    builder = SparkSession.builder.appName(app)
    for key, value in local_conf(None, 2).items():
        if key.endswith("extraJavaOptions"):
            value = " ".join(option for option in value.split() if option != CLIENT_COMPILER_ONLY)
        builder = builder.config(key, value)
    return builder.getOrCreate()
