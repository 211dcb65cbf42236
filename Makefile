# Two commands: `make serve` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 6543
STAMP := $(VENV)/.installed

.PHONY: serve test test-quick lint format init install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(STAMP): setup.py pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,dev,zeo,relstorage]'
	touch $@

install: $(STAMP)

var/Data.fs: | $(STAMP)
	mkdir -p var
	$(BIN)/initialize_membership_db development.ini

init: var/Data.fs

serve: $(STAMP) var/Data.fs
	PORT=$(PORT) $(BIN)/pserve development.ini

test: $(STAMP)
	$(BIN)/pytest

test-quick: $(STAMP)
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check membership tests bench
	$(BIN)/ruff format --check membership tests bench

format: $(STAMP)
	$(BIN)/ruff format membership tests bench
	$(BIN)/ruff check --fix membership tests bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache

# --- Several processes (issue 6; README.md, Deployment) -------------------------
# `make zeo`: the ZEO server production.ini connects to (zeo.conf: 127.0.0.1:8100,
# FileStorage var/zeo/Data.fs), run from the app's virtualenv in the foreground.
.PHONY: zeo
zeo: $(STAMP)
	mkdir -p var/zeo
	$(BIN)/runzeo -C zeo.conf

# --- Scale figures for a million-member group (issue 3; bench/scale.py) ----
.PHONY: bench-scale
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale --members $${MEMBERS:-1000000}
# ---- benchmarks (issue 7) --------------------------------------------------
# make bench        full run (1k / 100k / 1M members, 2 x 20 s per case), ~50 min
# make bench-quick  1k / 100k members, 1 x 3 s per case, about 5 min
# Both also run the previous release (bench/baseline.txt, built into var/bench/baseline),
# at 1k and 100k members; the full run also at 1M (check and add).
# make bench-profile  the membership check under pyinstrument, then py-spy live
# Needs wrk (apt-get install wrk); Kinto is installed into var/bench/kinto-venv.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): setup.py pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

.PHONY: bench bench-quick bench-profile

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m bench.run --quick

bench-profile: $(BENCH_STAMP)
	$(BIN)/python -m bench.profile
# ---- end of benchmarks -----------------------------------------------------
