//! Documents as large as the real world's, generated: an npm packument of thousands of versions
//! (10–20 MB), a PyPI project page of ten thousand files in both forms, a helm `index.yaml` of
//! tens of megabytes.
//!
//! Small hand-written fixtures say what a format does; they cannot say what it costs. These
//! generators give the measurements (`tests/document_scale.rs`) and the end-to-end tests
//! (which serve them from real upstream servers to real clients) documents shaped like the
//! largest public ones: every version or file carries the fields real registries write, with
//! varied, deterministic content (a fixed pseudo-random sequence, so two runs measure the same
//! bytes). A few entries can be made real (`*_with` functions): their digests are computed from
//! bytes the caller serves, so a client that checks integrity accepts them.
//!
//! Compiled for tests and under the `testing` feature only.

use std::fmt::Write as _;

use base64::Engine as _;
use sha2::Digest as _;

/// A deterministic pseudo-random sequence (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.range(0, from.len() - 1)]
    }

    /// Words of lorem-like text, about `len` bytes.
    fn prose(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(self.pick(WORDS));
        }
        s
    }
}

const WORDS: &[&str] = &[
    "cache", "proxy", "registry", "package", "module", "stream", "parse", "render", "version", "release", "tarball",
    "index", "mirror", "upstream", "client", "server", "config", "options", "utility", "helper", "fast", "small",
    "robust", "typed", "async", "promise", "buffer", "encode", "decode", "format", "the", "a", "of", "for", "with",
    "and", "to", "in", "without", "every",
];

