# paybatch — the front door. `make demo` runs the pipeline locally; `make test` runs the tests.
# Both set themselves up on a fresh clone (venv, pinned dependencies, s3a jars).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JARS := .cache/jars/hadoop-aws-3.3.1.jar .cache/jars/aws-java-sdk-bundle-1.11.901.jar
ENV ?= dev
export SPARK_LOCAL_IP := 127.0.0.1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup demo test test-chaos test-bulk test-cluster test-readme lint lint-iac sanitize fuzz bench synth package wheel local-up local-down local-status clean lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(STAMP) $(JARS) ## venv + pinned dependencies + s3a jars + Spark's class archive (idempotent)
	@$(BIN)/python -m compileall -q -j0 paybatch
	@$(BIN)/python -m paybatch.spark

# uv installs the lock (exactly: `pip sync` removes what the lock does not name) far faster than pip. It compiles
# every module to bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set (here, many CI images) Python would
# otherwise compile each imported module from source in every process (a CPU-second of every command).
# `setup` compiles paybatch's own modules the same way (only those changed since the last time).
UV_VERSION := $(shell sed -n 's/^uv==//p' requirements.lock)
UV := $(BIN)/uv

$(STAMP): requirements.lock pyproject.toml setup.py paybatch/convert/_strict_ndjson.c Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) && [ "$$($(UV) --version | cut -d' ' -f2)" = "$(UV_VERSION)" ] || \
	  $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)" 2>&1 | grep -v '^WARNING: Location' || true
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	$(UV) pip check --quiet --python $(BIN)/python
	@touch $@

$(JARS):
	scripts/fetch-jars.sh .cache/jars

demo: setup ## run the whole pipeline end to end on the local environment
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/demo.sh $(ENV)

test: setup ## run the test suite (real local endpoint, real local Spark)
	$(BIN)/python -m pytest

test-chaos: setup ## the fault campaign: the whole pipeline under 10 % AWS faults, 5 % lost answers, killed processes and poison input (CHAOS_SEEDS=13,14,15)
	CHAOS_TESTS=1 $(BIN)/python -m pytest tests/integration/test_fault_campaign.py

test-bulk: setup ## bulk runs through the local endpoint's Step Functions: chunking, retries, tolerance, resume, backfill, 2 GB split
	BULK_TESTS=1 $(BIN)/python -m pytest tests/bulk

test-readme: setup ## a new user's first hour: `make demo` on the default ports, then every README example in the order written
	README_TESTS=1 $(BIN)/python -m pytest tests/readme -p no:randomly --timeout 3600

test-cluster: setup ## the Glue jobs on a Spark standalone cluster (2 worker JVMs) with Glue 5.1's Python
	CLUSTER_TESTS=1 $(BIN)/python -m pytest tests/cluster -s -p no:randomly

lint: setup ## ruff + mypy on the core
	$(BIN)/ruff check paybatch lambda_manifest_builder glue_jobs deploy tests bench
	$(BIN)/mypy

sanitize: setup ## the strict NDJSON parser's tests under AddressSanitizer and UBSan (after changing its C)
	scripts/sanitize-parser.sh

FUZZ_SECONDS ?= 300
fuzz: setup ## coverage-guided fuzzing of the NDJSON parsers (atheris; FUZZ_SECONDS=300); crashes land in tests/fuzz/crashes/
	@mkdir -p .cache/fuzz-corpus
	PYTHONPATH=$(CURDIR) $(BIN)/python tests/fuzz/fuzz_ndjson.py .cache/fuzz-corpus tests/fuzz/corpus \
	  -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=tests/fuzz/crashes/ -rss_limit_mb=4096 -print_final_stats=1

lint-iac: synth .cache/checkov/bin/checkov ## checkov on the synthesised templates (its own venv: it pins an old boto3)
	BC_SKIP_MAPPING=TRUE .cache/checkov/bin/checkov --quiet --compact --framework cloudformation \
	  -f deploy/templates/paybatch-dev.template.json -f deploy/templates/paybatch-prod.template.json

.cache/checkov/bin/checkov:
	$(PYTHON) -m venv .cache/checkov
	.cache/checkov/bin/pip install --quiet "checkov==3.3.30" 2>&1 | grep -v '^WARNING: Location' || true

synth: setup ## synthesise the dev and prod CloudFormation templates into deploy/templates/
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(BIN)/python -m deploy.app dev prod
	$(BIN)/cfn-lint deploy/templates/*.template.json

package: setup ## build one Lambda bundle per function (with its dependencies) and the Glue library zip under deploy/build/, with their sizes
	$(BIN)/python -m paybatch.ops.package deploy/build

bench: setup ## benchmarks, side by side with the alternatives (installs the bench extra: nomenklatura, faker, iuliia)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-bench.lock
	@rm -f $(STAMP)  # the venv now differs from requirements.lock: the next `make setup` syncs it back
	$(BIN)/python -m bench

local-up: setup ## start the local environment (ENV=dev|prod)
	$(BIN)/paybatch local up --env $(ENV)

local-down: ## stop the local environment
	@if [ -x $(BIN)/paybatch ]; then $(BIN)/paybatch local down --env $(ENV); fi

local-status: setup ## show the local environment
	$(BIN)/paybatch local status --env $(ENV)

clean: local-down ## stop everything and remove the venv, caches and local state
	rm -rf $(VENV) .cache .paybatch .pytest_cache .mypy_cache .ruff_cache demo-output *.egg-info deploy/build deploy/cdk.out dist build

lock: ## re-resolve pyproject.toml's dependencies into requirements.lock (and the bench extra's into requirements-bench.lock)
	$(UV) pip compile pyproject.toml --extra spark --extra local --extra cdk --extra dev --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --quiet --no-header -o requirements.lock
	$(UV) pip compile pyproject.toml --extra bench --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	  --quiet --no-header -o requirements-bench.lock
	@sed -i '1i # Fully pinned, resolved dependencies of pyproject.toml (all extras), for Python 3.11 on x86_64 Linux. Regenerate: make lock' requirements.lock

wheel: setup ## build the paybatch wheel (its dependencies declared in pyproject.toml) into dist/
	rm -rf dist build && $(UV) build --quiet --wheel --out-dir dist
	@ls dist/*.whl
