#!/usr/bin/env bash
# The strict NDJSON parser's tests under AddressSanitizer and UndefinedBehaviorSanitizer.
# Run after changing paybatch/convert/_strict_ndjson.c (`make sanitize`): the C is memory-unsafe by nature,
# and the property tests feed it malformed input. Python allocates through malloc (PYTHONMALLOC) so that
# reads past a small object are caught too. The normal build is put back afterwards, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
module="paybatch/convert/_strict_ndjson$($PY -c 'import importlib.machinery as m; print(m.EXTENSION_SUFFIXES[0])')"
include="$($PY -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
saved="$(mktemp)"
cp "$module" "$saved"
trap 'cp "$saved" "$module"; rm -f "$saved"' EXIT
gcc -O1 -g -std=c11 -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -shared -fPIC -I"$include" paybatch/convert/_strict_ndjson.c -o "$module"
PYTHONMALLOC=malloc LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" ASAN_OPTIONS=detect_leaks=0 \
    $PY -m pytest -q -p no:cacheprovider --capture=sys tests/unit/test_strict_ndjson.py tests/unit/test_rescued.py "$@"
