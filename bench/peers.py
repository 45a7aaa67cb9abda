"""The peer rows of the benchmark: artifactapi beside what users would deploy instead.

bench/peers.sh starts each peer on 127.0.0.1 as a real proxy of the same origin as one of
artifactapi's remotes, and writes their addresses to a JSON file that this module reads:

- docker: Debian's `docker-registry` (CNCF distribution 2.8) in proxy mode (`proxy.remoteurl`)
  in front of another docker-registry holding one pushed image (a large layer, a small one, a
  config blob); artifactapi's docker remote in front of that same origin registry.
- npm: verdaccio 6.8 with an uplink (`maxage: 1h`) on the origin nginx's `/npmpeer/`;
  artifactapi's npm remote on the same URL (`mutable_ttl` one hour).
- pypi: devpi-server with a mirror index (`mirror_url` the origin's `/simple/`,
  `mirror_cache_expiry` one hour); artifactapi's pypi remote on the same origin.

Every measured URL is warmed and checked first on both sides (status, the digest of the bytes,
index documents that list every version and point at the server itself, artifactapi's
`X-Cache: HIT`), then measured the same way on both, the peer first: `wrk` for GETs, `ab -i`
for HEADs (wrk waits for a body after a HEAD answer), each run free of errors or the row is
INVALID. The peak resident memory of each server over its rows is reported beside ours.
"""

import base64
import hashlib
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from benchlib import MIB, Invalid, log, peak_rss_during, process_tree, wrk

# The manifest types docker, podman and skopeo accept: one cached entry per tag on both sides.
MANIFEST_ACCEPT = (
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json"
)
INDEX_CONNS = 64
FILE_CONNS = 16
LARGE_CONNS = 4


