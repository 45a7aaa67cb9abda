#!/usr/bin/env python3
"""The soak: mixed traffic against artifactapi for a long while, with its memory sampled.

bench/soak.sh starts the upstreams and the release binary and calls this with their addresses.
CLIENTS threads each loop over a weighted draw of operations until SECONDS have passed:

- hit: a cached generic file (1 KiB, 1 MiB or the large file), its SHA-256 checked;
- miss: a generic path never asked before (the upstream answers every `/miss/` path with the
  same 64 KiB file), so every one is an upstream fetch, the bytes checked;
- upload: `PUT` of 1 B - 1 MiB of fresh random bytes to a generic local (with their SHA-256),
  read back and compared, then deleted (nine in ten; the others stay);
- docker: a pull through a docker remote: the tag manifest (`HEAD` and `GET`), then the config
  and every layer, each checked against its digest;
- index: a PyPI project page, an npm packument (full or abbreviated), the helm `index.yaml`,
  the generic local's folder listing; each parsed and checked (every file and version listed,
  every URL pointing at artifactapi);
- package: the npm tarball or the wheel those indexes point at, checked.

A sampler thread reads the server's VmRSS every SAMPLE seconds. At the end it prints, per
operation, how many ran and how many failed (an error status, a transport error, a wrong byte
or a wrong document all count), the RSS at start (before the traffic), the peak (the largest
sample and the kernel's VmHWM) and at the end (after a short settle), and exits 1 when anything
failed.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid

import docs
from benchlib import MIB, Invalid, log, proc_status

MANIFEST_ACCEPT = (
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json"
)


class Client:
    """One keep-alive connection to artifactapi, reopened after any error."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, headers with lower-case names, body bytes)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                hdrs = {k.lower(): v for k, v in resp.getheaders()}
                if hdrs.get("connection", "").lower() == "close":
                    self.close()
                return resp.status, hdrs, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed while idle: once more on a new one.
                self.close()
                if attempt == 1 or body is not None:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def expect(status, want, what):
    if status != want:
        raise Invalid(f"{what}: status {status}, want {want}")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Soak:
    def __init__(self, a):
        self.a = a
        with open(a.config) as f:
            self.cfg = json.load(f)
        self.public = self.cfg["public_url"].rstrip("/")
        self.counts = {}
        self.failures = {}
        self.examples = []
        self.lock = threading.Lock()

    def path(self, url):
        """The path (and query) of a URL on artifactapi."""
        if not url.startswith(self.public + "/"):
            raise Invalid(f"{url} is not under artifactapi's {self.public}")
        return url[len(self.public) :]

    def resolve_packages(self):
        """The wheel and the npm tarball as artifactapi's indexes link them (read once)."""
        c = Client(self.public)
        resolved = []
        for p in self.cfg["packages"]:
            if p["kind"] == "pypi":
                status, _, body = c.request("GET", p["page"])
                expect(status, 200, p["page"])
                hrefs = [h for h in re.findall(r'href="([^"]+)"', body.decode()) if p["file"] in h]
                if not hrefs:
                    raise Invalid(f"{p['page']} does not link {p['file']}")
                url = urllib.parse.urljoin(self.public + p["page"], hrefs[0]).split("#", 1)[0]
            else:
                status, _, body = c.request("GET", p["packument"], headers={"Accept": "application/json"})
                expect(status, 200, p["packument"])
                url = json.loads(body)["versions"][p["version"]]["dist"]["tarball"]
            resolved.append({"path": self.path(url), "sha256": p["sha256"]})
        c.close()
        self.cfg["packages"] = resolved

    # --- the operations -------------------------------------------------------------------
    def hit(self, c, rng):
        f = rng.choices(self.cfg["files"], weights=[f["weight"] for f in self.cfg["files"]])[0]
        status, h, body = c.request("GET", f"{self.cfg['generic']}/{f['path']}")
        expect(status, 200, f["path"])
        if sha256(body) != f["sha256"]:
            raise Invalid(f"{f['path']}: wrong bytes ({len(body)} bytes)")

    def miss(self, c, rng):
        path = f"{self.cfg['generic']}/miss/{uuid.uuid4().hex}.bin"
        status, h, body = c.request("GET", path)
        expect(status, 200, path)
        if sha256(body) != self.cfg["miss_sha256"]:
            raise Invalid(f"{path}: wrong bytes ({len(body)} bytes)")

    def upload(self, c, rng):
        data = rng.randbytes(rng.randint(1, MIB))
        digest = sha256(data)
        path = f"{self.cfg['local']}/soak/{uuid.uuid4().hex}.bin"
        status, _, body = c.request("PUT", path, body=data, headers={"X-Checksum-Sha256": digest})
        expect(status, 201, f"PUT {path} {body[:200]!r}")
        status, _, got = c.request("GET", path)
        expect(status, 200, f"GET {path}")
        if sha256(got) != digest:
            raise Invalid(f"{path}: read back {len(got)} wrong bytes")
        if rng.random() < 0.9:
            status, _, _ = c.request("DELETE", path)
            expect(status, 204, f"DELETE {path}")

    def docker(self, c, rng):
        d = self.cfg["docker"]
        url = f"{d['base']}/manifests/{d['tag']}"
        status, h, _ = c.request("HEAD", url, headers={"Accept": MANIFEST_ACCEPT})
        expect(status, 200, f"HEAD {url}")
        status, h, body = c.request("GET", url, headers={"Accept": MANIFEST_ACCEPT})
        expect(status, 200, f"GET {url}")
        if "sha256:" + sha256(body) != d["digest"] or h.get("docker-content-digest") != d["digest"]:
            raise Invalid(f"{url}: manifest with the wrong digest")
        manifest = json.loads(body)
        for blob in [manifest["config"], *manifest["layers"]]:
            status, _, data = c.request("GET", f"{d['base']}/blobs/{blob['digest']}")
            expect(status, 200, blob["digest"])
            if "sha256:" + sha256(data) != blob["digest"] or len(data) != blob["size"]:
                raise Invalid(f"blob {blob['digest']}: wrong bytes ({len(data)})")

    def index(self, c, rng):
        kind = rng.choice(["pypi", "npm", "npm-abbreviated", "helm", "listing"])
        x = self.cfg["indexes"]
        if kind == "pypi":
            status, _, body = c.request("GET", x["pypi"])
            expect(status, 200, x["pypi"])
            hrefs = re.findall(r'href="([^"]+)"', body.decode())
            if len(hrefs) != x["pypi_files"]:
                raise Invalid(f"{x['pypi']}: {len(hrefs)} files, want {x['pypi_files']}")
        elif kind.startswith("npm"):
            name = rng.choice(x["npm_docs"])
            accept = "application/vnd.npm.install-v1+json" if kind == "npm-abbreviated" else "application/json"
            url = f"{x['npm']}/{name}"
            status, _, body = c.request("GET", url, headers={"Accept": accept})
            expect(status, 200, url)
            docs.check_packument(body, name, x["npm_versions"], f"{self.public}{x['npm']}/{name}/-/", url)
        elif kind == "helm":
            status, _, body = c.request("GET", x["helm"])
            expect(status, 200, x["helm"])
            docs.check_helm(body, x["helm_versions"], f"{self.public}{x['helm_charts']}", x["helm"])
        else:
            status, _, body = c.request("GET", f"{self.cfg['local']}/")
            expect(status, 200, "the local's folder listing")
            if not isinstance(json.loads(body).get("folders"), list):
                raise Invalid("the local's folder listing has no folders")

    def package(self, c, rng):
        p = rng.choice(self.cfg["packages"])
        status, _, body = c.request("GET", p["path"])
        expect(status, 200, p["path"])
        if sha256(body) != p["sha256"]:
            raise Invalid(f"{p['path']}: wrong bytes ({len(body)})")

    # --- the run ---------------------------------------------------------------------------
    def worker(self, seed, deadline):
        rng = random.Random(seed)
        c = Client(self.public)
        ops = {
            "hit": self.hit,
            "miss": self.miss,
            "upload": self.upload,
            "docker": self.docker,
            "index": self.index,
            "package": self.package,
        }
        names = list(self.cfg["weights"])
        weights = [self.cfg["weights"][n] for n in names]
        while time.monotonic() < deadline:
            op = rng.choices(names, weights=weights)[0]
            try:
                ops[op](c, rng)
                failed = None
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                c.close()
                failed = f"{op}: {type(e).__name__}: {e}"
            with self.lock:
                self.counts[op] = self.counts.get(op, 0) + 1
                if failed:
                    self.failures[op] = self.failures.get(op, 0) + 1
                    if len(self.examples) < 20:
                        self.examples.append(failed)
                        log(f"FAILED {failed}")
        c.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="what bench/soak.sh set up, as JSON")
    p.add_argument("--pid", type=int, required=True, help="artifactapi's pid")
    p.add_argument("--seconds", type=int, default=1800)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples")
    p.add_argument("--settle", type=int, default=10, help="seconds after the traffic before the last sample")
    p.add_argument("--samples-out", help="write the RSS samples (seconds, MiB) there as CSV")
    a = p.parse_args()
    soak = Soak(a)
    soak.resolve_packages()

    start_rss = proc_status(a.pid, "VmRSS")
    samples = [(0.0, start_rss)]
    stop = threading.Event()
    t0 = time.monotonic()

    def sampler():
        last_log = t0
        while not stop.wait(a.sample):
            rss = proc_status(a.pid, "VmRSS")
            now = time.monotonic()
            samples.append((now - t0, rss))
            if now - last_log >= 60:
                last_log = now
                with soak.lock:
                    done, failed = sum(soak.counts.values()), sum(soak.failures.values())
                log(f"{now - t0:.0f} s: RSS {rss / MIB:.1f} MiB, {done} operations, {failed} failed")

    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    log(f"soak: {a.clients} clients for {a.seconds} s, RSS every {a.sample} s (at start {start_rss / MIB:.1f} MiB)")
    deadline = t0 + a.seconds
    workers = [threading.Thread(target=soak.worker, args=(i, deadline)) for i in range(a.clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    traffic_s = time.monotonic() - t0
    time.sleep(a.settle)
    stop.set()
    st.join()
    end_rss = proc_status(a.pid, "VmRSS")
    hwm = proc_status(a.pid, "VmHWM")
    peak_t, peak = max(samples, key=lambda s: s[1])

    if a.samples_out:
        with open(a.samples_out, "w") as f:
            f.write("seconds,rss_mib\n")
            for t, rss in samples:
                f.write(f"{t:.1f},{rss / MIB:.1f}\n")
    total, failed = sum(soak.counts.values()), sum(soak.failures.values())
    print()
    print(f"soak: {a.clients} clients, {traffic_s:.0f} s of mixed traffic, {total:,} operations ({total / traffic_s:,.1f}/s)")
    print(f"{'operation':<10} {'count':>10} {'failed':>8}")
    for op in soak.cfg["weights"]:
        print(f"{op:<10} {soak.counts.get(op, 0):>10,} {soak.failures.get(op, 0):>8,}")
    print(f"RSS at start {start_rss / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB (at {peak_t:.0f} s; VmHWM "
          f"{hwm / MIB:.1f} MiB), at the end {end_rss / MIB:.1f} MiB ({a.settle} s after the traffic)")
    last_quarter = [rss for t, rss in samples if t >= traffic_s * 0.75 and t <= traffic_s]
    first_quarter = [rss for t, rss in samples if 0 < t <= traffic_s * 0.25]
    if first_quarter and last_quarter:
        print(f"RSS mean over the first quarter {sum(first_quarter) / len(first_quarter) / MIB:.1f} MiB, "
              f"over the last quarter {sum(last_quarter) / len(last_quarter) / MIB:.1f} MiB")
    print(f"errors: {failed}")
    for e in soak.examples:
        print(f"  {e}")
    return 1 if failed or not total else 0


if __name__ == "__main__":
    sys.exit(main())
