#!/usr/bin/env bash
# test-production-scale.sh — push phases of growing file counts through the real pipeline.
USAGE="test-production-scale.sh — push phases of growing file counts through the real pipeline.

usage: test-production-scale.sh [--env dev|prod] [--phases 10,100,1000] [--timeout SECONDS] [--json]

Each phase generates the files, lets them land, waits, checks every file completed and counts
reconcile, and reports throughput and projected cost. Stops at the first failed phase (exit 1)."
DEFAULT_ENV=prod
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb scale-test --env "$ENV" "${ARGS[@]}"
