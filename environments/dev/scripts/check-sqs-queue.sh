#!/usr/bin/env bash
# check-sqs-queue.sh — depth of the file-event queue, its dead-letter queue and the completion queue.
USAGE="check-sqs-queue.sh — depth of the file-event queue, its dead-letter queue and the completion queue.

usage: check-sqs-queue.sh [--env dev|prod] [--json]

Shows a sample of dead-letter messages when there are any."
DEFAULT_ENV=dev
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
pb queues --env "$ENV" "${ARGS[@]}"
