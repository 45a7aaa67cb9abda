use super::*;

const PUBLIC: &str = "http://proxy:8080/api/v1/remote/fedora/";

/// A metalink as Fedora's MirrorManager serves it (trimmed to three mirrors).
const METALINK: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Mon, 07 Dec 2026 15:00:00 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1733580000</mm0:timestamp>
   <size>6149</size>
   <verification>
    <hash type="md5">0e6e7a0b9b3d1e4d2c0d6e1ba2d2e6f1</hash>
    <hash type="sha256">8f1c6a3b2d8c4f0e1a7b9c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f</hash>
   </verification>
   <resources maxconnections="1">
    <url protocol="https" type="https" location="DE" preference="100">https://mirror.one.example/fedora/linux/releases/41/Everything/x86_64/os/repodata/repomd.xml</url>
    <url protocol="rsync" type="rsync" location="DE" preference="99">rsync://mirror.one.example/fedora/linux/releases/41/Everything/x86_64/os/repodata/repomd.xml</url>
    <url protocol="http" type="http" location="US" preference="98">http://mirror.two.example:8080/pub/fedora/linux/releases/41/Everything/x86_64/os/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>
"#;

#[test]
fn a_metalink_keeps_its_hashes_and_sends_every_mirror_through_the_remote() {
    let out = String::from_utf8(rewrite(METALINK.as_bytes(), PUBLIC).unwrap()).unwrap();
    assert!(out.contains(
        ">http://proxy:8080/api/v1/remote/fedora/_mirror/https/mirror.one.example/fedora/linux/releases/41/Everything/x86_64/os/repodata/repomd.xml</url>"
    ), "{out}");
    assert!(out.contains("/_mirror/http/mirror.two.example:8080/pub/fedora/"), "{out}");
    assert!(!out.contains("rsync://") && !out.contains(">https://mirror.one"), "only proxied http(s) mirrors: {out}");
    for kept in
        ["8f1c6a3b2d8c4f0e1a7b9c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f", "<size>6149</size>", "preference=\"98\""]
    {
        assert!(out.contains(kept), "{kept} kept: {out}");
    }
    let listed = parse(METALINK.as_bytes()).unwrap();
    assert_eq!(listed.kind, Kind::Metalink);
    assert_eq!(
        listed.bases,
        vec![
            "https://mirror.one.example/fedora/linux/releases/41/Everything/x86_64/os/",
            "http://mirror.two.example:8080/pub/fedora/linux/releases/41/Everything/x86_64/os/",
        ]
    );
    // The rewritten document lists the remote's own mirror paths: it parses again.
    assert_eq!(parse(out.as_bytes()).unwrap().bases.len(), 2);
}

#[test]
fn a_mirrorlist_keeps_its_comments_and_drops_what_is_no_mirror() {
    let body = "# repo = BaseOS-9 arch = x86_64 country = DE\n\
                https://mirror.one.example/rocky/9.5/BaseOS/x86_64/os/\n\
                \n\
                ftp://old.example/rocky/\n\
                http://mirror.two.example/rocky/9.5/BaseOS/x86_64/os\n\
                javascript:alert(1)\n\
                http://user:pw@mirror.three.example/rocky/\n";
    let out = String::from_utf8(rewrite(body.as_bytes(), PUBLIC).unwrap()).unwrap();
    assert_eq!(
        out,
        "# repo = BaseOS-9 arch = x86_64 country = DE\n\
         http://proxy:8080/api/v1/remote/fedora/_mirror/https/mirror.one.example/rocky/9.5/BaseOS/x86_64/os/\n\
         \n\
         http://proxy:8080/api/v1/remote/fedora/_mirror/http/mirror.two.example/rocky/9.5/BaseOS/x86_64/os\n"
    );
    let listed = parse(body.as_bytes()).unwrap();
    assert_eq!(listed.kind, Kind::Mirrorlist);
    assert!(listed.allows("https://mirror.one.example/rocky/9.5/BaseOS/x86_64/os/Packages/a.rpm"));
    assert!(listed.allows("http://mirror.two.example/rocky/9.5/BaseOS/x86_64/os/repodata/repomd.xml"));
    assert!(!listed.allows("https://mirror.one.example/other/"));
    assert!(!listed.allows("https://mirror.one.example.attacker/rocky/9.5/BaseOS/x86_64/os/"));
    assert!(!listed.allows("http://mirror.three.example/rocky/"), "credentials in a mirror URL: left out");
}

