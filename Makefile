# One command runs the app, one command passes the tests. Both make .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-headwatch

.PHONY: run test lint install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/headwatch

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# The performance figures in the README: `make bench-NAME` runs bench/NAME.py, e.g.
# `make bench-ui_latency`; ARGS="--quick", say, passes options.
bench-%: $(STAMP)
	$(BIN)/python bench/$*.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
