# The two front-door commands (see README): `make demo` and `make test`.
# Both create .venv and install the project with its pinned dependencies on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install clean bench-weekly bench ceiling synthetic-target

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ewp demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf .ewp .pytest_cache .ruff_cache .hypothesis

bench-weekly: $(STAMP)
	$(BIN)/python -m ewp.benchmarks.weekly_run

# The scale benchmarks (docs/scale.md): about half an hour on 2 cores; results in .ewp/bench/.
bench: $(STAMP)
	$(BIN)/ewp bench

# How close any model can get to the synthetic oracle, on 15 seeds (docs/model-
# development.md): about a minute and a half, no training.
ceiling: $(STAMP)
	$(BIN)/python -m ewp.benchmarks.ceiling

# The synthetic target (docs/synthetic-target.md): the champion `ewp train` selects against the
# history ceiling, the train flow run on 3 seeds (about 3 CPU-minutes each); all 15 seeds of
# `make ceiling` with ARGS="--seeds 20261123 $$(seq 1 14) --resume".
synthetic-target: $(STAMP)
	$(BIN)/python -m ewp.benchmarks.synthetic_target $(ARGS)
