//! What `npm publish` sends, made by the test where the real client cannot send what is needed
//! (hostile bodies, hundreds of versions, racing publishes): gzipped tarballs laid out like
//! `npm pack` makes them and the packument `PUT` body libnpmpublish builds around one.

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::Digest as _;

/// A gzipped tar of `package/package.json` (naming `name@version`) and `package/index.js`.
pub fn tarball(name: &str, version: &str, js: &str) -> Vec<u8> {
    tarball_with(name, version, js, &[])
}

/// [`tarball`] with `package/data.bin` holding `data` too (stored, not compressed).
pub fn tarball_with(name: &str, version: &str, js: &str, data: &[u8]) -> Vec<u8> {
    let manifest = json!({ "name": name, "version": version, "main": "index.js", "license": "MIT" }).to_string();
    let level = if data.is_empty() { flate2::Compression::fast() } else { flate2::Compression::none() };
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), level));
    let files = [
        ("package/package.json", manifest.as_bytes()),
        ("package/index.js", js.as_bytes()),
        ("package/data.bin", data),
    ];
    for (path, content) in files.into_iter().filter(|(p, c)| !c.is_empty() || !p.ends_with("data.bin")) {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, content).expect("tar entry");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

pub fn sri512(bytes: &[u8]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes)))
}

pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(bytes))
}

/// The body of `npm publish` of `name@version` with `tgz` as its tarball, `dist` as npm
/// computes it unless `dist` is given.
pub fn publish_body(name: &str, version: &str, tgz: &[u8], dist: Option<Value>) -> Value {
    let dist = dist.unwrap_or_else(|| {
        json!({ "integrity": sri512(tgz), "shasum": sha1_hex(tgz),
                "tarball": format!("http://elsewhere/{name}/-/{name}-{version}.tgz") })
    });
    json!({
        "_id": name, "name": name, "description": format!("{name} for the npm local tests"),
        "dist-tags": { "latest": version },
        "versions": { version: { "name": name, "version": version, "main": "index.js", "license": "MIT",
                                 "_id": format!("{name}@{version}"), "dist": dist } },
        "access": null,
        "_attachments": { format!("{name}-{version}.tgz"): {
            "content_type": "application/octet-stream",
            "data": base64::engine::general_purpose::STANDARD.encode(tgz),
            "length": tgz.len(),
        } },
    })
}
