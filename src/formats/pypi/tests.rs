use super::super::tests::check;
use super::super::Method;
use super::*;
use Class::*;

const SHA: &str = "a2e85806b28365d08c962860c4e888fcbd030ae374d0e3a85c31bbf503cebac3";
const META_SHA: &str = "0000000000000000000000000000000000000000000000000000000000000001";
const PUBLIC: &str = "http://proxy:8080/api/v1/remote/py/";

fn urls(page: &str) -> Urls {
    Urls {
        public: PUBLIC.into(),
        base: "http://up:3141/root/pypi/".into(),
        document: format!("http://up:3141/root/pypi/{page}"),
    }
}

const REPO: Repo<'static> = Repo { name: "py", base_url: "http://up:3141/root/pypi/", ban_tags: &[] };

/// A GET of `path` with an `Accept` of `accept`, parsed.
fn req(path: &str, accept: Option<&str>) -> Result<PypiRequest, PypiError> {
    let accept: Vec<&str> = accept.into_iter().collect();
    Pypi.parse(&Request { repo: "py", method: Method::Get, path, query: "", accept: &accept })
}

fn page(path: &str) -> PypiRequest {
    req(path, None).unwrap()
}

/// What a plan does, in short: where it redirects, which document form, which index.
#[derive(Debug, PartialEq)]
enum Shape {
    Redirect(String),
    Document(Doc),
    Listed(String),
    Bytes,
}

fn shape(plan: Plan<PypiRequest>) -> Shape {
    match plan {
        Plan::Redirect(to) => Shape::Redirect(to),
        Plan::Document(target, doc) => {
            assert_eq!((target.variant.as_str(), target.held), (doc.variant, true));
            Shape::Document(doc)
        }
        Plan::Listed { index, .. } => Shape::Listed(index.path.as_str().to_string()),
        Plan::Bytes(_) => Shape::Bytes,
    }
}

#[test]
fn index_pages_are_mutable_files_are_not() {
    check(
        &Pypi,
        &[
            ("simple/", Mutable),
            ("simple", Mutable),
            ("simple/foo/", Mutable),
            ("simple/foo", Mutable),
            ("simple/backports.zip/", Mutable),
            ("simple/foo.tar.gz", Mutable),
            ("foo-1.0.tar.gz", Immutable),
            ("packages/ab/cd/foo-1.0-py3-none-any.whl", Immutable),
            ("packages/ab/cd/foo-1.0-py3-none-any.whl.metadata", Immutable),
            ("packages/foo-1.0.zip", Immutable),
            ("packages/foo-1.0.tar.bz2", Immutable),
            ("packages/foo-1.0-py2.7.egg", Immutable),
            ("simple/foo/foo-1.0.tar.gz", Immutable),
            ("simple/foo/foo-1.0.win32.exe", Immutable),
            ("simple/foo/foo-1.0.tar.gz.metadata", Immutable),
            ("packages/foo-1.0.tar.gz.asc", Mutable),
            ("packages/.whl", Mutable),
            ("pypi/foo/json", Mutable),
            ("foo.metadata", Mutable),
            ("simple/-bad-/x.whl", Mutable),
        ],
    );
}

#[test]
fn plans_pages_redirects_and_listed_files() {
    let json = Some("application/vnd.pypi.simple.v1+json, text/html;q=0.01");
    let listed = |p: &str| Shape::Listed(format!("simple/{p}/"));
    let redirect = |p: &str| Shape::Redirect(p.into());
    let cases: &[(&str, Option<&str>, Shape)] = &[
        ("simple", None, redirect("simple/")),
        ("simple/", None, Shape::Document(TEXT_HTML)),
        ("simple/", json, Shape::Document(JSON)),
        ("simple/foo/", None, Shape::Document(TEXT_HTML)),
        ("simple/foo/", Some("application/vnd.pypi.simple.v1+html"), Shape::Document(HTML_V1)),
        ("simple/foo/", json, Shape::Document(JSON)),
        ("simple/foo", json, redirect("simple/foo/")),
        ("simple/Foo_Bar/", None, redirect("simple/foo-bar/")),
        ("simple/Foo.._Bar", None, redirect("simple/foo-bar/")),
        ("simple/foo/foo-1.0.tar.gz", None, listed("foo")),
        ("simple/foo/foo-1.0-py3-none-any.whl.metadata", json, listed("foo")),
        ("simple/Foo/foo-1.0.tar.gz", None, redirect("simple/foo/foo-1.0.tar.gz")),
        ("packages/foo-1.0.tar.gz", None, Shape::Bytes),
    ];
    for (path, accept, want) in cases {
        assert_eq!(shape(Pypi.plan(&req(path, *accept).unwrap(), &REPO).unwrap()), *want, "{path} {accept:?}");
    }
    assert!(matches!(req("simple/a b/", None), Err(PypiError::Invalid(_))));
    assert!(matches!(req("simple/a/b/c", None), Err(PypiError::NotServed(_))));
}

