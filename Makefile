# Everything bootstraps from a bare python3: the first target run creates .venv and installs.
PYTHON ?= python3
# `make test VENV=.venv-core EXTRAS=dev` runs the suite without the optional extras (as CI does too).
VENV ?= .venv
EXTRAS ?= dev,fast
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The test suite's own Redis database (never the app's REDIS_URL); emptied when the suite ends.
export JOBS_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install demo test test-fast lint format bench bench-scaling bench-dashboard dashboard-screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## a worker plus example jobs against REDIS_URL (or a private redis-server)
	$(BIN)/python -m examples.demo

test: $(STAMP)  ## the whole suite, slow fault tests and the dashboard's browser tests included (what CI runs)
	scripts/ensure-redis.sh $(JOBS_TEST_REDIS_URL)
	scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	scripts/ensure-redis.sh $(JOBS_TEST_REDIS_URL)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports  # the layers import downward only, no cycles (pyproject.toml)

bench: $(STAMP)  ## peers side by side (bench/RESULTS.md), our overhead split, a memory soak (about 30 min)
	scripts/ensure-redis.sh 6379
	$(PYTHON) bench/run.py
	mkdir -p bench/.logs
	$(BIN)/python bench/overhead.py --json bench/overhead.json > bench/.logs/overhead-worker.log
	$(BIN)/python bench/soak.py --minutes 1 --sample-every 10 --json bench/soak-1min.json

bench-scaling: $(STAMP)  ## Redis time per job, and 1-3 workers on one Redis vs a 3-shard cluster (docs/SCALING.md)
	$(BIN)/python bench/scaling.py all --json bench/scaling.json

bench-dashboard: $(STAMP)  ## the dashboard's overview over a queue of 1,000,000 jobs (docs/PERFORMANCE.md)
	scripts/ensure-redis.sh 6379
	$(BIN)/python bench/dashboard_overview.py

dashboard-screenshots: $(STAMP)  ## docs/dashboard-*.png, from real jobs in Redis database 11
	scripts/ensure-redis.sh 6379
	scripts/ensure-chromium.sh
	$(BIN)/python scripts/dashboard_screenshots.py --redis-url redis://127.0.0.1:6379/11

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .venv .venv-core .mypy_cache .pytest_cache .ruff_cache
