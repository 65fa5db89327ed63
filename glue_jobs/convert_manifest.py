"""Glue (glueetl) entry: convert one manifest to partitioned Parquet, one Spark task per file.

Arguments: --manifest_path s3://… (required); --env, --target_file_mb, --run_token (optional; given by the
builder's dispatch: the run writes only while the manifest still names it as its run).
The same script runs on Glue and under the local launcher.
"""

import json
import sys

from paybatch.config import load_settings
from paybatch.convert.manifest_run import run_manifest, spark_runner
from paybatch.jobs.args import resolve_job_args
from paybatch.spark import get_spark

args = resolve_job_args(sys.argv, required=["manifest_path"], optional={"env": None, "target_file_mb": "256",
                                                                                "run_token": None})
settings = load_settings(args["env"])
result = run_manifest(settings, str(args["manifest_path"]), spark_runner(get_spark("paybatch-convert")),
                      target_mb=float(args["target_file_mb"] or 256), run_token=args["run_token"])
print(json.dumps(result.__dict__, default=str))
if result.status == "failed":
    sys.exit(f"manifest {result.batch_id} failed: every file failed (see the tracking items' errors)")