def get(url, headers=None, method="GET"):
    """(status, headers with lower-case names, body); an error status is Invalid."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        raise Invalid(f"{method} {url}: {e.code} {e.read()[:200]!r}") from e


def sha256_of(url, headers=None):
    h = hashlib.sha256()
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            hdrs = {k.lower(): v for k, v in resp.headers.items()}
            while chunk := resp.read(1 << 20):
                h.update(chunk)
    except urllib.error.HTTPError as e:
        raise Invalid(f"GET {url}: {e.code}") from e
    return h.hexdigest(), hdrs


def check_file(url, sha256, what, api, headers=None):
    """Reads url until it is cached (artifactapi: an `X-Cache: HIT`, which follows the commit
    that ends a fill; a peer: a second read) and checks the digest of every copy."""
    for attempt in range(40):
        got, hdrs = sha256_of(url, headers)
        if got != sha256:
            raise Invalid(f"{what}: {url} has sha256 {got}, want {sha256}")
        if attempt >= 1 and (not api or hdrs.get("x-cache", "").upper() == "HIT"):
            return
        time.sleep(0.25 if attempt < 10 else 1)
    raise Invalid(f"{what}: {url} never became a cache HIT (X-Cache {hdrs.get('x-cache')!r})")


def check_hit(url, what, api, headers=None):
    """Reads an index until it is cached (as check_file). Returns the headers and body."""
    for attempt in range(40):
        _, hdrs, body = get(url, headers)
        if attempt >= 1 and (not api or hdrs.get("x-cache", "").upper() == "HIT"):
            return hdrs, body
        time.sleep(0.25 if attempt < 10 else 1)
    raise Invalid(f"{what}: {url} never became a cache HIT (X-Cache {hdrs.get('x-cache')!r})")


def ab_head(url, conns, duration, headers=()):
    """ApacheBench HEAD requests with keep-alive; requests per second, error free."""
    cmd = ["ab", "-q", "-k", "-i", f"-c{conns}", f"-t{duration}", "-n", "100000000"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout

    def field(name):
        m = re.search(rf"^{name}:\s+([0-9.]+)", out, re.M)
        return float(m.group(1)) if m else 0.0

    done, failed, non2xx = field("Complete requests"), field("Failed requests"), field("Non-2xx responses")
    if failed or non2xx or not done:
        raise Invalid(f"ab -i {url}: {done:.0f} complete, {failed:.0f} failed, {non2xx:.0f} non-2xx")
    return field("Requests per second")


def rps(res):
    return res["requests"] / (res["duration_us"] / 1e6)


def mibs(res):
    return res["bytes"] / MIB / (res["duration_us"] / 1e6)


def requests_in(log_path):
    """Requests in a docker-registry log so far (its access log lines)."""
    with open(log_path, "rb") as f:
        return sum(1 for line in f if b' HTTP/1.1" ' in line)


def docker_side(d, side, a):
    base, api = d[side], side == "api"
    hdrs = {"Accept": MANIFEST_ACCEPT}
    what = f"docker {side}"
    mh, body = check_hit(f"{base}/manifests/{d['tag']}", what, api, hdrs)
    if mh.get("docker-content-digest") != d["manifest_digest"]:
        raise Invalid(f"{what}: tag manifest digest {mh.get('docker-content-digest')}, want {d['manifest_digest']}")
    manifest = json.loads(body)
    small = manifest["config"]["digest"]
    large = max(manifest["layers"], key=lambda layer: layer["size"])["digest"]
    for digest in (small, large):
        check_file(f"{base}/blobs/{digest}", digest.split(":", 1)[1], what, api)

    accept = f"Accept: {MANIFEST_ACCEPT}"
    r = {}

    def runs():
        before = requests_in(d["origin_log"])
        r["manifest_head_rps"] = ab_head(f"{base}/manifests/{d['tag']}", INDEX_CONNS, a.duration, [accept])
        r["manifest_get_rps"] = rps(wrk(f"{base}/manifests/{d['tag']}", INDEX_CONNS, a.duration, a.wrk_script, headers=[accept]))
        r["origin_requests"] = requests_in(d["origin_log"]) - before
        r["small_blob_rps"] = rps(wrk(f"{base}/blobs/{small}", INDEX_CONNS, a.duration, a.wrk_script))
        r["large_blob_mibs"] = mibs(wrk(f"{base}/blobs/{large}", LARGE_CONNS, a.duration, a.wrk_script))

    pids = [a.api_pid] if api else process_tree(d["peer_pid"])
    log(f"{what}: tag manifest HEAD and GET, small and large blob")
    rss, _ = peak_rss_during(pids, runs)
    r["rss_mib"] = rss / MIB
    return r


def npm_side(d, side, a):
    base, api = d[side].rstrip("/"), side == "api"
    what = f"npm {side}"
    url = f"{base}/{d['name']}"
    _, body = check_hit(url, what, api, {"Accept": "application/json"})
    doc = json.loads(body)
    if doc.get("name") != d["name"] or len(doc.get("versions", {})) != d["versions"]:
        raise Invalid(f"{what}: the packument does not list the {d['versions']} versions of {d['name']}")
    tarball = doc["versions"][d["version"]]["dist"]["tarball"]
    if not tarball.startswith(base + "/"):
        raise Invalid(f"{what}: dist.tarball {tarball} does not point at the server itself")
    check_file(tarball, d["sha256"], what, api)
    r = {}

    def runs():
        hdr = ["Accept: application/json"]
        r["index_rps"] = rps(wrk(url, INDEX_CONNS, a.duration, a.wrk_script, headers=hdr))
        r["file_mibs"] = mibs(wrk(tarball, FILE_CONNS, a.duration, a.wrk_script))

    pids = [a.api_pid] if api else process_tree(d["peer_pid"])
    log(f"{what}: packument and tarball hits")
    rss, _ = peak_rss_during(pids, runs)
    r["rss_mib"] = rss / MIB
    return r


def pypi_side(d, side, a):
    base, api = d[side].rstrip("/"), side == "api"
    what = f"pypi {side}"
    url = f"{base}/{d['name']}/"
    _, body = check_hit(url, what, api)
    hrefs = re.findall(r'href="([^"]+)"', body.decode())
    if len(hrefs) != d["versions"]:
        raise Invalid(f"{what}: the project page lists {len(hrefs)} files, want {d['versions']}")
    wheel = [h for h in hrefs if d["file"] in h]
    if not wheel:
        raise Invalid(f"{what}: the project page has no link to {d['file']}")
    wheel_url = urllib.parse.urljoin(url, wheel[0]).split("#", 1)[0]
    check_file(wheel_url, d["sha256"], what, api)
    r = {}

    def runs():
        r["index_rps"] = rps(wrk(url, INDEX_CONNS, a.duration, a.wrk_script))
        r["file_mibs"] = mibs(wrk(wheel_url, FILE_CONNS, a.duration, a.wrk_script))

    pids = [a.api_pid] if api else process_tree(d["peer_pid"])
    log(f"{what}: simple page and wheel hits")
    rss, _ = peak_rss_during(pids, runs)
    r["rss_mib"] = rss / MIB
    return r


SIDES = {"docker": docker_side, "npm": npm_side, "pypi": pypi_side}


def measure(a):
    """{kind: {"api": figures, "peer": figures}} and the invalid measurements."""
    with open(a.peers) as f:
        cfg = json.load(f)
    results, invalid = {}, []
    for kind, side_fn in SIDES.items():
        results[kind] = {}
        for side in ("peer", "api"):
            try:
                results[kind][side] = side_fn(cfg[kind], side, a)
            except (Invalid, subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
                results[kind][side] = {}
                results[kind].setdefault("invalid", []).append(side)
                invalid.append(f"{kind} {side}: {e}")
                log(f"INVALID {kind} {side}: {e}")
    results["names"] = cfg["names"]
    return results, invalid


def rows(names):
    reg, verd, devpi = names["docker"], names["npm"], names["pypi"]
    c, f, lc = INDEX_CONNS, FILE_CONNS, LARGE_CONNS
    return [
        # kind, label, key, number format, target text, met(ratio); None: no target
        ("docker", f"{reg}: fresh tag manifest HEAD, {c} conns (req/s)", "manifest_head_rps", "int", ">= 30x", 30),
        ("docker", f"{reg}: fresh tag manifest GET, {c} conns (req/s)", "manifest_get_rps", "int", ">= 30x", 30),
        ("docker", f"{reg}: small blob hit, {c} conns (req/s)", "small_blob_rps", "int", "-", None),
        ("docker", f"{reg}: 256 MiB blob hit, {lc} conns (MiB/s)", "large_blob_mibs", "num", ">= 1.2x", 1.2),
        ("docker", f"{reg}: peak RSS over these rows (MiB)", "rss_mib", "num", "-", None),
        ("npm", f"{verd}: packument hit, {c} conns (req/s)", "index_rps", "int", ">= 20x", 20),
        ("npm", f"{verd}: 1 MiB tarball hit, {f} conns (MiB/s)", "file_mibs", "num", ">= 3x", 3),
        ("npm", f"{verd}: peak RSS over these rows (MiB)", "rss_mib", "num", "-", None),
        ("pypi", f"{devpi}: simple page hit, {c} conns (req/s)", "index_rps", "int", ">= 20x", 20),
        ("pypi", f"{devpi}: 1 MiB wheel hit, {f} conns (MiB/s)", "file_mibs", "num", ">= 3x", 3),
        ("pypi", f"{devpi}: peak RSS over these rows (MiB)", "rss_mib", "num", "-", None),
    ]


def table(results, fmt, large_mib):
    """The peer rows, in the layout of the main table (`peer` in place of nginx)."""
    names = results["names"]
    lines_ = []
    rws = [(k, lbl.replace("256 MiB", f"{large_mib} MiB"), *rest) for k, lbl, *rest in rows(names)]
    w = max(len(r[1]) for r in rws)
    lines_.append(f"{'':{w}} {'artifactapi':>12} {'peer':>12} {'api/peer':>10}   {'target':<14} result")
    lines_.append("-" * (w + 66))
    for kind, label, key, kind_fmt, target, factor in rws:
        res = results.get(kind, {})
        v, p = res.get("api", {}).get(key), res.get("peer", {}).get(key)
        q = v / p if v is not None and p else None
        if res.get("invalid"):
            result = "INVALID"
        elif factor is None or q is None:
            result = "n/a" if factor is not None else ""
        else:
            result = "met" if q >= factor else "MISSED"
        lines_.append(f"{label:<{w}} {fmt(v, kind_fmt):>12} {fmt(p, kind_fmt):>12} {fmt(q, 'x'):>10}   {target:<14} {result}")
    d = results.get("docker", {})
    lines_.append("")
    lines_.append(
        f"  origin registry requests during the tag manifest runs: {names['docker']} "
        f"{fmt(d.get('peer', {}).get('origin_requests'), 'int')}, artifactapi {fmt(d.get('api', {}).get('origin_requests'), 'int')}"
    )
    return "\n".join(lines_)


def devpi_index(base, name, mirror_url):
    """Creates root/NAME on a fresh devpi-server (root's password empty): a mirror of
    mirror_url whose project pages stay fresh for an hour, like artifactapi's mutable_ttl."""
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    req = urllib.request.Request(
        f"{base}/+login", data=json.dumps({"user": "root", "password": ""}).encode(), headers=json_headers, method="POST"
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        token = json.load(resp)["result"]["password"]
    auth = base64.b64encode(f"root:{token}".encode()).decode()
    config = {"type": "mirror", "mirror_url": mirror_url, "mirror_cache_expiry": 3600}
    req = urllib.request.Request(
        f"{base}/root/{name}", data=json.dumps(config).encode(), headers={**json_headers, "X-Devpi-Auth": auth}, method="PUT"
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        if resp.status not in (200, 201):
            raise SystemExit(f"PUT root/{name}: {resp.status}")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "devpi-index":
        raise SystemExit("usage: peers.py devpi-index BASE-URL INDEX-NAME MIRROR-URL")
    devpi_index(*sys.argv[2:])