/// An upstream page in the PEP 503 form, as pypiserver and devpi write it.
fn upstream_html() -> String {
    format!(
        "<!DOCTYPE html><html><body>\
         <a href=\"/root/pypi/+f/ab/foo-1.0-py3-none-any.whl#sha256={SHA}\" data-requires-python=\"&gt;=3.8\" \
            data-dist-info-metadata=\"sha256={META_SHA}\">foo-1.0-py3-none-any.whl</a>\
         <a href=\"../../packages/foo-1.0.tar.gz\" data-yanked=\"\">foo-1.0.tar.gz</a>\
         <a href=\"https://files.example/p/foo-0.9.zip#md5=00000000000000000000000000000000\">foo-0.9.zip</a>\
         <a href=\"javascript:alert(1)\">evil.whl</a>\
         <a href=\"weird%20name.whl\">weird name.whl</a>\
         <a href=\"https://elsewhere.example/foo-1.0.tar.gz\">duplicate</a>\
         </body></html>"
    )
}

#[test]
fn pages_are_rewritten_through_this_remote_in_the_form_asked() {
    let body = upstream_html();
    let u = urls("simple/foo/");
    let html = Pypi.rewrite(&page("simple/foo/"), &TEXT_HTML, body.as_bytes(), &u).unwrap();
    assert_eq!(html.content_type, "text/html; charset=utf-8");
    let text = String::from_utf8(html.body).unwrap();
    let hrefs: Vec<&str> = text.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert_eq!(
        hrefs,
        [
            format!("{PUBLIC}simple/foo/foo-1.0-py3-none-any.whl#sha256={SHA}"),
            format!("{PUBLIC}simple/foo/foo-1.0.tar.gz"),
            format!("{PUBLIC}simple/foo/foo-0.9.zip#md5=00000000000000000000000000000000"),
        ]
    );
    assert!(text.contains("data-requires-python=\"&gt;=3.8\""), "{text}");
    assert!(text.contains(&format!("data-core-metadata=\"sha256={META_SHA}\"")), "{text}");
    assert!(text.contains("data-yanked=\"\""), "{text}");

    let v1 = Pypi.rewrite(&page("simple/foo/"), &HTML_V1, body.as_bytes(), &u).unwrap();
    assert_eq!(v1.content_type, "application/vnd.pypi.simple.v1+html");

    let json = Pypi.rewrite(&page("simple/foo/"), &JSON, body.as_bytes(), &u).unwrap();
    assert_eq!(json.content_type, "application/vnd.pypi.simple.v1+json");
    let v: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(v["name"], "foo");
    assert_eq!(v["files"][0]["url"], format!("{PUBLIC}simple/foo/foo-1.0-py3-none-any.whl"));
    assert_eq!(v["files"][0]["hashes"]["sha256"], SHA);
    assert_eq!(v["files"][0]["requires-python"], ">=3.8");
    assert_eq!(v["files"][0]["core-metadata"]["sha256"], META_SHA);
    assert_eq!(v["files"][1]["yanked"], true);
    assert_eq!(v["files"].as_array().unwrap().len(), 3);

    let index =
        Pypi.rewrite(&page("simple/"), &JSON, b"<html><a href=\"foo/\">Foo</a></html>", &urls("simple/")).unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&index.body).unwrap()["projects"][0]["name"], "Foo");
    let err = Pypi.rewrite(&page("simple/foo/"), &JSON, b"<a href=\"x", &u).unwrap_err();
    assert!(err.contains("unterminated"), "{err}");
    assert!(Pypi.check_document(&page("simple/foo/"), b"{\"meta\":{}}").is_err());
    assert!(Pypi.check_document(&page("simple/foo/"), body.as_bytes()).is_ok());
}

