#!/usr/bin/env bash
# artifactapi benchmark against nginx proxy_cache (see bench/README.md).
#
# Starts on 127.0.0.1: a static upstream (nginx; /slow/ is the same tree rate-limited per
# connection; /npm/ and /helm/ serve the large documents bench/gen_docs.py generates), nginx
# proxy_cache in front of it (the peer, which also serves static copies of the documents as
# artifactapi renders them) and the release artifactapi (fs storage, a throwaway database) with
# generic, pypi, npm and helm remotes on the same upstream, then lets bench/measure.py measure
# both and print the table. Everything it starts or creates is removed
# on exit, also on failure or Ctrl-C (BENCH_KEEP=1 keeps the work directory for a look).
#
# Knobs: BENCH_DURATION (s per wrk run, 10), BENCH_LARGE_MIB (256), BENCH_RATE (upstream rate
# limit per connection in nginx units, 50m), BENCH_ONLY (api|nginx), BENCH_JSON (write the
# figures there too), BENCH_RUST_LOG (warn), BENCH_BIN (a built binary to use instead of
# building one), BENCH_DOCS (1: with the large-document rows, 0: without, only: those alone),
# BENCH_DOCS_SCALE (1: 20 MB packuments and a 50 MB index; 0.1 for a quick run),
# BENCH_DOCS_SETTLE (s after the document load before the last RSS sample, 60),
# BENCH_DOCS_DURATION (s per wrk run on the large packument, 30),
# BENCH_PEERS (1: with the peer rows, bench/peers.sh; 0: without; only: those alone),
# PGHOST/PGPORT/PGUSER (the PostgreSQL superuser that creates the throwaway database:
# 127.0.0.1, 5432, postgres).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
DURATION=${BENCH_DURATION:-10}
LARGE_MIB=${BENCH_LARGE_MIB:-256}
RATE=${BENCH_RATE:-50m}
ONLY=${BENCH_ONLY:-}
DOCS=${BENCH_DOCS:-1}
DOCS_SCALE=${BENCH_DOCS_SCALE:-1}
DOCS_SETTLE=${BENCH_DOCS_SETTLE:-60}
DOCS_DURATION=${BENCH_DOCS_DURATION:-30}
PEERS=${BENCH_PEERS:-1}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

for tool in nginx wrk curl python3 psql; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (.ci/install installs it)"
done
case "$DOCS" in 0 | 1 | only) ;; *) die "BENCH_DOCS must be 0, 1 or only" ;; esac
case "$PEERS" in 0 | 1 | only) ;; *) die "BENCH_PEERS must be 0, 1 or only" ;; esac
if [ "$PEERS" != 0 ] && [ "$ONLY" = nginx ]; then
  log "the peer rows measure artifactapi beside the peers: skipped with BENCH_ONLY=nginx"
  PEERS=0
fi
[ "$PEERS" = only ] && DOCS=0
# shellcheck source=bench/peers.sh
. "$BENCH/peers.sh"
[ "$PEERS" = 0 ] || peers_check_tools
[ "$DOCS" = only ] && [ "$ONLY" = nginx ] && die "BENCH_DOCS=only measures artifactapi's documents: not with BENCH_ONLY=nginx"
if [ "$DOCS" = 1 ] && [ "$ONLY" = nginx ]; then
  log "the large-document rows need artifactapi's rendered documents: skipped with BENCH_ONLY=nginx"
  DOCS=0
fi
# Versions per packument and chart versions per chart, scaled (at least one of each).
scaled() { python3 -c "import sys; print(max(1, round($1 * float(sys.argv[1]))))" "$DOCS_SCALE" 2>/dev/null; }
docs_versions=$(scaled 3000) || die "BENCH_DOCS_SCALE must be a number"
docs_chart_versions=$(scaled 63)
[[ $DOCS_SETTLE =~ ^[0-9]+$ ]] || die "BENCH_DOCS_SETTLE must be a whole number of seconds"
[[ $DOCS_DURATION =~ ^[1-9][0-9]*$ ]] || die "BENCH_DOCS_DURATION must be a whole number of seconds"

