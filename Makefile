# One command runs every check: make check
PY ?= .venv/bin/python

.PHONY: venv check lint types test bench

venv:
	python3 -m venv .venv && $(PY) -m pip install -q -e '.[dev]'

lint:
	$(PY) -m ruff check sim loadtest tests benchmarks
	$(PY) -m ruff format --check sim loadtest tests benchmarks

types:
	$(PY) -m mypy
	$(PY) -m mypy tests benchmarks

test:
	$(PY) -m pytest -q

check: lint types test

bench:
	$(PY) benchmarks/run.py
