# One-word set-up targets (README "Set-up"). `make quickstart`: create .venv from the lock file,
# run the main job. `make test`: the same install with the test tools, the whole suite (fast +
# slow), as CI does. `make test-latest` / `make lock`: the deliberate, tested upgrade.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
LATEST := .venv-latest
# The CPU wheel of torch, installed first: an unpinned torch would pull several GB of CUDA packages.
TORCH := torch==2.13.0
EXTRAS := .[dev,slurm,hf]

.PHONY: install quickstart test test-fast test-latest lock versions bench clean

# Every package at the version the lock names, build tools included (no build isolation, so the
# editable install is built by the locked setuptools, not whatever is newest that day).
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install -q -c $(LOCK) pip setuptools
	$(BIN)/pip install -q -c $(LOCK) $(TORCH)
	$(BIN)/pip install -q -c $(LOCK) --no-build-isolation -e '$(EXTRAS)'
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(BIN)/python -m dense_scaling.train

test: install
	$(BIN)/python -m pytest -m "slow or not slow"

test-fast: install
	$(BIN)/python -m pytest

versions: install
	$(BIN)/pip freeze --all

# The newest versions pyproject.toml allows, in a venv of their own, and the whole suite on them.
# torch is held to the local CPU wheel by a constraint: the eager upgrade otherwise took a newer
# CUDA build (6.6 GB), which `make lock` would then have written into the lock.
test-latest:
	$(PYTHON) -m venv --clear $(LATEST)
	echo '$(TORCH)' > $(LATEST)/torch.txt
	$(LATEST)/bin/pip install -q --upgrade pip setuptools
	$(LATEST)/bin/pip install -q $(TORCH)
	$(LATEST)/bin/pip install -q -c $(LATEST)/torch.txt --upgrade --upgrade-strategy eager -e '$(EXTRAS)'
	$(LATEST)/bin/python -m pytest -m "slow or not slow"

# Regenerate the lock from the newest allowed versions, once the whole suite passed on them.
lock: test-latest
	{ echo "# pip constraints: every package of .venv at the version the suite passed with."; \
	  echo "# Made by 'make lock' (newest versions pyproject.toml allows, suite green); do not edit."; \
	  $(LATEST)/bin/pip freeze --all --exclude-editable | grep -v '^#'; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)

bench: install
	$(BIN)/python benchmarks/bench_train_step.py

clean:
	rm -rf $(VENV) $(LATEST) outputs multirun .pytest_cache
