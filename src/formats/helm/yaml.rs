//! The YAML an index is read and written with: a pull parser over the document's events
//! (never a tree of the whole document), small trees ([`Node`]) for the parts one step needs at
//! a time (one chart version, one top-level field), and a writer of such trees in YAML's flow
//! style.
//!
//! The writer keeps what a value means to a YAML reader, not how it was spelled: a plain
//! scalar that could be a number, a boolean or null stays plain; every other scalar is written
//! double-quoted (JSON escapes are valid YAML escapes), so no reader can take it for something
//! else. Anchors are dropped and aliases refused ([`Reader`]): no index generator writes them,
//! and expanding them is how a small document becomes a huge one.
//!
//! The writer is this module's own, not a crate's emitter. yaml-rust2 (the reader here) and its
//! successor saphyr only dump a whole `Yaml` tree as a document (and their tree keeps no tags);
//! serde_yaml_ng writes one serialised value per call. The one maintained event-level emitter,
//! libyaml-safer, could write a rewritten index version by version, but not a virtual's merge:
//! charts come out in first-seen order across all members, so the merge keeps each chart's
//! versions as text already written ([`Node::write_flow`]) until the last member is read, which
//! an event emitter cannot take; it would have to hold every member's entries as trees instead.

use std::str::Chars;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

/// Deepest nesting of sequences and mappings read.
pub const MAX_DEPTH: usize = 64;

/// A small YAML tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar { value: String, plain: bool, tag: Option<Tag> },
    Seq { items: Vec<Node>, tag: Option<Tag> },
    Map { pairs: Vec<(Node, Node)>, tag: Option<Tag> },
}

const STR_TAG: (&str, &str) = ("tag:yaml.org,2002:", "str");

impl Node {
    /// A string scalar.
    pub fn string(value: impl Into<String>) -> Node {
        Node::Scalar { value: value.into(), plain: false, tag: None }
    }

    /// A plain scalar: a key such as `urls`, written as it is.
    pub fn key(name: &str) -> Node {
        Node::Scalar { value: name.to_owned(), plain: true, tag: None }
    }

