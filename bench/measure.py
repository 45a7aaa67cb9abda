#!/usr/bin/env python3
"""Measurements of the artifactapi benchmark against nginx proxy_cache, and the result table.

bench/run.sh starts the processes (static upstream, nginx peer, artifactapi) and calls this
with their addresses and pids; this script warms both caches, checks that what it measures
is correct (status, size, digest, cache headers), runs each measurement on both proxies in the
same way, and prints one table with the figures, their ratio and the targets. Figures are
measured, never asserted: a missed target is reported, not an error. The exit status is 1 only
when a measurement is invalid (wrong bytes, error responses, a cache that never hits).
"""

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
import urllib.request

import docs
import peers
from benchlib import MIB, Invalid, log, peak_rss_during, proc_status, process_tree, wrk


class Proxy:
    """One cache under test: how to address a path through it and how it reports hits."""

    def __init__(self, name, base, cache_header, pids, index_url=None):
        self.name = name
        self.base = base.rstrip("/")
        self.cache_header = cache_header
        self.pids = pids
        self.index_url = index_url

    def url(self, path):
        return f"{self.base}/{path.lstrip('/')}"

    def cache_status(self, path):
        return self.cache_status_of(self.url(path))

    def cache_status_of(self, url):
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.headers.get(self.cache_header, "")


def curl_cmd(url):
    return ["curl", "-sS", "-o", "/dev/null", "--max-time", "600", "-w", "%{http_code} %{size_download}\n", url]


def check_curl(proc, out, size, what):
    fields = out.split()
    if proc.returncode != 0 or len(fields) != 2 or fields[0] != "200" or int(fields[1]) != size:
        raise Invalid(f"{what}: curl exit {proc.returncode}, got {out.strip()!r}, want '200 {size}'")


def parallel_get(urls, size, what):
    """Starts one curl per URL at once; returns the wall time until the last one finished."""
    start = time.monotonic()
    procs = [subprocess.Popen(curl_cmd(u), stdout=subprocess.PIPE, text=True) for u in urls]
    outs = [p.communicate()[0] for p in procs]
    wall = time.monotonic() - start
    for p, out in zip(procs, outs):
        check_curl(p, out, size, what)
    return wall


def sha256_of(url):
    h = hashlib.sha256()
    n = 0
    with urllib.request.urlopen(url, timeout=600) as resp:
        if resp.status != 200:
            raise Invalid(f"GET {url}: status {resp.status}")
        while chunk := resp.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def warm(proxy, path, sha256, size):
    """Fetches until the cache reports a HIT, then checks the cached bytes."""
    for attempt in range(40):
        subprocess.run(curl_cmd(proxy.url(path)), check=True, stdout=subprocess.DEVNULL)
        status = proxy.cache_status(path)
        if status.upper() == "HIT":
            break
        time.sleep(0.25 if attempt < 10 else 1)
    else:
        raise Invalid(f"{proxy.name}: {path} never became a cache HIT (last {proxy.cache_header}: {status!r})")
    got, n = sha256_of(proxy.url(path))
    if (got, n) != (sha256, size):
        raise Invalid(f"{proxy.name}: {path} from cache has sha256 {got} and {n} bytes, want {sha256} and {size}")


def warm_index(proxy):
    """Fetches the package index until the cache reports a HIT (its bytes differ between the
    proxies: artifactapi serves it rewritten)."""
    for attempt in range(40):
        subprocess.run(curl_cmd(proxy.index_url), check=True, stdout=subprocess.DEVNULL)
        status = proxy.cache_status_of(proxy.index_url)
        if status.upper() == "HIT":
            return
        time.sleep(0.25 if attempt < 10 else 1)
    raise Invalid(f"{proxy.name}: the index never became a cache HIT (last {proxy.cache_header}: {status!r})")


def upstream_requests(log_path, path):
    """Requests of any method for path in the upstream's access log (combined format)."""
    pattern = re.compile(r'"[A-Z]+ /' + re.escape(path.lstrip("/")) + r'[ ?]')
    with open(log_path) as f:
        return sum(1 for line in f if pattern.search(line))


