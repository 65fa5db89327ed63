#!/usr/bin/env bash
# deploy-glue.sh — upload the Glue job scripts and the paybatch library, then create or update every job.
USAGE="deploy-glue.sh — upload the Glue job scripts and the paybatch library, then create or update every job.

usage: deploy-glue.sh [--env dev|prod] [--library paybatch.zip] [--json]

Uses the environment's settings (workers, concurrency, timeout, default arguments). The artifacts
bucket must exist (deploy the stack first; locally: paybatch local up)."
DEFAULT_ENV=prod
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb deploy glue --env "$ENV" "${ARGS[@]}"