#[test]
fn files_are_located_where_the_page_says_with_its_digest() {
    let body = upstream_html();
    let u = urls("simple/foo/");
    let sha = |h: &str| Some(Integrity::Sha256(Digest::from_hex(h).unwrap()));
    type Want<'a> = Option<(&'a str, Option<Integrity>)>;
    let cases: &[(&str, Want)] = &[
        (
            "simple/foo/foo-1.0-py3-none-any.whl",
            Some(("http://up:3141/root/pypi/+f/ab/foo-1.0-py3-none-any.whl", sha(SHA))),
        ),
        (
            "simple/foo/foo-1.0-py3-none-any.whl.metadata",
            Some(("http://up:3141/root/pypi/+f/ab/foo-1.0-py3-none-any.whl.metadata", sha(META_SHA))),
        ),
        ("simple/foo/foo-1.0.tar.gz", Some(("http://up:3141/root/pypi/packages/foo-1.0.tar.gz", None))),
        ("simple/foo/foo-0.9.zip", Some(("https://files.example/p/foo-0.9.zip", None))),
        // Not advertised, not listed, not http(s).
        ("simple/foo/foo-1.0.tar.gz.metadata", None),
        ("simple/foo/foo-2.0.tar.gz", None),
        ("simple/foo/evil.whl", None),
        ("simple/", None),
    ];
    for (path, want) in cases {
        let file = req(path, None).unwrap();
        let got = Pypi.locate(&file, body.as_bytes(), &u).unwrap();
        let want = want.as_ref().map(|(url, i)| Located { url: url.to_string(), integrity: i.clone() });
        assert_eq!(got, want, "{path}");
    }
    let json = format!(
        r#"{{"meta":{{"api-version":"1.0"}},"name":"foo","files":[{{"filename":"foo-1.0.tar.gz",
        "url":"https://files.example/foo-1.0.tar.gz","hashes":{{"sha512":"{}","sha1":"{}"}}}}]}}"#,
        "ab".repeat(64),
        "cd".repeat(20)
    );
    let got = Pypi.locate(&page("simple/foo/foo-1.0.tar.gz"), json.as_bytes(), &u).unwrap().unwrap();
    assert_eq!(got.integrity, Some(Integrity::Sha512(Box::new([0xab; 64]))));
    assert!(Pypi.locate(&page("simple/foo/x.whl"), b"{not json", &u).is_err());
}

#[test]
fn virtual_pages_union_the_members() {
    let member = |name: &str, files: &[&str], form: &Doc| {
        let links: String = files.iter().map(|f| format!("<a href=\"{f}#sha256={SHA}\">{f}</a>")).collect();
        let mut u = urls("simple/foo/");
        u.public = format!("http://proxy:8080/api/v1/remote/{name}/");
        Pypi.rewrite(&page("simple/foo/"), form, format!("<html>{links}</html>").as_bytes(), &u).unwrap()
    };
    for form in [JSON, TEXT_HTML] {
        let merged = Pypi
            .merge(
                &page("simple/foo/"),
                &form,
                vec![
                    member("a", &["foo-1.0.tar.gz"], &form),
                    member("b", &["foo-1.0.tar.gz", "foo-2.0.tar.gz"], &form),
                ],
            )
            .unwrap();
        let Page::Project(p) = parse_page(&page("simple/foo/"), &merged.body).unwrap() else {
            panic!("a project page")
        };
        let urls: Vec<&str> = p.files.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://proxy:8080/api/v1/remote/a/simple/foo/foo-1.0.tar.gz",
                "http://proxy:8080/api/v1/remote/b/simple/foo/foo-2.0.tar.gz"
            ],
            "{form:?}"
        );
        assert_eq!(merged.content_type, render(&Page::Index(Vec::new()), form_of(&form)).content_type);
    }
    let index = |names: &[&str]| {
        let links: String = names.iter().map(|n| format!("<a href=\"{n}/\">{n}</a>")).collect();
        Pypi.rewrite(&page("simple/"), &TEXT_HTML, format!("<html>{links}</html>").as_bytes(), &urls("simple/"))
            .unwrap()
    };
    let merged =
        Pypi.merge(&page("simple/"), &TEXT_HTML, vec![index(&["beta", "alpha"]), index(&["Alpha", "gamma"])]).unwrap();
    assert_eq!(
        parse_page(&page("simple/"), &merged.body),
        Ok(Page::Index(vec!["alpha".into(), "beta".into(), "gamma".into()]))
    );
}
