//! Virtual repositories: members' packuments and dist-tags merged into one document.
//!
//! The first member wins: `versions`, `dist-tags` and `time` are unions key by key (a key keeps
//! the value of the first member that has it), and every other field is the first member's.
//! Members are the documents each member serves (already rewritten), each read as members
//! with unparsed values ([`super::raw`]), so a merge holds its output, the members' bytes it
//! was given, and a set of the keys seen; no member is parsed into a tree.

use std::collections::HashSet;

use serde_json::value::RawValue;

use super::documents::{check_name, check_tags_field, top, versions};
use super::raw::{object, Members, ObjectWriter};

/// The fields that are unions of the members' objects.
const UNIONS: [&str; 3] = ["versions", "dist-tags", "time"];

/// Writes the union of `objects`, key by key, the first object having a key winning.
fn write_union(out: &mut Vec<u8>, objects: &[Members]) {
    let mut seen: HashSet<&str> = HashSet::with_capacity(objects.first().map_or(0, Members::len));
    let mut w = ObjectWriter::open(out);
    for (k, v) in objects.iter().flat_map(Members::iter) {
        if seen.insert(&**k) {
            w.member(out, k, v);
        }
    }
    w.close(out);
}

/// The object values of `field` in each member, in member order.
fn objects<'a>(docs: &[Members<'a>], field: &str) -> Vec<Members<'a>> {
    docs.iter().filter_map(|d| d.get(field).and_then(object)).collect()
}

/// Members' packuments of `name` merged, first member winning. Each member must be a
/// packument of `name` (an object naming it, with `versions` unless unpublished).
pub fn packuments(name: &str, members: &[&[u8]]) -> Result<Vec<u8>, String> {
    let what = format!("packument of {name}");
    let docs = members
        .iter()
        .map(|body| {
            let doc = top(body, &what)?;
            check_name(&doc, name, &what)?;
            versions(&doc, &what)?;
            check_tags_field(&doc, &what)?;
            Ok(doc)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let first = docs.first().ok_or("no member document")?;
    let mut out = Vec::with_capacity(members.iter().map(|m| m.len()).sum::<usize>() + 1024);
    let mut w = ObjectWriter::open(&mut out);
    let mut written = [false; UNIONS.len()];
    let mut union = |out: &mut Vec<u8>, w: &mut ObjectWriter, i: usize, fallback: Option<&RawValue>| {
        if std::mem::replace(&mut written[i], true) {
            return;
        }
        let objects = objects(&docs, UNIONS[i]);
        match (objects.is_empty(), fallback) {
            (true, Some(v)) => w.member(out, UNIONS[i], v),
            (true, None) => {}
            (false, _) => {
                w.key(out, UNIONS[i]);
                write_union(out, &objects);
            }
        }
    };
    for (k, v) in first.iter() {
        match UNIONS.iter().position(|f| k == f) {
            Some(i) => union(&mut out, &mut w, i, Some(v)),
            None => w.member(&mut out, k, v),
        }
    }
    for i in 0..UNIONS.len() {
        union(&mut out, &mut w, i, None);
    }
    w.close(&mut out);
    Ok(out)
}

/// Members' dist-tags merged tag by tag, first member winning.
pub fn tags(name: &str, members: &[&[u8]]) -> Result<Vec<u8>, String> {
    let what = format!("dist-tags of {name}");
    let docs = members
        .iter()
        .map(|body| {
            let doc = top(body, &what)?;
            super::documents::check_tags(&doc, &what)?;
            Ok(doc)
        })
        .collect::<Result<Vec<_>, String>>()?;
    if docs.is_empty() {
        return Err("no member document".into());
    }
    let mut out = Vec::with_capacity(members.iter().map(|m| m.len()).sum::<usize>() + 2);
    write_union(&mut out, &docs);
    Ok(out)
}
