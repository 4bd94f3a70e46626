# salesflow — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK := bash deploy/native/stack.sh
# Exports KAFKA_BOOTSTRAP_SERVERS, SALESFLOW_PG_ADMIN_DSN and the per-service database URLs.
WITH_ENV = set -a; eval "$$($(STACK) env)"; set +a;

.PHONY: help venv up down status run test fuzz api-tools browser pdfjs screenshots fonts check lint typecheck imports contracts contracts-check \
        unit integration test-import-big bench bench-smoke faults faults-small lock clean image image-test k8s-render k8s-check compose-check \
        deploy-check wheel-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The dev lock holds every package (runtime + dev + bench) with its hashes, so --no-deps installs exactly it.
$(BIN)/.installed: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed ## create .venv with the pinned packages

up: ## bring up PostgreSQL and Kafka (native; docker compose where a Docker daemon answers); idempotent
	$(STACK) up

down: ## stop PostgreSQL and Kafka
	$(STACK) down

status: ## what of the stack is running
	$(STACK) status

run: venv up fonts ## run salesflow: infrastructure + all services, URLs printed, until Ctrl-C
	$(WITH_ENV) $(BIN)/python -m deploy.native.run_services

test: venv up browser pdfjs fonts check ## the whole suite: lint, types, import rules, contracts, unit, integration, e2e
	$(WITH_ENV) $(BIN)/python -m pytest -p no:cacheprovider

# The OpenAPI linter (npm, pinned with its lock in tests/api); schemathesis comes with the venv.
API_TOOLS := tests/api/node_modules/.bin/redocly
$(API_TOOLS): tests/api/package.json tests/api/package-lock.json
	npm ci --prefix tests/api --no-audit --no-fund --loglevel=error
	touch $@

api-tools: $(API_TOOLS) ## @redocly/cli for tests/api (npm ci, pinned)

# Minutes, not seconds (four services fuzzed one after the other), so not part of `make test`; .ci/run runs it.
FUZZ_EXAMPLES ?= 12
fuzz: venv up fonts api-tools ## schemathesis over every service's OpenAPI (all checks) + redocly lint of each
	$(WITH_ENV) SALESFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider -m fuzz tests/api

browser: ## Debian's chromium + CJK fonts for the dashboard's headless-browser test (installed if missing)
	bash deploy/native/ensure-chromium.sh

# pdf.js (npm, pinned with its lock in tests/browser): headless chromium has no PDF viewer, so the quote's PDF is
# drawn by pdf.js on a canvas (tests/support/pdf_in_chromium.py). --omit=optional: pdfjs-dist's optional native
# canvas is for Node.js, the browser has its own.
PDFJS := tests/browser/node_modules/pdfjs-dist/build/pdf.mjs
$(PDFJS): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --omit=optional --no-audit --no-fund --loglevel=error
	touch $@

pdfjs: $(PDFJS) ## pdf.js for tests/browser (npm ci, pinned): the quote PDF rendered in headless chromium

# The committed screenshots, taken by the e2e tests that render the pages in headless chromium (they check what
# they draw; the pictures are for a person to look at): the dashboard, and page 1 of the quote PDF drawn by pdf.js.
screenshots: venv up browser pdfjs fonts ## docs/screenshots/*.png made again by the dashboard's and quote PDF's chromium tests
	$(WITH_ENV) REPORTING_SCREENSHOT=$(CURDIR)/docs/screenshots/reporting-dashboard-campaigns.png \
	  QUOTE_PDF_SCREENSHOT=$(CURDIR)/docs/screenshots/quote-pdf.png $(BIN)/python -m pytest -p no:cacheprovider -q \
	  "tests/e2e/test_reporting_dashboard.py::test_the_dashboard_renders_funnel_attainment_grades_losses_and_a_data_as_of_watermark" \
	  "tests/e2e/test_quote_pdf.py::test_chromium_draws_the_pdf_with_pdfjs_from_its_embedded_fonts_and_reads_the_same_lines_and_figures"

