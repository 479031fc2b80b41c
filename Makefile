# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Database backends the integration tests run against, one pytest run each.
TEST_BACKENDS ?= postgresql mariadb embedded mysql8

.PHONY: install demo reproduce test test-unit test-integration bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: install
	$(PY) -m populate demo

# Figure 3 at CPU scale: the reproduce profile (about an hour on 2 cores); not part of `make test`
reproduce: install
	$(PY) -m populate reproduce

test: test-unit test-integration

test-unit: install
	$(PY) -m pytest tests/unit -q -rs

test-integration: install
	@set -e; for backend in $(TEST_BACKENDS); do \
		echo "=== integration tests against $$backend ==="; \
		PIPELINE_TEST_BACKEND=$$backend $(PY) -m pytest tests/integration -q -rs; \
	done

bench: install
	$(PY) bench/run.py

clean:
	rm -rf .pipeline
