//! How figures read on the pages: sizes in binary units, ratios in percent, times in UTC and
//! relative to now, values in links percent-encoded.

use chrono::{DateTime, Utc};

/// `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A signed byte count (a saving may be negative).
pub fn signed_bytes(n: i64) -> String {
    if n < 0 {
        format!("−{}", bytes(n.unsigned_abs()))
    } else {
        bytes(n as u64)
    }
}

/// `Some(0.753)` → `75.3 %`; `None` → `–`.
pub fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_string(), |r| format!("{:.1} %", r * 100.0))
}

/// `2024-05-01 12:00:00 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `3 min ago`, `in 25 s`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let span = match n {
        0..=59 => format!("{n} s"),
        60..=3599 => format!("{} min", n / 60),
        3600..=86_399 => format!("{} h", n / 3600),
        _ => format!("{} d", n / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A value for a query string (`form_urlencoded`).
pub fn query_value(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A path for a link: each segment percent-encoded, the slashes kept.
pub fn path(p: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    p.split('/').map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()).collect::<Vec<_>>().join("/")
}

/// A query string of the non-empty pairs, with a leading `?` (empty when there are none).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        s.append_pair(k, v);
    }
    let s = s.finish();
    if s.is_empty() {
        s
    } else {
        format!("?{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sizes_ratios_and_times_read_well() {
        let cases: &[(u64, &str)] =
            &[(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 << 20, "5.0 MiB"), (3 << 30, "3.0 GiB")];
        for (n, want) in cases {
            assert_eq!(bytes(*n), *want);
        }
        assert_eq!(signed_bytes(-2048), "−2.0 KiB");
        assert_eq!(ratio(Some(0.7531)), "75.3 %");
        assert_eq!(ratio(None), "–");
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let cases: &[(i64, &str)] = &[
            (0, "0 s ago"),
            (59, "59 s ago"),
            (-25, "in 25 s"),
            (180, "3 min ago"),
            (7200, "2 h ago"),
            (172_800, "2 d ago"),
        ];
        for (secs, want) in cases {
            assert_eq!(relative(now - chrono::Duration::seconds(*secs), now), *want);
        }
        assert_eq!(time(now), "2024-05-01 12:00:00 UTC");
    }

    #[test]
    fn queries_are_encoded_and_skip_empty_values() {
        assert_eq!(query(&[("prefix", "a b&c"), ("cursor", ""), ("sort", "path")]), "?prefix=a+b%26c&sort=path");
        assert_eq!(query(&[("cursor", "")]), "");
        assert_eq!(query_value("/ui/x?a=1"), "%2Fui%2Fx%3Fa%3D1");
        assert_eq!(path("a b/c?d/é"), "a%20b/c%3Fd/%C3%A9");
    }
}
