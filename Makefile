# The two commands: `make up` runs the whole system, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PY := .venv/bin/python
PACKAGES := shared gateway services/auth services/billing services/usage services/llm-proxy services/web importer
PYTEST := $(PY) -m pytest -q -p no:cacheprovider

.PHONY: help deps node-deps stack browser prometheus migrate up down observe test test-unit test-ts test-deploy test-integration test-e2e check fmt bench bench-litellm admin openapi-client

help:
	@echo "make up     install, start PostgreSQL/Redis/RabbitMQ, migrate, run every service"
	@echo "make test   the same set-up, then every test (unit, integration, end-to-end)"
	@echo "make check  ruff and mypy;  make down  stop what 'make up' started"
	@echo "make observe  Prometheus with Tollgate's rules against a running 'make up'"

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --break-system-packages --user uv

# Bytecode compiled once at install: every service process (the end-to-end suite starts
# dozens) would otherwise compile its libraries again at each start, where
# PYTHONDONTWRITEBYTECODE is set.
deps: $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode 2>/dev/null || $(UV) sync --quiet --compile-bytecode
	$(PY) -m compileall -q shared/src gateway/src services/*/src importer/src devtools/src > /dev/null

# The TypeScript client and the sample extension: Debian's Node.js when none is installed,
# then exactly the locked packages.
NODE_PACKAGES := clients/typescript clients/vscode-sample
node-deps:
	@command -v npm > /dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm > /dev/null; }
	@for p in $(NODE_PACKAGES); do (cd $$p && npm ci --no-audit --no-fund --loglevel=error); done
	@cd clients/typescript && npm run --silent build  # the sample compiles against its dist

# Regenerate the client's types after an API change (the document is built offline).
openapi-client: deps node-deps
	$(PY) scripts/openapi_document.py
	cd clients/typescript && npm run --silent generate

stack:
	bash scripts/stack.sh

# Debian's prometheus (with promtool): the rule checks and the end-to-end alert test.
prometheus:
	bash scripts/prometheus.sh

migrate: deps stack
	$(PY) scripts/devstack.py migrate

up: deps stack
	$(PY) scripts/devstack.py up

down:
	$(PY) scripts/devstack.py down

# Optional, beside `make up` in another terminal: Prometheus on :9090 with Tollgate's
# rules, scraping the local stack. Data under .run/prometheus.
observe: prometheus
	mkdir -p .run/prometheus
	prometheus --config.file=deploy/observability/prometheus/local.yml \
	  --storage.tsdb.path=.run/prometheus --web.listen-address=127.0.0.1:9090

# Unit tests need nothing running; integration tests use the real servers.
test-unit: deps
	@set -e; for p in $(PACKAGES); do \
	  if [ -d $$p/tests/unit ]; then echo "== unit: $$p"; $(PYTEST) $$p/tests/unit || [ $$? -eq 5 ]; fi; \
	done

# Node's test runner: the client's session rules, the sample extension's commands.
test-ts: node-deps
	@set -e; for p in $(NODE_PACKAGES); do echo "== typescript: $$p"; (cd $$p && npm test --silent); done

test-integration: deps stack
	@set -e; for p in $(PACKAGES); do \
	  if [ -d $$p/tests/integration ]; then echo "== integration: $$p"; $(PYTEST) $$p/tests/integration || [ $$? -eq 5 ]; fi; \
	done

# The browser journeys drive Debian's Chromium: Playwright's own download needs the
# network at test time, and a browser from the distribution gets its security updates.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "chromium is missing: apt-get install chromium"; exit 1; }

test-e2e: deps node-deps stack browser prometheus
	$(PYTEST) tests-e2e

# Every variable a service reads must reach it in compose, Kubernetes and .env.example.
test-deploy: deps prometheus
	$(PYTEST) deploy/checks

test: deps stack
	$(MAKE) --no-print-directory test-unit test-ts test-deploy test-integration test-e2e

bench: deps stack
	$(PY) bench/run_all.py

# The LLM path beside LiteLLM, the peer it is measured against: LiteLLM lives in an
# environment of its own under .run (the bench's, not a dependency of the project).
LITELLM_VENV := .run/bench-litellm
bench-litellm: deps stack
	@[ -x $(LITELLM_VENV)/bin/litellm ] || { $(UV) venv -q --python 3.11 $(LITELLM_VENV) \
	  && VIRTUAL_ENV=$(LITELLM_VENV) $(UV) pip install -q 'litellm[proxy]==1.108.7'; }
	$(PY) bench/llm/run.py

check: deps node-deps
	@for p in $(NODE_PACKAGES); do (cd $$p && npx tsc --noEmit -p .); done
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy shared/src gateway/src services/*/src importer/src devtools/src
	bash deploy/checks/run.sh

fmt: deps
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
