# Shortcuts for those who have make: each target runs the same `python3 dev.py` command the README gives.
.POSIX:
.PHONY: sample test lint bench

PYTHON ?= python3
PYTEST_ARGS ?=
BENCH_ARGS ?=

sample:
	$(PYTHON) dev.py sample

test:
	$(PYTHON) dev.py test $(PYTEST_ARGS)

lint:
	$(PYTHON) dev.py lint

bench:
	$(PYTHON) dev.py bench $(BENCH_ARGS)
