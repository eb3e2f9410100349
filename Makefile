# Atlantic Bank assistant "Nova": the two commands are `make run` and `make test` (see README.md).
#
# Two Python environments: .venv (our code, Python 3.11+) and .venv-rasa (the Rasa server, Python 3.10).
# Every target that needs one depends on `setup`, which only (re)installs what changed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
RASA_VENV := .venv-rasa
PY        := $(VENV)/bin/python
RASA      := $(RASA_VENV)/bin/rasa
PACKAGES  := profiles recommender analytics actions api

# Production-mode services for the second test run (override on the command line if yours differ).
# TEST_REDIS_URL also goes to the embedded run: its Redis-backed tests (tests/conftest.py `test_redis_url`) use it,
# and fail instead of skipping when CI is set.
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0
TEST_RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672/%2F
PYTEST_ARGS       ?=

# Quiet, offline Rasa: no telemetry prompt or upload, no TensorFlow/SQLAlchemy chatter.
export RASA_TELEMETRY_ENABLED ?= false
export TF_CPP_MIN_LOG_LEVEL ?= 2
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export PYTHONDONTWRITEBYTECODE ?= 1

# Run pytest; exit status 5 ("no tests collected") is reported, not treated as a failure.
define run_pytest
rc=0; $(1) $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected"; rc=0; fi; exit $$rc
endef

.PHONY: help setup lock train seed recommender analytics eval-recommender bench-batch bench-recommender run stop test lint validate pytest pytest-prod test-core fuzz-api \
        check-services bench bench-dialogues eval-nlu clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

setup:  ## create/update .venv and .venv-rasa from requirements/*.lock (no-op when unchanged)
	@bash scripts/setup_env.sh

lock:  ## rewrite requirements/*.lock from the working environments (after adding a package to *.in)
	@bash scripts/setup_env.sh --lock

train: setup  ## train models/nova.tar.gz unless config, domain and data are unchanged (FORCE=1 retrains)
	@bash scripts/train.sh

seed: setup  ## import the CRM demo data (idempotent; DATABASE_URL or the SQLite file var/crm.db)
	$(PY) -m profiles.seed

recommender: setup  ## train the product recommender unless every model has a promoted version
	@if $(PY) -m recommender.registry check >/dev/null; then \
		echo "==> recommender: every model has a promoted version, not retraining"; \
	else \
		echo "==> recommender: a model has no promoted version, training all"; \
		$(PY) -m recommender.train; \
	fi

analytics: setup seed  ## train the CRM analyses if none is stored, then score every customer into customer_scores
	$(PY) -m analytics.batch --train-if-missing

eval-recommender: setup  ## evaluate the promoted recommender models -> results/recommender_eval.json and .png
	$(PY) -m recommender.evaluate

run: setup train seed recommender analytics  ## start the feed consumer, action server, Rasa, the API and the campaign worker; Ctrl-C (or make stop) stops all five
	@bash scripts/run.sh

stop:  ## stop this checkout's `make run` by its PID file (var/run/run.pid; never by a process-name pattern)
	@bash scripts/stop.sh

test: setup train  ## the whole suite: lint, rasa data validate, pytest (embedded + production), test stories
	@t0=$$SECONDS; \
	for step in lint validate pytest pytest-prod test-core; do \
		echo; echo "==> make $$step"; \
		$(MAKE) --no-print-directory $$step; \
	done; \
	echo; echo "==> make test: all steps passed in $$((SECONDS - t0)) s"

lint:  ## ruff and mypy over our packages, bot/ and tests/
	$(VENV)/bin/ruff check $(PACKAGES) bot tests
	$(VENV)/bin/mypy $(PACKAGES) tests
	@# bot/ runs in .venv-rasa on Python 3.10, which has no mypy (requirements/rasa.lock): .venv's mypy checks it
	@# for 3.10, Rasa's own modules untyped (pyproject.toml: ignore_missing_imports for rasa.*).
	$(VENV)/bin/mypy --python-version 3.10 bot

