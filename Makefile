# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make test` runs on every core (pytest-xdist), a whole test file per worker so that a module-scoped fixture (the
# demo run, the conformance report) is set up once; the longest files first (RUN_FIRST in tests/conftest.py).
# `make test XDIST=` runs in one process.
XDIST  ?= -n auto --dist loadfile --no-loadscope-reorder

.PHONY: demo test bench fuzz soak torture clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hubfw demo

test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python tools/benchmark.py --out bench-results.json

fuzz: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,fuzz]'
	$(BIN)/python tools/fuzz.py ota-file --runs 100000
	$(BIN)/python tools/fuzz.py zcl-ota --runs 100000
	$(BIN)/python tools/fuzz.py zcl-han --runs 100000
	$(BIN)/python tools/fuzz.py gbcs --runs 100000

soak: $(STAMP)
	$(BIN)/python tools/soak.py --devices 50 --days 30

torture: $(STAMP)
	$(BIN)/hubfw flash torture

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis bench-results.json
