#!/usr/bin/env bash
# Runs three artifactapi replicas on this machine, as compose/compose.yaml runs them in
# containers (`make cluster` calls it after creating the database): one PostgreSQL (the local
# one), one Redis (the local one, under a namespace of its own), one S3 store and the three
# server processes, with nginx round robin in front when nginx is installed. Prints the URLs;
# Ctrl-C stops everything it started.
#
# The S3 store is Garage when the `garage` binary is found (.ci/install builds it into the
# tools cache), else s3s-fs, else there is none and the replicas share one DATA_DIR on the
# filesystem backend. Everything lives under CLUSTER_DIR (./.cluster): the store's data, each
# replica's staging folder, the logs. Data survive a restart; to start over, remove CLUSTER_DIR
# and drop the database.
#
# Settings (environment): CLUSTER_PORT (8000: nginx; the replicas take the three ports after it,
# the S3 store CLUSTER_PORT+10 and +11), CLUSTER_DIR, ARTIFACTAPI_BIN (else the release build
# when there is one, else the debug build, built when missing), DBHOST, DBPORT, DBUSER, DBPASS,
# DBNAME, REDIS_URL, REDIS_NAMESPACE, ADMIN_TOKEN, RUST_LOG, CLUSTER_STORE (garage, s3s-fs or
# fs, to choose instead of the first found).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${TOOLS:-/var/cache/artifactapi/tools}
CLUSTER_DIR=$(mkdir -p "${CLUSTER_DIR:-$PWD/.cluster}" && cd "${CLUSTER_DIR:-$PWD/.cluster}" && pwd)
PORT=${CLUSTER_PORT:-8000}
S3_PORT=$((PORT + 10))
RPC_PORT=$((PORT + 11))
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
REDIS_NAMESPACE=${REDIS_NAMESPACE:-artifactapi_cluster}
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$CLUSTER_DIR/logs"

log() { printf '[cluster] %s\n' "$*"; }
die() { log "$*"; exit 1; }

# --- what runs ----------------------------------------------------------------------------------
tool() { command -v "$1" 2>/dev/null || { [ -x "$TOOLS/cargo/bin/$1" ] && echo "$TOOLS/cargo/bin/$1"; } || true; }

BIN=${ARTIFACTAPI_BIN:-}
if [ -z "$BIN" ]; then
  for candidate in "$CARGO_TARGET_DIR/release/artifactapi" "$CARGO_TARGET_DIR/debug/artifactapi"; do
    if [ -x "$candidate" ]; then BIN=$candidate; break; fi
  done
fi
if [ -z "$BIN" ]; then
  log "no artifactapi binary under $CARGO_TARGET_DIR: building the debug one"
  cargo build -p artifactapi
  BIN=$CARGO_TARGET_DIR/debug/artifactapi
fi

STORE=${CLUSTER_STORE:-}
GARAGE=$(tool garage)
S3S_FS=$(tool s3s-fs)
if [ -z "$STORE" ]; then
  if [ -n "$GARAGE" ]; then STORE=garage; elif [ -n "$S3S_FS" ]; then STORE=s3s-fs; else STORE=fs; fi
fi
NGINX=$(command -v nginx || true)
[ -x /usr/sbin/nginx ] && [ -z "$NGINX" ] && NGINX=/usr/sbin/nginx

# --- stopping -----------------------------------------------------------------------------------
PIDS=()
NAMES=()
stop_all() {
  trap - INT TERM EXIT
  [ ${#PIDS[@]} -eq 0 ] && return
  log "stopping ${NAMES[*]}"
  kill -TERM "${PIDS[@]}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    local alive=0 pid
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  kill -KILL "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  log "stopped"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

started() { PIDS+=("$1"); NAMES+=("$2"); }

# Waits up to $1 seconds for the command that follows to succeed, giving up early when process
# $2 exited.
wait_for() {
  local secs=$1 pid=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random hex string of $1 bytes.
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# Credentials of the S3 store, made once and kept with its data.
s3_credentials() {
  local file=$CLUSTER_DIR/$STORE/credentials
  if [ ! -f "$file" ]; then
    mkdir -p "$(dirname "$file")"
    (umask 077 && printf 'GK%s %s\n' "$(hex 12)" "$(hex 32)" >"$file")
  fi
  read -r S3_ACCESS_KEY S3_SECRET_KEY <"$file"
}

# --- the S3 store -------------------------------------------------------------------------------
STORE_ENV=()
case "$STORE" in
  garage)
    [ -n "$GARAGE" ] || die "CLUSTER_STORE=garage but no garage binary (bash .ci/install builds it)"
    s3_credentials
    dir=$CLUSTER_DIR/garage
    if [ ! -f "$dir/garage.toml" ]; then
      (umask 077 && cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(hex 32)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
EOF
      )
    fi
    S3_PORT=$(sed -n 's/^api_bind_addr = "127.0.0.1:\([0-9]*\)"$/\1/p' "$dir/garage.toml")
    GARAGE_DEFAULT_ACCESS_KEY=$S3_ACCESS_KEY GARAGE_DEFAULT_SECRET_KEY=$S3_SECRET_KEY \
      GARAGE_DEFAULT_BUCKET=artifacts RUST_LOG=garage=warn \
      "$GARAGE" -c "$dir/garage.toml" server --single-node --default-bucket \
      >>"$CLUSTER_DIR/logs/garage.log" 2>&1 &
    started $! garage
    wait_for 60 $! port_open "$S3_PORT" || die "garage did not start: $CLUSTER_DIR/logs/garage.log"
    STORE_ENV=(STORAGE_BACKEND=s3 MINIO_REGION=garage)
    ;;
  s3s-fs)
    [ -n "$S3S_FS" ] || die "CLUSTER_STORE=s3s-fs but no s3s-fs binary (bash .ci/install installs it)"
    s3_credentials
    mkdir -p "$CLUSTER_DIR/s3s-fs/root"
    "$S3S_FS" --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" \
      "$CLUSTER_DIR/s3s-fs/root" >>"$CLUSTER_DIR/logs/s3s-fs.log" 2>&1 &
    started $! s3s-fs
    wait_for 60 $! port_open "$S3_PORT" || die "s3s-fs did not start: $CLUSTER_DIR/logs/s3s-fs.log"
    STORE_ENV=(STORAGE_BACKEND=s3 MINIO_REGION=us-east-1)
    ;;
  fs)
    STORE_ENV=(STORAGE_BACKEND=fs)
    ;;
  *) die "CLUSTER_STORE must be garage, s3s-fs or fs, not $STORE" ;;
