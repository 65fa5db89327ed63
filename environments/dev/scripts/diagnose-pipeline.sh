#!/usr/bin/env bash
# diagnose-pipeline.sh — one report of what is wrong with the pipeline and what to do.
USAGE="diagnose-pipeline.sh — one report of what is wrong with the pipeline and what to do.

usage: diagnose-pipeline.sh [--env dev|prod] [--json]

Stuck files, dead-letter messages, expired locks, failed runs, quarantined files by reason.
Exit status 1 when something needs attention."
DEFAULT_ENV=dev
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb diagnose --env "$ENV" "${ARGS[@]}"
