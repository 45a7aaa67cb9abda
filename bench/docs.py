"""The large-document rows of the benchmark: 20 MB npm packuments and a 50 MB helm index.

A package index is not a file the proxy passes through: artifactapi parses the upstream's
document and serves it rewritten (every tarball or chart URL through itself), so serving one
costs what that rendering costs, and memory may grow with the size and number of documents in
flight. These rows measure that on documents of the real world's size (bench/gen_docs.py
writes them; the upstream nginx serves them, the abbreviated packument to clients that ask
for it):

- packument hit: `wrk -c32` bytes/s on one cached full packument, against nginx serving the
  very bytes artifactapi renders as a static file (fetched from artifactapi once, written to
  the peer's root): the practical limit for sending those bytes on this machine.
- peak RSS of artifactapi while 32 clients read 10 distinct packuments (full and abbreviated
  mixed) and the helm index at once, first cold (nothing cached), then warm; nginx's figure is
  the same 32 downloads of the same bytes as static files.
- RSS a while (60 s) after that load, against RSS at idle after start-up.

They run after the other rows (whose memory figures they would otherwise disturb), the memory
rows first, so that their cold reads find the server as the other rows left it.

Every document served is checked: valid JSON naming the package with all its versions, each
`dist.tarball` under artifactapi's PUBLIC_URL (the helm index: every chart URL under it, one per
chart version); every concurrent download has the size and ETag of such a checked copy.
"""

import hashlib
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

from benchlib import (
    MIB,
    WRK_ERRORS,
    Invalid,
    log,
    peak_rss_during,
    proc_status,
    process_tree,
    wait_quiet,
    wrk,
    wrk_run,
)

FULL = "application/json"
ABBREVIATED = "application/vnd.npm.install-v1+json"
HIT_DOC = "docbench-0"
RSS_DOCS = [f"docbench-{i}" for i in range(1, 11)]
CLIENTS = 32


def get(url, accept=None):
    """GET url; returns (headers with lower-case names, body). An error status is Invalid."""
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        raise Invalid(f"GET {url}: {e.code} {e.read()[:300]!r}") from None