def measure(proxy, a, files):
    r = {}
    log(f"{proxy.name}: warming the cache")
    warm(proxy, files["small"], a.small_sha256, 1024)
    warm(proxy, files["large"], a.large_sha256, a.large_size)

    log(f"{proxy.name}: small hits, wrk 64 connections, {a.duration} s")
    res = wrk(proxy.url(files["small"]), 64, a.duration, a.wrk_script)
    r["small_rps"] = res["requests"] / (res["duration_us"] / 1e6)
    r["small_p99_ms"] = res["p99_us"] / 1000
    if proxy.cache_status(files["small"]).upper() != "HIT":
        raise Invalid(f"{proxy.name}: small file no longer a HIT after the run")

    if proxy.index_url:
        warm_index(proxy)
        log(f"{proxy.name}: package index hits, wrk 64 connections, {a.duration} s")
        res = wrk(proxy.index_url, 64, a.duration, a.wrk_script)
        r["index_rps"] = res["requests"] / (res["duration_us"] / 1e6)

    log(f"{proxy.name}: large hits, wrk 4 connections, {a.duration} s")
    res = wrk(proxy.url(files["large"]), 4, a.duration, a.wrk_script)
    r["large_mibs"] = res["bytes"] / MIB / (res["duration_us"] / 1e6)

    log(f"{proxy.name}: peak RSS while 16 clients download the large file")
    pids = process_tree(proxy.pids[0]) if proxy.name == "nginx" else proxy.pids
    rss, wall = peak_rss_during(
        pids, lambda: parallel_get([proxy.url(files["large"])] * 16, a.large_size, f"{proxy.name} 16 clients")
    )
    r["rss_mib"] = rss / MIB
    r["rss16_mibs"] = 16 * a.large_size / MIB / wall

    log(f"{proxy.name}: cold miss, 1 client behind the rate-limited upstream")
    r["cold_one_s"] = parallel_get([proxy.url(files["cold_one"])], a.large_size, f"{proxy.name} cold 1 client")
    log(f"{proxy.name}: cold miss, 32 clients on one path behind the rate-limited upstream")
    r["cold_many_s"] = parallel_get([proxy.url(files["cold_many"])] * 32, a.large_size, f"{proxy.name} cold 32")
    r["cold_ratio"] = r["cold_many_s"] / r["cold_one_s"]
    r["upstream_requests"] = upstream_requests(a.upstream_log, files["cold_many"])
    return r


def fmt(v, kind):
    if v is None:
        return "n/a"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "x":
        return f"{v:.3f}x"
    return f"{v:,.1f}"