work=$(mktemp -d -t artifactapi-bench.XXXXXX)
pids=()
db=""

# shellcheck disable=SC2317  # stop_pid and cleanup run from the EXIT trap
stop_pid() {
  local pid=$1 i
  if [ "$pid" = "${measure_pid:-}" ]; then pkill -TERM -P "$pid" 2>/dev/null || true; fi
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  if [ -n "$db" ]; then
    psql -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
      log "could not drop database $db"
  fi
  if [ "${BENCH_KEEP:-}" = 1 ]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL PID NAME LOG: waits until URL answers, failing early when PID has died.
wait_http() {
  local url=$1 pid=$2 name=$3 logfile=$4 i
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "$name exited during start-up"
    fi
    sleep 0.2
  done
  tail -n 30 "$logfile" >&2 || true
  die "$name did not answer $url within 60 s"
}

# --- the binary -------------------------------------------------------------------------------
if [ "$ONLY" != nginx ]; then
  if [ -n "${BENCH_BIN:-}" ]; then
    bin=$BENCH_BIN
  else
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p artifactapi)
    bin=$CARGO_TARGET_DIR/release/artifactapi
  fi
  [ -x "$bin" ] || die "no binary at $bin"
fi

# --- files ------------------------------------------------------------------------------------
log "creating the files (1 KiB, $LARGE_MIB MiB) in $work"
chmod 755 "$work"
mkdir -p "$work/www" "$work/upstream/tmp" "$work/peer/tmp" "$work/peer/cache" "$work/api-data" \
  "$work/docs" "$work/peer-docs"
head -c 1024 /dev/urandom >"$work/www/small.bin"
head -c "$((LARGE_MIB * 1024 * 1024))" /dev/urandom >"$work/www/large.bin"
# Distinct paths for the cold-miss runs, one set per proxy, so each starts uncached and the
# upstream log tells the proxies apart. Hard links: no extra disk.
for who in api nginx; do
  for n in one many; do ln "$work/www/large.bin" "$work/www/cold-$who-$n.bin"; done
done
# A PyPI project page of 500 files: served raw by nginx, parsed and rewritten by artifactapi.
mkdir -p "$work/www/simple/benchpkg"
{
  echo '<!DOCTYPE html><html><body>'
  for i in $(seq 500); do
    printf '<a href="../../packages/benchpkg-1.0.%d.tar.gz#sha256=%064d" data-requires-python="&gt;=3.8">benchpkg-1.0.%d.tar.gz</a><br/>\n' "$i" "$i" "$i"
  done
  echo '</body></html>'
} >"$work/www/simple/benchpkg/index.html"
small_sha=$(sha256sum "$work/www/small.bin" | cut -d' ' -f1)
large_sha=$(sha256sum "$work/www/large.bin" | cut -d' ' -f1)

# --- nginx: the upstream and the peer ---------------------------------------------------------
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root root;"
temp_paths() {
  local d=$1
  echo "client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fastcgi;"
  echo "uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;"
}

up_port=$(free_port)
if [ "$DOCS" != 0 ]; then
  log "generating 11 npm packuments of $docs_versions versions and a helm index (BENCH_DOCS_SCALE=$DOCS_SCALE)"
  python3 "$BENCH/gen_docs.py" --out "$work/docs" --versions "$docs_versions" \
    --chart-versions "$docs_chart_versions" --tarball-base "http://127.0.0.1:$up_port/npm/" >/dev/null
fi

