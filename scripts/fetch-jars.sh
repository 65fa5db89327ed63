#!/usr/bin/env bash
# Fetch the two s3a jars local Spark needs (PyPI's pyspark lacks them) from the PyPI sdist
# of sagemaker-pyspark 1.4.5, once; later runs find them cached in .cache/jars.
set -euo pipefail
dest=${1:-.cache/jars}
jars=(hadoop-aws-3.3.1.jar aws-java-sdk-bundle-1.11.901.jar)
missing=0
for jar in "${jars[@]}"; do [[ -s "$dest/$jar" ]] || missing=1; done
[[ $missing == 0 ]] && exit 0
sdist_dir=$(mktemp -d)
trap 'rm -rf "$sdist_dir"' EXIT
echo "fetching s3a jars (sagemaker-pyspark==1.4.5 sdist, ~181 MB) into $dest"
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$sdist_dir" sagemaker-pyspark==1.4.5 2>&1 | grep -v '^WARNING: Location' || true
mkdir -p "$dest"
members=()
for jar in "${jars[@]}"; do members+=("sagemaker_pyspark-1.4.5/deps/jars/$jar"); done
tar xzf "$sdist_dir"/sagemaker_pyspark-1.4.5.tar.gz -C "$dest" --strip-components=3 "${members[@]}"
for jar in "${jars[@]}"; do [[ -s "$dest/$jar" ]] || { echo "missing $dest/$jar after extraction" >&2; exit 1; }; done
