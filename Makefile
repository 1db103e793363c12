# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install, generate the demo videos, train and test on them
#   make test   create .venv, install, lint, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DATA ?= data/demo/football

.PHONY: demo test test-all lint install benchmark motion-data clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/make_demo_data.py --output $(DEMO_DATA)
	$(PY) scripts/train.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

test-all: lint
	$(PY) -m pytest -m "slow or not slow"

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py

motion-data: $(STAMP)
	$(PY) scripts/make_motion_data.py --output data/motion

clean:
	rm -rf runs .cache .pytest_cache
