# kexec-lineage: the two commands the README names are `make demo` and `make test`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint typecheck pytest clean

demo: $(STAMP)
	$(BIN)/kexec-lineage demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# Throughput figures, printed as ratios against a baseline in the same run.
bench: $(STAMP)
	$(BIN)/python -m bench.scan_throughput
	$(BIN)/python -m bench.record_time
	$(BIN)/python -m bench.ingest_throughput
	$(BIN)/python -m bench.collector_load
	$(BIN)/python -m bench.chain_order
	$(BIN)/python -m bench.analysis_scale
	$(BIN)/python -m bench.dashboard_scale

# System packages first (compilers, swig for pylibfdt, dtc for the tests),
# then the virtualenv with every extra.
$(STAMP): pyproject.toml scripts/system-packages
	scripts/install-system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fdt,server,sim,spark]'
	touch $@

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache .hypothesis
