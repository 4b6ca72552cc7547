# `make demo` and `make test` work on a fresh machine with Python 3.11 and pip only.
# make test      the fast suite: every test not marked slow
# make test-all  every test, the slow ones included (run it before a release)
# make lint      ruff check, ruff format --check and mypy
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,torch,spark]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/make_example.py examples/demo
	cd examples/demo && ../../$(BIN)/qa train --trainer mlp --config qa.toml --out model --quiet
	cd examples/demo && ../../$(BIN)/qa check --config qa.toml --out ../../qa-reports --signoff; \
	  status=$$?; echo "gate exit code: $$status (1 = the planted defects were caught)"; \
	  test $$status -le 1
	@echo "open qa-reports/report.html and qa-reports/signoff.html"

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy qa checks reports

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_data_checks.py

clean:
	rm -rf $(VENV) qa-reports build *.egg-info
