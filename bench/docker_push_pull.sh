#!/usr/bin/env bash
# Push and pull of one image with skopeo: into a local docker repository of artifactapi, and into
# Debian's docker-registry (CNCF distribution) directly, same image, same machine, same client.
# Then pulls through a docker remote (pull-through cache) in front of that docker-registry: cold
# (nothing cached yet) and warm (all cached), next to pulling from docker-registry directly.
#
#   bench/docker_push_pull.sh            # release binary from target/release (cargo build --release)
#   ARTIFACTAPI_BIN=... LAYER_MIB=256 RUNS=5 bench/docker_push_pull.sh
#
# Needs skopeo, umoci, docker-registry, psql and a PostgreSQL superuser reachable without a
# password (PGHOST/PGPORT/PGUSER, default 127.0.0.1, 5432, postgres). Each run pushes an image of
# its own (a fresh random layer, so every byte is uploaded) and pulls it back into an empty OCI
# layout (every byte downloaded, digests compared); the medians of RUNS are printed for both
# registries. The same images go to both.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${ARTIFACTAPI_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/artifactapi}
LAYER_MIB=${LAYER_MIB:-128}
RUNS=${RUNS:-3}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
[ -x "$BIN" ] || { echo "no artifactapi binary at $BIN (cargo build --release, or set ARTIFACTAPI_BIN)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aa-docker-bench.XXXXXX")
DB="aa_bench_docker_$$"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
digest_of() { # layout tag
  python3 -c 'import json,sys; print(next(m["digest"] for m in json.load(open(sys.argv[1]+"/index.json"))["manifests"] if m.get("annotations",{}).get("org.opencontainers.image.ref.name")==sys.argv[2]))' "$1" "$2"
}

# The images img1..imgRUNS: each one layer of LAYER_MIB random MiB and one small layer.
umoci init --layout "$WORK/layout" >/dev/null
echo "small" >"$WORK/small.txt"
for i in $(seq "$RUNS"); do
  umoci new --image "$WORK/layout:img$i" >/dev/null
  head -c "$((LAYER_MIB << 20))" /dev/urandom >"$WORK/big.bin"
  umoci insert --image "$WORK/layout:img$i" "$WORK/big.bin" /big.bin >/dev/null
  umoci insert --image "$WORK/layout:img$i" "$WORK/small.txt" /small.txt >/dev/null
done
rm -f "$WORK/big.bin"

# docker-registry.
REG_PORT=$(free_port)
mkdir -p "$WORK/registry"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REG_PORT}
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)

# artifactapi with a local docker repository `bench`.
API_PORT=$(free_port)
psql -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
env -i PATH="$PATH" HOME="$HOME" LISTEN_ADDR="127.0.0.1:$API_PORT" DATA_DIR="$WORK/data" \
  DBHOST="$PGHOST" DBPORT="$PGPORT" DBUSER="$PGUSER" DBNAME="$DB" RUST_LOG=warn \
  "$BIN" >"$WORK/artifactapi.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$REG_PORT/v2/"
wait_http "http://127.0.0.1:$API_PORT/api/v2/health/live"
curl -fs -X POST "http://127.0.0.1:$API_PORT/api/v2/locals" -H 'Content-Type: application/json' \
  -d '{"name":"bench","package_type":"docker"}' >/dev/null
curl -fs -X POST "http://127.0.0.1:$API_PORT/api/v2/remotes" -H 'Content-Type: application/json' \
  -d "{\"name\":\"cache\",\"package_type\":\"docker\",\"base_url\":\"http://127.0.0.1:$REG_PORT\"}" >/dev/null

measure() { # name dest-prefix
  local name=$1 dest=$2 push=() pull=()
  for i in $(seq "$RUNS"); do
    local t0 t1
    t0=$(now)
    skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:img$i" "docker://$dest/app:run$i"
    t1=$(now)
    push+=("$(awk "BEGIN {print $t1 - $t0}")")
    rm -rf "$WORK/pulled"
    t0=$(now)
    skopeo copy -q --src-tls-verify=false "docker://$dest/app:run$i" "oci:$WORK/pulled:img"
    t1=$(now)
    pull+=("$(awk "BEGIN {print $t1 - $t0}")")
    [ "$(digest_of "$WORK/layout" "img$i")" = "$(digest_of "$WORK/pulled" img)" ] \
      || { echo "$name: the pulled manifest's digest differs from the pushed one" >&2; exit 1; }
  done
  printf '%-16s push (median) %6.2fs   pull (median) %6.2fs   [push: %s] [pull: %s]\n' "$name" \
    "$(printf '%s\n' "${push[@]}" | median)" "$(printf '%s\n' "${pull[@]}" | median)" "${push[*]}" "${pull[*]}"
}

echo "image: one ${LAYER_MIB} MiB layer + one small layer; $RUNS runs each (skopeo $(skopeo --version | awk '{print $3}'))"
measure docker-registry "127.0.0.1:$REG_PORT"
measure artifactapi "127.0.0.1:$API_PORT/bench"

# Pull-through: the images pushed to docker-registry above, pulled directly, then through the
# remote twice (cold: every byte fetched upstream while it streams; warm: all from the cache).
pull_secs() { # source
  rm -rf "$WORK/pulled"
  local t0 t1
  t0=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$WORK/pulled:img"
  t1=$(now)
  awk "BEGIN {print $t1 - $t0}"
}
direct=() cold=() warm=()
for i in $(seq "$RUNS"); do
  direct+=("$(pull_secs "127.0.0.1:$REG_PORT/app:run$i")")
  cold+=("$(pull_secs "127.0.0.1:$API_PORT/cache/app:run$i")")
  warm+=("$(pull_secs "127.0.0.1:$API_PORT/cache/app:run$i")")
  [ "$(digest_of "$WORK/layout" "img$i")" = "$(digest_of "$WORK/pulled" img)" ] \
    || { echo "pull-through: the pulled manifest's digest differs from the pushed one" >&2; exit 1; }
done
med() { printf '%s\n' "$@" | median; }
printf 'pull-through     direct (median) %6.2fs   cold %6.2fs   warm %6.2fs   [cold: %s] [warm: %s]\n' \
  "$(med "${direct[@]}")" "$(med "${cold[@]}")" "$(med "${warm[@]}")" "${cold[*]}" "${warm[*]}"