esac
if [ "$STORE" != fs ]; then
  STORE_ENV+=(MINIO_ENDPOINT="127.0.0.1:$S3_PORT" MINIO_ACCESS_KEY="$S3_ACCESS_KEY"
    MINIO_SECRET_KEY="$S3_SECRET_KEY" MINIO_BUCKET=artifacts MINIO_SECURE=false)
fi

# --- the replicas -------------------------------------------------------------------------------
LB_URL=http://127.0.0.1:$PORT
OPTIONAL_ENV=()
[ -n "${DBPASS:-}" ] && OPTIONAL_ENV+=("DBPASS=$DBPASS")
[ -n "${ADMIN_TOKEN:-}" ] && OPTIONAL_ENV+=("ADMIN_TOKEN=$ADMIN_TOKEN")
public_url() { if [ -n "$NGINX" ]; then echo "$LB_URL"; else echo "http://127.0.0.1:$1"; fi; }
for i in 1 2 3; do
  port=$((PORT + i))
  port_open "$port" && die "port $port is taken (set CLUSTER_PORT)"
  # On S3 each replica stages in a folder of its own; on the filesystem they share DATA_DIR.
  if [ "$STORE" = fs ]; then data=$CLUSTER_DIR/data; else data=$CLUSTER_DIR/replica-$i; fi
  env -i PATH="$PATH" HOME="${HOME:-/}" RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 \
    LISTEN_ADDR="127.0.0.1:$port" PUBLIC_URL="$(public_url "$port")" REPLICA_ID="cluster-$i" \
    DBHOST="${DBHOST:-127.0.0.1}" DBPORT="${DBPORT:-5432}" DBUSER="${DBUSER:-artifacts}" \
    DBNAME="${DBNAME:-artifacts_cluster}" REDIS_URL="$REDIS_URL" REDIS_NAMESPACE="$REDIS_NAMESPACE" \
    DATA_DIR="$data" "${STORE_ENV[@]}" "${OPTIONAL_ENV[@]}" \
    "$BIN" >>"$CLUSTER_DIR/logs/replica-$i.log" 2>&1 &
  started $! "replica-$i"
done
for i in 1 2 3; do
  port=$((PORT + i))
  wait_for 60 "${PIDS[-4 + i]}" curl -fsS "http://127.0.0.1:$port/api/v2/health/live" ||
    die "replica $i did not come up: $CLUSTER_DIR/logs/replica-$i.log"
done

# --- the load balancer --------------------------------------------------------------------------
if [ -n "$NGINX" ]; then
  port_open "$PORT" && die "port $PORT is taken (set CLUSTER_PORT)"
  dir=$CLUSTER_DIR/nginx
  mkdir -p "$dir"
  user=""
  [ "$(id -u)" = 0 ] && user="user root root;"
  # compose/nginx.conf's settings, with the replicas on local ports and every path in $dir.
  cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  upstream artifactapi {
    server 127.0.0.1:$((PORT + 1)) max_fails=1 fail_timeout=5s;
    server 127.0.0.1:$((PORT + 2)) max_fails=1 fail_timeout=5s;
    server 127.0.0.1:$((PORT + 3)) max_fails=1 fail_timeout=5s;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$PORT;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$http_host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto \$scheme;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
    proxy_next_upstream error timeout http_502 http_503;
    location / { proxy_pass http://artifactapi; }
  }
}
EOF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >>"$CLUSTER_DIR/logs/nginx.log" 2>&1 &
  started $! nginx
  wait_for 30 $! curl -fsS "$LB_URL/api/v2/health/live" || die "nginx did not come up: $dir/error.log"
fi

# --- running ------------------------------------------------------------------------------------
echo
log "three replicas of $BIN"
log "  storage: $STORE$([ "$STORE" != fs ] && echo " at 127.0.0.1:$S3_PORT, bucket artifacts")"
log "  database: ${DBNAME:-artifacts_cluster} on ${DBHOST:-127.0.0.1}:${DBPORT:-5432}; Redis: $REDIS_URL ($REDIS_NAMESPACE)"
for i in 1 2 3; do log "  replica-$i: http://127.0.0.1:$((PORT + i))"; done
if [ -n "$NGINX" ]; then
  log "  load balancer (nginx, round robin): $LB_URL"
else
  log "  no nginx installed: no load balancer, talk to the replicas directly"
fi
log "  logs: $CLUSTER_DIR/logs"
log "Ctrl-C stops all"
# Runs until Ctrl-C, or until one of the processes exits by itself (then stops the others).
set +e
wait -n "${PIDS[@]}"
status=$?
for idx in "${!PIDS[@]}"; do
  kill -0 "${PIDS[$idx]}" 2>/dev/null || log "${NAMES[$idx]} exited (status $status): see $CLUSTER_DIR/logs"
done
exit 1
