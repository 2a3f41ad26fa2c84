# Two commands on a fresh machine: `make test` and `make serve`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint bench serve clean

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

bench: $(STAMP)
	$(BIN)/python -m benchmarks.engine --customers 100000 --events 2000000

clean:
	rm -rf $(VENV) build *.egg-info
