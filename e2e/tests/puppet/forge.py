"""A small Puppet Forge v3 server for the puppet tests: the upstream a puppet remote proxies.

Serves the module tarballs (`{author}-{name}-{version}.tar.gz`) found in DIR, reading each one's
metadata.json: /v3/modules/{slug}, /v3/releases?module=...&limit=&offset= (pages of at most
PAGE releases, `pagination.next` root-relative), /v3/releases/{slug}, /v3/files/{file}.
A file DIR/overrides.json ({release slug: {field: value}}) overrides release fields (a wrong
file_sha256 for the checksum test). Every request is appended to DIR/requests.log. Prints its
port on the first line of stdout.

Usage: forge.py DIR [PAGE [NOTES]]: NOTES bytes of `readme` and `changelog` text in each release,
as the real Forge sends them (puppetlabs-stdlib's run to tens of KB a release). The releases are
read once, and again only when DIR's tarballs or overrides.json change.
"""
import hashlib
import json
import os
import sys
import tarfile
import urllib.parse
from http.server import HTTPServer, BaseHTTPRequestHandler

ROOT = sys.argv[1]
PAGE = int(sys.argv[2]) if len(sys.argv) > 2 else 20
NOTES = int(sys.argv[3]) if len(sys.argv) > 3 else 0
CACHE = {"key": None, "releases": None}


def notes(title, slug, size):
    line = f"* {slug}: fixed a corner case in the {title.lower()} of this module, see the docs.\n"
    return (f"# {title}\n\n" + line * (size // len(line) + 1))[:size]


def releases():
    names = sorted(n for n in os.listdir(ROOT) if n.endswith(".tar.gz"))
    overrides_path = os.path.join(ROOT, "overrides.json")
    stamp = lambda p: os.stat(p).st_mtime_ns if os.path.exists(p) else None
    key = (tuple((n, stamp(os.path.join(ROOT, n))) for n in names), stamp(overrides_path))
    if CACHE["key"] != key:
        CACHE["releases"] = read_releases()
        CACHE["key"] = key
    return CACHE["releases"]


def read_releases():
    out = {}
    for name in sorted(os.listdir(ROOT)):
        if not name.endswith(".tar.gz"):
            continue
        path = os.path.join(ROOT, name)
        with tarfile.open(path) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/metadata.json"))
            meta = json.load(tar.extractfile(member))
        body = open(path, "rb").read()
        author, mod = meta["name"].replace("/", "-").split("-", 1)
        slug = f"{author}-{mod}-{meta['version']}"
        out[slug] = {
            "slug": slug,
            "version": meta["version"],
            "uri": f"/v3/releases/{slug}",
            "module": {"slug": f"{author}-{mod}", "name": mod, "uri": f"/v3/modules/{author}-{mod}",
                       "deprecated_at": None, "owner": {"slug": author, "username": author}},
            "metadata": meta,
            "tags": [],
            "file_uri": f"/v3/files/{name}",
            "file_size": len(body),
            "file_md5": hashlib.md5(body).hexdigest(),
            "file_sha256": hashlib.sha256(body).hexdigest(),
            "deleted_at": None,
        }
        if NOTES:
            out[slug]["readme"] = notes("README", slug, NOTES // 2)
            out[slug]["changelog"] = notes("CHANGELOG", slug, NOTES - NOTES // 2)
    overrides_path = os.path.join(ROOT, "overrides.json")
    if os.path.exists(overrides_path):
        for slug, fields in json.load(open(overrides_path)).items():
            if slug in out:
                out[slug].update(fields)
    return out


def version_key(r):
    return tuple(int(p) if p.isdigit() else 0 for p in r["version"].split("."))


class Forge(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def json(self, doc, status=200):
        self.send(status, json.dumps(doc).encode())

    def do_GET(self):
        with open(os.path.join(ROOT, "requests.log"), "a") as log:
            log.write(self.path + "\n")
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        parts = u.path.strip("/").split("/")
        rel = releases()
        if parts[:2] == ["v3", "releases"] and len(parts) == 2:
            module = q.get("module", "")
            found = sorted((r for r in rel.values() if r["module"]["slug"] == module), key=version_key)
            limit = min(int(q.get("limit", "20")), PAGE)
            offset = int(q.get("offset", "0"))
            page = found[offset:offset + limit]

            def link(off):
                params = dict(q, limit=str(limit), offset=str(off))
                return "/v3/releases?" + urllib.parse.urlencode(params)

            nxt = link(offset + limit) if offset + limit < len(found) else None
            return self.json({"pagination": {"limit": limit, "offset": offset, "first": link(0),
                                             "previous": link(max(offset - limit, 0)) if offset else None,
                                             "current": link(offset), "next": nxt, "total": len(found)},
                              "results": page})
        if parts[:2] == ["v3", "releases"] and len(parts) == 3 and parts[2] in rel:
            return self.json(rel[parts[2]])
        if parts[:2] == ["v3", "modules"] and len(parts) == 3:
            found = sorted((r for r in rel.values() if r["module"]["slug"] == parts[2]), key=version_key)
            if found:
                mod = dict(found[-1]["module"])
                mod["current_release"] = found[-1]
                mod["releases"] = [{"version": r["version"], "slug": r["slug"], "file_uri": r["file_uri"]}
                                   for r in reversed(found)]
                return self.json(mod)
        if parts[:2] == ["v3", "files"] and len(parts) == 3 and "/" not in parts[2] and parts[2].endswith(".tar.gz"):
            path = os.path.join(ROOT, parts[2])
            if os.path.exists(path):
                return self.send(200, open(path, "rb").read(), "application/octet-stream")
        self.json({"message": "404 Not Found", "errors": ["not found"]}, 404)


server = HTTPServer(("127.0.0.1", 0), Forge)
print(server.server_address[1], flush=True)
server.serve_forever()