#[test]
fn hostile_and_broken_documents_are_refused() {
    let many = "http://m.example/r/\n".repeat(MAX_MIRRORS + 1);
    let huge = format!("# {}\nhttp://m.example/r/\n", "x".repeat(MAX_DOCUMENT));
    let cases: &[(&str, Vec<u8>, MirrorError)] = &[
        ("empty", Vec::new(), MirrorError::NoMirrors),
        ("only comments", b"# nothing here\n\n".to_vec(), MirrorError::NoMirrors),
        ("no http mirror", b"rsync://m.example/r/\nfile:///etc/\n".to_vec(), MirrorError::NoMirrors),
        (
            "an HTML error page",
            b"<html><body>Service Unavailable</body></html>".to_vec(),
            MirrorError::Xml(String::new()),
        ),
        ("binary", vec![0xff, 0xfe, 0x00, 0x01], MirrorError::NotText),
        ("NUL", b"http://m.example/r/\n\0\n".to_vec(), MirrorError::NotText),
        ("too many mirrors", many.into_bytes(), MirrorError::TooMany),
        ("too large", huge.into_bytes(), MirrorError::TooLarge),
        (
            "metalink without mirrors",
            br#"<metalink version="3.0"><files><file name="repomd.xml"><resources/></file></files></metalink>"#
                .to_vec(),
            MirrorError::NoMirrors,
        ),
        ("truncated metalink", METALINK.as_bytes()[..METALINK.len() / 2].to_vec(), MirrorError::Xml(String::new())),
        (
            "metalink cut after a mirror",
            METALINK.as_bytes()[..METALINK.find("<url protocol=\"rsync\"").unwrap()].to_vec(),
            MirrorError::Xml(String::new()),
        ),
        (
            "markup inside a url",
            b"<metalink><url>http://m.example/<b>x</b></url></metalink>".to_vec(),
            MirrorError::Xml(String::new()),
        ),
    ];
    for (what, body, want) in cases {
        let got = parse(body).map(|_| ());
        let same = match (&got, want) {
            (Err(MirrorError::Xml(_)), MirrorError::Xml(_)) => true,
            (Err(e), w) => e == w,
            (Ok(()), _) => false,
        };
        assert!(same, "{what}: {got:?}, want {want:?}");
        assert!(rewrite(body, PUBLIC).is_err(), "{what}: rewritten");
    }
}

#[test]
fn mirror_paths_name_their_mirror_url() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            "_mirror/https/m.example/fedora/os/repodata/repomd.xml",
            Some("https://m.example/fedora/os/repodata/repomd.xml"),
        ),
        ("_mirror/http/127.0.0.2:8081/pkgs/a.rpm", Some("http://127.0.0.2:8081/pkgs/a.rpm")),
        ("_mirror/https/m.example", Some("https://m.example/")),
        ("_mirror/ftp/m.example/a", None),
        ("_mirror/file/etc/passwd", None),
        ("_mirror/https/user@m.example/a", None),
        ("_mirror/https/m.example%2Fx/a", None),
        ("_mirror/https/m.example/a/../../b", None),
        ("_mirror/https//a", None),
        ("_mirror/https/m.example:80x/a", None),
        ("_mirror/https/m.example:443/a", None),
        ("_mirror/", None),
        ("_mirror/https", None),
        ("mirror/https/m.example/a", None),
        ("repodata/repomd.xml", None),
    ];
    for (path, want) in cases {
        assert_eq!(mirror_url(path).as_deref(), *want, "{path}");
    }
    // What proxied() makes, mirror_url() reads back.
    for url in ["https://m.example/fedora/os/", "http://127.0.0.2:8081/pkgs/a%20b.rpm", "http://[::1]:9/x"] {
        let served = proxied(url, PUBLIC).unwrap();
        let path = served.strip_prefix(PUBLIC).unwrap();
        assert_eq!(mirror_url(path).as_deref(), Some(url), "{url}");
    }
    assert_eq!(proxied("http://m.example/r/?country=de", PUBLIC), None);
}

#[test]
fn mirror_documents_are_told_by_their_path() {
    let cases: &[(&str, bool)] = &[
        ("metalink", true),
        ("mirrorlist", true),
        ("mirrorlist/9/baseos", true),
        ("pub/mirrorlist.txt", true),
        ("fedora/metalink.xml", true),
        ("repodata/repomd.xml", false),
        ("Packages/mirrorlist-1.0-1.noarch.rpm", false),
        ("mirrorlists", false),
        ("_mirror/https/m.example/mirrorlist", false),
    ];
    for (path, want) in cases {
        assert_eq!(is_document(path), *want, "{path}");
    }
}
