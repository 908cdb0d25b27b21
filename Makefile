# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap uv into
# .tools/ when it is not on PATH, so a machine with Python 3.11+ and make is enough.

PYTHON ?= python3
PORT ?= 8000
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

.PHONY: run test lint typecheck check bench clean

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

# Starts the portal with demo data on the embedded default (SQLite, in-process scheduler).
run: $(UV)
	$(UV) sync --quiet --no-group fixture
	$(UV) run --no-sync opsyard demo --host 127.0.0.1 --port $(PORT)

# Runs the whole suite: SQLite always, PostgreSQL too when OPSYARD_TEST_DATABASE_URL is set.
# On TEST_WORKERS pytest-xdist workers (a 2-core machine's worth; TEST_WORKERS=auto on a bigger
# one, PYTEST_ARGS=-n0 for one process), each with databases of its own. Bytecode is cached
# even where PYTHONDONTWRITEBYTECODE is set: the CLI and worker processes the tests start
# would otherwise compile every module again, seconds each.
TEST_WORKERS ?= 2
test: $(UV)
	$(UV) sync --quiet --group fixture
	PYTHONDONTWRITEBYTECODE= $(UV) run --no-sync pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(UV)
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

typecheck: $(UV)
	$(UV) run --no-sync mypy

check: lint typecheck test

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache opsyard.db opsyard.db-*
