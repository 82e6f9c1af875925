# fleet-baseline: the two commands of the README's Quick start are `make plan` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
STACK  ?= eks-prod

.PHONY: plan test lint typecheck clean

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

lint: $(STAMP)
	$(VENV)/bin/ruff check baseline providers policy_packs stacks tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
