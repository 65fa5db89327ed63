#!/usr/bin/env bash
# make demo: the pipeline end to end on the local environment, with the stages that exist today.
set -euo pipefail
env=${1:-dev}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Local AWS environment (endpoint, buckets, tables, queues, Lambda poller + scheduler)"
paybatch local up --env "$env"

step "2. Synthetic payments: six related tables + the PAN dimension in the lake buckets, an NDJSON feed in the input bucket"
paybatch generate --env "$env" --rows 60000 --dates 2024-01-01..2024-01-03 --format both --seed 0

step "3. More files land in the input bucket: sample files, some outside the expected size range"
paybatch upload-samples --env "$env" --count 3

step "4. S3 → SQS → manifest builder: files tracked, bad ones quarantined, the rest packed"
for _ in $(seq 1 30); do
  tracked=$(paybatch status --env "$env" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["files_total"])')
  [[ "$tracked" -ge 9 ]] && break
  sleep 1
done
paybatch flush --env "$env"   # pack the stragglers now instead of waiting batching.max_wait_seconds
paybatch files --env "$env"

step "5. Conversion runs (the light path for small manifests): one Iceberg commit per run, rejects, reconciled counts"
paybatch wait --env "$env" --timeout 300
paybatch manifests --env "$env"
paybatch status --env "$env"
paybatch peek --env "$env"

step "6. The catalog: converted tables (Iceberg) and the generator's lake tables, and an answer in SQL"
python3 - "$(paybatch config show --env "$env" --json)" <<'PY'
import json, sys, boto3
settings = json.loads(sys.argv[1])
glue = boto3.client("glue", endpoint_url=settings["endpoint_url"], region_name=settings["region"],
                    aws_access_key_id="testing", aws_secret_access_key="testing")
for database in (settings["catalog"]["database"], settings["catalog"]["lake_database"]):
    for table in glue.get_tables(DatabaseName=database)["TableList"]:
        kind = table.get("Parameters", {}).get("table_type") or ("partition projection" if table.get("Parameters", {}).get("projection.enabled") else "")
        print(f"  {database}.{table['Name']:<24} {kind}")
PY
paybatch query --env "$env" "select transaction_type, count(*) as rows, round(sum(amount), 2) as amount from authorization group by 1 order by 2 desc"

step "7. Sanctions screening: a generated list in OFAC's formats, 5,000 customers, an alert per match"
screening="demo-output/screening"
paybatch screen sample --out "$screening" --entries 2000 --customers 5000
paybatch screen list update --env "$env" --from "$screening/list"
paybatch screen run --env "$env" --customers "$screening/customers.csv"
paybatch query --env "$env" "select customer_name, matched_name, round(score, 3) as score, entry_id from screening_matches order by score desc limit 8"
paybatch queues --env "$env"   # the alerts queue holds one alert per match

step "8. Bulk runs on Step Functions: the plan, then 4 more dates in 4 chunks (at most 3 at once), one result"
paybatch bulk plan --env "$env" --rows 40000 --dates 2024-01-04..2024-01-07 --rows-per-job 10000 --chunks 4
paybatch bulk generate --env "$env" --rows 40000 --dates 2024-01-04..2024-01-07 --rows-per-job 10000 --chunks 4 --no-quality
paybatch bulk list --env "$env"

step "9. The operator's view: what needs a look, and a report with charts"
paybatch diagnose --env "$env" || true   # the three quarantined sample files show up as a warning, as they should
paybatch report --env "$env"

cat <<TXT

The output is an Apache Iceberg table per dataset in the Glue catalog database paybatch_$env (authorization, and
authorization_rejects with every rejected line and its reason), one commit per run. Read it with
\`paybatch peek --env $env\` or \`paybatch query --env $env "SQL"\`, or with any Iceberg reader (pyiceberg, Spark, DuckDB)
pointed at the local endpoint ($(paybatch config show --env "$env" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint_url"])')).
Convert files without the pipeline: paybatch convert FILE... --output DIR
The generated lake tables are in s3://paybatch-$env-lake/<table>/yyyy/mm/dd/ (and the per-family lake buckets);
the PAN dimension alone is in s3://paybatch-$env-restricted/. Their quality report (Great Expectations Data Docs)
and profile are in the folder printed after step 2. Generate into a folder instead: paybatch generate --output DIR

Look around:   paybatch local status --env $env      paybatch files --env $env --status quarantined
               paybatch monitor --env $env           environments/dev/scripts/*.sh --help
Stop:          make local-down
TXT
