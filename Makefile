# fleet-baseline: the two commands of the README's Quick start are `make plan` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
STACK  ?= eks-prod

.PHONY: plan test bench lint typecheck clean

# checkov, the peer `make bench` compares with, lives in a virtual environment of its own: it pins
# packaging<24, the project needs >=26.
CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV    ?= .bench/checkov-venv
CHECKOV         := $(CHECKOV_VENV)/bin/checkov

$(PY):
	$(PYTHON) -m venv $(VENV)

# The development and CI environment is the lock file's, not whatever the ranges in pyproject.toml
# resolve to today: every package pinned and hashed (requirements/dev.txt, written by `make lock`),
# then the project itself, editable, with no dependency resolution of its own. `pip check` fails
# when pyproject.toml asks for something the lock does not have: run `make lock`.
LOCK := requirements/dev.txt
PIP  := $(PY) -m pip --disable-pip-version-check

$(STAMP): $(LOCK) pyproject.toml | $(PY)
	$(PIP) install --quiet --require-hashes -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@$(PIP) check || { echo "$(LOCK) does not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $(STAMP)

# pip-compile (pip-tools) resolves pyproject.toml's ranges, the dev extra and every cloud extra, for
# this Python (3.11) on Linux. pip and setuptools are pinned like the rest (the project is installed
# with the locked setuptools); only the project itself, which the dev extra names, is left out. `make lock` keeps every pin that still fits and adds what is new;
# `make lock-upgrade` moves every pin to the newest release the ranges allow. Commit the result.
LOCK_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --extra dev \
	--generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	--unsafe-package fleet-baseline --output-file $(LOCK)

.PHONY: lock lock-upgrade lock-tools
lock-tools: | $(PY)
	$(PIP) install --quiet 'pip-tools>=7.4'

## lock: update requirements/dev.txt from pyproject.toml (keeps the pins that still fit)
lock: lock-tools
	$(LOCK_COMPILE) pyproject.toml

## lock-upgrade: re-pin requirements/dev.txt to the newest releases pyproject.toml's ranges allow
lock-upgrade: lock-tools
	$(LOCK_COMPILE) --upgrade pyproject.toml

## plan: set up and preview the sample stack offline (Pulumi mocks + the CrossGuard pack over gRPC)
plan: $(STAMP)
	$(VENV)/bin/fleet-baseline plan --stack $(STACK)

## test: set up and run the test suite
test: $(STAMP)
	$(PY) -m pytest -q

## bench: measure audit (against checkov), plan, fleet and start-up on this machine; regenerates BENCHMARKS.md
bench: $(STAMP) $(CHECKOV)
	$(PY) -m benchmarks.run --checkov $(CHECKOV) --out BENCHMARKS.md $(BENCH_ARGS)

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'

lint: $(STAMP)
	$(VENV)/bin/ruff check baseline providers policy_packs stacks tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

## properties-long: the property tests (tests/properties) with the long hypothesis profile, 100x the examples
.PHONY: properties-long
properties-long: $(STAMP)
	HYPOTHESIS_PROFILE=long $(VENV)/bin/pytest tests/properties

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
