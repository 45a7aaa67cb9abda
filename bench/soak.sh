#!/usr/bin/env bash
# The soak of artifactapi (see bench/README.md, "Soak"): SOAK_SECONDS (1800) of mixed traffic
# from SOAK_CLIENTS (16) clients against the release binary, its resident memory sampled every
# SOAK_SAMPLE (2) seconds; bench/soak.py drives the traffic and prints the figures.
#
# Starts on 127.0.0.1: a static upstream (nginx: generic files, a `/miss/` tree that answers any
# path, a PyPI project with a wheel, npm packuments with a tarball, a helm index), a
# docker-registry holding one pushed image, and artifactapi (fs storage, a throwaway database)
# with generic, pypi, npm, helm and docker remotes on them and a generic local for uploads.
# Everything it starts or creates is removed on exit (SOAK_KEEP=1 keeps the work directory).
#
# Knobs: SOAK_SECONDS, SOAK_CLIENTS, SOAK_SAMPLE, SOAK_BIN (a built binary instead of building
# the release one), SOAK_RUST_LOG (warn), PGHOST/PGPORT/PGUSER as for bench/run.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
SECONDS_=${SOAK_SECONDS:-1800}
CLIENTS=${SOAK_CLIENTS:-16}
SAMPLE=${SOAK_SAMPLE:-2}
LARGE_MIB=32
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

log() { printf '[soak %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }

for tool in nginx curl python3 psql docker-registry skopeo umoci; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (.ci/install installs it)"
done
[[ $SECONDS_ =~ ^[1-9][0-9]*$ ]] || die "SOAK_SECONDS must be a whole number of seconds"
[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] || die "SOAK_CLIENTS must be a whole number"

work=$(mktemp -d -t artifactapi-soak.XXXXXX)
pids=()
db=""

# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$db" ]; then
    psql -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
      log "could not drop database $db"
  fi
  if [ "${SOAK_KEEP:-}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() { # URL PID NAME LOG
  local i
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { tail -n 30 "$4" >&2; die "$3 exited during start-up"; }
    sleep 0.2
  done
  tail -n 30 "$4" >&2
  die "$3 did not answer $1 within 60 s"
}

if [ -n "${SOAK_BIN:-}" ]; then
  bin=$SOAK_BIN
else
  log "building the release binary"
  (cd "$ROOT" && cargo build --release -p artifactapi)
  bin=$CARGO_TARGET_DIR/release/artifactapi
fi
[ -x "$bin" ] || die "no binary at $bin"

# --- the upstream tree ------------------------------------------------------------------------
log "creating the upstream files in $work"
chmod 755 "$work"
mkdir -p "$work/www" "$work/upstream/tmp" "$work/api-data" "$work/docs" "$work/docker"
head -c 1024 /dev/urandom >"$work/www/small.bin"
head -c "$((1024 * 1024))" /dev/urandom >"$work/www/medium.bin"
head -c "$((LARGE_MIB * 1024 * 1024))" /dev/urandom >"$work/www/large.bin"
head -c "$((64 * 1024))" /dev/urandom >"$work/www/miss.bin"
up_port=$(free_port)
fixtures=$(python3 "$BENCH/peer_fixtures.py" --root "$work/www" --origin "http://127.0.0.1:$up_port")
python3 "$BENCH/gen_docs.py" --out "$work/docs" --packages 3 --versions 200 --charts 60 --chart-versions 5 \
  --tarball-base "http://127.0.0.1:$up_port/npm/" >"$work/docs.json"

user_line=""
[ "$(id -u)" = 0 ] && user_line="user root root;"
t=$work/upstream/tmp
cat >"$work/upstream/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $work/upstream/nginx.pid;
error_log $work/upstream/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $t/body; proxy_temp_path $t/proxy; fastcgi_temp_path $t/fastcgi;
  uwsgi_temp_path $t/uwsgi; scgi_temp_path $t/scgi;
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 100000;
  map \$http_accept \$npm_form {
    ~application/vnd\\.npm\\.install-v1\\+json abbreviated;
    default full;
  }
  server {
    listen 127.0.0.1:$up_port;
    root $work/www;
    # Every path under /miss/ is the same 64 KiB file: each new path is a cache miss.
    location /miss/ { try_files /miss.bin =404; }
    location /npmpeer/ {
      types { application/octet-stream tgz; }
      default_type application/json;
      try_files \$uri \$uri/index.json =404;
    }
    location /npm/ {
      root $work/docs/npm/\$npm_form;
      default_type application/json;
      add_header Vary Accept;
    }
    location /helm/ {
      alias $work/docs/helm/;
      default_type application/x-yaml;
    }
  }
}
EOF
log "starting the upstream nginx on 127.0.0.1:$up_port"
nginx -p "$work/upstream" -e "$work/upstream/error.log" -c "$work/upstream/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_http "http://127.0.0.1:$up_port/small.bin" "$!" "upstream nginx" "$work/upstream/error.log"

