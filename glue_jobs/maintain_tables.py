"""Glue (glueetl, the smallest job) entry: housekeeping of the converted Iceberg tables, on a schedule.

Expires old snapshots, compacts small files and removes the data files of runs that died before their
commit (paybatch.iceberg.maintenance; `paybatch maintain` runs the same). On AWS a scheduled Glue trigger starts
it every ``catalog.maintain_every_minutes``; locally the scheduler does the same work in its own process.

Arguments: --env (optional).
"""

import json
import sys

from paybatch.config import load_settings
from paybatch.iceberg.maintenance import maintain
from paybatch.jobs.args import resolve_job_args

args = resolve_job_args(sys.argv, required=[], optional={"env": None})
reports = maintain(load_settings(args["env"]))
print(json.dumps(reports, default=str))
if any(r["errors"] for r in reports):
    sys.exit("maintenance had errors: " + "; ".join(e for r in reports for e in r["errors"]))
