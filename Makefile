# FieldProof — `make run` serves the embedded default, `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export FIELDPROOF_DATA_DIR ?= $(CURDIR)/var

# Debian packages the tests need, as "command-or-path:package" pairs; installed only when missing.
TEST_DEBS := /usr/lib/postgresql:postgresql radosgw:radosgw ceph-mon:ceph-mon ceph-osd:ceph-osd curl:curl \
	ceph-mgr:ceph-mgr ceph:ceph-common

.PHONY: install run test test-fast system-deps bench fuzz clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

system-deps:
	@missing=""; for pair in $(TEST_DEBS); do want=$${pair%%:*}; pkg=$${pair##*:}; \
	  if [[ $$want == /* ]]; then [ -e "$$want" ] || missing="$$missing $$pkg"; \
	  else command -v $$want >/dev/null 2>&1 || missing="$$missing $$pkg"; fi; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: install
	$(BIN)/fieldproof db upgrade
	@$(BIN)/fieldproof demo
	@echo
	@echo "FieldProof on http://$(HOST):$(PORT)"
	@echo "  API docs (try it out):  http://$(HOST):$(PORT)/api/v1/docs"
	@echo "  OpenAPI document:       http://$(HOST):$(PORT)/api/v1/openapi.json"
	@echo "  demo logins:            $(FIELDPROOF_DATA_DIR)/demo-logins.txt"
	$(BIN)/fieldproof run --host $(HOST) --port $(PORT)

test: install system-deps
	scripts/test.sh

test-fast: install
	$(BIN)/python -m pytest -q tests/unit tests/api

bench: install
	scripts/bench.sh

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
