# shellcheck shell=bash
# shellcheck disable=SC2154  # work, up_port, api_port, BENCH: set by bench/run.sh, which sources this
# The peers of the benchmark, sourced by bench/run.sh: starts on 127.0.0.1 what users would
# deploy instead of artifactapi, each a real proxy of the same origin as one of artifactapi's
# remotes, and writes their addresses to $work/peers.json for bench/peers.py (see that file and
# bench/README.md):
#
# - an origin docker-registry with one pushed image (a layer of BENCH_LARGE_MIB random MiB, a
#   small layer and the config), and docker-registry in proxy mode in front of it;
# - verdaccio 6.8 with an uplink on the upstream nginx's /npmpeer/ (bench/peer_fixtures.py
#   writes the package there);
# - devpi-server with a mirror index of the upstream nginx's /simple/.
#
# Uses from run.sh: work, up_port, api_port, LARGE_MIB, pids, log, die, wait_http, free_port.
# Tools: docker-registry, skopeo, umoci (Debian packages), ab (apache2-utils), verdaccio and
# devpi-server in the tools cache (.ci/install installs them all).

PEER_TOOLS=${TOOLS:-/var/cache/artifactapi/tools}
PEER_VERDACCIO=${VERDACCIO:-$PEER_TOOLS/npm/node_modules/.bin/verdaccio}
PEER_DEVPI=${DEVPI_BIN:-$PEER_TOOLS/devpi-venv/bin}

peers_check_tools() {
  local tool
  for tool in docker-registry skopeo umoci ab; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (.ci/install installs it; BENCH_PEERS=0 leaves the peers out)"
  done
  [ -x "$PEER_VERDACCIO" ] || die "no verdaccio at $PEER_VERDACCIO (.ci/install installs it; BENCH_PEERS=0 leaves the peers out)"
  [ -x "$PEER_DEVPI/devpi-server" ] || die "no devpi-server in $PEER_DEVPI (.ci/install installs it; BENCH_PEERS=0 leaves the peers out)"
}

# registry_config FILE ROOT PORT [PROXY-URL]
registry_config() {
  {
    echo "version: 0.1"
    echo "log: {level: error}"
    echo "storage: {filesystem: {rootdirectory: $2}, delete: {enabled: true}}"
    echo "http: {addr: 127.0.0.1:$3}"
    if [ -n "${4:-}" ]; then echo "proxy: {remoteurl: $4}"; fi
  } >"$1"
}

