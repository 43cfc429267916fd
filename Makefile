# `make demo` runs the main job; `make test` runs the tests. Each creates .venv on first use, installing the
# exact versions in requirements.lock (what CI tested); `make lock` re-resolves them after a change to
# pyproject.toml or to pick up new releases (then run `make test` before committing the new lock).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint install lock clean i18n

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/aftercare demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not contract and not postgres and not prefect_server and not slow"

lint: $(STAMP)
	$(BIN)/ruff check aftercare flows tasks tests benchmarks deployments examples

# Translations: extract every {% trans %} and _() of the shared templates into messages.pot, merge it into
# each locale's .po (new messages arrive empty; tests/unit/test_catalogs.py fails until they are translated),
# then compile each catalog to check it (the app compiles the .po in memory, so the .mo is not committed).
# A new language: `$(BIN)/pybabel init -i aftercare/locale/messages.pot -d aftercare/locale -l <locale>`.
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project aftercare -k N_ \
		-o aftercare/locale/messages.pot .
	$(BIN)/pybabel update -i aftercare/locale/messages.pot -d aftercare/locale --no-fuzzy-matching \
		--ignore-obsolete
	$(BIN)/pybabel compile -d aftercare/locale --statistics

# Re-resolve every pinned version (uv is only needed here, not to install): universal markers, so the lock
# also installs on macOS and Windows.
lock:
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --upgrade \
		--custom-compile-command "make lock" -o requirements.lock

clean:
	rm -rf $(VENV) .aftercare .pytest_cache
