use std::collections::BTreeMap;

use super::tokens::{decode, scan, Token};
use super::*;

const SHA: &str = "a2e85806b28365d08c962860c4e888fcbd030ae374d0e3a85c31bbf503cebac3";

fn tokens(html: &str) -> Result<Vec<Token<'_>>, String> {
    let mut out = Vec::new();
    scan(html, |t| {
        out.push(t);
        Ok(())
    })?;
    Ok(out)
}

fn start(name: &str, attrs: &[(&str, &str)]) -> Token<'static> {
    Token::Start { name: name.into(), attrs: attrs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect() }
}

fn project(html: &str) -> Result<Project, String> {
    match parse(Kind::Project, "foo", html)? {
        Page::Project(p) => Ok(p),
        Page::Index(_) => unreachable!(),
    }
}

#[test]
fn tokenizer_reads_attributes_like_a_browser() {
    let cases: &[(&str, Vec<Token>)] = &[
        (r#"<a href="x">"#, vec![start("a", &[("href", "x")])]),
        ("<A HREF='x' data-yanked>", vec![start("a", &[("href", "x"), ("data-yanked", "")])]),
        ("<a href=x/y.whl>", vec![start("a", &[("href", "x/y.whl")])]),
        ("<a href = \"x\" href=\"y\">", vec![start("a", &[("href", "x")])]),
        ("<br/>", vec![start("br", &[])]),
        (r#"<a data-requires-python="&gt;=3.8&amp;&lt;4">"#, vec![start("a", &[("data-requires-python", ">=3.8&<4")])]),
        ("<!-- <a href=\"hidden\"> -->t", vec![Token::Text("t".into())]),
        ("<!DOCTYPE html><?xml x?>", vec![]),
        ("</A >", vec![Token::End { name: "a".into() }]),
        ("1 < 2", vec![Token::Text("1 ".into()), Token::Text("<".into()), Token::Text(" 2".into())]),
        ("<script>x = '<a href=\"evil\">'</script>", vec![start("script", &[]), Token::End { name: "script".into() }]),
    ];
    for (html, want) in cases {
        assert_eq!(tokens(html).as_ref(), Ok(want), "{html}");
    }
    for (html, why) in [
        ("<a href=\"x", "unterminated \"href\""),
        ("<a href='x>", "unterminated"),
        ("<a href=x", "unterminated tag <a"),
        ("<a", "unterminated tag <a"),
        ("<!-- open", "unterminated comment"),
        ("</a", "unterminated end tag"),
        ("<!DOCTYPE", "unterminated declaration"),
    ] {
        let err = tokens(html).unwrap_err();
        assert!(err.contains(why), "{html}: {err}");
    }
}

#[test]
fn character_references_decode() {
    let cases = [
        ("a&amp;b", "a&b"),
        ("&lt;&gt;&quot;&apos;", "<>\"'"),
        ("&#62;&#x3E;&#X3e;", ">>>"),
        ("&#0;&#xD800;", "\u{fffd}\u{fffd}"),
        ("a & b", "a & b"),
        ("&unknown;", "&unknown;"),
        ("&#xzz;", "&#xzz;"),
        ("&", "&"),
    ];
    for (s, want) in cases {
        assert_eq!(decode(s), want, "{s}");
    }
}

#[test]
fn reads_a_pypiserver_page() {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Links for alpha-lib</title></head><body>\n\
         <h1>Links for alpha-lib</h1>\n\
         <a href=\"/packages/Alpha_Lib-1.0.0-py3-none-any.whl#sha256={SHA}\">Alpha_Lib-1.0.0-py3-none-any.whl</a><br>\n\
         </body></html>"
    );
    let p = project(&page).unwrap();
    assert_eq!(p.name, "foo");
    assert_eq!(p.files.len(), 1);
    let f = &p.files[0];
    assert_eq!(f.filename, "Alpha_Lib-1.0.0-py3-none-any.whl");
    assert_eq!(f.url, "/packages/Alpha_Lib-1.0.0-py3-none-any.whl");
    assert_eq!(f.hashes, BTreeMap::from([("sha256".to_string(), SHA.to_string())]));
    assert_eq!((f.requires_python.clone(), f.yanked.clone(), f.metadata.clone()), (None, Yanked::No, None));
}

#[test]
fn reads_every_pep_attribute() {
    let page = format!(
        "<html><body>\
         <a href=\"https://files.example/p/foo-1.0.tar.gz#sha256={SHA}\" data-requires-python=\"&gt;=3.8\" \
            data-yanked=\"bad &amp; broken\" data-dist-info-metadata=\"sha256={SHA}\" data-gpg-sig=\"true\">foo-1.0.tar.gz</a>\
         <a href=\"foo-2.0.tar.gz\" data-yanked=\"\" data-core-metadata=\"true\">foo-2.0.tar.gz</a>\
         <a href=\"foo-3.0.tar.gz\" data-core-metadata=\"nonsense\">foo-3.0.tar.gz</a>\
         <a href=\"foo-4.0.tar.gz#egg=foo\">old-style fragment</a>\
         <a name=\"no-href\">x</a><a href=\"../\">up</a>\
         </body></html>"
    );
    let p = project(&page).unwrap();
    let names: Vec<&str> = p.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["foo-1.0.tar.gz", "foo-2.0.tar.gz", "foo-3.0.tar.gz", "foo-4.0.tar.gz"]);
    assert!(p.files[3].hashes.is_empty());
    let f = &p.files[0];
    assert_eq!(f.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(f.yanked, Yanked::Yes(Some("bad & broken".into())));
    assert_eq!(f.metadata, Some(BTreeMap::from([("sha256".to_string(), SHA.to_string())])));
    assert_eq!(f.gpg_sig, Some(true));
    assert_eq!((p.files[1].yanked.clone(), p.files[1].metadata.clone()), (Yanked::Yes(None), Some(BTreeMap::new())));
    assert_eq!(p.files[2].metadata, None);
}

#[test]
fn malformed_pages_are_refused() {
    let cases = [
        ("", "no markup"),
        ("just text", "no markup"),
        ("<html><a href=\"foo-1.0.tar.gz#sha256=123\">x</a></html>", "malformed sha256"),
        ("<html><a href=\"foo-1.0.tar.gz#sha256=", "unterminated"),
        ("<html><meta name=\"pypi:repository-version\" content=\"2.0\"></html>", "repository version"),
    ];
    for (html, why) in cases {
        let err = project(html).unwrap_err();
        assert!(err.contains(why), "{html:?}: {err}");
    }
    assert!(project("<html><meta name=\"pypi:repository-version\" content=\"1.3\"></html>").is_ok());
}

#[test]
fn error_pages_sent_with_200_are_no_project_pages() {
    let error_page = "<!DOCTYPE html>\n<html><head><title>200 Error</title></head><body><h1>Service Unavailable</h1>\
                      <p>The upstream is having trouble. <a href=\"/status\">status</a></p></body></html>";
    // (page, accepted)
    let cases = [
        (error_page, false),
        ("<html><body></body></html>", false),
        ("<html><body><a href=\"../\">up</a></body></html>", false),
        ("<html><meta name=\"pypi:repository-version\" content=\"1.0\"><body></body></html>", true),
        ("<html><a href=\"foo-1.0.tar.gz\">foo-1.0.tar.gz</a></html>", true),
        ("<html><a href=\"https://files.test/Foo_Bar-2.0-py3-none-any.WHL\">x</a></html>", true),
        ("<html><a href=\"/status\">status</a><a href=\"/login.html\">log in</a></html>", false),
        ("<html><a href=\"https://files.test/foo-1.0-py3-none-any.whl#sha256=\">x</a></html>", false),
    ];
    for (html, accepted) in cases {
        let got = check_project(html);
        assert_eq!(got.is_ok(), accepted, "{html:?}: {got:?}");
    }
}

#[test]
fn reads_an_index_page() {
    let html = "<html><body><a href=\"/simple/alpha-lib/\">Alpha_Lib</a> <a href=\"beta/\"></a>\
                <a href=\"x/\">not a name!</a><a>no-href</a></body></html>";
    assert_eq!(
        parse(Kind::Index, "", html),
        Ok(Page::Index(vec!["Alpha_Lib".into(), "beta".into(), "no-href".into()]))
    );
}

#[test]
fn renders_escaped_and_reads_back_the_same() {
    let file = DistFile {
        filename: "foo-1.0.tar.gz".into(),
        url: "http://proxy/api/v1/remote/py/simple/foo/foo-1.0.tar.gz".into(),
        hashes: BTreeMap::from([("md5".to_string(), "0".repeat(32)), ("sha256".to_string(), SHA.to_string())]),
        requires_python: Some("\"><script>alert(1)</script>".into()),
        yanked: Yanked::Yes(Some("<b>'x'</b>".into())),
        metadata: Some(BTreeMap::from([("sha256".to_string(), SHA.to_string())])),
        gpg_sig: Some(false),
        size: None,
        upload_time: None,
    };
    let p = Project { name: "foo".into(), files: vec![file.clone()], versions: None };
    let out = render(&Page::Project(p.clone()));
    assert!(!out.contains("<script>") && !out.contains("<b>"), "{out}");
    assert!(out.contains(&format!("foo-1.0.tar.gz#sha256={SHA}\"")), "{out}");
    assert!(out.contains("data-requires-python=\"&quot;&gt;&lt;script&gt;"), "{out}");
    assert!(out.contains(&format!("data-core-metadata=\"sha256={SHA}\"")), "{out}");
    assert!(out.contains(&format!("data-dist-info-metadata=\"sha256={SHA}\"")), "{out}");
    let back = project(&out).unwrap();
    // HTML carries one hash, the strongest.
    let mut want = file;
    want.hashes.remove("md5");
    assert_eq!(back.files, vec![want]);

    let index = render(&Page::Index(vec!["Foo.Bar".into(), "a<b".into()]));
    assert!(index.contains("<a href=\"foo-bar/\">Foo.Bar</a>"), "{index}");
    assert!(index.contains("a&lt;b"), "{index}");
}