def table(api, ngx, a):
    def ratio(k):
        if api.get(k) is None or not ngx.get(k):
            return None
        return api[k] / ngx[k]

    rows = [] if a.docs == "only" else [
        # label, key, kind, target text, met(artifactapi's value, ratio to nginx); None: cannot tell
        ("cache hit 1 KiB, 64 conns (req/s)", "small_rps", "int", ">= 0.8x nginx", lambda v, q: q and q >= 0.8),
        ("index hit, 500-file PyPI page, 64 conns (req/s)", "index_rps", "int", ">= 0.5x nginx", lambda v, q: q and q >= 0.5),
        ("cache hit 256 MiB, 4 conns (MiB/s)", "large_mibs", "num", ">= 0.9x nginx", lambda v, q: q and q >= 0.9),
        ("peak RSS, 16 clients on 256 MiB (MiB)", "rss_mib", "num", "< 150 MiB", lambda v, q: v < 150),
        ("cold miss, 32 clients: upstream requests", "upstream_requests", "int", "= 1", lambda v, q: v == 1),
        ("cold miss: 32 clients / 1 client (time)", "cold_ratio", "x", "<= 1.2x", lambda v, q: v <= 1.2),
    ]
    if a.large_size != 256 * MIB:
        rows = [(lbl.replace("256 MiB", f"{a.large_size // MIB} MiB"), *rest) for lbl, *rest in rows]
    if a.docs != "0":
        rows += docs.rows(a)
    w = max(len(row[0]) for row in rows)
    lines = [
        f"{'':{w}} {'artifactapi':>12} {'nginx':>12} {'api/nginx':>10}   {'target':<14} result",
        "-" * (w + 66),
    ]
    for label, key, kind, target, met in rows:
        q = ratio(key)
        v = api.get(key)
        verdict = None if v is None else met(v, q)
        result = "n/a" if verdict is None else ("met" if verdict else "MISSED")
        if key in api.get("invalid_rows", ()):
            result = "INVALID"
        lines.append(
            f"{label:<{w}} {fmt(v, kind):>12} {fmt(ngx.get(key), kind):>12} {fmt(q, 'x'):>10}   {target:<14} {result}"
        )
    lines.append("")
    lines.append("details:")
    for name, r in (("artifactapi", api), ("nginx", ngx)):
        if r and a.docs != "only":
            lines.append(
                f"  {name:<11} small p99 {fmt(r.get('small_p99_ms'), 'num')} ms; 16 clients on the large file "
                f"{fmt(r.get('rss16_mibs'), 'num')} MiB/s in total; cold 1 client {fmt(r.get('cold_one_s'), 'num')} s, "
                f"32 clients {fmt(r.get('cold_many_s'), 'num')} s"
            )
    if a.docs != "0":
        lines += docs.details(api, ngx)
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api-base", required=True, help="http://HOST:PORT/api/v1/remote/NAME")
    p.add_argument("--api-pid", type=int, required=True)
    p.add_argument("--nginx-base", required=True)
    p.add_argument("--nginx-pid", type=int, required=True, help="the peer's master process")
    p.add_argument("--upstream-log", required=True)
    p.add_argument("--small-sha256", required=True)
    p.add_argument("--large-sha256", required=True)
    p.add_argument("--large-size", type=int, required=True)
    p.add_argument("--api-index-url", help="a PyPI project page through a pypi remote")
    p.add_argument("--nginx-index-url", help="the same page through nginx")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--wrk-script", required=True)
    p.add_argument("--json-out")
    p.add_argument("--only", choices=["api", "nginx"], help="measure one proxy only")
    p.add_argument("--header", default="")
    p.add_argument("--docs", choices=["0", "1", "only"], default="0", help="the large-document rows (bench/docs.py)")
    p.add_argument("--docs-manifest", help="manifest.json of bench/gen_docs.py")
    p.add_argument("--docs-npm-base", help="http://HOST:PORT/api/v1/remote/NPM-REMOTE")
    p.add_argument("--docs-helm-url", help="http://HOST:PORT/api/v1/remote/HELM-REMOTE/index.yaml")
    p.add_argument("--public-url", help="artifactapi's PUBLIC_URL")
    p.add_argument("--docs-nginx-dir", help="where the peer nginx serves static copies from")
    p.add_argument("--docs-nginx-base", help="the URL of that directory on the peer")
    p.add_argument("--docs-settle", type=int, default=60, help="seconds after the load before the last RSS")
    p.add_argument("--docs-duration", type=int, default=30, help="seconds of the packument hit wrk runs")
    p.add_argument("--peers", help="the peers' addresses as bench/peers.sh writes them (bench/peers.py)")
    p.add_argument("--peers-only", action="store_true", help="measure the peer rows alone")
    a = p.parse_args()
    if a.docs != "0" and a.only == "nginx":
        log("the document rows need artifactapi's rendered documents: skipped with --only nginx")
        a.docs = "0"

    proxies = {
        "api": Proxy("artifactapi", a.api_base, "X-Cache", [a.api_pid], a.api_index_url),
        "nginx": Proxy("nginx", a.nginx_base, "X-Cache-Status", [a.nginx_pid], a.nginx_index_url),
    }
    results = {"api": {}, "nginx": {}}
    invalid = []
    idle = 0
    if a.docs != "0":
        # Resident memory at idle, after start-up and the creation of the remotes.
        time.sleep(1)
        idle = proc_status(a.api_pid, "VmRSS")
    # nginx first: it is the reference, and a failure in artifactapi then still leaves a baseline.
    for key in ("nginx", "api"):
        if a.docs == "only" or a.peers_only or (a.only and a.only != key):
            continue
        files = {
            "small": "small.bin",
            "large": "large.bin",
            "cold_one": f"slow/cold-{key}-one.bin",
            "cold_many": f"slow/cold-{key}-many.bin",
        }
        try:
            results[key] = measure(proxies[key], a, files)
        except (Invalid, subprocess.CalledProcessError, OSError) as e:
            invalid.append(f"{proxies[key].name}: {e}")
            log(f"INVALID {proxies[key].name}: {e}")

    # The peers after nginx and artifactapi's own rows, so that those run as before.
    peer_results = None
    if a.peers:
        peer_results, peer_invalid = peers.measure(a)
        invalid += [f"peers: {m}" for m in peer_invalid]

    # The document rows last: the load they put on artifactapi's memory must not reach the
    # existing rows (their peak RSS included).
    if a.docs != "0":
        try:
            invalid += [f"documents: {m}" for m in docs.measure(a, a.only, idle, results["api"], results["nginx"])]
        except (Invalid, subprocess.CalledProcessError, OSError) as e:
            invalid.append(f"documents: {e}")
            log(f"INVALID documents: {e}")

    print()
    if a.header:
        print(a.header)
    if not a.peers_only:
        print(table(results["api"], results["nginx"], a))
    if peer_results:
        print()
        print(peers.table(peer_results, fmt, a.large_size // MIB))
    for msg in invalid:
        print(f"INVALID: {msg}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"artifactapi": results["api"], "nginx": results["nginx"], "peers": peer_results, "invalid": invalid}, f, indent=2)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
