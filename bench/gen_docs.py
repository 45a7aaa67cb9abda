#!/usr/bin/env python3
"""Generates the large package documents of the benchmark: npm packuments and a helm index.

The real world's metadata documents are big: a popular npm package's packument lists thousands
of versions (tens of megabytes), a large helm repository's `index.yaml` tens of thousands of
chart versions. The benchmark needs such documents to show what serving them costs, and needs
the same ones every run, so they are generated here, deterministically from a seed: the same
arguments always write the same bytes.

Layout written under --out, as the upstream nginx of bench/run.sh serves it:

    npm/full/npm/{name}          the full packument (what `npm view` reads)
    npm/abbreviated/npm/{name}   the abbreviated one (`application/vnd.npm.install-v1+json`)
    helm/index.yaml              the chart repository index
    manifest.json                what was generated: names, version counts, sizes

Each packument version is what the registry really serves: dependencies (10-30 entries), dev
dependencies, scripts, maintainers, `_npmUser`, `dist` with tarball URL, `shasum`, `integrity`
(sha512), `fileCount`, `unpackedSize` and signatures; `time` has every version, `dist-tags`
several tags, and the document a 50 KB readme. Chart versions are Bitnami-style entries
(annotations, dependencies, maintainers, sources, a SHA-256 `digest`), their `urls` relative,
root-relative or on another host, the spellings helm resolves.
"""

import argparse
import base64
import datetime
import json
import os
import random
import sys

WORDS = (
    "alpha beta gamma delta stream buffer parse render cache proxy token graph queue async "
    "event worker pool config schema loader bundle plugin router client server socket frame "
    "codec format lexer binding native runtime module signal vector matrix tensor crypto hash "
    "digest index store record batch reader writer logger metric trace span context"
).split()
DEP_NAMES = [f"{a}-{b}" for a in WORDS[:40] for b in WORDS[20:60]]
PEOPLE = [f"{w}{i}" for i, w in enumerate(WORDS)]
SIGNING_KEY = "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA"
EPOCH = datetime.datetime(2014, 1, 1, tzinfo=datetime.timezone.utc)


