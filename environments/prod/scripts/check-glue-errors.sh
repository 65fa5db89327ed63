#!/usr/bin/env bash
# check-glue-errors.sh — failed Glue runs with their error and the manifest and files involved.
USAGE="check-glue-errors.sh — failed Glue runs with their error and the manifest and files involved.

usage: check-glue-errors.sh [--env dev|prod] [--since-hours H] [--json]

Exit status 1 when there are failed runs in the window."
DEFAULT_ENV=prod
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb glue-errors --env "$ENV" "${ARGS[@]}"
