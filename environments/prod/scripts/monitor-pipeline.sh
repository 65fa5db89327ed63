#!/usr/bin/env bash
# monitor-pipeline.sh — a live terminal view of the pipeline.
USAGE="monitor-pipeline.sh — a live terminal view of the pipeline.

usage: monitor-pipeline.sh [--env dev|prod] [--interval SECONDS] [--once] [--json]

Files per status, backlog and oldest pending age, manifests per status, runs in flight and
finished, throughput, latest errors and Glue cost so far. Ctrl-C to leave."
DEFAULT_ENV=prod
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb monitor --env "$ENV" "${ARGS[@]}"
