# One-word set-up targets. `make quickstart`: create .venv, install, run the main job.
# `make test`: install with the test tools and run the whole suite (fast + slow), as CI does.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install quickstart test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: a newer or unpinned torch would pull several GB of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,slurm]'
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(BIN)/python -m dense_scaling.train

test: install
	$(BIN)/python -m pytest -m "slow or not slow"

test-fast: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench_train_step.py

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
