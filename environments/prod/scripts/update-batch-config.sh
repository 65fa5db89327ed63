#!/usr/bin/env bash
# update-batch-config.sh — change the batching and Glue sizing of a running environment.
USAGE="update-batch-config.sh — change the batching and Glue sizing of a running environment.

usage: update-batch-config.sh [--env dev|prod] [--preset light|standard|heavy] [--max-files N] [--max-size-gb G]
                              [--max-wait-seconds S] [--workers N] [--max-concurrent-runs N] [--apply] [--json]

Validates the values with the configuration model, shows the diff against the config file and
what is deployed, and with --apply pushes them to both Lambdas and the conversion job."
DEFAULT_ENV=prod
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb batch-config --env "$ENV" "${ARGS[@]}"
