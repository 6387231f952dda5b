# The two commands a new user needs:
#   make demo   set up, then run the whole pipeline on the bundled sample (seeds/sample)
#   make test   set up, then run the test suite (what CI runs: .ci/run)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_HOME := $(CURDIR)/.dagster

.PHONY: setup setup-spark test-spark demo test lint dev validate sample bench-identity bench-identity-scale bench-splink-setup bench-clv bench-ml bench-ml-cdnow bench-pipeline clean

# Debian's Chromium for the report's browser test (Playwright drives it; no browser is downloaded).
# Where there is no apt-get, say so and go on: only that test needs it.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Defined before `setup`: make expands a rule's prerequisites when it reads the rule.
setup: $(VENV)/.installed .dagster/dagster.yaml $(CHROMIUM)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	cd dbt_project && ../$(BIN)/dbt parse --quiet
	touch $@

.dagster/dagster.yaml: dagster.yaml
	mkdir -p .dagster
	cp dagster.yaml $@

$(CHROMIUM):
	if command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
		|| echo "could not install Chromium: the report's browser test will be skipped"; \
	else echo "no apt-get: install Chromium at $@ for the report's browser test"; fi

# The bundled sample as of a month before its last day, then as of its last day: the report
# gets a history and the audiences sent a month earlier get their experiment readouts.
DEMO_FIRST_AS_OF ?= 2026-08-31
DEMO_LAST_AS_OF ?= 2026-09-30
# Apache Spark as the warehouse engine (docs/spark.md): dbt-spark and PySpark in .venv, and a
# Java 17 runtime (Debian's, where there is none).
setup-spark: setup
	$(BIN)/pip install --quiet -e ".[dev,spark]"
	if ! command -v java >/dev/null; then \
		if command -v apt-get >/dev/null; then \
			$(SUDO) apt-get update -q && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless; \
		else echo "no apt-get: install a Java 17 runtime for Spark"; exit 1; fi; \
	fi

# The project built on Spark (local mode) and on DuckDB from the same sources, every table
# compared (8 to 13 minutes; not part of `make test`)
# every test marked spark, one at a time (each starts a JVM of 2-5 GB); about an hour on 2 cores
test-spark: setup-spark
	CDP_SPARK_TEST=1 $(BIN)/pytest -m spark -n 0

demo: setup
	$(BIN)/cdp backfill --start $(DEMO_FIRST_AS_OF) --end $(DEMO_LAST_AS_OF) --every 30

test: setup
	$(BIN)/pytest -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff check .

validate: setup
	$(BIN)/dagster definitions validate -w workspace.yaml

dev: setup
	$(BIN)/dagster dev -w workspace.yaml

sample: setup
	rm -rf seeds/sample
	$(BIN)/cdp generate --customers 2000 --days 90 --seed 42 --out seeds/sample

# FEBRL3, FEBRL4 and the generator's truth (GENERATOR_PERSONS), with Splink 5 on the same records
GENERATOR_PERSONS ?= 100000
bench-identity: setup bench-splink-setup
	$(BIN)/python -m benchmarks.identity.run --generator-persons $(GENERATOR_PERSONS)

# the identity stage alone on about 1,000,000 source customer records
bench-identity-scale: setup
	$(BIN)/python -m benchmarks.identity.scale --persons 400000

# CDNOW through the landing contract: BG/NBD and Gamma-Gamma fits next to the published values
bench-clv: setup
	$(BIN)/python -m benchmarks.clv.run

# the ML stage on a synthetic warehouse of ML_CUSTOMERS customers: dbt feature tables, then every model
ML_CUSTOMERS ?= 1000000
bench-ml: setup
	$(BIN)/python -m benchmarks.ml.run --customers $(ML_CUSTOMERS)

# churn and purchase propensity on CDNOW's real purchases (out-of-time validation metrics)
bench-ml-cdnow: setup
	$(BIN)/python -m benchmarks.ml.cdnow

# the whole pipeline at PIPELINE_CUSTOMERS sizes x 365 days: generate, full run, daily incremental run, DuckDB floor
# (docs/benchmarks.md: about an hour for these two sizes; 1000000 needs about 67 GB of free disk and 1.5 hours)
PIPELINE_CUSTOMERS ?= 100000 300000
PIPELINE_BENCH_DIR ?= /tmp/cdp-bench-pipeline
bench-pipeline: setup
	$(BIN)/python -m benchmarks.pipeline.run --customers $(PIPELINE_CUSTOMERS) --days 365 --out $(PIPELINE_BENCH_DIR)

# Splink 5 (reference run of bench-identity) needs pandas<3, so it gets its own venv.
bench-splink-setup: .venv-splink/.installed

.venv-splink/.installed:
	$(PYTHON) -m venv .venv-splink && .venv-splink/bin/pip install --quiet "splink==5.0.0" && touch $@

clean:
	rm -rf warehouse exports .dagster dbt_project/target dbt_project/logs

# SIGKILL pipeline runs at random moments on the bundled sample, run again, compare every table and export
# file with an uninterrupted run (docs/reliability.md; a few minutes per kill)
CRASH_KILLS ?= 5
CRASH_SEED ?= 0
.PHONY: crash-loop
crash-loop: setup
	$(BIN)/python -m tests.crash_loop --kills $(CRASH_KILLS) --seed $(CRASH_SEED) --with-bad-input
