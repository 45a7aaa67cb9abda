//! Tables for [`super`]: what an index must be, how it is rewritten, where charts are found,
//! how members merge.

use serde_yaml_ng::{Mapping, Value};

use super::*;
use crate::formats::helm::Endpoint;

const PUBLIC: &str = "http://proxy:8080/api/v1/remote/charts/";
const D1: &str = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2";
const D2: &str = "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1";

fn urls(dir: &str) -> Urls {
    Urls {
        public: PUBLIC.into(),
        base: "http://up:9000/repo/".into(),
        document: format!("http://up:9000/repo/{dir}index.yaml"),
    }
}

/// Every way an index names a chart, and the entries that cannot be served.
fn fixture() -> String {
    format!(
        r#"apiVersion: v1
serverInfo:
  contextPath: /repo
entries:
  relative:
  - name: relative
    version: 1.0.0
    description: keep me
    created: "2024-01-02T03:04:05Z"
    digest: {D1}
    urls:
    - relative-1.0.0.tgz
    - https://mirror.example/relative-1.0.0.tgz
    annotations:
      category: test
  rootrel:
  - version: 2.0.0
    digest: sha256:{D2}
    urls: [/elsewhere/rootrel-2.0.0.tgz]
  - version: 1.0
    digest: {D1}
    urls: [sub/dir/rootrel-1.0.tgz]
  samehost:
  - version: 3.0.0
    urls: ["http://up:9000/repo/charts/samehost-3.0.0.tgz"]
  otherhost:
  - version: 4.0.0-rc.1+b.2
    digest: "{D2}"
    urls: ["https://files.example:8443/dl/get?id=7"]
  dupes:
  - {{version: 1.0.0, urls: [dupes-a.tgz], digest: {D1}}}
  - {{version: 1.0.0, urls: [dupes-b.tgz], digest: {D2}}}
  broken:
  - {{version: 1.0.0, urls: [ftp://files.example/broken.tgz]}}
  - {{version: 2.0.0, urls: [broken-2.tgz], digest: nothex}}
  - {{version: 3.0.0, urls: []}}
  - {{version: "../3", urls: [broken-3.tgz]}}
  - {{urls: [broken-4.tgz]}}
  - {{version: 5.0.0, urls: broken-5.tgz}}
  ../evil:
  - {{version: 1.0.0, urls: [evil.tgz]}}
  empty: []
generated: "2024-01-02T03:04:05Z"
"#
    )
}

/// A scalar as text, as helm reads it.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{other:?} is no scalar"),
    }
}

fn rendered(dir: &str, body: &str) -> Value {
    let r = rewrite(dir, body.as_bytes(), &urls(dir)).unwrap_or_else(|e| panic!("rewrite: {e}"));
    assert_eq!(r.content_type, CONTENT_TYPE);
    serde_yaml_ng::from_slice(&r.body).unwrap()
}

fn urls_of(index: &Value, chart: &str) -> Vec<(String, String)> {
    index["entries"][chart]
        .as_sequence()
        .unwrap_or_else(|| panic!("{chart} missing"))
        .iter()
        .map(|e| (text(&e["version"]), e["urls"][0].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn accepts_what_helm_loads_and_refuses_the_rest() {
    let laughs = {
        let mut s = String::from("apiVersion: v1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        s
    };
    let deep = format!("apiVersion: v1\nx: {}{}\n", "[".repeat(80), "]".repeat(80));
    let cases: &[(&str, Option<&str>)] = &[
        (&fixture(), None),
        ("apiVersion: v1\nentries: {}\n", None),
        ("apiVersion: v1\nentries:\n", None),
        ("apiVersion: v1\n", None),
        (r#"{"apiVersion": "v1", "entries": {"a": [{"version": "1.0.0", "urls": ["a.tgz"]}]}}"#, None),
        ("apiVersion: v1\nentries:\n  a: [{version: 1\n", Some("not valid YAML")),
        ("<html><body>502 Bad Gateway</body></html>", Some("not a YAML mapping")),
        ("", Some("not a YAML mapping")),
        ("- a\n- b\n", Some("not a YAML mapping")),
        ("entries: {}\n", Some("no apiVersion")),
        ("apiVersion: ''\n", Some("no apiVersion")),
        ("apiVersion: v1\nentries: [a, b]\n", Some("entries is not a mapping")),
        ("apiVersion: v1\nentries:\n  a: yes\n", Some("entries.\"a\" is not a list")),
        ("apiVersion: v1\nentries:\n  a: [1.0.0]\n", Some("entries.\"a\"[0] is not a mapping")),
        ("apiVersion: v1\nentries:\n  [x]: []\n", Some("chart name")),
        ("apiVersion: v1\napiVersion: v2\n", Some("field \"apiVersion\" twice")),
        ("apiVersion: v1\nentries:\n  a: []\n  b: []\n  a: []\n", Some("chart \"a\" twice")),
        ("apiVersion: v1\n---\napiVersion: v1\n", Some("more than one YAML document")),
        (&deep, Some("nested deeper")),
        (&laughs, Some("aliases are not supported")),
    ];
    for (body, want) in cases {
        match (check(body.as_bytes()), want) {
            (Ok(()), None) => {}
            (Err(e), Some(fragment)) => assert!(e.contains(fragment), "{body:.60}: {e}"),
            (got, _) => panic!("{body:.80}: got {got:?}, want {want:?}"),
        }
    }
    assert!(check(b"apiVersion: v1\nentries:\n  \xff: []\n").unwrap_err().contains("not UTF-8"));
}

#[test]
fn rewrites_every_chart_url_to_this_remote() {
    let index = rendered("", &fixture());
    let p = |rest: &str| format!("{PUBLIC}charts/{rest}");
    let cases: &[(&str, Vec<(String, String)>)] = &[
        ("relative", vec![("1.0.0".into(), p("relative/1.0.0/relative-1.0.0.tgz"))]),
        (
            "rootrel",
            vec![
                ("2.0.0".into(), p("rootrel/2.0.0/rootrel-2.0.0.tgz")),
                ("1.0".into(), p("rootrel/1.0/rootrel-1.0.tgz")),
            ],
        ),
        ("samehost", vec![("3.0.0".into(), p("samehost/3.0.0/samehost-3.0.0.tgz"))]),
        // The upstream's file name ("get") is no chart file name: the chart's own is used.
        ("otherhost", vec![("4.0.0-rc.1+b.2".into(), p("otherhost/4.0.0-rc.1+b.2/otherhost-4.0.0-rc.1+b.2.tgz"))]),
        ("dupes", vec![("1.0.0".into(), p("dupes/1.0.0/dupes-a.tgz"))]),
    ];
    for (chart, want) in cases {
        assert_eq!(urls_of(&index, chart), *want, "{chart}");
    }
    let charts: Vec<&str> = index["entries"].as_mapping().unwrap().keys().filter_map(Value::as_str).collect();
    assert_eq!(charts, ["relative", "rootrel", "samehost", "otherhost", "dupes"], "unservable charts are left out");
    let text = serde_yaml_ng::to_string(&index).unwrap();
    for url in text.lines().filter_map(|l| l.trim().strip_prefix("- ")).filter(|l| l.contains("://")) {
        assert!(url.starts_with(PUBLIC), "{url} escapes the public URL");
    }
}

#[test]
fn keeps_every_other_field_as_the_upstream_wrote_it() {
    let index = rendered("", &fixture());
    assert_eq!(index["apiVersion"], Value::from("v1"));
    assert_eq!(index["generated"], Value::from("2024-01-02T03:04:05Z"));
    assert_eq!(index["serverInfo"]["contextPath"], Value::from("/repo"));
    let e = &index["entries"]["relative"][0];
    let keys: Vec<&str> = e.as_mapping().unwrap().keys().filter_map(Value::as_str).collect();
    assert_eq!(keys, ["name", "version", "description", "created", "digest", "urls", "annotations"], "order kept");
    assert_eq!(e["description"], Value::from("keep me"));
    assert_eq!(e["created"], Value::from("2024-01-02T03:04:05Z"));
    assert_eq!(e["digest"], Value::from(D1));
    assert_eq!(e["annotations"]["category"], Value::from("test"));
    assert_eq!(index["entries"]["rootrel"][1]["version"], Value::from("1.0"), "a numeric version becomes text");
}

#[test]
fn a_nested_index_serves_its_charts_below_its_directory() {
    let index = rendered("stable/", &fixture());
    assert_eq!(urls_of(&index, "relative")[0].1, format!("{PUBLIC}stable/charts/relative/1.0.0/relative-1.0.0.tgz"));
}

#[test]
fn locates_charts_like_helm_resolves_them() {
    let body = fixture();
    let u = urls("");
    let sha = |d: &str| Some(Integrity::Sha256(Digest::from_hex(d).unwrap()));
    type Case<'a> = (&'a str, &'a str, &'a str, bool, Option<(&'a str, Option<Integrity>)>);
    let cases: &[Case] = &[
        ("relative", "1.0.0", "relative-1.0.0.tgz", false, Some(("http://up:9000/repo/relative-1.0.0.tgz", sha(D1)))),
        ("relative", "1.0.0", "relative-1.0.0.tgz", true, Some(("http://up:9000/repo/relative-1.0.0.tgz.prov", None))),
        ("rootrel", "2.0.0", "rootrel-2.0.0.tgz", false, Some(("http://up:9000/elsewhere/rootrel-2.0.0.tgz", sha(D2)))),
        ("rootrel", "1.0", "rootrel-1.0.tgz", false, Some(("http://up:9000/repo/sub/dir/rootrel-1.0.tgz", sha(D1)))),
        (
            "samehost",
            "3.0.0",
            "samehost-3.0.0.tgz",
            false,
            Some(("http://up:9000/repo/charts/samehost-3.0.0.tgz", None)),
        ),
        (
            "otherhost",
            "4.0.0-rc.1+b.2",
            "otherhost-4.0.0-rc.1+b.2.tgz",
            false,
            Some(("https://files.example:8443/dl/get?id=7", sha(D2))),
        ),
        (
            "otherhost",
            "4.0.0-rc.1+b.2",
            "otherhost-4.0.0-rc.1+b.2.tgz",
            true,
            Some(("https://files.example:8443/dl/get.prov?id=7", None)),
        ),
        ("dupes", "1.0.0", "dupes-a.tgz", false, Some(("http://up:9000/repo/dupes-a.tgz", sha(D1)))),
        ("dupes", "1.0.0", "dupes-b.tgz", false, None),
        ("relative", "1.0.0", "other-1.0.0.tgz", false, None),
        ("relative", "9.9.9", "relative-9.9.9.tgz", false, None),
        ("broken", "2.0.0", "broken-2.tgz", false, None),
        ("broken", "1.0.0", "broken-1.0.0.tgz", false, None),
        ("nothere", "1.0.0", "nothere-1.0.0.tgz", false, None),
        ("empty", "1.0.0", "empty-1.0.0.tgz", false, None),
    ];
    for (chart, version, file, prov, want) in cases {
        let got = locate(chart, version, file, *prov, body.as_bytes(), &u).unwrap();
        let want = want.as_ref().map(|(url, integrity)| Located { url: url.to_string(), integrity: integrity.clone() });
        assert_eq!(got, want, "{chart} {version} {file} prov={prov}");
    }
    assert_eq!(locate("a", "1", "a.tgz", false, b"apiVersion: v1\nentries:\n", &u), Ok(None));
    assert!(locate("a", "1", "a.tgz", false, b"apiVersion: v1\nentries: {a: [", &u)
        .unwrap_err()
        .contains("not valid YAML"));
}

#[test]
fn every_rewritten_url_is_located() {
    for dir in ["", "stable/"] {
        let index = rendered(dir, &fixture());
        let mut n = 0;
        for (chart, versions) in index["entries"].as_mapping().unwrap() {
            for e in versions.as_sequence().unwrap() {
                let url = e["urls"][0].as_str().unwrap();
                let path = url.strip_prefix(PUBLIC).unwrap();
                let Ok(Endpoint::Listed { dir: d, chart: c, version, file, prov }) = Endpoint::parse(path) else {
                    panic!("{path} is no listed chart path")
                };
                assert_eq!((d, c, prov), (dir, chart.as_str().unwrap(), false));
                let found = locate(c, version, file, prov, fixture().as_bytes(), &urls(dir)).unwrap();
                assert!(found.is_some(), "{path} not located");
                n += 1;
            }
        }
        assert_eq!(n, 6);
    }
}

#[test]
fn merges_members_chart_by_chart_first_member_winning() {
    let member = |name: &str, body: &str| {
        let mut u = urls("");
        u.public = format!("http://proxy:8080/api/v1/remote/{name}/");
        rewrite("", body.as_bytes(), &u).unwrap()
    };
    let a = member(
        "a",
        &format!(
            "apiVersion: v1\nserverInfo: {{from: a}}\nentries:\n  shared:\n  - {{version: 1.0.0, urls: [s1.tgz], digest: {D1}, description: from a}}\n  onlya:\n  - {{version: 1.0.0, urls: [a.tgz]}}\ngenerated: old\n"
        ),
    );
    let b = member(
        "b",
        &format!(
            "apiVersion: v1\nserverInfo: {{from: b}}\nentries:\n  onlyb:\n  - {{version: 0.1.0, urls: [b.tgz]}}\n  shared:\n  - {{version: 2.0.0, urls: [s2.tgz]}}\n  - {{version: 1.0.0, urls: [s1.tgz], digest: {D2}, description: from b}}\n"
        ),
    );
    let merged = merge(vec![a, b], "2026-01-01T00:00:00.000000001Z").unwrap();
    assert_eq!(merged.content_type, CONTENT_TYPE);
    let index: Value = serde_yaml_ng::from_slice(&merged.body).unwrap();
    let charts: Vec<&str> = index["entries"].as_mapping().unwrap().keys().filter_map(Value::as_str).collect();
    assert_eq!(charts, ["shared", "onlya", "onlyb"]);
    let remote = |name: &str, rest: &str| format!("http://proxy:8080/api/v1/remote/{name}/charts/{rest}");
    assert_eq!(
        urls_of(&index, "shared"),
        [("1.0.0".into(), remote("a", "shared/1.0.0/s1.tgz")), ("2.0.0".into(), remote("b", "shared/2.0.0/s2.tgz"))]
    );
    assert_eq!(index["entries"]["shared"][0]["description"], Value::from("from a"));
    assert_eq!(index["entries"]["shared"][0]["digest"], Value::from(D1));
    assert_eq!(urls_of(&index, "onlyb"), [("0.1.0".into(), remote("b", "onlyb/0.1.0/b.tgz"))]);
    assert_eq!(index["serverInfo"]["from"], Value::from("a"));
    assert_eq!(index["generated"], Value::from("2026-01-01T00:00:00.000000001Z"));
    assert_eq!(index["apiVersion"], Value::from("v1"));

    let one = member("a", "apiVersion: v1\n");
    let alone: Value = serde_yaml_ng::from_slice(&merge(vec![one], "now").unwrap().body).unwrap();
    assert_eq!(alone["entries"], Value::Mapping(Mapping::new()));
    assert!(merge(Vec::new(), "now").is_err());
}

#[test]
fn a_local_member_shadows_the_charts_it_has_in_later_remotes() {
    let member = |name: &str, body: &str, from_local: bool| {
        let mut u = urls("");
        u.public = format!("http://proxy:8080/api/v1/remote/{name}/");
        Rendered { from_local, ..rewrite("", body.as_bytes(), &u).unwrap() }
    };
    let local = member("l", "apiVersion: v1\nentries:\n  web:\n  - {version: 1.0.0, urls: [w.tgz]}\n", true);
    let remote = || {
        member(
            "r",
            "apiVersion: v1\nentries:\n  web:\n  - {version: 9.9.9, urls: [w9.tgz]}\n  other:\n  - {version: 1.0.0, urls: [o.tgz]}\n",
            false,
        )
    };
    let versions =
        |index: &Value, chart: &str| -> Vec<String> { urls_of(index, chart).into_iter().map(|(v, _)| v).collect() };
    let merged: Value = serde_yaml_ng::from_slice(&merge(vec![local.clone(), remote()], "now").unwrap().body).unwrap();
    assert_eq!(versions(&merged, "web"), ["1.0.0"], "the remote's web is shadowed");
    assert_eq!(versions(&merged, "other"), ["1.0.0"]);
    // A remote listed before the local is merged version by version, as between remotes.
    let merged: Value = serde_yaml_ng::from_slice(&merge(vec![remote(), local], "now").unwrap().body).unwrap();
    assert_eq!(versions(&merged, "web"), ["9.9.9", "1.0.0"]);
}
