//! Terraform values as the provider handles them: an object is a map of attribute name to
//! [`ValueAny`] (known, null or unknown), converted to and from the management API's JSON.
//!
//! Resources keep their state in this one shape rather than a struct per resource so that one
//! table of attributes ([`crate::kinds`]) drives the schema, the plan, the API body and the read
//! of every repository kind. Field names in the API's error messages (`patterns[1]`,
//! `scopes[0].repository`) are parsed here into attribute paths, so a refused field is
//! reported on the attribute that holds it.

use std::collections::BTreeMap;

use tf_provider::value::ValueAny;
use tf_provider::AttributePath;

/// A Terraform object: attribute name to value.
pub type Obj = BTreeMap<String, ValueAny>;

/// The string at `key`, when it is known and not null.
pub fn known_str<'a>(o: &'a Obj, key: &str) -> Option<&'a str> {
    match o.get(key) {
        Some(ValueAny::String(s)) => Some(s),
        _ => None,
    }
}

/// The number at `key`, when it is known and not null.
pub fn known_int(o: &Obj, key: &str) -> Option<i64> {
    match o.get(key) {
        Some(ValueAny::Number(n)) => Some(*n),
        _ => None,
    }
}

/// The boolean at `key`, when it is known and not null.
pub fn known_bool(o: &Obj, key: &str) -> Option<bool> {
    match o.get(key) {
        Some(ValueAny::Bool(b)) => Some(*b),
        _ => None,
    }
}

/// The list at `key`, when it is known and not null (its elements may still be unknown).
pub fn known_list<'a>(o: &'a Obj, key: &str) -> Option<&'a [ValueAny]> {
    match o.get(key) {
        Some(ValueAny::List(l)) => Some(l),
        _ => None,
    }
}

/// Whether `v` is null.
pub fn is_null(v: Option<&ValueAny>) -> bool {
    matches!(v, None | Some(ValueAny::Null))
}

/// `v` as JSON; `None` when any part of it is unknown.
pub fn to_json(v: &ValueAny) -> Option<serde_json::Value> {
    Some(match v {
        ValueAny::String(s) => serde_json::Value::String(s.clone()),
        ValueAny::Number(n) => serde_json::Value::from(*n),
        ValueAny::Bool(b) => serde_json::Value::Bool(*b),
        ValueAny::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect::<Option<_>>()?),
        ValueAny::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| Some((k.clone(), to_json(v)?))).collect::<Option<_>>()?)
        }
        ValueAny::Null => serde_json::Value::Null,
        ValueAny::Unknown => return None,
    })
}

/// JSON from the API as a Terraform value (numbers that are not 64-bit integers become
/// strings: the API has none).
pub fn from_json(v: &serde_json::Value) -> ValueAny {
    match v {
        serde_json::Value::Null => ValueAny::Null,
        serde_json::Value::Bool(b) => ValueAny::Bool(*b),
        serde_json::Value::Number(n) => {
            n.as_i64().map(ValueAny::Number).unwrap_or_else(|| ValueAny::String(n.to_string()))
        }
        serde_json::Value::String(s) => ValueAny::String(s.clone()),
        serde_json::Value::Array(a) => ValueAny::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(m) => ValueAny::Map(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

/// One step of a field name as the API writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Attr(String),
    Index(i64),
}

/// Parses a field name of the API (`name`, `patterns[1]`, `scopes[0].repository`) into its
/// steps; `None` when it is not one (a message that names no field).
pub fn parse_field(field: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in field.split('.') {
        let (attr, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if attr.is_empty() || !attr.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return None;
        }
        steps.push(Step::Attr(attr.to_string()));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index: i64 = rest.get(1..close)?.parse().ok()?;
            steps.push(Step::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(steps)
}

/// The attribute path of a field name, when it names one of `attributes`.
pub fn field_path(field: &str, attributes: &[&str]) -> Option<AttributePath> {
    let steps = parse_field(field)?;
    let Some(Step::Attr(root)) = steps.first() else { return None };
    if !attributes.contains(&root.as_str()) {
        return None;
    }
    let mut path = AttributePath::root();
    for step in steps {
        match step {
            Step::Attr(a) => path.add_attribute(a),
            Step::Index(i) => path.add_index(i),
        };
    }
    Some(path)
}

/// Splits an API error message `field: message` into the field's path (when the field is one of
/// `attributes`) and the message.
pub fn split_field_message<'a>(message: &'a str, attributes: &[&str]) -> (Option<AttributePath>, &'a str) {
    if let Some((field, rest)) = message.split_once(": ") {
        if let Some(path) = field_path(field, attributes) {
            return (Some(path), rest);
        }
    }
    (None, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_parse_into_steps() {
        let a = |s: &str| Step::Attr(s.to_string());
        let cases: Vec<(&str, Option<Vec<Step>>)> = vec![
            ("name", Some(vec![a("name")])),
            ("patterns[1]", Some(vec![a("patterns"), Step::Index(1)])),
            ("scopes[0].repository", Some(vec![a("scopes"), Step::Index(0), a("repository")])),
            ("members[12]", Some(vec![a("members"), Step::Index(12)])),
            ("a[1][2]", Some(vec![a("a"), Step::Index(1), Step::Index(2)])),
            ("", None),
            ("name of the remote", None),
            ("patterns[x]", None),
            ("patterns[1", None),
            ("patterns[1]x", None),
            ("Name", None),
            ("remote \"x\"", None),
            (".name", None),
        ];
        for (field, want) in cases {
            assert_eq!(parse_field(field), want, "{field:?}");
        }
    }

    #[test]
    fn messages_name_only_known_attributes() {
        let attrs = ["name", "patterns", "members"];
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("patterns[1]: invalid regex: x", Some("patterns"), "invalid regex: x"),
            ("members[0]: no remote or local repository named \"x\"", Some("members"), "no remote or local"),
            ("name: 1-64 characters", Some("name"), "1-64 characters"),
            ("remote \"a\" not found", None, "remote \"a\" not found"),
            ("tls_ca: bad", None, "tls_ca: bad"),
            ("no colon here", None, "no colon here"),
        ];
        for (message, want_root, want_rest) in cases {
            let (path, rest) = split_field_message(message, &attrs);
            assert!(rest.starts_with(want_rest), "{message}: {rest}");
            let root = path.map(|p| match p.steps.first() {
                Some(tf_provider::AttributePathStep::Attribute(a)) => a.to_string(),
                _ => String::new(),
            });
            assert_eq!(root.as_deref(), *want_root, "{message}");
        }
    }

    #[test]
    fn json_round_trips_and_unknowns_stop_it() {
        let json = serde_json::json!({"a": [1, "x", true, null], "b": {"c": -3}});
        let v = from_json(&json);
        assert_eq!(to_json(&v), Some(json));
        let partly = ValueAny::List(vec![ValueAny::String("x".into()), ValueAny::Unknown]);
        assert_eq!(to_json(&partly), None);
        assert!(matches!(from_json(&serde_json::json!(1.5)), ValueAny::String(s) if s == "1.5"));
    }
}