    /// The text of a non-null scalar (helm reads names and versions as text whatever YAML
    /// makes of them).
    pub fn text(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, plain: true, tag: None } if is_null(value) => None,
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Whether this is a plain null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, plain: true, tag: None } if is_null(value))
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { pairs, .. } => pairs.iter().find(|(k, _)| k.text() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` of a mapping (in place if present, else appended).
    pub fn set(&mut self, key: &str, value: Node) {
        if let Node::Map { pairs, .. } = self {
            match pairs.iter_mut().find(|(k, _)| k.text() == Some(key)) {
                Some((_, v)) => *v = value,
                None => pairs.push((Node::key(key), value)),
            }
        }
    }

    /// Appends the node in flow style (one line).
    pub fn write_flow(&self, out: &mut String) {
        match self {
            Node::Scalar { value, plain, tag } => {
                let is_str = tag.as_ref().is_some_and(|t| (t.handle.as_str(), t.suffix.as_str()) == STR_TAG);
                if !is_str {
                    write_tag(tag, out);
                }
                write_scalar(value, *plain && !is_str, out);
            }
            Node::Seq { items, tag } => {
                write_tag(tag, out);
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_flow(out);
                }
                out.push(']');
            }
            Node::Map { pairs, tag } => {
                write_tag(tag, out);
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_flow(out);
                    out.push_str(": ");
                    v.write_flow(out);
                }
                out.push('}');
            }
        }
    }
}

fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

fn write_tag(tag: &Option<Tag>, out: &mut String) {
    if let Some(t) = tag {
        out.push_str("!<");
        out.push_str(&t.handle);
        out.push_str(&t.suffix);
        out.push_str("> ");
    }
}

/// Writes a scalar: plain when it was plain and its characters cannot be misread in any
/// context (numbers, booleans, nulls, simple words), else double-quoted.
pub fn write_scalar(value: &str, plain: bool, out: &mut String) {
    let safe =
        |v: &str| !v.is_empty() && v != "-" && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+~-".contains(&b));
    if plain && value.is_empty() {
        out.push_str("null");
    } else if plain && safe(value) {
        out.push_str(value);
    } else {
        // A `String` always serialises.
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
    }
}

/// A pull parser over one YAML document's events.
pub struct Reader<'a> {
    parser: Parser<Chars<'a>>,
}

impl<'a> Reader<'a> {
    /// A reader of `text`.
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader { parser: Parser::new_from_str(text) }
    }

    /// The next event; aliases are refused.
    pub fn next(&mut self) -> Result<Event, String> {
        match self.parser.next_token() {
            Ok((Event::Alias(_), mark)) => {
                Err(format!("YAML aliases are not supported in an index (line {})", mark.line()))
            }
            Ok((ev, _)) => Ok(ev),
            Err(e) => Err(format!("not valid YAML: {e}")),
        }
    }

    /// Reads the node that `first` starts.
    pub fn node(&mut self, first: Event) -> Result<Node, String> {
        self.node_at(first, 0)
    }

    fn node_at(&mut self, first: Event, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        match first {
            Event::Scalar(value, style, _, tag) => Ok(Node::Scalar { value, plain: style == TScalarStyle::Plain, tag }),
            Event::SequenceStart(_, tag) => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => return Ok(Node::Seq { items, tag }),
                        ev => items.push(self.node_at(ev, depth + 1)?),
                    }
                }
            }
            Event::MappingStart(_, tag) => {
                let mut pairs = Vec::new();
                loop {
                    match self.next()? {
                        Event::MappingEnd => return Ok(Node::Map { pairs, tag }),
                        ev => {
                            let key = self.node_at(ev, depth + 1)?;
                            let next = self.next()?;
                            pairs.push((key, self.node_at(next, depth + 1)?));
                        }
                    }
                }
            }
            other => Err(format!("unexpected YAML event {other:?}")),
        }
    }

    /// Skips the node that `first` starts, without keeping it.
    pub fn skip(&mut self, first: Event) -> Result<(), String> {
        let mut open = match first {
            Event::SequenceStart(..) | Event::MappingStart(..) => 1usize,
            _ => 0,
        };
        while open > 0 {
            match self.next()? {
                Event::SequenceStart(..) | Event::MappingStart(..) => open += 1,
                Event::SequenceEnd | Event::MappingEnd => open -= 1,
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_node(text: &str) -> Result<Node, String> {
        let mut r = Reader::new(text);
        assert_eq!(r.next()?, Event::StreamStart);
        assert_eq!(r.next()?, Event::DocumentStart);
        let ev = r.next()?;
        r.node(ev)
    }

    fn flow(text: &str) -> String {
        let mut out = String::new();
        first_node(text).unwrap_or_else(|e| panic!("{text}: {e}")).write_flow(&mut out);
        out
    }

    #[test]
    fn writes_flow_yaml_that_means_the_same() {
        let cases: &[(&str, &str)] = &[
            ("a: 1", "{a: 1}"),
            ("version: 1.0", "{version: 1.0}"),
            ("v: '1.0'", r#"{v: "1.0"}"#),
            ("b: true\nn: ~\ne:\n", "{b: true, n: ~, e: null}"),
            ("u: https://x.example/a b", r#"{u: "https://x.example/a b"}"#),
            ("d: Foo, bar [baz] x#y {z}:w", r#"{d: "Foo, bar [baz] x#y {z}:w"}"#),
            ("s: |\n  two\n  lines\n", r#"{s: "two\nlines\n"}"#),
            ("q: \"tab\\there \\\"x\\\"\"", r#"{q: "tab\there \"x\""}"#),
            ("l: [a, 'b', {c: d}]", r#"{l: [a, "b", {c: d}]}"#),
            ("t: !!str 123", r#"{t: "123"}"#),
            ("t: !!int 123", "{t: !<tag:yaml.org,2002:int> 123}"),
            ("\"k x\": v", r#"{"k x": v}"#),
            ("u: \"\\u00e9\\u0000\"", "{u: \"é\\u0000\"}"),
        ];
        for (text, want) in cases {
            assert_eq!(flow(text), *want, "{text}");
            // What is written reads back as the same tree, up to quoting.
            let again = flow(want);
            assert_eq!(again, *want, "{want} is stable");
        }
    }

    #[test]
    fn refuses_aliases_depth_and_broken_yaml() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        let cases: &[(&str, &str)] = &[
            ("a: &x [1]\nb: *x\n", "aliases are not supported"),
            (&deep, "nested deeper"),
            ("a: [1, 2", "not valid YAML"),
            ("a: \"open", "not valid YAML"),
        ];
        for (text, fragment) in cases {
            let err = first_node(text).unwrap_err();
            assert!(err.contains(fragment), "{text:.40}: {err}");
        }
    }

    #[test]
    fn reads_texts_and_fields() {
        let mut n = first_node("version: 1.0\nname: ~\nurls: [a]\n").unwrap();
        assert_eq!(n.get("version").and_then(Node::text), Some("1.0"));
        assert_eq!(n.get("name").and_then(Node::text), None);
        assert!(n.get("name").unwrap().is_null());
        assert_eq!(n.get("missing"), None);
        n.set("urls", Node::Seq { items: vec![Node::string("b")], tag: None });
        n.set("digest", Node::string("d"));
        let mut out = String::new();
        n.write_flow(&mut out);
        assert_eq!(out, r#"{version: 1.0, name: ~, urls: ["b"], digest: "d"}"#);
    }
}
