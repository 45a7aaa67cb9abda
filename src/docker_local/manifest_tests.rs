use serde_json::json;

use super::*;

fn d(n: u8) -> Digest {
    Digest::of(&[n])
}

fn desc(n: u8, size: u64, media_type: &str) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": d(n).to_string(), "size": size})
}

fn image(media_type: Option<&str>) -> serde_json::Value {
    let mut m = json!({
        "schemaVersion": 2,
        "config": desc(1, 10, "application/vnd.oci.image.config.v1+json"),
        "layers": [desc(2, 20, "application/vnd.oci.image.layer.v1.tar+gzip"), desc(3, 30, "application/vnd.oci.image.layer.v1.tar+gzip")],
    });
    if let Some(t) = media_type {
        m["mediaType"] = json!(t);
    }
    m
}

fn index(media_type: Option<&str>) -> serde_json::Value {
    let mut m = json!({"schemaVersion": 2, "manifests": [desc(4, 400, OCI_MANIFEST), desc(5, 500, OCI_MANIFEST)]});
    if let Some(t) = media_type {
        m["mediaType"] = json!(t);
    }
    m
}

fn parse_json(v: &serde_json::Value, ct: Option<&str>) -> Result<Manifest, Invalid> {
    parse(v.to_string().as_bytes(), ct)
}

#[test]
fn media_type_comes_from_the_header_or_the_document() {
    type Case<'a> = (serde_json::Value, Option<&'a str>, Result<(&'a str, Kind), &'a str>);
    let cases: &[Case] = &[
        (image(Some(OCI_MANIFEST)), Some(OCI_MANIFEST), Ok((OCI_MANIFEST, Kind::Image))),
        (image(Some(OCI_MANIFEST)), None, Ok((OCI_MANIFEST, Kind::Image))),
        (image(None), None, Ok((OCI_MANIFEST, Kind::Image))),
        (image(None), Some(OCI_MANIFEST), Ok((OCI_MANIFEST, Kind::Image))),
        (image(None), Some("application/json"), Ok((OCI_MANIFEST, Kind::Image))),
        (image(Some(DOCKER_MANIFEST)), Some("application/json; charset=utf-8"), Ok((DOCKER_MANIFEST, Kind::Image))),
        (image(Some(DOCKER_MANIFEST)), Some(DOCKER_MANIFEST), Ok((DOCKER_MANIFEST, Kind::Image))),
        (image(None), Some(" Application/VND.oci.image.manifest.v1+json ; x=y"), Ok((OCI_MANIFEST, Kind::Image))),
        (index(Some(OCI_INDEX)), None, Ok((OCI_INDEX, Kind::Index))),
        (index(None), None, Ok((OCI_INDEX, Kind::Index))),
        (index(Some(DOCKER_LIST)), Some(DOCKER_LIST), Ok((DOCKER_LIST, Kind::Index))),
        (
            image(None),
            Some("application/vnd.example.thing+json"),
            Ok(("application/vnd.example.thing+json", Kind::Other)),
        ),
        (image(Some(OCI_MANIFEST)), Some(DOCKER_MANIFEST), Err("differs from the manifest's mediaType")),
        (image(Some(OCI_MANIFEST)), Some(OCI_INDEX), Err("differs")),
        (image(None), Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), Err("schema 1")),
        (json!({"schemaVersion": 1, "name": "x", "fsLayers": []}), None, Err("schema 1")),
    ];
    for (doc, ct, want) in cases {
        let got = parse_json(doc, *ct).map(|m| (m.media_type.clone(), m.kind));
        match (got, want) {
            (Ok((t, k)), Ok((wt, wk))) => assert_eq!((t.as_str(), k), (*wt, *wk), "{doc} {ct:?}"),
            (Err(e), Err(w)) => assert!(e.0.contains(w), "{doc} {ct:?}: {e} lacks {w:?}"),
            (got, want) => panic!("{doc} {ct:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn references_subject_and_artifact_type() {
    let m = parse_json(&image(Some(OCI_MANIFEST)), None).unwrap();
    assert_eq!(
        m.blobs,
        vec![
            Reference { digest: d(1), size: 10 },
            Reference { digest: d(2), size: 20 },
            Reference { digest: d(3), size: 30 }
        ]
    );
    assert!(m.manifests.is_empty() && m.subject.is_none());
    assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));

    let m = parse_json(&index(None), None).unwrap();
    assert!(m.blobs.is_empty());
    assert_eq!(m.manifests, vec![Reference { digest: d(4), size: 400 }, Reference { digest: d(5), size: 500 }]);
    assert_eq!(m.artifact_type, None);

    let mut signed = image(Some(OCI_MANIFEST));
    signed["artifactType"] = json!("application/vnd.example.sig");
    signed["subject"] = desc(9, 900, OCI_MANIFEST);
    signed["annotations"] = json!({"org.example": "yes"});
    // A foreign layer: its bytes are elsewhere, so it is no blob of the repository.
    signed["layers"][1]["urls"] = json!(["https://example.com/layer"]);
    let m = parse_json(&signed, None).unwrap();
    assert_eq!(m.subject, Some(d(9)));
    assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.example.sig"));
    assert_eq!(m.annotations.unwrap()["org.example"], "yes");
    assert_eq!(m.blobs.iter().map(|r| r.digest).collect::<Vec<_>>(), vec![d(1), d(2)]);

    // An index may carry an artifactType, and an artifact manifest may have no layers.
    let mut idx = index(Some(OCI_INDEX));
    idx["artifactType"] = json!("application/vnd.example.bundle");
    assert_eq!(parse_json(&idx, None).unwrap().artifact_type.as_deref(), Some("application/vnd.example.bundle"));
    let mut empty_layers = image(Some(OCI_MANIFEST));
    empty_layers["layers"] = json!([]);
    assert_eq!(parse_json(&empty_layers, None).unwrap().blobs.len(), 1);
}

