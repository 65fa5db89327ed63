"""Glue entry for the light path: small manifests converted in the driver, no Spark tasks — same contract.

It runs as the smallest Glue 5.1 Spark job (2 × G.1X) because paybatch needs Python 3.11, and a Glue
Python shell job offers 3.9 at most.

Arguments: --manifest_path s3://… (required); --env, --target_file_mb, --run_token (optional; given by the
builder's dispatch: the run writes only while the manifest still names it as its run).
"""

import json
import sys

from paybatch.config import load_settings
from paybatch.convert.manifest_run import run_in_process, run_manifest
from paybatch.jobs.args import resolve_job_args

args = resolve_job_args(sys.argv, required=["manifest_path"], optional={"env": None, "target_file_mb": "256",
                                                                                "run_token": None})
settings = load_settings(args["env"])
result = run_manifest(settings, str(args["manifest_path"]), run_in_process, target_mb=float(args["target_file_mb"] or 256),
                      run_token=args["run_token"])
print(json.dumps(result.__dict__, default=str))
if result.status == "failed":
    sys.exit(f"manifest {result.batch_id} failed: every file failed (see the tracking items' errors)")
