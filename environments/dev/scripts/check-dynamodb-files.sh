#!/usr/bin/env bash
# check-dynamodb-files.sh — the tracked files and their status, from the tracking table.
USAGE="check-dynamodb-files.sh — the tracked files and their status, from the tracking table.

usage: check-dynamodb-files.sh [--env dev|prod] [--status pending|quarantined|completed|failed|...] [--json]"
DEFAULT_ENV=dev
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb files --env "$ENV" "${ARGS[@]}"
