#!/usr/bin/env bash
# generate-test-data.sh — generate N NDJSON feed files of RECORDS records into the input bucket.
USAGE="generate-test-data.sh — generate N NDJSON feed files of RECORDS records into the input bucket.

usage: generate-test-data.sh [--env dev|prod] N RECORDS [--dates FROM..TO] [--output DIR] [--seed S]

The payments generator writes the authorization feed (and nothing else); with --output the files
go to a local folder instead (upload them later with upload-test-data.sh)."
DEFAULT_ENV=dev
source "$(dirname "$0")/../../common.sh"
parse_common "$@"
if [[ ${#ARGS[@]} -lt 2 || ! ${ARGS[0]} =~ ^[0-9]+$ || ! ${ARGS[1]} =~ ^[0-9]+$ ]]; then
  echo "error: give N (files) and RECORDS (records per file) as whole numbers; see --help" >&2; exit 2
fi
files=${ARGS[0]}; records=${ARGS[1]}
pb generate --env "$ENV" --rows $((files * records)) --records-per-file "$records" --format ndjson \
  --tables authorization --no-quality "${ARGS[@]:2}"