const DEPS: &[&str] = &[
    "lodash",
    "chalk",
    "debug",
    "semver",
    "commander",
    "yargs",
    "glob",
    "minimatch",
    "rimraf",
    "mkdirp",
    "uuid",
    "ms",
    "tslib",
    "@babel/core",
    "@babel/runtime",
    "@types/node",
    "typescript",
    "eslint",
    "prettier",
    "jest",
    "mocha",
    "chai",
    "sinon",
    "webpack",
    "rollup",
    "esbuild",
    "@rollup/plugin-node-resolve",
    "react",
    "react-dom",
    "express",
    "body-parser",
    "cookie",
    "qs",
    "mime-types",
    "iconv-lite",
    "safe-buffer",
    "readable-stream",
    "inherits",
    "once",
    "wrappy",
    "graceful-fs",
    "signal-exit",
    "which",
    "cross-spawn",
    "@scope/internal-tooling",
    "@acme/build-helpers",
    "source-map",
    "acorn",
    "postcss",
    "ajv",
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The `i`th version of a generated packument (`0.0.0`, `0.0.1`, ... twenty patches a minor,
/// fifteen minors a major), in publishing order.
pub fn npm_version(i: usize) -> String {
    format!("{}.{}.{}", i / 300, (i / 20) % 15, i % 20)
}

/// The tarball file name of `version` of package `name` (`@s/p` → `p-1.0.0.tgz`).
pub fn npm_tarball_file(name: &str, version: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    format!("{base}-{version}.tgz")
}

/// A packument of `name` with `versions` versions (see [`npm_version`]), each version manifest
/// shaped like a real one, tarballs at `{tarball_base}{name}/-/{file}`: about 6.7 KB a
/// version plus a 50 KB readme, so 3,000 versions make about 20 MB.
pub fn npm_packument(name: &str, versions: usize, tarball_base: &str) -> Vec<u8> {
    npm_packument_with(name, versions, tarball_base, &[])
}

/// [`npm_packument`], with the versions named in `real` given the `shasum` and `integrity` of
/// the tarball bytes there (and no dependencies but development ones, so a client can install
/// them).
pub fn npm_packument_with(name: &str, versions: usize, tarball_base: &str, real: &[(&str, &[u8])]) -> Vec<u8> {
    let mut rng = Rng(0x6e70_6d00 ^ versions as u64);
    let mut out = String::with_capacity(versions * 7_000 + 60_000);
    let latest = npm_version(versions.saturating_sub(1));
    let desc = rng.prose(120);
    let _ = write!(
        out,
        "{{\"_id\":{n},\"_rev\":\"{versions}-{rev:016x}\",\"name\":{n},\"description\":{d},\
         \"dist-tags\":{{\"latest\":\"{latest}\",\"next\":\"{latest}\",\"legacy\":\"{first}\"}},\"versions\":{{",
        n = js(name),
        rev = rng.next_u64(),
        d = js(&desc),
        first = npm_version(0),
    );
    for i in 0..versions {
        if i > 0 {
            out.push(',');
        }
        let version = npm_version(i);
        let tarball = real.iter().find(|(v, _)| *v == version).map(|(_, b)| *b);
        let _ = write!(out, "\"{version}\":");
        npm_manifest(&mut out, &mut rng, name, &version, tarball_base, tarball);
    }
    out.push_str("},\"time\":{\"created\":\"2015-01-01T00:00:00.000Z\"");
    for i in 0..versions {
        let _ = write!(out, ",\"{}\":\"{}\"", npm_version(i), timestamp(i));
    }
    let _ = write!(out, ",\"modified\":\"{}\"}}", timestamp(versions));
    let _ = write!(
        out,
        ",\"maintainers\":[{{\"name\":\"alice\",\"email\":\"alice@example.org\"}},{{\"name\":\"bob\",\"email\":\"bob@example.org\"}}],\
         \"author\":{{\"name\":\"Alice Example\",\"email\":\"alice@example.org\",\"url\":\"https://example.org/alice\"}},\
         \"repository\":{{\"type\":\"git\",\"url\":\"git+https://git.example.org/{n}.git\"}},\
         \"homepage\":\"https://example.org/{n}#readme\",\"bugs\":{{\"url\":\"https://git.example.org/{n}/issues\"}},\
         \"license\":\"MIT\",\"keywords\":[\"cache\",\"proxy\",\"registry\"],\"readmeFilename\":\"README.md\",\"readme\":",
        n = name.trim_start_matches('@'),
    );
    let mut readme = String::from("# ");
    readme.push_str(name);
    readme.push_str("\n\n");
    while readme.len() < 50_000 {
        readme.push_str(&rng.prose(400));
        readme.push_str("\n\n```js\nconst x = require(\"");
        readme.push_str(name);
        readme.push_str("\");\n```\n\n");
    }
    out.push_str(&js(&readme));
    out.push('}');
    out.into_bytes()
}

fn timestamp(i: usize) -> String {
    let day = i % 28 + 1;
    let month = (i / 28) % 12 + 1;
    let year = 2015 + i / 336;
    format!("{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", i % 24, i % 60, (i * 7) % 60, i % 1000)
}

fn npm_manifest(out: &mut String, rng: &mut Rng, name: &str, version: &str, base: &str, tarball: Option<&[u8]>) {
    let file = npm_tarball_file(name, version);
    let bare = name.trim_start_matches('@');
    let (shasum, integrity) = match tarball {
        Some(bytes) => (hex::encode(sha1::Sha1::digest(bytes)), b64(&sha2::Sha512::digest(bytes))),
        None => (hex::encode(rng.bytes(20)), b64(&rng.bytes(64))),
    };
    let _ = write!(
        out,
        "{{\"name\":{n},\"version\":\"{version}\",\"description\":{d},\"main\":\"dist/index.js\",\
         \"types\":\"dist/index.d.ts\",\"license\":\"MIT\",\"keywords\":[\"{k1}\",\"{k2}\",\"{k3}\"],\
         \"author\":{{\"name\":\"Alice Example\",\"email\":\"alice@example.org\"}},\
         \"repository\":{{\"type\":\"git\",\"url\":\"git+https://git.example.org/{bare}.git\"}},\
         \"bugs\":{{\"url\":\"https://git.example.org/{bare}/issues\"}},\"homepage\":\"https://example.org/{bare}#readme\",\
         \"engines\":{{\"node\":\">=14\"}},\"files\":[\"dist\",\"README.md\",\"LICENSE\"],\
         \"scripts\":{{\"build\":\"tsc -p tsconfig.build.json\",\"test\":\"jest --coverage --runInBand\",\
         \"lint\":\"eslint src --ext .ts\",\"prepublishOnly\":\"npm run build && npm test\"}},",
        n = js(name),
        d = js(&rng.prose(1000)),
        k1 = rng.pick(WORDS),
        k2 = rng.pick(WORDS),
        k3 = rng.pick(WORDS),
    );
    out.push_str("\"contributors\":[");
    for c in 0..12 {
        if c > 0 {
            out.push(',');
        }
        let who = rng.pick(WORDS);
        let _ = write!(out, "{{\"name\":\"{who} contributor {c}\",\"email\":\"{who}.{c}@example.org\",\"url\":\"https://example.org/~{who}{c}\"}}");
    }
    out.push_str("],\"exports\":{\".\":{\"types\":\"./dist/index.d.ts\",\"import\":\"./dist/index.mjs\",\"require\":\"./dist/index.cjs\"}");
    for e in 0..14 {
        let sub = rng.pick(WORDS);
        let _ =
            write!(out, ",\"./{sub}{e}\":{{\"types\":\"./dist/{sub}{e}.d.ts\",\"default\":\"./dist/{sub}{e}.js\"}}");
    }
    out.push_str("},\"bin\":{\"many\":\"bin/many.js\",\"many-cli\":\"bin/cli.js\"},\"sideEffects\":false,                  \"funding\":{\"type\":\"opencollective\",\"url\":\"https://opencollective.com/example\"},                  \"publishConfig\":{\"access\":\"public\",\"provenance\":true},");
    for field in ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"] {
        let _ = write!(out, "\"{field}\":{{");
        // A real version's tarball has no dependencies a client would have to find.
        let n = match field {
            _ if tarball.is_some() && field != "devDependencies" => 0,
            "dependencies" | "devDependencies" => rng.range(14, 36),
            _ => rng.range(2, 6),
        };
        for j in 0..n {
            if j > 0 {
                out.push(',');
            }
            let dep = rng.pick(DEPS);
            let _ = write!(out, "\"{dep}-{j}\":\"^{}.{}.{}\"", rng.range(0, 20), rng.range(0, 30), rng.range(0, 9));
        }
        out.push_str("},");
    }
    let _ = write!(
        out,
        "\"gitHead\":\"{git}\",\"_id\":\"{name}@{version}\",\"_nodeVersion\":\"20.11.1\",\"_npmVersion\":\"10.2.4\",\
         \"_npmUser\":{{\"name\":\"alice\",\"email\":\"alice@example.org\"}},\
         \"maintainers\":[{{\"name\":\"alice\",\"email\":\"alice@example.org\"}},{{\"name\":\"bob\",\"email\":\"bob@example.org\"}}],\
         \"directories\":{{}},\"_hasShrinkwrap\":false,\
         \"_npmOperationalInternal\":{{\"host\":\"s3://npm-registry-packages\",\"tmp\":\"tmp/{bare_file}_{stamp}_0.{tmp}\"}},\
         \"dist\":{{\"integrity\":\"sha512-{integrity}\",\"shasum\":\"{shasum}\",\"tarball\":{tarball},\
         \"fileCount\":{files},\"unpackedSize\":{size},\
         \"signatures\":[{{\"keyid\":\"SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA\",\"sig\":\"{sig}\"}}]}}}}",
        git = hex::encode(rng.bytes(20)),
        bare_file = file.trim_end_matches(".tgz"),
        stamp = 1_500_000_000_000u64 + rng.next_u64() % 100_000_000_000,
        tmp = rng.next_u64() % 1_000_000_000,
        tarball = js(&format!("{base}{name}/-/{file}")),
        files = rng.range(5, 400),
        size = rng.range(10_000, 9_000_000),
        sig = b64(&rng.bytes(71)),
    );
}

/// The file names of a generated PyPI project: a wheel and an sdist per version, versions
/// `1.{n / 100}.{n % 100}` for `n = i / 2`.
pub fn pypi_file(project: &str, i: usize) -> String {
    let dist = project.replace('-', "_");
    let version = format!("1.{}.{}", i / 2 / 100, (i / 2) % 100);
    if i % 2 == 0 {
        format!("{dist}-{version}-py3-none-any.whl")
    } else {
        format!("{dist}-{version}.tar.gz")
    }
}

/// A project page in both forms.
#[derive(Debug, Clone)]
pub struct PypiProject {
    /// PEP 503 HTML.
    pub html: Vec<u8>,
    /// PEP 691 JSON (with the PEP 700 `versions`, `size` and `upload-time`).
    pub json: Vec<u8>,
}

/// A project page of `name` (normalised) listing `files` files (see [`pypi_file`]) at
/// `{url_base}{file}`, each with a SHA-256, `requires-python` and PEP 658 metadata: 10,000
/// files make about 2.5 MB of HTML and 3.5 MB of JSON.
pub fn pypi_project(name: &str, files: usize, url_base: &str) -> PypiProject {
    pypi_project_with(name, files, url_base, &[])
}

/// [`pypi_project`], with the files named in `real` (file name, bytes, metadata bytes) hashed
/// from those bytes.
pub fn pypi_project_with(name: &str, files: usize, url_base: &str, real: &[(&str, &[u8], &[u8])]) -> PypiProject {
    let mut rng = Rng(0x7079_7069 ^ files as u64);
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    \
         <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n"
    );
    let mut json = format!(
        "{{\"meta\":{{\"_last-serial\":{},\"api-version\":\"1.1\"}},\"name\":{},\"files\":[",
        rng.next_u64() % 1_000_000,
        js(name)
    );
    let mut versions = Vec::new();
    for i in 0..files {
        let file = pypi_file(name, i);
        let real_file = real.iter().find(|(f, _, _)| *f == file);
        let (url, sha, meta) = match real_file {
            Some((_, bytes, metadata)) => (
                format!("{url_base}{file}"),
                hex::encode(sha2::Sha256::digest(bytes)),
                hex::encode(sha2::Sha256::digest(metadata)),
            ),
            None => (format!("{url_base}{file}"), hex::encode(rng.bytes(32)), hex::encode(rng.bytes(32))),
        };
        let requires = ["&gt;=3.8", "&gt;=3.9", "&gt;=3.7, &lt;4"][i % 3];
        let _ = writeln!(
            html,
            "    <a href=\"{url}#sha256={sha}\" data-requires-python=\"{requires}\" \
             data-core-metadata=\"sha256={meta}\">{file}</a><br />"
        );
        if i > 0 {
            json.push(',');
        }
        let requires = [">=3.8", ">=3.9", ">=3.7, <4"][i % 3];
        let _ = write!(
            json,
            "{{\"filename\":{f},\"url\":{u},\"hashes\":{{\"sha256\":\"{sha}\"}},\"requires-python\":{r},\
             \"core-metadata\":{{\"sha256\":\"{meta}\"}},\
             \"size\":{size},\"upload-time\":\"{t}\",\"yanked\":false}}",
            f = js(&file),
            u = js(&url),
            r = js(requires),
            size = match real_file {
                Some((_, bytes, _)) => bytes.len(),
                None => rng.range(2_000, 3_000_000),
            },
            t = timestamp(i),
        );
        if i % 2 == 0 {
            versions.push(format!("\"1.{}.{}\"", i / 2 / 100, (i / 2) % 100));
        }
    }
    html.push_str("  </body>\n</html>\n");
    let _ = write!(json, "],\"versions\":[{}]}}", versions.join(","));
    PypiProject { html: html.into_bytes(), json: json.into_bytes() }
}

