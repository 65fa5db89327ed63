#!/usr/bin/env bash
# upload-test-data.sh — upload local files or folders to the environment's input bucket.
USAGE="upload-test-data.sh — upload local files or folders to the environment's input bucket.

usage: upload-test-data.sh [--env dev|prod] PATH...   (default: sample files, some outside the size window)"
DEFAULT_ENV=dev
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
if [[ ${#ARGS[@]} -eq 0 ]]; then pb upload-samples --env "$ENV"; exit; fi
pb upload --env "$ENV" "${ARGS[@]}"
