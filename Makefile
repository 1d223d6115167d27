# The two commands a newcomer needs: `make dev` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
STAMP := $(VENV)/.installed
# the UI's instance (runs, schedules, sensor cursors) persists here, git-ignored
DEV_DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install dev test lint validate bench chaos test-postgres test-spark test-ui clean-state

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,postgres,kubernetes]'
	touch $(STAMP)

install: $(STAMP)

## dev: install, then start the Dagster UI + daemon on 127.0.0.1:$(PORT) (embedded Qonto emulator, sample data)
dev: install
	mkdir -p $(DEV_DAGSTER_HOME)
	cp deploy/dagster.dev.yaml $(DEV_DAGSTER_HOME)/dagster.yaml
	# set the writers' pool limit once up front (two runs creating it at once race: dagster#33552)
	DAGSTER_HOME=$(DEV_DAGSTER_HOME) $(BIN)/dagster instance concurrency set qonto_writes 1 >/dev/null
	DAGSTER_HOME=$(DEV_DAGSTER_HOME) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(PORT)

## test: install, lint, validate the definitions and run the test suite
test: install lint validate
	$(BIN)/pytest -q -m "not slow and not postgres"

lint: install
	$(BIN)/ruff check .

validate: install
	home=$$(mktemp -d) && DAGSTER_HOME=$$home $(BIN)/dagster definitions validate -w workspace.yaml; \
	status=$$?; rm -rf "$$home"; exit $$status

bench: install
	$(BIN)/python benchmarks/pricing.py
	$(BIN)/python benchmarks/verify.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/scale.py

chaos: install
	$(BIN)/python benchmarks/chaos.py --seeds $(or $(SEEDS),20)

## test-postgres: PostgreSQL-backed Dagster storage + ledger (starts and stops its own server)
test-postgres: install
	scripts/install_system_deps.sh
	$(BIN)/pytest -q -m postgres

## test-spark: the usage engine on Spark in local mode (installs pyspark and a Java runtime)
test-spark: install
	scripts/install_system_deps.sh
	$(BIN)/pip install --quiet -e '.[spark]'
	$(BIN)/pytest -q -m spark -rs

## test-ui: the headless-Chromium smoke test of the Dagster UI; writes docs/asset-graph.png
test-ui: install
	scripts/install_system_deps.sh
	$(BIN)/pytest -q billing_pipeline_tests/ui

clean-state:
	rm -rf .state .dagster_home data/invoices
