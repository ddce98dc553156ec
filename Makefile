# polypdet: `make serve` runs the service on :8000, `make test` runs the whole suite. Both set up .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-serve
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev serve test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# trackers (and ultralytics) pull in OpenCV's GUI build; a server needs only the headless one, which shares its
# cv2 module and loads no Qt/X11 libraries (~10 MB less per process). The Dockerfile does the same.
HEADLESS_OPENCV = $(BIN)/pip uninstall -q -y opencv-python && $(BIN)/pip install -q --force-reinstall --no-deps opencv-python-headless

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[serve]'
	$(HEADLESS_OPENCV)
	touch $@

$(DEV_STAMP): pyproject.toml $(SERVE_STAMP)
	$(BIN)/pip install -q -e '.[serve,s3,dev,train,export]'
	$(HEADLESS_OPENCV)
	touch $@

install: $(SERVE_STAMP)

install-dev: $(DEV_STAMP)

serve: install
	$(BIN)/polypdet serve --host $${HOST:-0.0.0.0} --port $${PORT:-8000}

lint: install-dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/pytest

bench: install-dev
	$(BIN)/python benchmarks/latency.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
