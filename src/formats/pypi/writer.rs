//! Project pages written file by file, in either form, so a rewrite or a merge holds its
//! output and one file at a time, never a list of every file.
//!
//! The JSON form puts `meta` last: its `api-version` (1.1 when the page has `versions` and every
//! file a `size`, PEP 700) is known only once every file has been written, and the order of
//! an object's keys means nothing to a PEP 691 client.

use super::html;
use super::json;
use super::page::DistFile;

/// A project page being written.
pub struct ProjectWriter {
    json: bool,
    out: String,
    files: usize,
    all_sized: bool,
}

impl ProjectWriter {
    /// Starts the page of project `name` (normalised), in JSON or else HTML; `capacity` is a
    /// guess at its size.
    pub fn new(name: &str, json: bool, capacity: usize) -> ProjectWriter {
        let mut out = String::with_capacity(capacity);
        if json {
            out.push_str("{\"name\":");
            out.push_str(&serde_json::Value::from(name).to_string());
            out.push_str(",\"files\":[");
        } else {
            out.push_str(&html::head(&format!("Links for {}", html::escape(name))));
        }
        ProjectWriter { json, out, files: 0, all_sized: true }
    }

    /// Appends one file.
    pub fn file(&mut self, f: &DistFile) {
        self.all_sized &= f.size.is_some();
        if self.json {
            if self.files > 0 {
                self.out.push(',');
            }
            self.out.push_str(&json::render_file(f).to_string());
        } else {
            html::file_line(&mut self.out, f);
        }
        self.files += 1;
    }

    /// Ends the page; `versions` are the PEP 700 versions (JSON only).
    pub fn finish(mut self, versions: Option<&[String]>) -> String {
        if !self.json {
            self.out.push_str(html::TAIL);
            return self.out;
        }
        self.out.push(']');
        if let Some(vs) = versions {
            self.out.push_str(",\"versions\":");
            self.out.push_str(&serde_json::Value::from(vs.to_vec()).to_string());
        }
        let v11 = versions.is_some() && self.all_sized;
        self.out.push_str(if v11 {
            ",\"meta\":{\"api-version\":\"1.1\"}}"
        } else {
            ",\"meta\":{\"api-version\":\"1.0\"}}"
        });
        self.out
    }
}
