"""Glue (glueetl) entry: generate the six payment tables, the PAN dimension and/or NDJSON feed files.

Arguments: --rows N --dates FROM..TO (required); --env, --seed, --format parquet|ndjson|both,
--tables a,b,…, --only_dates d1,d2, --job_index, --output s3://…, --quality true|false (optional).
A bulk chunk (`paybatch bulk generate`) adds --rows_per_job R --job_slices FIRST..END: it generates jobs
FIRST..END-1 of the bulk request's job list (paybatch.generate.plan.job_slices), and --result_uri s3://…,
where the run's result is written for the bulk worker.
The same script runs on Glue and under the local launcher; `paybatch generate` calls the same library.
"""

import json
import sys

from paybatch.config import load_settings
from paybatch.generate.job import generate, write_result
from paybatch.generate.plan import GenerationRequest, job_slices, parse_dates, parse_slice_range
from paybatch.generate.spec import PAN_DIMENSION, TABLES
from paybatch.jobs.args import resolve_job_args

args = resolve_job_args(sys.argv, required=["rows", "dates"], optional={
    "env": None, "seed": "0", "format": "parquet", "tables": ",".join((*TABLES, PAN_DIMENSION)), "only_dates": "",
    "job_index": "0", "output": None, "quality": "true", "rows_per_job": None, "job_slices": None, "result_uri": None})
rows, dates = int(str(args["rows"])), tuple(parse_dates(str(args["dates"])))
slices = ()
if args["job_slices"]:
    first, end = parse_slice_range(str(args["job_slices"]))
    slices = tuple(job_slices(rows, dates, int(str(args["rows_per_job"] or rows)))[first:end])
request = GenerationRequest(
    rows=rows, dates=dates, seed=int(str(args["seed"])),
    format=str(args["format"]), tables=tuple(t for t in str(args["tables"]).split(",") if t),
    only_dates=tuple(d for d in str(args["only_dates"]).split(",") if d), job_index=int(str(args["job_index"])),
    output=args["output"], quality=str(args["quality"]).lower() == "true", slices=slices,
)
settings = load_settings(args["env"])
result = generate(settings, request)
if args["result_uri"]:
    write_result(settings, result, str(args["result_uri"]))
print(json.dumps(result.to_dict(), default=str))