def iso(rng_seconds):
    t = EPOCH + datetime.timedelta(seconds=rng_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def semver_range(rng):
    return rng.choice(("^", "~", ">=", "")) + f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"


def deps(rng, lo, hi):
    return {name: semver_range(rng) for name in sorted(rng.sample(DEP_NAMES, rng.randint(lo, hi)))}


def person(rng):
    who = rng.choice(PEOPLE)
    return {"name": who, "email": f"{who}@example.org"}


def versions_of(rng, count):
    """`count` distinct, ascending semver versions, some of them prereleases."""
    out, major, minor, patch = [], 0, 1, 0
    while len(out) < count:
        r = rng.random()
        if r < 0.02:
            major, minor, patch = major + 1, 0, 0
        elif r < 0.15:
            minor, patch = minor + 1, 0
        else:
            patch += 1
        v = f"{major}.{minor}.{patch}"
        if rng.random() < 0.1:
            for n in range(rng.randint(1, 3)):
                if len(out) < count - 1:
                    out.append(f"{v}-{rng.choice(('alpha', 'beta', 'rc', 'next'))}.{n}")
        out.append(v)
    return out[:count]


def readme(rng, size):
    parts, n = [], 0
    while n < size:
        code = f"```js\nconst x = require('{rng.choice(WORDS)}');\n```"
        line = f"## {sentence(rng, 3)}\n\n{sentence(rng, 60)}.\n\n{code}\n\n"
        parts.append(line)
        n += len(line)
    return "".join(parts)[:size]


def packument(name, count, seed, tarball_base):
    """The full and the abbreviated packument of `name` with `count` versions."""
    rng = random.Random(f"{seed}/npm/{name}")
    maintainers = [person(rng) for _ in range(rng.randint(4, 9))]
    repo = {"type": "git", "url": f"git+https://git.example.org/{name}/{name}.git"}
    versions, abbreviated, times = {}, {}, {}
    t = rng.randint(0, 3 * 365 * 86400)
    created = iso(t)
    vs = versions_of(rng, count)
    for v in vs:
        t += rng.randint(600, 3 * 86400)
        times[v] = iso(t)
        file = f"{name}-{v}.tgz"
        dist = {
            "integrity": "sha512-" + base64.b64encode(rng.randbytes(64)).decode(),
            "shasum": rng.randbytes(20).hex(),
            "tarball": f"{tarball_base}{name}/-/{file}",
            "fileCount": rng.randint(8, 400),
            "unpackedSize": rng.randint(20_000, 4_000_000),
            "signatures": [{"keyid": SIGNING_KEY, "sig": base64.b64encode(rng.randbytes(72)).decode()}],
            "attestations": {
                "url": f"https://registry.example.org/-/npm/v1/attestations/{name}@{v}",
                "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
            },
        }
        dependencies = deps(rng, 10, 30)
        dev = deps(rng, 10, 25)
        peer = deps(rng, 0, 3)
        engines = {"node": f">={rng.choice((8, 10, 12, 14, 16, 18))}"}
        bin_ = {name: "bin/cli.js"} if rng.random() < 0.3 else None
        manifest = {
            "name": name,
            "version": v,
            "description": sentence(rng, 12),
            "main": "lib/index.js",
            "types": "lib/index.d.ts",
            "exports": {
                ".": {"types": "./lib/index.d.ts", "import": "./lib/index.mjs", "require": "./lib/index.js"},
                "./package.json": "./package.json",
                **{
                    f"./{w}": {"types": f"./lib/{w}.d.ts", "import": f"./lib/{w}.mjs", "require": f"./lib/{w}.js"}
                    for w in rng.sample(WORDS, rng.randint(4, 12))
                },
            },
            "files": ["lib", "bin", "README.md", "LICENSE"],
            "scripts": {
                "build": "tsc -p tsconfig.build.json && node scripts/bundle.js",
                "test": "jest --coverage --runInBand",
                "lint": "eslint . --ext .ts,.js",
                "prepublishOnly": "npm run build && npm test",
                **({"postinstall": "node scripts/postinstall.js"} if rng.random() < 0.1 else {}),
            },
            "repository": repo,
            "keywords": rng.sample(WORDS, rng.randint(3, 8)),
            "contributors": [
                {**person(rng), "url": f"https://git.example.org/{rng.choice(PEOPLE)}"}
                for _ in range(rng.randint(3, 12))
            ],
            "funding": {"type": "opencollective", "url": f"https://opencollective.example.org/{name}"},
            "browser": {f"./lib/{w}.js": f"./lib/{w}.browser.js" for w in rng.sample(WORDS, 4)},
            "jest": {
                "testEnvironment": "node",
                "coverageThreshold": {"global": {"branches": 80, "functions": 85, "lines": 90, "statements": 90}},
                "testMatch": ["**/test/**/*.test.[jt]s", "**/__tests__/**/*.[jt]s"],
                "transform": {"^.+\\.tsx?$": ["ts-jest", {"tsconfig": "tsconfig.test.json"}]},
                "moduleNameMapper": {f"^@{w}/(.*)$": f"<rootDir>/src/{w}/$1" for w in rng.sample(WORDS, 5)},
            },
            "eslintConfig": {
                "root": True,
                "parser": "@typescript-eslint/parser",
                "extends": ["eslint:recommended", "plugin:@typescript-eslint/recommended", "prettier"],
                "rules": {
                    f"{rng.choice(WORDS)}-{rng.choice(WORDS)}": rng.choice(("off", "warn", "error")) for _ in range(12)
                },
            },
            "prettier": {"singleQuote": True, "trailingComma": "all", "printWidth": 100},
            "browserslist": ["> 0.5%", "last 2 versions", "not dead", "not op_mini all"],
            "publishConfig": {"access": "public", "provenance": True},
            "author": maintainers[0],
            "license": "MIT",
            "bugs": {"url": f"https://git.example.org/{name}/{name}/issues"},
            "homepage": f"https://git.example.org/{name}/{name}#readme",
            "dependencies": dependencies,
            "devDependencies": dev,
            **({"peerDependencies": peer} if peer else {}),
            **({"bin": bin_} if bin_ else {}),
            "engines": engines,
            "gitHead": rng.randbytes(20).hex(),
            "_id": f"{name}@{v}",
            "_nodeVersion": f"{rng.choice((14, 16, 18, 20))}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            "_npmVersion": f"{rng.choice((6, 8, 9, 10))}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            "typesVersions": {"<4.7": {"*": ["lib/ts4.6/*"]}},
            **({"optionalDependencies": deps(rng, 1, 4)} if rng.random() < 0.5 else {}),
            "_from": f"{name}@{v}",
            "_resolved": dist["tarball"],
            "_integrity": dist["integrity"],
            "dist": dist,
            "_npmUser": rng.choice(maintainers),
            "directories": {},
            "maintainers": maintainers,
            "_npmOperationalInternal": {
                "host": "s3://npm-registry-packages",
                "tmp": f"tmp/{name}_{v}_{t}_0.{rng.randint(10**8, 10**9)}",
            },
            "_hasShrinkwrap": False,
        }
        if rng.random() < 0.03:
            manifest["deprecated"] = f"{v} has a bug, use a later version"
        versions[v] = manifest
        short = {
            k: manifest[k]
            for k in (
                "name",
                "version",
                "dependencies",
                "devDependencies",
                "optionalDependencies",
                "peerDependencies",
                "bin",
                "directories",
                "dist",
                "engines",
                "_hasShrinkwrap",
                "deprecated",
                "license",
            )
            if k in manifest
        }
        if "postinstall" in manifest["scripts"]:
            short["hasInstallScript"] = True
        abbreviated[v] = short
    modified = iso(t + 3600)
    releases = [v for v in vs if "-" not in v]
    tags = {"latest": releases[-1], "next": vs[-1], "beta": vs[-2], "legacy": releases[len(releases) // 3]}
    full = {
        "_id": name,
        "_rev": f"{count}-{rng.randbytes(16).hex()}",
        "name": name,
        "description": sentence(rng, 12),
        "dist-tags": tags,
        "versions": versions,
        "time": {"created": created, "modified": modified, **times},
        "maintainers": maintainers,
        "author": maintainers[0],
        "repository": repo,
        "homepage": f"https://git.example.org/{name}/{name}#readme",
        "keywords": rng.sample(WORDS, 6),
        "bugs": {"url": f"https://git.example.org/{name}/{name}/issues"},
        "license": "MIT",
        "readme": readme(rng, 50_000),
        "readmeFilename": "README.md",
        "users": {rng.choice(PEOPLE) + str(i): True for i in range(200)},
    }
    abbrev = {"name": name, "modified": modified, "dist-tags": tags, "versions": abbreviated}
    return full, abbrev


def q(s):
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(s)


def helm_index(path, charts, per_chart, seed):
    """Writes an index.yaml of `charts` charts with `per_chart` versions each (on average)."""
    rng = random.Random(f"{seed}/helm")
    names = sorted({f"{a}-{b}" for a in WORDS for b in WORDS if a != b})
    names = rng.sample(names, charts)
    names.sort()
    total = 0
    with open(path, "w") as f:
        f.write("apiVersion: v1\nentries:\n")
        for name in names:
            f.write(f"  {name}:\n")
            n = max(1, int(per_chart * rng.uniform(0.5, 1.5)))
            vs = list(reversed(versions_of(rng, n)))
            maint = [person(rng) for _ in range(rng.randint(1, 3))]
            kws = rng.sample(WORDS, rng.randint(3, 7))
            t = rng.randint(5 * 365 * 86400, 9 * 365 * 86400)
            for v in vs:
                t -= rng.randint(3600, 20 * 86400)
                app = f"{rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}"
                style = rng.random()
                if style < 0.7:
                    url = f"charts/{name}-{v}.tgz"
                elif style < 0.9:
                    url = f"/helm/charts/{name}-{v}.tgz"
                else:
                    url = f"https://charts.example.org/stable/{name}-{v}.tgz"
                f.write(
                    "  - annotations:\n"
                    "      category: Infrastructure\n"
                    "      images: |\n"
                    f"        - name: {name}\n"
                    f"          image: docker.example.org/library/{name}:{app}-debian-12-r{rng.randint(0, 40)}\n"
                    f"        - name: os-shell\n"
                    f"          image: docker.example.org/library/os-shell:12-debian-12-r{rng.randint(0, 40)}\n"
                    "      licenses: Apache-2.0\n"
                    "    apiVersion: v2\n"
                    f"    appVersion: {q(app)}\n"
                    f"    created: {q(iso(t).replace('Z', '') + f'{rng.randint(0, 999999):06d}Z')}\n"
                    "    dependencies:\n"
                    "    - name: common\n"
                    "      repository: oci://registry.example.org/charts\n"
                    "      tags:\n"
                    "      - common\n"
                    f"      version: {q(f'{rng.randint(1, 2)}.x.x')}\n"
                    f"    description: {q(sentence(rng, 20))}\n"
                    f"    digest: {rng.randbytes(32).hex()}\n"
                    f"    home: https://charts.example.org/{name}\n"
                    f"    icon: https://charts.example.org/assets/{name}/img/{name}-stack-220x234.png\n"
                    "    keywords:\n"
                    + "".join(f"    - {k}\n" for k in kws)
                    + "    maintainers:\n"
                    + "".join(f"    - email: {m['email']}\n      name: {m['name']}\n" for m in maint)
                    + f"    name: {name}\n"
                    "    sources:\n"
                    f"    - https://git.example.org/charts/tree/main/{name}\n"
                    f"    - https://git.example.org/{name}/{name}\n"
                    "    type: application\n"
                    "    urls:\n"
                    f"    - {url}\n"
                    f"    version: {q(v)}\n"
                )
                total += 1
        f.write(f"generated: {q(iso(10 * 365 * 86400))}\n")
    return total


def write_packument(args):
    out, name, count, seed, tarball_base = args
    full, abbrev = packument(name, count, seed, tarball_base)
    sizes = {}
    for form, doc in (("full", full), ("abbreviated", abbrev)):
        path = os.path.join(out, "npm", form, "npm", name)
        body = json.dumps(doc, separators=(",", ":")).encode()
        with open(path, "wb") as f:
            f.write(body)
        sizes[form] = len(body)
    return name, sizes


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", default="1")
    p.add_argument("--packages", type=int, default=11, help="packuments to write (docbench-0, -1, ...)")
    p.add_argument("--versions", type=int, default=3000, help="versions per packument")
    p.add_argument("--tarball-base", required=True, help="the upstream registry URL, ending in /")
    p.add_argument("--charts", type=int, default=600)
    p.add_argument("--chart-versions", type=int, default=63, help="versions per chart on average")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()

    for form in ("full", "abbreviated"):
        os.makedirs(os.path.join(a.out, "npm", form, "npm"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "helm"), exist_ok=True)
    jobs = [(a.out, f"docbench-{i}", a.versions, a.seed, a.tarball_base) for i in range(a.packages)]
    if a.jobs > 1:
        from multiprocessing import Pool

        with Pool(a.jobs) as pool:
            written = pool.map(write_packument, jobs)
    else:
        written = [write_packument(j) for j in jobs]
    index = os.path.join(a.out, "helm", "index.yaml")
    chart_versions = helm_index(index, a.charts, a.chart_versions, a.seed)
    manifest = {
        "packuments": {name: {"versions": a.versions, "bytes": sizes} for name, sizes in written},
        "helm": {"charts": a.charts, "versions": chart_versions, "bytes": os.path.getsize(index)},
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    json.dump(manifest, sys.stdout)
    print()


if __name__ == "__main__":
    main()
