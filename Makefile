# The two commands the README documents first.
VENV ?= .venv
export VSPEC_HOME ?= $(CURDIR)/.vspec
export HF_HUB_OFFLINE = 1
export RAY_AUTH_MODE = disabled
export RAY_USAGE_STATS_ENABLED = 0

.PHONY: setup demo test lint bench lock

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/vspec run experiments/demo.yaml

test: setup
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check valuespectrum tests benchmarks

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

# Re-resolve requirements.lock (exact versions + hashes; PyPI only; ~10 s): after changing
# the dependencies in pyproject.toml. LOCK_ARGS=--upgrade moves every pin. docs/testing.md
lock:
	bash scripts/lock.sh
