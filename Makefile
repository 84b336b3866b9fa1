# The course's commands. Each target sets up the virtual environment first (idempotent),
# so `make course` and `make test` work on a fresh machine with only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

PROFILE ?= quick
DATASET ?= phantom
RUNS    ?= runs/$(PROFILE)-$(DATASET)
JOBS    ?= 2

.PHONY: setup course lab test lint student assignments clean

setup: $(STAMP)

# Reinstall when the declared dependencies or the pinned versions change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[dev,ray]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)"
	touch $(STAMP)

# Run every notebook in order (papermill) and keep the executed copies under $(RUNS).
course: setup
	$(PY) -m helpers course --profile $(PROFILE) --dataset $(DATASET) --runs-dir $(RUNS)

# `make lab STUDENT=1` opens the student copies (built first) instead of the solutions.
lab: setup
ifdef STUDENT
	$(PY) -m helpers student --out student/notebooks --missing-only
	$(VENV)/bin/jupyter lab student/notebooks/
else
	$(VENV)/bin/jupyter lab notebooks/
endif

lint: setup
	$(PY) -m ruff check helpers tests benchmarks data_download.py

test: setup lint
	$(PY) -m pytest -n $(JOBS) --durations=15 tests

# Student copies: solution blocks replaced by `raise NotImplementedError` (hints kept). A copy
# the student edited is never overwritten: the new version goes to student/notebooks/updates/.
student: setup
	$(PY) -m helpers student --out student/notebooks

# The same with nbgrader: `nbgrader generate_assignment` into release/ (for instructors).
assignments: setup
	$(PY) -m helpers assignments --out release

clean:
	rm -rf runs student release .pytest_cache .ruff_cache