# --- a docker-registry with one image (an 8 MiB layer and a small one) ------------------------
reg_port=$(free_port)
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/docker/registry" "$reg_port" >"$work/docker/registry.yml"
docker-registry serve "$work/docker/registry.yml" >"$work/docker/registry.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$reg_port/v2/" "$!" docker-registry "$work/docker/registry.log"
umoci init --layout "$work/docker/layout" >/dev/null
umoci new --image "$work/docker/layout:img" >/dev/null
head -c $((8 * 1024 * 1024)) /dev/urandom >"$work/docker/layer.bin"
umoci insert --image "$work/docker/layout:img" "$work/docker/layer.bin" /layer.bin >/dev/null
umoci insert --image "$work/docker/layout:img" "$work/www/small.bin" /small.bin >/dev/null
skopeo copy -q --dest-tls-verify=false "oci:$work/docker/layout:img" "docker://127.0.0.1:$reg_port/soak/app:1.0"
digest=$(curl -fsS -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://127.0.0.1:$reg_port/v2/soak/app/manifests/1.0" | tr -d '\r' |
  awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
[ -n "$digest" ] || die "the registry has no manifest for soak/app:1.0"

# --- artifactapi ------------------------------------------------------------------------------
db="artifactapi_soak_$$_$RANDOM"
psql -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" >/dev/null
api_port=$(free_port)
api=http://127.0.0.1:$api_port
log "starting artifactapi on 127.0.0.1:$api_port"
env -u REDIS_URL -u ADMIN_TOKEN \
  LISTEN_ADDR="127.0.0.1:$api_port" PUBLIC_URL="$api" \
  DBHOST="$PGHOST" DBPORT="$PGPORT" DBUSER="$PGUSER" DBPASS="${PGPASSWORD:-}" DBNAME="$db" \
  STORAGE_BACKEND=fs DATA_DIR="$work/api-data" RUST_LOG="${SOAK_RUST_LOG:-warn}" \
  "$bin" serve >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_http "$api/api/v2/health/live" "$api_pid" artifactapi "$work/api.log"

create() { # KIND JSON
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d "$2" "$api/api/v2/$1" ||
    die "could not create $2"
}
up=http://127.0.0.1:$up_port
create remotes "{\"name\":\"soak\",\"package_type\":\"generic\",\"base_url\":\"$up/\"}"
create remotes "{\"name\":\"soakpy\",\"package_type\":\"pypi\",\"base_url\":\"$up/\",\"mutable_ttl\":60}"
create remotes "{\"name\":\"soaknpm\",\"package_type\":\"npm\",\"base_url\":\"$up/npm/\",\"mutable_ttl\":60}"
create remotes "{\"name\":\"soakpeer\",\"package_type\":\"npm\",\"base_url\":\"$up/npmpeer/\",\"mutable_ttl\":60}"
create remotes "{\"name\":\"soakhelm\",\"package_type\":\"helm\",\"base_url\":\"$up/helm/\",\"mutable_ttl\":60}"
create remotes "{\"name\":\"soakdocker\",\"package_type\":\"docker\",\"base_url\":\"http://127.0.0.1:$reg_port\",\"mutable_ttl\":60}"
create locals '{"name":"soakfiles","package_type":"generic"}'

sha() { sha256sum "$1" | cut -d' ' -f1; }
python3 - "$fixtures" "$(cat "$work/docs.json")" >"$work/soak.json" <<EOF
import json, sys
fx, docs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({
    "public_url": "$api",
    "generic": "/api/v1/remote/soak",
    "files": [
        {"path": "small.bin", "sha256": "$(sha "$work/www/small.bin")", "weight": 70},
        {"path": "medium.bin", "sha256": "$(sha "$work/www/medium.bin")", "weight": 28},
        {"path": "large.bin", "sha256": "$(sha "$work/www/large.bin")", "weight": 2},
    ],
    "miss_sha256": "$(sha "$work/www/miss.bin")",
    "local": "/api/v1/local/soakfiles",
    "docker": {"base": "/v2/soakdocker/soak/app", "tag": "1.0", "digest": "$digest"},
    "indexes": {
        "pypi": "/api/v1/remote/soakpy/simple/peerpkg/", "pypi_files": 30,
        "npm": "/api/v1/remote/soaknpm", "npm_docs": sorted(docs["packuments"]),
        "npm_versions": 200,
        "helm": "/api/v1/remote/soakhelm/index.yaml", "helm_charts": "/api/v1/remote/soakhelm/charts/",
        "helm_versions": docs["helm"]["versions"],
    },
    "packages": [
        {"kind": "pypi", "page": "/api/v1/remote/soakpy/simple/peerpkg/", "file": fx["pypi"]["file"],
         "sha256": fx["pypi"]["sha256"]},
        {"kind": "npm", "packument": "/api/v1/remote/soakpeer/peerpkg", "version": fx["npm"]["version"],
         "sha256": fx["npm"]["sha256"]},
    ],
    "weights": {"hit": 35, "miss": 10, "upload": 10, "docker": 5, "index": 30, "package": 10},
}, indent=2))
EOF

rc=0
python3 "$BENCH/soak.py" --config "$work/soak.json" --pid "$api_pid" --seconds "$SECONDS_" \
  --clients "$CLIENTS" --sample "$SAMPLE" ${SOAK_SAMPLES_OUT:+--samples-out "$SOAK_SAMPLES_OUT"} || rc=$?
if ! kill -0 "$api_pid" 2>/dev/null; then
  log "artifactapi exited during the soak"
  rc=1
fi
if [ "$rc" != 0 ]; then
  log "last lines of the artifactapi log:"
  tail -n 20 "$work/api.log" >&2 || true
fi
exit "$rc"
