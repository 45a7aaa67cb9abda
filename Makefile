# artifactapi: build, run, test, benchmark.
#
#   make build   release binary
#   make run     local server with the defaults (fs storage in ./data, in-process coordination);
#                creates the PostgreSQL role and database it needs when they are missing
#   make cluster three replicas on the local PostgreSQL (database artifacts_cluster) and Redis,
#                on a Garage (else s3s-fs, else shared fs) under ./.cluster, behind nginx round
#                robin on :8000 when nginx is installed; prints the URLs, Ctrl-C stops all
#                (compose/cluster.sh; release binary when built, else debug)
#   make test    unit and integration tests of the workspace, then the end-to-end crate
#   make e2e     the end-to-end crate alone
#   make bench   benchmark against nginx proxy_cache and the peers (bench/README.md)
#   make soak    30 minutes of mixed traffic, peak RSS and errors (SOAK_SECONDS to shorten)
#   make provider          the Terraform provider, zipped for a provider registry (dist/)
#   make provider-publish  uploads that zip to a local terraform repository of artifactapi
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

# Tools installed by .ci/install (s3s-fs for the S3 storage tests, garage for the replica suite).
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

.PHONY: build run db cluster test e2e bin bench soak lint fmt provider provider-publish

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

# Three replicas as compose/compose.yaml runs them, on this machine's services (compose/cluster.sh
# says what it starts and which settings it reads).
CLUSTER_DBNAME ?= artifacts_cluster
cluster:
	@$(MAKE) --no-print-directory db DBNAME="$(CLUSTER_DBNAME)"
	DBHOST="$(DBHOST)" DBPORT="$(DBPORT)" DBUSER="$(DBUSER)" DBNAME="$(CLUSTER_DBNAME)" compose/cluster.sh

# The end-to-end tests start the debug binaries (the server, and terraform's provider), so they
# are built before any test runs (two builds, so each keeps its own feature set and cache).
bin:
	$(CARGO) build -p artifactapi
	$(CARGO) build -p terraform-provider-artifactapi

test: bin
	$(CARGO) test --no-fail-fast --workspace --exclude $(E2E_CRATE)
	$(CARGO) test --no-fail-fast -p $(E2E_CRATE)

e2e: bin
	$(CARGO) test --no-fail-fast -p $(E2E_CRATE)

bench:
	bench/run.sh

soak:
	bench/soak.sh

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check
	@if command -v shellcheck >/dev/null; then shellcheck -x .ci/run .ci/install bench/run.sh bench/soak.sh compose/cluster.sh terraform-provider/scripts/*.sh; \
	else echo "shellcheck not installed: shell scripts not checked"; fi

fmt:
	$(CARGO) fmt --all

# The Terraform provider as a provider registry wants it:
# dist/terraform-provider-artifactapi_{version}_{os}_{arch}.zip holding the release binary
# (terraform-provider/scripts/package.sh, which the end-to-end test runs too).
PROVIDER_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
PROVIDER_OS ?= $(shell uname -s | tr '[:upper:]' '[:lower:]')
PROVIDER_ARCH ?= $(shell uname -m | sed -e 's/^x86_64$$/amd64/' -e 's/^aarch64$$/arm64/')
PROVIDER_ZIP := terraform-provider-artifactapi_$(PROVIDER_VERSION)_$(PROVIDER_OS)_$(PROVIDER_ARCH).zip

provider:
	$(CARGO) build --release -p terraform-provider-artifactapi
	terraform-provider/scripts/package.sh "$(CARGO_TARGET_DIR)/release/terraform-provider-artifactapi" \
	  dist $(PROVIDER_VERSION) $(PROVIDER_OS) $(PROVIDER_ARCH)

# Uploads the zip to local terraform repository PROVIDER_REPO of the server at
# ARTIFACTAPI_ENDPOINT with ARTIFACTAPI_TOKEN (write on that repository); PROVIDER_CA is a PEM CA
# file for a server behind a private CA (terraform-provider/scripts/publish.sh). Terraform then
# installs it with source = "HOST/PROVIDER_REPO/artifactapi".
PROVIDER_REPO ?= providers
PROVIDER_CA ?=
provider-publish: provider
	PROVIDER_REPO="$(PROVIDER_REPO)" PROVIDER_CA="$(PROVIDER_CA)" \
	  terraform-provider/scripts/publish.sh dist/$(PROVIDER_ZIP)