cat >"$work/upstream/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $work/upstream/nginx.pid;
error_log $work/upstream/error.log warn;
events { worker_connections 4096; }
http {
  $(temp_paths "$work/upstream/tmp")
  access_log $work/upstream/access.log;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  # npm registries answer clients that ask for the abbreviated packument with that form.
  map \$http_accept \$npm_form {
    ~application/vnd\\.npm\\.install-v1\\+json abbreviated;
    default full;
  }
  server {
    listen 127.0.0.1:$up_port;
    root $work/www;
    location /npm/ {
      root $work/docs/npm/\$npm_form;
      default_type application/json;
      add_header Vary Accept;
    }
    # The peers' npm origin (bench/peer_fixtures.py): /npmpeer/NAME is NAME/index.json.
    location /npmpeer/ {
      types { application/octet-stream tgz; }
      default_type application/json;
      try_files \$uri \$uri/index.json =404;
    }
    location /helm/ {
      alias $work/docs/helm/;
      default_type application/x-yaml;
    }
    # The same tree, at most $RATE bytes/s per connection: the slow upstream of the cold runs.
    location /slow/ {
      alias $work/www/;
      limit_rate $RATE;
    }
  }
}
EOF

peer_port=$(free_port)
cat >"$work/peer/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $work/peer/nginx.pid;
error_log $work/peer/error.log warn;
events { worker_connections 4096; }
http {
  $(temp_paths "$work/peer/tmp")
  access_log off;
  sendfile on;
  # No tcp_nopush: with it, cache hits of mid-size bodies (a 90 KiB index page) stall on
  # delayed ACKs, 40 ms each (1.5k req/s instead of 30k), which would flatter artifactapi.
  tcp_nopush off;
  keepalive_requests 100000;
  proxy_cache_path $work/peer/cache levels=1:2 keys_zone=bench:16m max_size=16g inactive=1d use_temp_path=off;
  upstream origin {
    server 127.0.0.1:$up_port;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$peer_port;
    # Static copies of the documents as artifactapi serves them (written by bench/docs.py).
    location /docs/ {
      alias $work/peer-docs/;
      default_type application/octet-stream;
    }
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 600s;
      proxy_cache bench;
      proxy_cache_valid 200 1d;
      # Coalescing: one upstream request per uncached path, the others wait for the cache.
      proxy_cache_lock on;
      proxy_cache_lock_timeout 600s;
      proxy_cache_lock_age 600s;
      add_header X-Cache-Status \$upstream_cache_status always;
    }
  }
}
EOF

log "starting the upstream nginx on 127.0.0.1:$up_port"
nginx -p "$work/upstream" -e "$work/upstream/error.log" -c "$work/upstream/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_http "http://127.0.0.1:$up_port/small.bin" "$!" "upstream nginx" "$work/upstream/error.log"

log "starting the peer nginx proxy_cache on 127.0.0.1:$peer_port"
nginx -p "$work/peer" -e "$work/peer/error.log" -c "$work/peer/nginx.conf" -g 'daemon off;' &
peer_pid=$!
pids+=("$peer_pid")
wait_http "http://127.0.0.1:$peer_port/small.bin" "$peer_pid" "peer nginx" "$work/peer/error.log"

