"""Glue (glueetl) entry: generate the six payment tables, the PAN dimension and/or NDJSON feed files.

Arguments: --rows N --dates FROM..TO (required); --env, --seed, --format parquet|ndjson|both,
--tables a,b,…, --only_dates d1,d2, --job_index, --output s3://…, --quality true|false (optional).
The same script runs on Glue and under the local launcher; `paybatch generate` calls the same library.
"""

import json
import sys

from paybatch.config import load_settings
from paybatch.generate.job import generate
from paybatch.generate.plan import GenerationRequest, parse_dates
from paybatch.generate.spec import PAN_DIMENSION, TABLES
from paybatch.jobs.args import resolve_job_args

args = resolve_job_args(sys.argv, required=["rows", "dates"], optional={
    "env": None, "seed": "0", "format": "parquet", "tables": ",".join((*TABLES, PAN_DIMENSION)), "only_dates": "",
    "job_index": "0", "output": None, "quality": "true"})
request = GenerationRequest(
    rows=int(str(args["rows"])), dates=tuple(parse_dates(str(args["dates"]))), seed=int(str(args["seed"])),
    format=str(args["format"]), tables=tuple(t for t in str(args["tables"]).split(",") if t),
    only_dates=tuple(d for d in str(args["only_dates"]).split(",") if d), job_index=int(str(args["job_index"])),
    output=args["output"], quality=str(args["quality"]).lower() == "true",
)
result = generate(load_settings(args["env"]), request)
print(json.dumps(result.to_dict(), default=str))