peers_start() {
  local p=$work/peers fixtures origin_port reg_port verd_port devpi_port digest
  mkdir -p "$p"

  log "peers: the npm package and the PyPI project on the upstream"
  fixtures=$(python3 "$BENCH/peer_fixtures.py" --root "$work/www" --origin "http://127.0.0.1:$up_port") ||
    die "could not write the peer fixtures"

  log "peers: an image with a $LARGE_MIB MiB layer, pushed to the origin docker-registry"
  umoci init --layout "$p/layout" >/dev/null
  umoci new --image "$p/layout:img" >/dev/null
  head -c "$((LARGE_MIB * 1024 * 1024))" /dev/urandom >"$p/big.bin"
  echo small >"$p/small.txt"
  umoci insert --image "$p/layout:img" "$p/big.bin" /big.bin >/dev/null
  umoci insert --image "$p/layout:img" "$p/small.txt" /small.txt >/dev/null
  rm -f "$p/big.bin"
  origin_port=$(free_port)
  registry_config "$p/origin.yml" "$p/origin" "$origin_port"
  docker-registry serve "$p/origin.yml" >"$p/origin.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$origin_port/v2/" "$!" "origin docker-registry" "$p/origin.log"
  skopeo copy -q --dest-tls-verify=false "oci:$p/layout:img" "docker://127.0.0.1:$origin_port/bench/app:1.0" ||
    die "could not push the image to the origin registry"
  rm -rf "$p/layout"
  digest=$(curl -fsS -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://127.0.0.1:$origin_port/v2/bench/app/manifests/1.0" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
  [ -n "$digest" ] || die "the origin registry has no manifest for bench/app:1.0"

  reg_port=$(free_port)
  log "peers: docker-registry in proxy mode on 127.0.0.1:$reg_port"
  registry_config "$p/proxy.yml" "$p/proxy" "$reg_port" "http://127.0.0.1:$origin_port"
  docker-registry serve "$p/proxy.yml" >"$p/proxy.log" 2>&1 &
  reg_pid=$!
  pids+=("$reg_pid")
  wait_http "http://127.0.0.1:$reg_port/v2/" "$reg_pid" "docker-registry proxy" "$p/proxy.log"

  verd_port=$(free_port)
  log "peers: verdaccio with an uplink on 127.0.0.1:$verd_port"
  cat >"$p/verdaccio.yaml" <<EOF
storage: $p/verdaccio-storage
uplinks:
  origin:
    url: http://127.0.0.1:$up_port/npmpeer/
    maxage: 1h
    cache: true
packages:
  '**':
    access: \$all
    proxy: origin
log: { type: stdout, format: pretty, level: warn }
EOF
  "$PEER_VERDACCIO" --config "$p/verdaccio.yaml" --listen "127.0.0.1:$verd_port" >"$p/verdaccio.log" 2>&1 &
  verd_pid=$!
  pids+=("$verd_pid")

  devpi_port=$(free_port)
  log "peers: devpi-server with a mirror index on 127.0.0.1:$devpi_port"
  "$PEER_DEVPI/devpi-init" --serverdir "$p/devpi" --no-root-pypi >"$p/devpi-init.log" 2>&1 ||
    die "devpi-init failed: $(tail -n 5 "$p/devpi-init.log")"
  "$PEER_DEVPI/devpi-gen-secret" --secretfile "$p/devpi-secret" >/dev/null 2>&1 ||
    die "devpi-gen-secret failed"
  "$PEER_DEVPI/devpi-server" --serverdir "$p/devpi" --secretfile "$p/devpi-secret" \
    --host 127.0.0.1 --port "$devpi_port" >"$p/devpi.log" 2>&1 &
  devpi_pid=$!
  pids+=("$devpi_pid")

  wait_http "http://127.0.0.1:$verd_port/-/ping" "$verd_pid" verdaccio "$p/verdaccio.log"
  wait_http "http://127.0.0.1:$devpi_port/+api" "$devpi_pid" devpi-server "$p/devpi.log"
  python3 "$BENCH/peers.py" devpi-index "http://127.0.0.1:$devpi_port" peer "http://127.0.0.1:$up_port/simple/" ||
    die "could not create the devpi mirror index"

  log "creating artifactapi's docker remote 'peerdocker' and npm remote 'peernpm'"
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"peerdocker\",\"package_type\":\"docker\",\"base_url\":\"http://127.0.0.1:$origin_port\",\"mutable_ttl\":3600}" \
    "http://127.0.0.1:$api_port/api/v2/remotes" || die "could not create the docker remote"
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"peernpm\",\"package_type\":\"npm\",\"base_url\":\"http://127.0.0.1:$up_port/npmpeer/\",\"mutable_ttl\":3600}" \
    "http://127.0.0.1:$api_port/api/v2/remotes" || die "could not create the npm remote"

  local reg_name verd_name devpi_name
  reg_name="docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}' | sed 's/^v//;s/+.*//')"
  verd_name="verdaccio $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$(dirname "$PEER_VERDACCIO")/../verdaccio/package.json" | head -n 1)"
  devpi_name="devpi-server $("$PEER_DEVPI/devpi-server" --version 2>/dev/null)"
  python3 - "$fixtures" >"$work/peers.json" <<EOF
import json, sys
fx = json.loads(sys.argv[1])
print(json.dumps({
    "names": {"docker": "$reg_name", "npm": "$verd_name", "pypi": "$devpi_name"},
    "docker": {"peer": "http://127.0.0.1:$reg_port/v2/bench/app",
               "api": "http://127.0.0.1:$api_port/v2/peerdocker/bench/app",
               "tag": "1.0", "manifest_digest": "$digest", "peer_pid": $reg_pid,
               "origin_log": "$p/origin.log"},
    "npm": {"peer": "http://127.0.0.1:$verd_port", "api": "http://127.0.0.1:$api_port/api/v1/remote/peernpm",
            "name": fx["npm"]["name"], "version": fx["npm"]["version"], "versions": 30,
            "sha256": fx["npm"]["sha256"], "peer_pid": $verd_pid},
    "pypi": {"peer": "http://127.0.0.1:$devpi_port/root/peer/+simple",
             "api": "http://127.0.0.1:$api_port/api/v1/remote/benchpy/simple",
             "name": fx["pypi"]["name"], "file": fx["pypi"]["file"], "versions": 30,
             "sha256": fx["pypi"]["sha256"], "peer_pid": $devpi_pid},
}, indent=2))
EOF
}
