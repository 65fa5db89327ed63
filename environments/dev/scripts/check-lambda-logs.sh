#!/usr/bin/env bash
# check-lambda-logs.sh — the manifest builder's and scheduler's recent logs.
USAGE="check-lambda-logs.sh — the manifest builder's and scheduler's recent logs.

usage: check-lambda-logs.sh [--env dev|prod] [--minutes M] [--lines N] [--errors]

CloudWatch Logs on AWS; the local services log on this machine."
DEFAULT_ENV=dev
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb logs --env "$ENV" "${ARGS[@]}"
