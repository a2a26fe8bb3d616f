# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   build the environment and run the flagship case study end to end
#   make test   build the environment and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= runs/hbv_et_twin

.PHONY: demo test test-slow lint env

$(BIN)/discover: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch lies on disk here; a range that 2.13.0 satisfies then installs nothing more.
	$(BIN)/pip install --quiet torch==2.13.0 || $(BIN)/pip install --quiet "torch>=2.2"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/discover

env: $(BIN)/discover

demo: env
	$(BIN)/discover demo --out $(OUT)

test: env
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test-slow: env
	$(BIN)/python -m pytest -q -m slow -n auto --dist loadfile

lint: env
	$(BIN)/ruff check discover tests benchmarks case_studies
	$(BIN)/ruff format --check discover tests benchmarks case_studies
