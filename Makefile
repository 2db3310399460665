# ollama-local-serve: `make help` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
DASH    := ollama_proxy/_dashboard/index.html
# `make run` listens here and forwards there; set either on the command line or in the
# environment (the same names as the settings): make run OLLAMA_UPSTREAM=http://gpu-box:11434
PROXY_LISTEN    ?= 127.0.0.1:11435
OLLAMA_UPSTREAM ?= http://127.0.0.1:11434

.DEFAULT_GOAL := help
.PHONY: help install install-dev run test check lint format typecheck dashboard demo simulate bench bench-quick bench-deps docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/ollama-proxy: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[fast]'
	@touch $@

install: $(BIN)/ollama-proxy ## create .venv and install the package (core + uvloop)

install-dev: install ## add the test and development tools (chDB, clients, linters)
	$(BIN)/pip install -q -e '.[test]'

$(DASH):
	sh dashboard/install-deps.sh && cd dashboard && npm run build

dashboard: ## build the React dashboard into ollama_proxy/_dashboard/
	sh dashboard/install-deps.sh && cd dashboard && npm run build

run: install ## run the proxy (PROXY_LISTEN, 127.0.0.1:11435) for Ollama at OLLAMA_UPSTREAM, SQLite store
	@test -f $(DASH) || $(MAKE) dashboard || echo "dashboard not built (needs Node); the proxy runs without it"
	$(BIN)/ollama-proxy serve --listen $(PROXY_LISTEN) --upstream $(OLLAMA_UPSTREAM) --store sqlite:///./ollama-proxy.db

test: ## run the whole test suite (installs what it needs; this is what CI runs)
	bash scripts/test.sh

check: lint typecheck test ## lint, types and tests (what CI runs, plus mypy)

lint: install-dev ## ruff lint and format check
	$(BIN)/ruff check ollama_proxy tests bench
	$(BIN)/ruff format --check ollama_proxy tests bench

format: install-dev ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix ollama_proxy tests bench
	$(BIN)/ruff format ollama_proxy tests bench

typecheck: install-dev ## mypy on the package
	$(BIN)/mypy

demo: install ## simulator + proxy + traffic, prints the dashboard URL
	@test -f $(DASH) || $(MAKE) dashboard
	$(BIN)/ollama-proxy demo

simulate: install ## run the Ollama simulator on 127.0.0.1:11434
	$(BIN)/ollama-proxy simulate --listen 127.0.0.1:11434

bench-deps: ## nginx-light for the benchmarks' nginx column (Debian, as root; skipped otherwise)
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
	  { apt-get install -y -q nginx-light >/dev/null 2>&1 && (service nginx stop >/dev/null 2>&1 || true); } || \
	  echo "nginx not installed: the benchmarks leave its column out"

bench: install-dev bench-deps ## full benchmarks: proxy overhead, meter, telemetry, ingest, stats API
	$(BIN)/python -m bench.run --full
	$(BIN)/python -m bench.bench_meter
	$(BIN)/python -m bench.bench_telemetry
	$(BIN)/python -m bench.bench_ingest --records 1000000
	$(BIN)/python -m bench.bench_api
	$(BIN)/python -m bench.bench_fleet

bench-quick: install-dev bench-deps ## benchmarks in under 2 minutes
	$(BIN)/python -m bench.run --quick

docs: install ## regenerate the README settings table and .env.example from Settings
	$(BIN)/python -m ollama_proxy.settings_doc

clean: ## remove build outputs
	rm -rf build dist ollama_proxy/_dashboard .pytest_cache .ruff_cache .mypy_cache
