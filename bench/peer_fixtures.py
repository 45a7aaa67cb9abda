#!/usr/bin/env python3
"""The origin files of the peer rows of the benchmark: one npm package and one PyPI project.

The peers (verdaccio with an uplink, devpi-server as a mirror) and artifactapi's remotes proxy
the same static origin, the upstream nginx of bench/run.sh. This writes what that origin serves
for them under its root directory:

- `npmpeer/peerpkg/index.json`: the packument of `peerpkg`, 30 versions (about 40 KB), each a
  registry-style manifest; the latest one's tarball is a real gzipped tar of FILE_MIB MiB of
  random bytes at `npmpeer/peerpkg/-/peerpkg-1.0.30.tgz`, its `shasum` and `integrity` right
  (the others point at tarballs nobody fetches).
- `simple/index.html` (the project list, which mirrors read) and `simple/peerpkg/index.html`:
  a PEP 503 page of 30 files whose newest is a real wheel of FILE_MIB MiB under `packages/`,
  with its true `#sha256=` (devpi checks it when it fetches the file).

Prints a JSON summary (names, URLs on the origin, sizes and SHA-256 of the two files) for
bench/peers.py. Deterministic given --seed.
"""

import argparse
import base64
import hashlib
import io
import json
import os
import random
import tarfile
import zipfile

NAME = "peerpkg"
VERSIONS = 30


def random_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little")


def npm_tarball(rng, size):
    """A gzipped tar as `npm pack` makes it: package/package.json and one payload file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, data in (
            ("package/package.json", json.dumps({"name": NAME, "version": f"1.0.{VERSIONS}"}).encode()),
            ("package/payload.bin", random_bytes(rng, size)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 499162500
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wheel(rng, size, version):
    buf = io.BytesIO()
    dist = f"{NAME}-{version}.dist-info"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{NAME}/__init__.py", "")
        z.writestr(f"{NAME}/payload.bin", random_bytes(rng, size))
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def npm(root, origin, rng, size):
    tgz = npm_tarball(rng, size)
    latest = f"1.0.{VERSIONS}"
    versions, times = {}, {}
    for i in range(1, VERSIONS + 1):
        v = f"1.0.{i}"
        shasum = hashlib.sha1(tgz).hexdigest() if v == latest else hashlib.sha1(v.encode()).hexdigest()
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(tgz if v == latest else v.encode()).digest()).decode()
        versions[v] = {
            "name": NAME,
            "version": v,
            "description": "A package of the artifactapi benchmark.",
            "main": "index.js",
            "license": "MIT",
            "dependencies": {f"dep-{k}": f"^{k}.0.0" for k in range(8)},
            "scripts": {"test": "node test.js"},
            "_id": f"{NAME}@{v}",
            "dist": {
                "tarball": f"{origin}/npmpeer/{NAME}/-/{NAME}-{v}.tgz",
                "shasum": shasum,
                "integrity": integrity,
            },
        }
        times[v] = f"2024-01-{1 + i % 28:02d}T00:00:00.000Z"
    doc = {
        "_id": NAME,
        "name": NAME,
        "dist-tags": {"latest": latest},
        "versions": versions,
        "time": {"created": "2024-01-01T00:00:00.000Z", "modified": "2024-02-01T00:00:00.000Z", **times},
        "readme": "# peerpkg\n" + "The benchmark's package. " * 40,
    }
    write(os.path.join(root, "npmpeer", NAME, "index.json"), json.dumps(doc).encode())
    write(os.path.join(root, "npmpeer", NAME, "-", f"{NAME}-{latest}.tgz"), tgz)
    return {"name": NAME, "version": latest, "size": len(tgz), "sha256": hashlib.sha256(tgz).hexdigest()}


def pypi(root, rng, size):
    latest = f"1.0.{VERSIONS}"
    whl_name = f"{NAME}-{latest}-py3-none-any.whl"
    whl = wheel(rng, size, latest)
    sha = hashlib.sha256(whl).hexdigest()
    write(os.path.join(root, "packages", whl_name), whl)
    links = []
    for i in range(1, VERSIONS):
        fake = hashlib.sha256(f"{NAME}-1.0.{i}".encode()).hexdigest()
        links.append(f'<a href="../../packages/{NAME}-1.0.{i}.tar.gz#sha256={fake}">{NAME}-1.0.{i}.tar.gz</a><br/>')
    links.append(f'<a href="../../packages/{whl_name}#sha256={sha}" data-requires-python="&gt;=3.8">{whl_name}</a><br/>')
    page = "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
    write(os.path.join(root, "simple", NAME, "index.html"), page.encode())
    projects = sorted(d for d in os.listdir(os.path.join(root, "simple")) if os.path.isdir(os.path.join(root, "simple", d)))
    listing = "".join(f'<a href="{p}/">{p}</a><br/>\n' for p in projects)
    write(os.path.join(root, "simple", "index.html"), f"<!DOCTYPE html><html><body>\n{listing}</body></html>\n".encode())
    return {"name": NAME, "file": whl_name, "size": len(whl), "sha256": sha}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="the origin nginx's root directory")
    p.add_argument("--origin", required=True, help="the origin's URL, for the packument's tarball URLs")
    p.add_argument("--file-mib", type=float, default=1, help="payload of the tarball and the wheel")
    p.add_argument("--seed", type=int, default=17)
    a = p.parse_args()
    rng = random.Random(a.seed)
    size = int(a.file_mib * 1024 * 1024)
    print(json.dumps({"npm": npm(a.root, a.origin.rstrip("/"), rng, size), "pypi": pypi(a.root, rng, size)}))


if __name__ == "__main__":
    main()
