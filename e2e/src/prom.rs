//! A strict reader of the Prometheus text exposition format (0.0.4), for checking `/metrics`:
//! every sample line must be `name{label="value",...} value`, every metric must be introduced by
//! `# HELP` and `# TYPE` lines, and values must be numbers. Samples can then be summed by name
//! and label to check that counters moved.

use std::collections::{BTreeMap, HashSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of a scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// Metric family name → type.
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    /// Parses `text`, or says which line is wrong and why.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut scrape = Scrape::default();
        let mut helped = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let at = |why: String| format!("line {}: {why}: {line:?}", i + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default();
                check_name(name).map_err(at)?;
                helped.insert(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or_else(|| at("TYPE without a type".into()))?;
                check_name(name).map_err(at)?;
                if !matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped") {
                    return Err(at(format!("unknown type {kind:?}")));
                }
                scrape.types.insert(name.to_string(), kind.to_string());
            } else if line.starts_with('#') {
                continue;
            } else {
                let sample = parse_sample(line).map_err(at)?;
                let family = family_of(&sample.name, &scrape.types);
                if !helped.contains(family) || !scrape.types.contains_key(family) {
                    return Err(at(format!("sample of {family} without HELP and TYPE lines before it")));
                }
                scrape.samples.push(sample);
            }
        }
        Ok(scrape)
    }

    /// The sum of the samples named `name` whose labels include every `(key, value)` of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && with.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }
}

/// The family a sample belongs to: histogram and summary samples carry a suffix.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(types.get(base).map(String::as_str), Some("histogram" | "summary")) {
                return base;
            }
        }
    }
    name
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let key: String = chars.by_ref().map(|(_, c)| c).take_while(|c| *c != '=').collect();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid label name {key:?}"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} without a quoted value"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(c @ ('\\' | '"')) => value.push(c),
                        other => return Err(format!("bad escape \\{other:?} in label {key}")),
                    },
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated value of label {key}")),
                }
            }
            match chars.peek() {
                Some((_, ',')) => {
                    chars.next();
                }
                Some((_, '}')) | None => {}
                Some(_) => return Err(format!("expected ',' or '}}' after label {key}")),
            }
            labels.insert(key, value);
        }
        let end = end.ok_or("labels without a closing brace")?;
        rest = &body[end + 1..];
    }
    let mut parts = rest.trim_start_matches(' ').split(' ');
    let value = parts.next().unwrap_or_default();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("value {v:?} is not a number"))?,
    };
    if let Some(ts) = parts.next() {
        ts.parse::<i64>().map_err(|_| format!("timestamp {ts:?} is not an integer"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text after the value".into());
    }
    Ok(Sample { name: name.to_string(), labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_valid_exposition() {
        let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"uote\"} 3\nx_total{a=\"2\"} 4\n\
                    # HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n";
        let s = Scrape::parse(text).unwrap();
        assert_eq!(s.samples.len(), 6);
        assert_eq!(s.sum("x_total", &[]), 7.0);
        assert_eq!(s.sum("x_total", &[("a", "2")]), 4.0);
        assert_eq!(s.samples[0].labels["b"], "q\"uote");
        assert_eq!(s.sum("h_count", &[]), 2.0);
    }

    #[test]
    fn refuses_malformed_lines() {
        let cases = [
            ("x 1\n", "without HELP and TYPE"),
            ("# HELP x X.\n# TYPE x counter\nx{a=1} 1\n", "without a quoted value"),
            ("# HELP x X.\n# TYPE x counter\nx{a=\"1\" 1\n", "expected ',' or '}' after label a"),
            ("# HELP x X.\n# TYPE x counter\nx{a=\"1\"\n", "closing brace"),
            ("# HELP x X.\n# TYPE x counter\nx one\n", "not a number"),
            ("# HELP x X.\n# TYPE x counter\nx 1 2 3\n", "trailing text"),
            ("# HELP x X.\n# TYPE x countr\n", "unknown type"),
            ("# HELP 1x X.\n", "invalid metric name"),
        ];
        for (text, want) in cases {
            let err = Scrape::parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
