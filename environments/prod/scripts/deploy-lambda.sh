#!/usr/bin/env bash
# deploy-lambda.sh — build one Lambda bundle per function, then create or update the builder, scheduler, bulk worker and screening API functions.
USAGE="deploy-lambda.sh — build one Lambda bundle per function, then create or update the builder, scheduler, bulk worker and screening API functions.

usage: deploy-lambda.sh [--env dev|prod] [--bundle DIR] [--json]

Builds deploy/build/lambda/<function>/ with their dependencies (make package) unless --bundle is given."
DEFAULT_ENV=prod
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
if [[ ! " ${ARGS[*]} " == *" --bundle "* ]]; then make -C "$REPO_ROOT" --no-print-directory package >/dev/null; fi
pb deploy lambda --env "$ENV" "${ARGS[@]}"
