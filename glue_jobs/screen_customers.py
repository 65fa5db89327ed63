"""Glue (glueetl) entry: screen a customer file against the sanctions list (the nightly run).

Arguments: --customers s3://… (required; default: the environment's screening.customers_uri); --env, --list VERSION,
--output s3://…, --threshold T, --alerts true|false (optional). `paybatch screen run` calls the same library.
"""

import json
import sys

from paybatch.config import load_settings
from paybatch.jobs.args import resolve_job_args
from paybatch.screening.bulk import run_screening

args = resolve_job_args(sys.argv, optional={"env": None, "customers": None, "list": None, "output": None, "threshold": None,
                                            "alerts": "true"})
settings = load_settings(args["env"])
customers = args["customers"] or settings.screening.customers_uri
if not customers:
    sys.exit("no --customers and no screening.customers_uri in the environment's config: nothing to screen")
result = run_screening(settings, str(customers), list_source=args["list"], output=args["output"],
                       threshold=float(args["threshold"]) if args["threshold"] else None,
                       alerts=str(args["alerts"]).lower() == "true")
print(json.dumps(result.to_dict(), default=str))