#[test]
fn malformed_manifests_say_why() {
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "not a manifest JSON object"),
        (b"{".to_vec(), "not a manifest JSON object"),
        (b"[]".to_vec(), "not a manifest JSON object"),
        (b"\"manifest\"".to_vec(), "not a manifest JSON object"),
        (b"null".to_vec(), "not a manifest JSON object"),
        (vec![0xff, 0xfe, b'{', b'}'], "not a manifest JSON object"),
        ("[".repeat(10_000).into_bytes(), "not a manifest JSON object"),
    ];
    let mut add = |v: serde_json::Value, want: &'static str| cases.push((v.to_string().into_bytes(), want));
    let mut m = image(Some(OCI_MANIFEST));
    m["schemaVersion"] = json!(3);
    add(m, "schemaVersion must be 2");
    let mut m = image(Some(OCI_MANIFEST));
    m.as_object_mut().unwrap().remove("schemaVersion");
    add(m, "schemaVersion must be 2");
    let mut m = image(Some(OCI_MANIFEST));
    m.as_object_mut().unwrap().remove("config");
    add(m, "needs a config");
    let mut m = image(Some(DOCKER_MANIFEST));
    m.as_object_mut().unwrap().remove("layers");
    add(m, "needs layers");
    let mut m = index(Some(OCI_INDEX));
    m.as_object_mut().unwrap().remove("manifests");
    add(m, "needs manifests");
    let mut m = image(Some(OCI_MANIFEST));
    m["layers"] = json!(5);
    add(m, "not a manifest JSON object");
    let mut m = image(Some(OCI_MANIFEST));
    m["layers"][0]["digest"] = json!("sha256:../../etc/passwd");
    add(m, "layers[0]: digest");
    let mut m = image(Some(OCI_MANIFEST));
    m["layers"][1]["digest"] = json!(format!("sha512:{}", "a".repeat(128)));
    add(m, "layers[1]: digest");
    let mut m = image(Some(OCI_MANIFEST));
    m["config"]["size"] = json!(-1);
    add(m, "config: negative size");
    let mut m = image(Some(OCI_MANIFEST));
    m["config"]["size"] = json!(1.5);
    add(m, "not a manifest JSON object");
    let mut m = image(Some(OCI_MANIFEST));
    m["config"].as_object_mut().unwrap().remove("digest");
    add(m, "missing field `digest`");
    let mut m = index(None);
    m["manifests"][1]["digest"] = json!("md5:d41d8cd98f00b204e9800998ecf8427e");
    add(m, "manifests[1]: digest");
    let mut m = image(Some(OCI_MANIFEST));
    m["subject"] = json!({"digest": "nope", "size": 1});
    add(m, "subject: digest");
    let mut m = image(Some(OCI_MANIFEST));
    m["annotations"] = json!({"a": 1});
    add(m, "not a manifest JSON object");
    for (body, want) in cases {
        let err = parse(&body, None).expect_err(want);
        assert!(err.0.contains(want), "{}: {err} lacks {want:?}", String::from_utf8_lossy(&body[..body.len().min(60)]));
    }
}

#[test]
fn generic_content_types_are_no_media_type() {
    for (header, want) in [
        (None, None),
        (Some(""), None),
        (Some("application/json"), None),
        (Some("Application/JSON; charset=utf-8"), None),
        (Some("text/plain"), None),
        (Some(OCI_INDEX), Some(OCI_INDEX)),
        (Some("application/vnd.oci.image.index.v1+json;foo=bar"), Some(OCI_INDEX)),
    ] {
        assert_eq!(specific_content_type(header).as_deref(), want, "{header:?}");
    }
}

#[test]
fn a_large_manifest_is_read_in_proportion() {
    // About 5 MiB of layers: read without trouble (the size cap is the HTTP layer's job).
    let layers: Vec<_> = (0..35_000).map(|i| desc((i % 7) as u8, 20, "application/octet-stream")).collect();
    let mut m = image(Some(OCI_MANIFEST));
    m["layers"] = json!(layers);
    let body = m.to_string();
    assert!(body.len() > 4 << 20, "{}", body.len());
    let parsed = parse(body.as_bytes(), Some(OCI_MANIFEST)).unwrap();
    assert_eq!(parsed.blobs.len(), 35_001);
}