/// The file of version `v` of chart `c` in a generated index: `chart-{c}-1.{v}.0.tgz`.
pub fn helm_chart_file(c: usize, v: usize) -> String {
    format!("chart-{c}-1.{v}.0.tgz")
}

/// A helm `index.yaml` of `charts` charts (`chart-{c}`) of `versions_per_chart` versions each
/// (`1.{v}.0`), each entry with the fields real indexes carry (about 1 KB), chart URLs relative
/// to the index: 500 charts of 100 versions make about 50 MB.
pub fn helm_index(charts: usize, versions_per_chart: usize) -> Vec<u8> {
    helm_index_with(charts, versions_per_chart, &[])
}

/// [`helm_index`], with the chart versions named in `real` (chart number, version number,
/// archive bytes) given the digest of those bytes.
pub fn helm_index_with(charts: usize, versions_per_chart: usize, real: &[(usize, usize, &[u8])]) -> Vec<u8> {
    let mut rng = Rng(0x6865_6c6d ^ (charts * versions_per_chart) as u64);
    let mut s = String::with_capacity(charts * versions_per_chart * 1_100 + 100);
    s.push_str("apiVersion: v1\nentries:\n");
    for c in 0..charts {
        let _ = writeln!(s, "  chart-{c}:");
        for v in 0..versions_per_chart {
            let digest = match real.iter().find(|(rc, rv, _)| *rc == c && *rv == v) {
                Some((_, _, bytes)) => hex::encode(sha2::Sha256::digest(bytes)),
                None => hex::encode(rng.bytes(32)),
            };
            let _ = write!(
                s,
                "  - annotations:\n      artifacthub.io/changes: |\n        - kind: changed\n          description: {change}\n      \
                 category: Infrastructure\n      licenses: Apache-2.0\n    apiVersion: v2\n    appVersion: {v}.{c}.0\n    \
                 created: \"{created}\"\n    dependencies:\n    - name: common\n      repository: oci://registry.example/charts\n      \
                 tags:\n      - bitnami-common\n      version: 2.x.x\n    description: {desc}\n    digest: {digest}\n    \
                 home: https://example.org/charts/chart-{c}\n    icon: https://example.org/icons/chart-{c}.svg\n    keywords:\n    \
                 - {k1}\n    - {k2}\n    - chart-{c}\n    maintainers:\n    - name: Maintainer {c}\n      url: https://example.org/people/{c}\n    \
                 name: chart-{c}\n    sources:\n    - https://example.org/src/chart-{c}\n    - https://git.example.org/charts/chart-{c}\n    \
                 type: application\n    urls:\n    - {file}\n    version: 1.{v}.0\n",
                change = rng.prose(60),
                created = timestamp(c * versions_per_chart + v),
                desc = rng.prose(120),
                k1 = rng.pick(WORDS),
                k2 = rng.pick(WORDS),
                file = helm_chart_file(c, v),
            );
        }
    }
    s.push_str("generated: \"2024-01-02T03:04:05.123456789Z\"\n");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_documents_have_real_sizes_and_parse() {
        let npm = npm_packument("@acme/big", 3_000, "http://up.example/");
        let v: serde_json::Value = serde_json::from_slice(&npm).unwrap();
        assert_eq!(v["versions"].as_object().map(|m| m.len()), Some(3_000));
        assert_eq!(v["dist-tags"]["latest"], serde_json::json!(npm_version(2_999)));
        assert!((15 << 20..25 << 20).contains(&npm.len()), "{} bytes", npm.len());

        let py = pypi_project("big-project", 10_000, "https://files.example/packages/");
        assert!((1_500_000..4_000_000).contains(&py.html.len()), "{} bytes", py.html.len());
        let v: serde_json::Value = serde_json::from_slice(&py.json).unwrap();
        assert_eq!(v["files"].as_array().map(Vec::len), Some(10_000));

        let helm = helm_index(20, 10);
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&helm).unwrap();
        assert_eq!(v["entries"]["chart-19"].as_sequence().map(Vec::len), Some(10));
    }

    #[test]
    fn real_entries_carry_the_digests_of_their_bytes() {
        let npm = npm_packument_with("p", 3, "http://up/", &[("0.0.1", &b"tgz"[..])]);
        let v: serde_json::Value = serde_json::from_slice(&npm).unwrap();
        assert_eq!(
            v["versions"]["0.0.1"]["dist"]["shasum"],
            serde_json::json!(hex::encode(sha1::Sha1::digest(b"tgz")))
        );
        let py = pypi_project_with("p", 4, "/packages/", &[("p-1.0.1-py3-none-any.whl", &b"whl"[..], &b"meta"[..])]);
        let html = String::from_utf8(py.html).unwrap();
        assert!(html.contains(&format!(
            "/packages/p-1.0.1-py3-none-any.whl#sha256={}",
            hex::encode(sha2::Sha256::digest(b"whl"))
        )));
        let helm = String::from_utf8(helm_index_with(2, 2, &[(1, 1, &b"chart"[..])])).unwrap();
        assert!(helm.contains(&hex::encode(sha2::Sha256::digest(b"chart"))));
    }
}
