//! Tables of good and hostile object-browser query strings.

use chrono::TimeZone;

use super::*;

fn list(q: &str) -> Result<ListQuery, String> {
    parse_list(q).map_err(|e| e.to_string())
}

fn default_query() -> ListQuery {
    ListQuery { prefix: None, sort: Sort::Path, order: Order::Asc, limit: DEFAULT_LIMIT, after: None }
}

#[test]
fn good_queries_parse() {
    let with = |f: &dyn Fn(&mut ListQuery)| {
        let mut q = default_query();
        f(&mut q);
        q
    };
    let cases: Vec<(&str, ListQuery)> = vec![
        ("", default_query()),
        ("&&", default_query()),
        ("limit=1", with(&|q| q.limit = 1)),
        ("limit=1000", with(&|q| q.limit = 1000)),
        ("sort=last_access&order=desc", with(&|q| (q.sort, q.order) = (Sort::LastAccess, Order::Desc))),
        ("sort=path&order=asc", default_query()),
        ("prefix=files/", with(&|q| q.prefix = Some("files/".into()))),
        ("prefix=fil", with(&|q| q.prefix = Some("fil".into()))),
        ("prefix=a%2Fb%20c", with(&|q| q.prefix = Some("a/b c".into()))),
        ("prefix=v1.0.0%2Bincompatible", with(&|q| q.prefix = Some("v1.0.0+incompatible".into()))),
        ("prefix=a+b", with(&|q| q.prefix = Some("a b".into()))),
        ("prefix=caf%C3%A9/", with(&|q| q.prefix = Some("café/".into()))),
        ("prefix=a/..b/...", with(&|q| q.prefix = Some("a/..b/...".into()))),
        ("prefix=%25", with(&|q| q.prefix = Some("%".into()))),
    ];
    for (q, want) in cases {
        assert_eq!(list(q), Ok(want), "{q:?}");
    }
}

#[test]
fn hostile_queries_name_the_parameter() {
    let long = format!("prefix={}", "a".repeat(MAX_PATH_BYTES + 1));
    let cases: &[(&str, &str)] = &[
        ("limit=0", "limit: expected a whole number from 1 to 1000, got \"0\""),
        ("limit=-1", "limit: expected a whole number"),
        ("limit=1001", "limit: expected a whole number"),
        ("limit=99999999999999999999", "limit: expected a whole number"),
        ("limit=abc", "limit: expected a whole number"),
        ("limit=", "limit: expected a whole number"),
        ("limit=1.5", "limit: expected a whole number"),
        ("limit=+5", "limit: expected a whole number"),
        ("limit=%201", "limit: expected a whole number"),
        ("limit=5&limit=6", "limit: given more than once"),
        ("limt=5", "limt: unknown parameter (expected one of: prefix, sort, order, limit, cursor)"),
        ("offset=10", "offset: unknown parameter"),
        ("sort=size", "sort: expected path or last_access, got \"size\""),
        ("sort=", "sort: expected path or last_access"),
        ("order=up", "order: expected asc or desc, got \"up\""),
        ("prefix=", "prefix: empty"),
        ("prefix=..", "prefix: '.' and '..' path segments are not allowed"),
        ("prefix=a/../b", "prefix: '.' and '..'"),
        ("prefix=%2e%2e/etc", "prefix: '.' and '..'"),
        ("prefix=a/.", "prefix: '.' and '..'"),
        ("prefix=./a", "prefix: '.' and '..'"),
        ("prefix=a%00b", "prefix: NUL byte"),
        ("prefix=a%0Ab", "prefix: control character"),
        ("prefix=a%5Cb", "prefix: backslash"),
        ("prefix=a\\b", "prefix: backslash"),
        ("prefix=/etc", "prefix: must not start with '/'"),
        ("prefix=a//b", "prefix: empty path segment"),
        ("prefix=%ff", "prefix: not valid UTF-8"),
        (&long, "prefix: longer than 4096 bytes"),
        ("cursor=", "cursor: not a cursor this server returned"),
        ("cursor=!!!", "cursor: not a cursor"),
        ("cursor=bm90IGpzb24", "cursor: not a cursor"),
        ("cursor=e30", "cursor: not a cursor"),
        ("%ff=1", "query: not valid UTF-8"),
    ];
    for (q, want) in cases {
        let got = list(q).expect_err(q);
        assert!(got.starts_with(want), "{q:?}: {got}");
    }
}

#[test]
fn cursors_round_trip_and_stay_with_their_sort() {
    let at = Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap();
    let keys = [
        (SortKey::Path { path: "a/b c".into(), variant: "".into() }, "", Order::Asc),
        (SortKey::Path { path: "日本/x".into(), variant: "json".into() }, "&order=desc", Order::Desc),
        (SortKey::LastAccess { at, path: "p".into(), variant: "".into() }, "&sort=last_access&order=desc", Order::Desc),
    ];
    for (key, params, order) in keys {
        let cursor = encode_cursor(&key, order);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
        let q = list(&format!("cursor={cursor}{params}")).unwrap();
        assert_eq!(q.after, Some(key.clone()));
        // With padding added by a client, still fine.
        assert_eq!(list(&format!("cursor={cursor}%3D{params}")).unwrap().after, Some(key.clone()));
    }
    let path_cursor = encode_cursor(&SortKey::Path { path: "a".into(), variant: "".into() }, Order::Asc);
    for other in ["&order=desc", "&sort=last_access"] {
        let e = list(&format!("cursor={path_cursor}{other}")).unwrap_err();
        assert!(e.starts_with("cursor: made for sort=path&order=asc"), "{e}");
    }
    // A cursor claiming last_access without a time is refused.
    let forged = URL_SAFE_NO_PAD.encode(br#"{"s":"last_access","o":"asc","p":"a","v":""}"#);
    assert!(list(&format!("cursor={forged}&sort=last_access")).unwrap_err().starts_with("cursor: not a cursor"));
    let huge = "A".repeat(MAX_CURSOR_BYTES + 4);
    assert!(list(&format!("cursor={huge}")).unwrap_err().starts_with("cursor: not a cursor"));
}

#[test]
fn eviction_takes_only_a_prefix() {
    assert_eq!(parse_evict(""), Ok(None));
    assert_eq!(parse_evict("prefix=files/"), Ok(Some("files/".into())));
    for (q, want) in [
        ("prefix=", "prefix: empty"),
        ("prefix=../x", "prefix: '.' and '..'"),
        ("limit=5", "limit: unknown parameter (expected one of: prefix)"),
        ("prefix=a&prefix=b", "prefix: given more than once"),
    ] {
        let got = parse_evict(q).unwrap_err().to_string();
        assert!(got.starts_with(want), "{q:?}: {got}");
    }
}
