//! The structure of an `index.yaml`, read in one pass: a walk over the document's events
//! that checks what helm needs (a mapping with an `apiVersion`; `entries` mapping each chart
//! name once to a list of mappings; one document) and hands a [`Visit`]or each top-level field
//! and each chart version, in document order, as small trees. A visitor says which charts it
//! wants; the versions of the others are skipped without being read into trees, and a visitor
//! that has what it needs stops the walk.

use std::collections::HashSet;
use std::fmt;

use yaml_rust2::parser::Event;

use super::index::MAX_VERSIONS;
use super::yaml::{Node, Reader};

/// What [`walk`] hands on, in document order.
pub(super) trait Visit {
    /// A top-level field other than `entries`.
    fn field(&mut self, _key: Node, _value: Node) -> Result<(), String> {
        Ok(())
    }
    /// `entries` starts, at its place among the fields.
    fn entries(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// A chart under `entries` (`key` as written, `name` its text): whether its versions are
    /// wanted (the others are skipped without being read into trees).
    fn chart(&mut self, key: &Node, name: &str) -> bool;
    /// One version of the chart last announced; [`Step::Stop`] ends the walk.
    fn version(&mut self, _chart: &str, _entry: Node) -> Result<Step, String> {
        Ok(Step::Go)
    }
    /// The versions of a wanted chart have all been seen.
    fn chart_done(&mut self, _chart: &str) -> Result<Step, String> {
        Ok(Step::Go)
    }
    /// `entries` ends.
    fn entries_done(&mut self) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Go,
    Stop,
}

/// Reads an index, checking its structure, and tells `v` what it finds.
pub(super) fn walk(body: &[u8], v: &mut impl Visit) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("index.yaml is not UTF-8: {e}"))?;
    walk_text(text, v).map_err(|e| format!("index.yaml {e}"))
}

fn walk_text(text: &str, v: &mut impl Visit) -> Result<(), String> {
    let mut r = Reader::new(text);
    if !matches!(r.next()?, Event::StreamStart) || !matches!(r.next()?, Event::DocumentStart) {
        return Err("is empty, not a YAML mapping".into());
    }
    if !matches!(r.next()?, Event::MappingStart(..)) {
        return Err("is not a YAML mapping".into());
    }
    let (mut names, mut api_version) = (HashSet::new(), false);
    loop {
        let ev = r.next()?;
        if matches!(ev, Event::MappingEnd) {
            break;
        }
        let key = r.node(ev)?;
        let name = key.text().map(str::to_owned);
        if let Some(n) = &name {
            if !names.insert(n.clone()) {
                return Err(format!("has the field {} twice", Shown(n)));
            }
        }
        let ev = r.next()?;
        if name.as_deref() == Some("entries") {
            if entries(&mut r, ev, v)? == Step::Stop {
                return Ok(());
            }
            continue;
        }
        let value = r.node(ev)?;
        if name.as_deref() == Some("apiVersion") {
            api_version = value.text().is_some_and(|t| !t.is_empty());
        }
        v.field(key, value)?;
    }
    if !api_version {
        return Err("has no apiVersion".into());
    }
    match (r.next()?, r.next()?) {
        (Event::DocumentEnd, Event::StreamEnd) => Ok(()),
        _ => Err("has more than one YAML document".into()),
    }
}

fn entries(r: &mut Reader, first: Event, v: &mut impl Visit) -> Result<Step, String> {
    v.entries()?;
    match first {
        Event::MappingStart(..) => {}
        ev @ Event::Scalar(..) if r.node(ev.clone())?.is_null() => return v.entries_done().map(|()| Step::Go),
        _ => return Err("entries is not a mapping".into()),
    }
    let (mut charts, mut total) = (HashSet::new(), 0usize);
    loop {
        let ev = r.next()?;
        if matches!(ev, Event::MappingEnd) {
            break;
        }
        let key = r.node(ev)?;
        let chart = key.text().ok_or("entries has a chart name that is not a string")?.to_owned();
        if !charts.insert(chart.clone()) {
            return Err(format!("lists the chart {} twice under entries", Shown(&chart)));
        }
        let wanted = v.chart(&key, &chart);
        match r.next()? {
            Event::SequenceStart(..) => {}
            ev @ Event::Scalar(..) if r.node(ev.clone())?.is_null() => continue,
            _ => return Err(format!("entries.{} is not a list of chart versions", Shown(&chart))),
        }
        for i in 0.. {
            match r.next()? {
                Event::SequenceEnd => break,
                ev @ Event::MappingStart(..) => {
                    total += 1;
                    if total > MAX_VERSIONS {
                        return Err(format!("lists more than {MAX_VERSIONS} chart versions"));
                    }
                    if !wanted {
                        r.skip(ev)?;
                    } else if v.version(&chart, r.node(ev)?)? == Step::Stop {
                        return Ok(Step::Stop);
                    }
                }
                _ => return Err(format!("entries.{}[{i}] is not a mapping", Shown(&chart))),
            }
        }
        if wanted && v.chart_done(&chart)? == Step::Stop {
            return Ok(Step::Stop);
        }
    }
    v.entries_done()?;
    Ok(Step::Go)
}

/// The walk of [`super::index::check`]: structure only.
pub(super) struct Check;

impl Visit for Check {
    fn chart(&mut self, _key: &Node, _name: &str) -> bool {
        false
    }
}

/// A name shown in a message, cut short.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(64) {
            Some((i, _)) => write!(f, "{:?}...", &self.0[..i]),
            None => write!(f, "{:?}", self.0),
        }
    }
}
