# Everyday commands; CI runs `make test` through .ci/run.
.POSIX:
.PHONY: sample test lint bench

PYTHON ?= python3
PYTEST_ARGS ?=
PIP_INSTALL = $(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore

# The bundled sample: sample/ packed into out/ by the pipe running natively (again and again).
SAMPLE_ID ?= Sample.Web
SAMPLE_VERSION ?= 1.0.0
SAMPLE_FORMAT ?= zip

sample:
	$(PIP_INSTALL) -r requirements.txt
	ID='$(SAMPLE_ID)' FORMAT='$(SAMPLE_FORMAT)' VERSION='$(SAMPLE_VERSION)' \
		SOURCE_PATH=sample OUTPUT_PATH=out OVERWRITE=true $(PYTHON) pipe/pipe.py

# docker-engine.sh prints the base image the container tests build FROM. Without an engine the
# container tests skip, except in CI (CI=true), where that is an error.
test:
	$(PIP_INSTALL) -r test/requirements.txt
	base=$$(bash ci-scripts/docker-engine.sh) || [ "$${CI:-}" != true ] || exit 1; \
		OCTOPUS_PACK_BASE_IMAGE="$$base" $(PYTHON) -m pytest $(PYTEST_ARGS)

lint:
	$(PIP_INSTALL) -r test/requirements.txt
	$(PYTHON) -m ruff check .
	hadolint Dockerfile

# BENCH_ARGS go to test/benchmark.py (the packer benchmark), e.g. make bench BENCH_ARGS=--quick.
BENCH_ARGS ?=

bench:
	$(PIP_INSTALL) -r test/requirements.txt
	$(PYTHON) test/benchmark.py $(BENCH_ARGS)
	base=$$(bash ci-scripts/docker-engine.sh) || exit 1; \
		OCTOPUS_PACK_BASE_IMAGE="$$base" $(PYTHON) test/bench_image.py