fonts: ## Debian's fonts-noto-cjk: the orders service's PDF quote font, which it needs to start (installed if missing)
	bash deploy/native/ensure-fonts.sh

check: lint typecheck imports contracts-check ## static checks only

lint: venv
	$(BIN)/ruff check shared services tools ops tests deploy bench faults

typecheck: venv
	$(BIN)/mypy shared services tools ops bench deploy faults

imports: venv ## services never import each other; shared imports no service; domain is pure
	$(BIN)/lint-imports

# The services read migrations, SQL rule files, configuration and pages from their package folders: the wheel (what
# the image installs, not editable) must hold every one. Build it, install it into a fresh venv, compare.
WHEEL_CHECK_DIR := $(shell mktemp -u /tmp/salesflow-wheel-check.XXXXXX)
wheel-check: venv ## build the wheel, install it (non-editable) into a fresh venv, check every data file is in it
	mkdir -p $(WHEEL_CHECK_DIR)/src  # from the repository's files only: a stale *.egg-info here would fill the gaps
	git ls-files -z --cached --others --exclude-standard | xargs -0 tar -c | tar -x -C $(WHEEL_CHECK_DIR)/src
	$(BIN)/pip wheel --quiet --no-deps $(WHEEL_CHECK_DIR)/src -w $(WHEEL_CHECK_DIR)/dist
	$(PYTHON) -m venv $(WHEEL_CHECK_DIR)/venv
	$(WHEEL_CHECK_DIR)/venv/bin/pip install --quiet --no-deps $(WHEEL_CHECK_DIR)/dist/*.whl
	cd $(WHEEL_CHECK_DIR) && venv/bin/python -m tools.wheel_check $(CURDIR); status=$$?; rm -rf $(WHEEL_CHECK_DIR); exit $$status

contracts: venv ## regenerate contracts/ (JSON Schemas, AsyncAPI) from the models
	$(BIN)/python -m tools.contracts --write

# CONTRACTS_BASE=origin/main also compares with the contracts as published there, so a breaking change that was
# regenerated locally (make contracts) still fails.
CONTRACTS_BASE ?=
contracts-check: venv ## fail if contracts/ is stale or a change would break subscribers
	$(BIN)/python -m tools.contracts --check $(if $(CONTRACTS_BASE),--against $(CONTRACTS_BASE))

unit: venv fonts ## unit tests only (no infrastructure)
	$(BIN)/python -m pytest -p no:cacheprovider tests/unit

# The bulk import's e2e test at the issue's size (10,000 rows, ~2 min on a quiet 2-core machine); make test runs 1,000.
test-import-big: venv up ## the bulk-import e2e test with a 10,000-row XLSX
	$(WITH_ENV) SALESFLOW_IMPORT_TEST_ROWS=10000 $(BIN)/python -m pytest -p no:cacheprovider tests/e2e/test_leads_import.py

integration: venv up browser pdfjs fonts ## integration + e2e tests only
	$(WITH_ENV) $(BIN)/python -m pytest -p no:cacheprovider tests/integration tests/e2e

bench: venv up fonts ## benchmarks (several minutes): writes bench/results/<stamp>.json and bench/results/latest.md
	$(WITH_ENV) $(BIN)/python -m bench.run

bench-smoke: venv up fonts ## the benchmark harness at tiny sizes (seconds): proves it runs, measures nothing
	$(WITH_ENV) $(BIN)/python -m bench.run --smoke

# The fault suite brings up its own PostgreSQL cluster and Kafka broker (ports 18732/18792 by default, state in
# ~/.cache/salesflow-faults) and kills them; the shared stack of `make up` is never touched. FAULTS_ARGS passes
# options (python -m faults --help), e.g. FAULTS_ARGS="--commands 5000 --rate 20".
FAULTS_ARGS ?=
faults: venv fonts ## fault suite (~40 min): load + kill -9 + broker/database faults + reconciliation + disaster drills
	$(BIN)/python -m faults $(FAULTS_ARGS)

faults-small: venv fonts ## the fault suite at CI size (a few minutes): one of each fault, small load
	$(BIN)/python -m faults --small $(FAULTS_ARGS)

IMAGE ?= localhost/salesflow:dev
image: ## build the production image with podman from a Debian base made with mmdebstrap (installs them if missing)
	IMAGE=$(IMAGE) bash deploy/image/build.sh

# The four services as containers from $(IMAGE) against the native stack (their own databases and topic prefix).
image-test: venv up image ## build the image, run the four services from it, check readiness, a capture, no dev tools
	$(WITH_ENV) SALESFLOW_IMAGE=$(IMAGE) $(BIN)/python -m pytest -p no:cacheprovider tests/image

# Tools the project installs for itself, outside the repository (kept between clones, like the Kafka jars).
TOOLS_DIR ?= $(HOME)/.cache/salesflow/tools
UV_VERSION := 0.13.9
UV := $(TOOLS_DIR)/uv-$(UV_VERSION)/bin/uv
# Both locks target what runs salesflow: CPython 3.11 on Linux (the image's Debian python3 and the dev venv).
UV_COMPILE = $(UV) pip compile --quiet --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--generate-hashes --custom-compile-command 'make lock' $(LOCK_FLAGS)

$(UV):
	$(PYTHON) -m venv $(TOOLS_DIR)/uv-$(UV_VERSION)
	$(TOOLS_DIR)/uv-$(UV_VERSION)/bin/pip install --quiet uv==$(UV_VERSION)

# kustomize is a Go module: built here with the Go toolchain (>= 1.24) into the tools dir, at a pinned version.
KUSTOMIZE_VERSION := v5.8.1
KUSTOMIZE := $(TOOLS_DIR)/kustomize-$(KUSTOMIZE_VERSION)/kustomize
K8S_OVERLAYS := dev prod

$(KUSTOMIZE):
	@command -v go >/dev/null || { echo "kustomize is built with Go >= 1.24: install the Go toolchain"; exit 1; }
	GOBIN=$(dir $@) GOPATH=$(TOOLS_DIR)/go GOFLAGS=-mod=mod GOTOOLCHAIN=local \
	  go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

k8s-render: $(KUSTOMIZE) ## render deploy/k8s's overlays (dev, prod) into build/k8s/<overlay>.yaml
	@mkdir -p build/k8s
	@for overlay in $(K8S_OVERLAYS); do \
	  $(KUSTOMIZE) build deploy/k8s/overlays/$$overlay > build/k8s/$$overlay.yaml || exit 1; \
	  echo "rendered build/k8s/$$overlay.yaml"; done

k8s-check: venv k8s-render ## validate the rendered manifests offline (Kubernetes schemas, Strimzi/CNPG fields, cross-references)
	$(BIN)/python -m tools.k8s $(K8S_OVERLAYS:%=build/k8s/%.yaml)

compose-check: ## deploy/compose.yaml is valid for Compose v1 (Debian's docker-compose, installed if missing; no daemon)
	@command -v docker-compose >/dev/null || { apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >/dev/null; }
	docker-compose -p salesflow -f deploy/compose.yaml config -q && echo "deploy/compose.yaml: valid (docker-compose $$(docker-compose version --short))"

deploy-check: k8s-check compose-check ## the deployment files: Kubernetes manifests and the compose file

# Keeps every existing pin that pyproject.toml still allows and resolves only what changed (seconds);
# `make lock LOCK_FLAGS=--upgrade` moves every transitive pin to the newest allowed version.
# The dev lock is constrained by the runtime lock, so the two never disagree on a version.
lock: $(UV) ## re-resolve requirements.lock (runtime) and requirements-dev.lock from pyproject.toml (needs PyPI)
	$(UV_COMPILE) pyproject.toml -o requirements.lock
	$(UV_COMPILE) pyproject.toml --extra dev --extra bench -c requirements.lock -o requirements-dev.lock

clean: ## remove the virtualenv and caches (not the stack's data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
