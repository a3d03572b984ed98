# FieldProof — `make run` serves the embedded default, `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export FIELDPROOF_DATA_DIR ?= $(CURDIR)/var

# Debian packages: what the app needs to render packets (PDF/A with Chinese), and what the
# tests start (PostgreSQL, Ceph's RADOS Gateway, Redis, Chromium). Installed only when missing.
RUN_DEBS := fonts-noto-cjk fonts-dejavu-core libharfbuzz-subset0 libpangoft2-1.0-0 poppler-utils
TEST_DEBS := $(RUN_DEBS) postgresql ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl redis-server chromium

.PHONY: install run test test-fast lint system-deps run-deps debs bench fuzz audit clean translations

CATALOGS := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

install: $(VENV)/.installed $(CATALOGS)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel -q compile -i $< -o $@ -l $*

translations: install
	$(BIN)/python scripts/translations.py

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

system-deps:
	@$(MAKE) --no-print-directory debs DEBS="$(TEST_DEBS)"

run-deps:
	@$(MAKE) --no-print-directory debs DEBS="$(RUN_DEBS)"

debs:
	@missing=""; for pkg in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: install run-deps
	$(BIN)/fieldproof db upgrade
	@$(BIN)/fieldproof demo
	@echo
	@echo "FieldProof on http://$(HOST):$(PORT)"
	@echo "  API docs (try it out):  http://$(HOST):$(PORT)/api/v1/docs"
	@echo "  OpenAPI document:       http://$(HOST):$(PORT)/api/v1/openapi.json"
	@echo "  web console:            http://$(HOST):$(PORT)/console"
	@echo "  collector's app:        http://$(HOST):$(PORT)/field/"
	@echo "  demo logins:            $(FIELDPROOF_DATA_DIR)/demo-logins.txt"
	$(BIN)/fieldproof run --host $(HOST) --port $(PORT)

test: install system-deps
	scripts/test.sh

lint: install
	$(BIN)/ruff check .

test-fast: lint
	$(BIN)/python -m pytest -q tests/unit tests/api

bench: install
	scripts/bench.sh

# The long schemathesis run (every operation, a token of each role); `make test` runs 12 examples.
fuzz: install
	FIELDPROOF_FUZZ_RANDOM=1 FIELDPROOF_FUZZ_EXAMPLES=$${FIELDPROOF_FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest -q -p no:cacheprovider \
	  tests/e2e/test_schemathesis.py

# Known vulnerabilities in the installed dependencies (needs the network: the package index's advisory service).
audit: install
	$(BIN)/pip install --quiet pip-audit
	$(BIN)/pip-audit --skip-editable --progress-spinner off

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
