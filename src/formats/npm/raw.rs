//! JSON objects read without building them: the members of an object as its keys and the
//! unparsed text of each value, borrowed from the document.
//!
//! A packument is mostly `versions` (thousands of version manifests, 10–20 MB in all). Reading
//! it into a `serde_json::Value` costs several times its size in heap, for every check,
//! rewrite, lookup and merge. Here an object is a list of `(key, &RawValue)` in document order
//! (serde_json validates the text it skips, so a document that reads is valid JSON); a value is
//! only parsed, in turn, when it is the one thing a step needs (one version's `dist`), and
//! values passed on unchanged are copied as their original text. Output is written straight
//! into a byte buffer.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object's members in document order, values unparsed.
#[derive(Debug, Default)]
pub struct Members<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// The value of `key`; the last one when a document repeats a key, as JSON readers take it.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Cow<'a, str>, &'a RawValue)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Why a text is not the object asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotObject {
    #[error("is not valid JSON: {0}")]
    Invalid(String),
    #[error("is not a JSON object")]
    Other,
}

/// The members of the object `text` is (the whole text must be that one value).
pub fn members(text: &[u8]) -> Result<Members<'_>, NotObject> {
    serde_json::from_slice(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => NotObject::Other,
        _ => NotObject::Invalid(e.to_string()),
    })
}

/// The members of an already-validated value, if it is an object.
pub fn object(value: &RawValue) -> Option<Members<'_>> {
    is_object(value).then(|| serde_json::from_str(value.get()).ok()).flatten()
}

pub fn is_object(value: &RawValue) -> bool {
    value.get().starts_with('{')
}

pub fn is_string(value: &RawValue) -> bool {
    value.get().starts_with('"')
}

pub fn is_null(value: &RawValue) -> bool {
    value.get() == "null"
}

/// The text of a string value (unescaped), `None` for any other value.
pub fn string(value: &RawValue) -> Option<Cow<'_, str>> {
    if !is_string(value) {
        return None;
    }
    serde_json::from_str::<Key>(value.get()).ok().map(|k| k.0)
}

/// Writes `s` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes objects member by member: `{`, then members with their commas, then `}`.
pub struct ObjectWriter {
    first: bool,
}

impl ObjectWriter {
    pub fn open(out: &mut Vec<u8>) -> ObjectWriter {
        out.push(b'{');
        ObjectWriter { first: true }
    }

    /// Starts a member: the comma before it and its key; the caller writes the value.
    pub fn key(&mut self, out: &mut Vec<u8>, key: &str) {
        if !std::mem::take(&mut self.first) {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
    }

    pub fn member(&mut self, out: &mut Vec<u8>, key: &str, value: &RawValue) {
        self.key(out, key);
        out.extend_from_slice(value.get().as_bytes());
    }

    pub fn close(self, out: &mut Vec<u8>) {
        out.push(b'}');
    }
}

/// A key (or string), borrowed from the text unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_read_in_order_without_parsing_values() {
        let text = br#" {"b": [1, 2], "a\u00e9": {"x": null}, "b": "last"} "#;
        let m = members(text).unwrap();
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "a\u{e9}", "b"]);
        assert_eq!(m.get("b").map(RawValue::get), Some("\"last\""));
        assert_eq!(m.get("a\u{e9}").map(RawValue::get), Some(r#"{"x": null}"#));
        assert!(matches!(m.0[1].0, Cow::Owned(_)), "an escaped key is unescaped");
        assert!(matches!(m.0[0].0, Cow::Borrowed(_)));
        let inner = object(m.0[1].1).unwrap();
        assert!(inner.get("x").is_some_and(is_null));
        assert_eq!(string(m.0[2].1).as_deref(), Some("last"));
        assert_eq!(string(m.0[0].1), None);
    }

    #[test]
    fn tells_broken_json_from_other_values() {
        let cases: &[(&[u8], Option<NotObject>)] = &[
            (b"{}", None),
            (b"[1]", Some(NotObject::Other)),
            (b"\"x\"", Some(NotObject::Other)),
            (b"{\"a\": 1", Some(NotObject::Invalid(String::new()))),
            (b"<html>", Some(NotObject::Invalid(String::new()))),
            (b"{\"a\": [1,]}", Some(NotObject::Invalid(String::new()))),
            (b"{} x", Some(NotObject::Invalid(String::new()))),
        ];
        for (text, want) in cases {
            let got = members(text).err().map(|e| match e {
                NotObject::Invalid(_) => NotObject::Invalid(String::new()),
                other => other,
            });
            assert_eq!(&got, want, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn writes_members_as_their_text() {
        let m = members(br#"{"a":1,"b":{"c" : [true]}}"#).unwrap();
        let mut out = Vec::new();
        let mut w = ObjectWriter::open(&mut out);
        for (k, v) in m.iter() {
            w.member(&mut out, k, v);
        }
        w.key(&mut out, "q\"");
        write_str(&mut out, "v");
        w.close(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":1,"b":{"c" : [true]},"q\"":"v"}"#);
    }
}
