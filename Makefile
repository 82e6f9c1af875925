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

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

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
