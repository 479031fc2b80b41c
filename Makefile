# The README's two commands: `make demo` and `make test`. Both set up .venv first.
# A supported interpreter (pyproject.toml: 3.11 or 3.12), 3.11 first: the tests run on it.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	  command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null \
	  && { command -v $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Database backends the integration tests run against, one pytest run ("leg") each; the
# portable tests run on the postgresql leg only (tests/run_integration.py, README: Tests).
TEST_BACKENDS ?= postgresql mariadb embedded mysql8
# legs run side by side (they use different servers, prefixes and stores); 1 on 2 cores:
# a leg's tests and its database server keep both busy, and two legs each ran 2x slower
# (README, Tests)
TEST_JOBS ?= 1

.PHONY: install demo reproduce test test-unit test-integration bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "no supported Python: install Python 3.11 (or 3.12), e.g. apt install python3.11-venv, or run make PYTHON=/path/to/python3.11"; exit 1; }
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
	$(PY) -m pytest tests/unit -q -rs --durations=15 -p no:cacheprovider

test-integration: install
	$(PY) tests/run_integration.py --jobs $(TEST_JOBS) $(TEST_BACKENDS)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf .pipeline
