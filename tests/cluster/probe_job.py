"""A Glue entry script that reports where its tasks ran: executor, Python, module versions, paybatch's origin."""

import json
import os
import sys
import time

from paybatch.jobs.args import resolve_job_args
from paybatch.spark import get_spark


def where(index: int) -> dict[str, object]:
    import numpy
    import pyarrow

    import paybatch
    from paybatch.config import load_settings
    from paybatch.convert import ndjson

    time.sleep(1.5)  # long enough that both executors take tasks
    settings = load_settings("dev")
    return {"task": index, "cwd": os.getcwd(), "python": sys.executable, "numpy": numpy.__version__,
            "pyarrow": pyarrow.__version__, "paybatch": paybatch.__file__,
            "strict_parser": getattr(ndjson._strict_ndjson, "__file__", None), "config_env": settings.env}


args = resolve_job_args(sys.argv, required=[], optional={"tasks": "6"})
spark = get_spark("paybatch-probe")
tasks = int(str(args["tasks"]))
print(json.dumps({"driver": where(-1), "tasks": spark.sparkContext.parallelize(range(tasks), tasks).map(where).collect(),
                  "app_id": spark.sparkContext.applicationId}))
