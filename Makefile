# One command runs the app, one command passes the tests. Both make .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-headwatch

.PHONY: run test lint install clean bench-throughput bench-latency bench-startup bench-soak \
	bench-responsiveness bench-scrub

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

# The performance figures in the README, one command each (ARGS="--quick", say, passes options).
bench-throughput: $(STAMP)
	$(BIN)/python bench/train_throughput.py $(ARGS)

bench-latency: $(STAMP)
	$(BIN)/python bench/ui_latency.py $(ARGS)

bench-startup: $(STAMP)
	$(BIN)/python bench/startup.py $(ARGS)

bench-soak: $(STAMP)
	$(BIN)/python bench/soak.py $(ARGS)

bench-responsiveness: $(STAMP)
	$(BIN)/python bench/responsiveness.py $(ARGS)

bench-scrub: $(STAMP)
	$(BIN)/python bench/scrub_latency.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