def check_packument(body, name, versions, prefix, what):
    """A packument clients can use: JSON naming `name`, all `versions`, tarballs under `prefix`."""
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise Invalid(f"{what}: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("name") != name:
        raise Invalid(f"{what}: not a packument of {name}")
    vs = doc.get("versions")
    if not isinstance(vs, dict) or len(vs) != versions:
        raise Invalid(f"{what}: {len(vs) if isinstance(vs, dict) else 'no'} versions, want {versions}")
    for v, manifest in vs.items():
        tarball = ((manifest or {}).get("dist") or {}).get("tarball", "")
        if not isinstance(tarball, str) or not tarball.startswith(prefix):
            raise Invalid(f"{what}: {v} has dist.tarball {tarball!r}, not under {prefix}")


TGZ_URL = re.compile(rb"[a-z]+://[^\s\"',\[\]{}]+\.tgz")


def check_helm(body, versions, prefix, what):
    """An index with all `versions` chart versions, each with one chart URL, under `prefix`."""
    if not body.lstrip().startswith(b"apiVersion") and b"\napiVersion:" not in body:
        raise Invalid(f"{what}: no apiVersion, not a helm index")
    urls = TGZ_URL.findall(body)
    elsewhere = [u for u in urls if not u.startswith(prefix.encode())]
    if elsewhere:
        raise Invalid(f"{what}: {len(elsewhere)} chart URLs not under {prefix}, e.g. {elsewhere[0]!r}")
    if len(urls) != versions:
        raise Invalid(f"{what}: {len(urls)} chart URLs, want one for each of {versions} chart versions")


def write_static(directory, name, body):
    """Puts `body` where the peer nginx serves it as a static file."""
    tmp = os.path.join(directory, f".{name}.tmp")
    with open(tmp, "wb") as f:
        f.write(body)
    os.replace(tmp, os.path.join(directory, name))


class Docs:
    """The document rows' setting: where each document is, what it must contain."""

    def __init__(self, a):
        with open(a.docs_manifest) as f:
            self.manifest = json.load(f)
        self.a = a
        self.npm = a.docs_npm_base.rstrip("/")
        self.public = a.public_url.rstrip("/")
        npm_remote = self.npm.rsplit("/", 1)[1]
        helm_remote = a.docs_helm_url.rstrip("/").rsplit("/", 2)[1]
        self.tarballs = f"{self.public}/api/v1/remote/{npm_remote}/"
        self.charts = f"{self.public}/api/v1/remote/{helm_remote}/charts/"
        self.static = a.docs_nginx_base.rstrip("/")

    def check(self, doc, form, body, what):
        if doc == "helm":
            check_helm(body, self.manifest["helm"]["versions"], self.charts, what)
        else:
            versions = self.manifest["packuments"][doc]["versions"]
            check_packument(body, doc, versions, f"{self.tarballs}{doc}/-/", what)

    def url(self, doc):
        return self.a.docs_helm_url if doc == "helm" else f"{self.npm}/{doc}"

    def static_name(self, doc, form):
        return "index.yaml" if doc == "helm" else f"{doc}.{'abbreviated' if form == ABBREVIATED else 'full'}"

    def clients(self):
        """The 32 concurrent reads: client i reads document i mod 11 (the 10 packuments, then the
        helm index), packuments alternately in full and abbreviated form."""
        out = []
        for i in range(CLIENTS):
            k = i % (len(RSS_DOCS) + 1)
            if k == len(RSS_DOCS):
                out.append(("helm", None))
            else:
                out.append((RSS_DOCS[k], FULL if (i // (len(RSS_DOCS) + 1)) % 2 == 0 else ABBREVIATED))
        return out


def warm_hit(url, accept, what):
    """Fetches until artifactapi answers from its cache; returns that answer's body."""
    status = ""
    for attempt in range(40):
        headers, body = get(url, accept)
        status = headers.get("x-cache", "")
        if status.upper() == "HIT":
            return body
        time.sleep(0.25 if attempt < 10 else 1)
    raise Invalid(f"{what} never became a cache HIT (last X-Cache: {status!r})")


def concurrent_reads(reads):
    """Starts one curl per (url, accept) at once; returns the wall time and, per read, its
    status (or how curl failed), size, X-Cache and ETag."""
    fmt = "%{http_code}|%{size_download}|%header{x-cache}|%header{etag}\n"
    start = time.monotonic()
    procs = []
    for url, accept in reads:
        cmd = ["curl", "-sS", "-o", "/dev/null", "--max-time", "600", "-w", fmt]
        if accept:
            cmd += ["-H", f"Accept: {accept}"]
        procs.append(subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, text=True))
    outs = [(p.communicate()[0], p.returncode) for p in procs]
    wall = time.monotonic() - start
    results = []
    for out, rc in outs:
        fields = out.strip().split("|")
        if rc != 0 or len(fields) != 4:
            fields = [f"curl exit {rc}: {out.strip()!r}", "-1", "", ""]
        results.append({"status": fields[0], "size": int(fields[1]), "x_cache": fields[2], "etag": fields[3]})
    return wall, results


class Problems:
    """What made rows invalid: each row's figure stays in the table, marked INVALID, and the
    reasons are printed under it."""

    def __init__(self, api):
        self.api = api
        self.messages = []

    def add(self, keys, msg):
        log(f"INVALID documents: {msg}")
        self.messages.append(msg)
        rows = self.api.setdefault("invalid_rows", [])
        rows.extend(k for k in keys if k not in rows)


def measure_hit(d, only, api, ngx, problems):
    """Row 1: wrk -c32 on the cached full packument, and on nginx serving its bytes as a file."""
    a = d.a
    url = d.url(HIT_DOC)
    log(f"artifactapi: warming the packument {HIT_DOC}")
    body = warm_hit(url, FULL, f"artifactapi: packument {HIT_DOC}")
    d.check(HIT_DOC, FULL, body, f"artifactapi: packument {HIT_DOC}")
    write_static(a.docs_nginx_dir, HIT_DOC, body)
    static = f"{d.static}/{HIT_DOC}"
    headers = [f"Accept: {FULL}"]
    if only != "api":
        _, served = get(static)
        if hashlib.sha256(served).digest() != hashlib.sha256(body).digest():
            raise Invalid(f"nginx: {static} does not serve the rendered packument")
        log(f"nginx: the rendered packument as a static file, wrk {CLIENTS} connections, {a.docs_duration} s")
        res = wrk(static, CLIENTS, a.docs_duration, a.wrk_script, headers=headers)
        ngx["doc_hit_mibs"] = res["bytes"] / MIB / (res["duration_us"] / 1e6)
        ngx["doc_hit_p99_ms"] = res["p99_us"] / 1000
        ngx["doc_hit_requests"] = res["requests"]
    log(f"artifactapi: packument hits, wrk {CLIENTS} connections, {a.docs_duration} s")
    # A server that renders the document for every request may complete none of 32 in the run;
    # the bytes it did send are its throughput all the same. Errors are kept to be reported.
    res = wrk_run(url, CLIENTS, a.docs_duration, a.wrk_script, headers=headers)
    api["doc_hit_mibs"] = res["bytes"] / MIB / (res["duration_us"] / 1e6)
    api["doc_hit_p99_ms"] = res["p99_us"] / 1000
    api["doc_hit_requests"] = res["requests"]
    api["doc_hit_errors"] = {k: res[k] for k in WRK_ERRORS if res[k]}
    # Requests wrk gave up on at the end may still be rendering: they must not weigh on the
    # memory rows.
    api["doc_hit_drain_s"] = wait_quiet(a.api_pid)
    if api["doc_hit_errors"]:
        problems.add(
            ["doc_hit_mibs"],
            f"packument hits: wrk counted errors {api['doc_hit_errors']} in {res['requests']} responses "
            "(status: an answer >= 400; read: a connection closed or unreadable)",
        )
    if get(url, FULL)[0].get("x-cache", "").upper() != "HIT":
        problems.add(["doc_hit_mibs"], f"artifactapi: packument {HIT_DOC} no longer a HIT after the run")


def check_reads(reads, results, refs, phase, warm):
    """Why the concurrent reads of one phase were wrong, if they were: each must have the status,
    size and ETag of the checked copy of its document, and a warm one must be a cache HIT."""
    bad = []
    for (doc, form), r in zip(reads, results, strict=True):
        size, etag = refs[(doc, form)]
        if r["status"] != "200" or r["size"] != size or r["etag"] != etag:
            bad.append(f"{doc} ({form or 'index.yaml'}): {r}, want status 200, {size} bytes, ETag {etag}")
        elif warm and r["x_cache"].upper() != "HIT":
            bad.append(f"{doc} ({form or 'index.yaml'}): X-Cache {r['x_cache']!r} on a warm read")
    if not bad:
        return None
    return f"{phase}: {len(bad)} of {len(results)} reads wrong, e.g. {bad[0]}"


def measure_rss(d, only, idle, api, ngx, problems):
    """Rows 2 and 3: peak RSS under 32 readers of the large documents, cold then warm, and RSS
    once the load is over, against `idle` (bytes, after start-up)."""
    a = d.a
    pid = a.api_pid
    reads = d.clients()
    api_reads = [(d.url(doc), form) for doc, form in reads]
    api["doc_rss_before_mib"] = proc_status(pid, "VmRSS") / MIB
    log(f"artifactapi: peak RSS while {CLIENTS} clients read the 10 packuments and the helm index, cold")
    rss, (cold_s, cold) = peak_rss_during([pid], lambda: concurrent_reads(api_reads))
    api["doc_rss_cold_mib"], api["doc_cold_s"] = rss / MIB, cold_s
    log(f"artifactapi: the same {CLIENTS} reads again, warm")
    rss, (warm_s, warm) = peak_rss_during([pid], lambda: concurrent_reads(api_reads))
    api["doc_rss_warm_mib"], api["doc_warm_s"] = rss / MIB, warm_s

    log("artifactapi: checking each document served")
    refs = {}
    for doc, form in dict.fromkeys(reads):
        what = f"artifactapi: {doc} ({form or 'index.yaml'})"
        headers, body = get(d.url(doc), form)
        d.check(doc, form, body, what)
        refs[(doc, form)] = (len(body), headers.get("etag", ""))
        write_static(a.docs_nginx_dir, d.static_name(doc, form), body)
    load_end = time.monotonic()
    api["doc_rss_end_mib"] = proc_status(pid, "VmRSS") / MIB
    api["doc_sizes"] = {f"{doc} {form or 'index.yaml'}": size for (doc, form), (size, _) in refs.items()}
    for phase, results, key in (("cold", cold, "doc_rss_cold_mib"), ("warm", warm, "doc_rss_warm_mib")):
        wrong = check_reads(reads, results, refs, phase, phase == "warm")
        if wrong:
            problems.add([key], f"concurrent reads {wrong}")

    if only != "api":
        log(f"nginx: peak RSS while {CLIENTS} clients read the same bytes as static files")
        static_reads = [(f"{d.static}/{d.static_name(doc, form)}", None) for doc, form in reads]
        rss, (static_s, results) = peak_rss_during(process_tree(a.nginx_pid), lambda: concurrent_reads(static_reads))
        for (doc, form), r in zip(reads, results, strict=True):
            if r["status"] != "200" or r["size"] != refs[(doc, form)][0]:
                raise Invalid(f"nginx static {d.static_name(doc, form)}: got {r}")
        ngx["doc_rss_warm_mib"], ngx["doc_warm_s"] = rss / MIB, static_s

    wait = a.docs_settle - (time.monotonic() - load_end)
    log(f"artifactapi: RSS {a.docs_settle} s after the load (waiting {max(wait, 0):.0f} s)")
    if wait > 0:
        time.sleep(wait)
    after = proc_status(pid, "VmRSS")
    api["doc_rss_settle_s"] = time.monotonic() - load_end
    if after == 0:
        raise Invalid("artifactapi is gone")
    api["doc_rss_after_mib"] = after / MIB
    api["doc_rss_idle_mib"] = idle / MIB
    api["doc_rss_after_over_idle_mib"] = (after - idle) / MIB


def measure(a, only, idle, api, ngx):
    """All document rows, their figures added to `api` and `ngx` as they are measured. Returns
    what made rows invalid (those rows are listed in api["invalid_rows"])."""
    d = Docs(a)
    problems = Problems(api)
    # Memory first, so that its cold reads find the server as the other rows left it, not
    # holding what 32 connections hammering one packument made it allocate.
    steps = (
        (
            lambda: measure_rss(d, only, idle, api, ngx, problems),
            ["doc_rss_cold_mib", "doc_rss_warm_mib", "doc_rss_after_over_idle_mib"],
        ),
        (lambda: measure_hit(d, only, api, ngx, problems), ["doc_hit_mibs"]),
    )
    for step, keys in steps:
        try:
            step()
        except (Invalid, subprocess.CalledProcessError, OSError) as e:
            problems.add(keys, str(e))
    return problems.messages


def rows(a):
    """The table rows (label, key, kind, target, met) of the document measurements."""
    with open(a.docs_manifest) as f:
        m = json.load(f)
    hit = m["packuments"][HIT_DOC]["bytes"]["full"] / 1e6
    helm = m["helm"]["bytes"] / 1e6
    load = f"10 packuments + {helm:.0f} MB index"
    return [
        (
            f"packument hit {hit:.0f} MB, {CLIENTS} conns (MiB/s)",
            "doc_hit_mibs",
            "num",
            ">= 0.8x nginx",
            lambda v, q: q and q >= 0.8,
        ),
        (
            f"peak RSS, {CLIENTS} clients, {load}, cold (MiB)",
            "doc_rss_cold_mib",
            "num",
            "< 300 MiB",
            lambda v, q: v < 300,
        ),
        (
            f"peak RSS, {CLIENTS} clients, {load}, warm (MiB)",
            "doc_rss_warm_mib",
            "num",
            "< 300 MiB",
            lambda v, q: v < 300,
        ),
        (
            f"RSS {a.docs_settle} s after that load, over idle (MiB)",
            "doc_rss_after_over_idle_mib",
            "num",
            "< 100 MiB",
            lambda v, q: v < 100,
        ),
    ]


def served_sizes(sizes):
    """'packuments 19.4-19.9 MB full, 5.6 MB abbreviated; index.yaml 50.4 MB' from the sizes of
    the documents served, by their 'name form' key."""

    def span(values):
        lo, hi = min(values) / 1e6, max(values) / 1e6
        return f"{lo:.1f} MB" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}-{hi:.1f} MB"

    full = [v for k, v in sizes.items() if k.endswith(" " + FULL)]
    short = [v for k, v in sizes.items() if k.endswith(" " + ABBREVIATED)]
    helm = [v for k, v in sizes.items() if k.startswith("helm ")]
    return (
        f"{len(full)} packuments {span(full)} full, {span(short)} abbreviated; "
        f"helm index.yaml {span(helm)} (rendered, as served)"
    )


def details(api, ngx):
    """Lines under the table: what the document rows' figures came from."""
    lines = []
    if api.get("doc_sizes"):
        lines.append(f"  documents served: {served_sizes(api['doc_sizes'])}")
    if "doc_hit_mibs" in api:
        nginx = ""
        if "doc_hit_mibs" in ngx:
            nginx = f"; nginx {ngx['doc_hit_requests']:,} (p99 {ngx['doc_hit_p99_ms']:,.0f} ms)"
        lines.append(
            f"  packument hits completed: artifactapi {api['doc_hit_requests']:,} "
            f"(p99 {api['doc_hit_p99_ms']:,.0f} ms, busy {api['doc_hit_drain_s']:.0f} s more after the run){nginx}"
        )
    if "doc_warm_s" in api:
        nginx = f"; nginx, static files: {ngx['doc_warm_s']:.1f} s" if "doc_warm_s" in ngx else ""
        lines.append(
            f"  {CLIENTS} concurrent document reads: artifactapi cold {api['doc_cold_s']:.1f} s, "
            f"warm {api['doc_warm_s']:.1f} s{nginx}"
        )
    if "doc_rss_after_mib" in api:
        lines.append(
            f"  artifactapi RSS: idle after start {api['doc_rss_idle_mib']:.1f} MiB, before the document load "
            f"{api['doc_rss_before_mib']:.1f} MiB, when it ended {api['doc_rss_end_mib']:.1f} MiB, "
            f"{api['doc_rss_settle_s']:.0f} s later {api['doc_rss_after_mib']:.1f} MiB"
        )
    return lines