# --- artifactapi ------------------------------------------------------------------------------
api_pid=0
api_port=0
if [ "$ONLY" != nginx ]; then
  db="artifactapi_bench_$$_$RANDOM"
  log "creating database $db"
  psql -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" >/dev/null

  api_port=$(free_port)
  log "starting artifactapi on 127.0.0.1:$api_port"
  env -u REDIS_URL -u ADMIN_TOKEN \
    LISTEN_ADDR="127.0.0.1:$api_port" PUBLIC_URL="http://127.0.0.1:$api_port" \
    DBHOST="$PGHOST" DBPORT="$PGPORT" DBUSER="$PGUSER" DBPASS="${PGPASSWORD:-}" DBNAME="$db" \
    STORAGE_BACKEND=fs DATA_DIR="$work/api-data" RUST_LOG="${BENCH_RUST_LOG:-warn}" \
    "$bin" serve >"$work/api.log" 2>&1 &
  api_pid=$!
  pids+=("$api_pid")
  wait_http "http://127.0.0.1:$api_port/api/v2/health/live" "$api_pid" artifactapi "$work/api.log"

  log "creating the generic remote 'bench' on the upstream"
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"package_type\":\"generic\",\"base_url\":\"http://127.0.0.1:$up_port/\"}" \
    "http://127.0.0.1:$api_port/api/v2/remotes" || die "could not create the remote"
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"benchpy\",\"package_type\":\"pypi\",\"base_url\":\"http://127.0.0.1:$up_port/\",\"mutable_ttl\":3600}" \
    "http://127.0.0.1:$api_port/api/v2/remotes" || die "could not create the pypi remote"
  if [ "$DOCS" != 0 ]; then
    log "creating the npm remote 'benchnpm' and the helm remote 'benchhelm' on the upstream"
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
      -d "{\"name\":\"benchnpm\",\"package_type\":\"npm\",\"base_url\":\"http://127.0.0.1:$up_port/npm/\",\"mutable_ttl\":3600}" \
      "http://127.0.0.1:$api_port/api/v2/remotes" || die "could not create the npm remote"
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
      -d "{\"name\":\"benchhelm\",\"package_type\":\"helm\",\"base_url\":\"http://127.0.0.1:$up_port/helm/\",\"mutable_ttl\":3600}" \
      "http://127.0.0.1:$api_port/api/v2/remotes" || die "could not create the helm remote"
  fi
fi

if [ "$PEERS" != 0 ]; then
  peers_start
fi

# --- measure ----------------------------------------------------------------------------------
cores=$(nproc)
header="artifactapi vs $(nginx -v 2>&1 | sed 's/^nginx version: //') proxy_cache on 127.0.0.1, $cores cores,"
header+=" ${DURATION} s wrk runs, upstream /slow/ at $RATE per connection"
only_args=()
case "$ONLY" in
  nginx) only_args=(--only nginx) ;;
  api) only_args=(--only api) ;;
  "") ;;
  *) die "BENCH_ONLY must be api or nginx" ;;
esac
peer_args=()
[ "$PEERS" != 0 ] && peer_args=(--peers "$work/peers.json")
[ "$PEERS" = only ] && peer_args+=(--peers-only)
# In the background so that a signal reaches the trap at once; its curl and wrk children are
# stopped by the cleanup too.
python3 "$BENCH/measure.py" \
  --api-base "http://127.0.0.1:$api_port/api/v1/remote/bench" --api-pid "$api_pid" \
  --nginx-base "http://127.0.0.1:$peer_port" --nginx-pid "$peer_pid" \
  --api-index-url "http://127.0.0.1:$api_port/api/v1/remote/benchpy/simple/benchpkg/" \
  --nginx-index-url "http://127.0.0.1:$peer_port/simple/benchpkg/" \
  --upstream-log "$work/upstream/access.log" \
  --small-sha256 "$small_sha" --large-sha256 "$large_sha" --large-size "$((LARGE_MIB * 1024 * 1024))" \
  --duration "$DURATION" --wrk-script "$BENCH/report.lua" --header "$header" \
  --docs "$DOCS" --docs-manifest "$work/docs/manifest.json" --docs-settle "$DOCS_SETTLE" \
  --docs-duration "$DOCS_DURATION" \
  --docs-npm-base "http://127.0.0.1:$api_port/api/v1/remote/benchnpm" \
  --docs-helm-url "http://127.0.0.1:$api_port/api/v1/remote/benchhelm/index.yaml" \
  --public-url "http://127.0.0.1:$api_port" \
  --docs-nginx-dir "$work/peer-docs" --docs-nginx-base "http://127.0.0.1:$peer_port/docs/" \
  ${BENCH_JSON:+--json-out "$BENCH_JSON"} "${only_args[@]}" "${peer_args[@]}" &
measure_pid=$!
pids=("$measure_pid" "${pids[@]}")
rc=0
wait "$measure_pid" || rc=$?
if [ "$rc" != 0 ] && [ -f "$work/api.log" ]; then
  log "last lines of the artifactapi log:"
  tail -n 20 "$work/api.log" >&2 || true
fi
exit "$rc"