validate:  ## rasa data validate (domain, NLU, stories, rules); warnings are errors (see scripts/validate.sh)
	@bash scripts/validate.sh

pytest:  ## pytest in embedded mode: SQLite and the in-memory tracker store
	@echo "==> pytest, embedded mode (SQLite, in-memory tracker store)"
	@$(call run_pytest,env -u DATABASE_URL -u REDIS_URL -u RABBITMQ_URL TEST_REDIS_URL=$(TEST_REDIS_URL))

pytest-prod: check-services  ## pytest in production mode: PostgreSQL, Redis and RabbitMQ
	@echo "==> pytest, production mode (DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) RABBITMQ_URL=$(TEST_RABBITMQ_URL))"
	@$(call run_pytest,env DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) RABBITMQ_URL='$(TEST_RABBITMQ_URL)')

fuzz-api: setup  ## schemathesis over every API operation, all responses checked (FUZZ_EXAMPLES per operation, 100)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(PY) -m pytest tests/api/test_api_fuzz.py -q $(PYTEST_ARGS)

check-services:  ## fail early and clearly when PostgreSQL, Redis or RabbitMQ is unreachable
	@$(PY) -c 'import sys, pika, psycopg, redis; from sqlalchemy import make_url; \
	u = make_url(sys.argv[1]).set(drivername="postgresql").render_as_string(hide_password=False); \
	psycopg.connect(u, connect_timeout=5).close(); redis.Redis.from_url(sys.argv[2], socket_timeout=5).ping(); \
	pika.BlockingConnection(pika.URLParameters(sys.argv[3] + "?socket_timeout=5")).close()' \
		'$(TEST_DATABASE_URL)' '$(TEST_REDIS_URL)' '$(TEST_RABBITMQ_URL)' \
	|| { echo "ERROR: PostgreSQL ($(TEST_DATABASE_URL)), Redis ($(TEST_REDIS_URL)) or RabbitMQ ($(TEST_RABBITMQ_URL)) is unreachable (see above); .ci/run starts them" >&2; exit 1; }

test-core:  ## rasa test core on tests/test_stories.yml (every flow)
	@if [ ! -f tests/test_stories.yml ]; then \
		echo "==> tests/test_stories.yml does not exist yet: skipping rasa test core"; \
	else \
		$(RASA) test core --model models --stories tests/test_stories.yml \
			--fail-on-prediction-errors --out results/core; \
	fi

bench: setup train  ## training time, NLU accuracy, chat latency vs a bare bot -> results/bench/, README section
	$(PY) benchmarks/run_all.py

bench-dialogues: setup train  ## replay the SGD Banks_1 dialogues over REST -> results/dialogues.json, README section
	$(PY) benchmarks/dialogues.py

bench-batch: setup  ## batch-scoring benchmark, small mode (20,000 synthetic customers; --n 1000000 for the full run)
	$(PY) benchmarks/batch_scoring.py --n 20000

bench-recommender: setup recommender  ## recommender serving: one customer's next best offers (p95 <= 5 ms) and batch_scores of 100,000 customers (<= 10 s), reference vs fast path
	$(PY) benchmarks/recommender_serving.py

eval-nlu: setup train  ## score the Rasa NLU model on the BANKING77 held-out split -> results/nlu_eval.json
	$(RASA_VENV)/bin/python bot/evaluate_nlu.py --model models \
		--data tests/data/banking77_heldout.csv --out results/nlu_eval.json

.PHONY: export-nlu
export-nlu: setup  ## write the staff console's reviewed NLU examples to data/nlu/reviewed.yml (then make train, make eval-nlu)
	$(PY) -m profiles.nlu_annotation export

clean:  ## remove trained models, results and logs (keeps the environments and the database)
	rm -rf models results var/log .pytest_cache .mypy_cache .ruff_cache
