# Two commands on a fresh machine: `make test` and `make serve`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint bench bench-quick serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# The gRPC server on 127.0.0.1:50051 with a generated demo shop (.data/demo, ingested on the first
# start only); it prints example commands once it listens. Ctrl-C stops it cleanly.
serve: $(STAMP)
	$(BIN)/segments serve --demo --host 127.0.0.1 --port 50051

# Every benchmark through one driver (benchmarks/run_all.py): engine in process and over gRPC, DuckDB and
# chDB on generated (100k, 1M) and real data, scaling curves, load; JSON, report and PNG plots in
# benchmarks/results/, and the README's results block rewritten. bench-quick: tiny sizes, the CI smoke.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all --mode full --readme

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run_all --mode quick --readme

clean:
	rm -rf $(VENV) build *.egg-info
