# artifactapi: build, run, test, benchmark.
#
#   make build   release binary
#   make run     local server with the defaults (fs storage in ./data, in-process coordination);
#                creates the PostgreSQL role and database it needs when they are missing
#   make test    unit and integration tests of the workspace, then the end-to-end crate
#   make e2e     the end-to-end crate alone
#   make bench   benchmark against nginx proxy_cache (bench/README.md)
#   make lint    clippy (warnings are errors) and rustfmt --check
#   make fmt     rustfmt
#
# Builds go to ./target unless CARGO_TARGET_DIR says otherwise (CI sets it to a shared cache).
# It is exported either way so that the end-to-end tests find the binary they start.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR

# Tools installed by .ci/install (s3s-fs for the S3 storage tests).
TOOLS ?= /var/cache/artifactapi/tools
export PATH := $(TOOLS)/cargo/bin:$(PATH)

# Database of `make run` (the server's own defaults, on the loopback address). PGADMIN is the
# superuser that creates them.
DBHOST ?= 127.0.0.1
DBPORT ?= 5432
DBUSER ?= artifacts
DBNAME ?= artifacts
PGADMIN ?= postgres

E2E_CRATE := artifactapi-e2e

.PHONY: build run db test e2e bin bench lint fmt

build:
	$(CARGO) build --release -p artifactapi

# Creates the role and the database of the defaults when missing; changes nothing otherwise.
db:
	@psql_admin() { psql -h "$(DBHOST)" -p "$(DBPORT)" -U "$(PGADMIN)" -d postgres -v ON_ERROR_STOP=1 -Atq "$$@"; }; \
	if [ -z "$$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$(DBUSER)'")" ]; then \
	  echo "creating PostgreSQL role $(DBUSER)"; \
	  psql_admin -c 'CREATE ROLE "$(DBUSER)" LOGIN'; \
	fi; \
	if [ -z "$$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$(DBNAME)'")" ]; then \
	  echo "creating PostgreSQL database $(DBNAME) owned by $(DBUSER)"; \
	  psql_admin -c 'CREATE DATABASE "$(DBNAME)" OWNER "$(DBUSER)"'; \
	fi

run: db
	DBHOST="$(DBHOST)" DBPORT="$(DBPORT)" DBUSER="$(DBUSER)" DBNAME="$(DBNAME)" \
	  $(CARGO) run --release -p artifactapi

# The end-to-end tests start the debug binary, so it is built before any test runs.
bin:
	$(CARGO) build -p artifactapi

test: bin
	$(CARGO) test --no-fail-fast --workspace --exclude $(E2E_CRATE)
	$(CARGO) test --no-fail-fast -p $(E2E_CRATE)

e2e: bin
	$(CARGO) test --no-fail-fast -p $(E2E_CRATE)

bench:
	bench/run.sh

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check
	@if command -v shellcheck >/dev/null; then shellcheck .ci/run .ci/install bench/run.sh; \
	else echo "shellcheck not installed: shell scripts not checked"; fi

fmt:
	$(CARGO) fmt --all
