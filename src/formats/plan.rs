//! How a request is served, as its package type decides it: the types of [`super::Format`]'s
//! serving methods.
//!
//! Most requests are bytes served as the upstream has them ([`Plan::Bytes`]), fetched as a
//! [`Target`]: the object's catalog path and variant (its cache key), where it is upstream, what
//! to send (`Accept`, a token scope) and what it must be (a digest, a check of the whole body).
//! Package indexes are [`Plan::Document`]s: cached as the upstream sent them (one copy per
//! content-negotiation variant), checked by the type's parser before they are cached, and
//! rewritten on the way out so every file they list downloads through this server ([`Urls`]).
//! A file an index lists may live anywhere the index says (another path, another host): it is
//! a [`Plan::Listed`] file, found in its index by [`super::Format::locate`], which gives the
//! real upstream URL and the digest the bytes must have. Only URLs taken from the remote's own
//! index are ever fetched, so a client cannot make the proxy fetch from a host of its choosing.

use artifactapi_actors::digest::Digest;
use artifactapi_actors::integrity::Integrity;

/// One content-negotiated form of a document, cached separately from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Doc {
    /// The cache variant (empty for a document with only one form).
    pub variant: &'static str,
    /// The `Accept` header sent upstream for this variant (empty: none).
    pub accept: &'static str,
}

/// What to fetch for a request: its cache key and its upstream request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// The object's catalog path: decoded, relative to the repository. With `variant`, the key
    /// of the cached object.
    pub path: String,
    /// Content-negotiation variant (empty for most objects).
    pub variant: String,
    /// The upstream path, percent-encoded, relative to the remote's base URL.
    pub upstream: String,
    /// The query string sent upstream (encoded, without `?`; empty for none).
    pub query: String,
    /// `Accept` sent upstream.
    pub accept: Option<String>,
    /// The digest the bytes must have.
    pub expected: Option<Digest>,
    /// What else the bytes must match, checked while they stream (a registry's `sha512:`
    /// digest): a body that does not is never cached.
    pub integrity: Option<artifactapi_actors::integrity::Integrity>,
    /// Held until the whole body has arrived and [`super::Format::check_document`] accepted it
    /// (documents, docker manifests): clients never see an answer that fails its check.
    pub held: bool,
    /// Revalidate an expired copy with a HEAD comparing `Docker-Content-Digest` (registries).
    pub revalidate_by_digest: bool,
    /// The registry token scope of the request (`repository:library/alpine:pull`).
    pub token_scope: Option<String>,
}

impl Target {
    /// The object at catalog path `path`, at `upstream` below the base URL.
    pub fn new(path: impl Into<String>, upstream: impl Into<String>) -> Target {
        Target { path: path.into(), upstream: upstream.into(), ..Target::default() }
    }

    /// The target of a document in the form `doc`: held, checked, one copy per variant.
    pub fn document(mut self, doc: &Doc) -> Target {
        self.variant = doc.variant.to_string();
        self.accept = (!doc.accept.is_empty()).then(|| doc.accept.to_string());
        self.held = true;
        self
    }
}

/// How a request is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan<E> {
    /// The upstream's bytes, unchanged.
    Bytes(Target),
    /// Send the client to this path of the same repository (e.g. a PyPI project name in its
    /// normalised form); relative to the repository, decoded, no leading slash.
    Redirect(String),
    /// A metadata document: checked by [`super::Format::check_document`] before it is cached,
    /// rewritten by [`super::Format::rewrite`] on the way out, merged by
    /// [`super::Format::merge`] in virtual repositories.
    Document(Target, Doc),
    /// A file listed in the document `index` (an endpoint of the same repository, which plans
    /// a [`Plan::Document`]); `path` is the file's catalog path.
    Listed { path: String, index: E },
}

/// An index parsed once by [`super::Format::parse_index`], kept per cached copy of the index
/// and handed back to [`super::Format::locate_parsed`] (each type downcasts to its own form).
pub type ParsedIndex = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// Where a listed file really is and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The absolute upstream URL, as the index gives it (resolved against the index's URL).
    pub url: String,
    pub integrity: Option<Integrity>,
}

/// A document as served: rewritten or merged bytes and their content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Vec<u8>,
    pub content_type: String,
    /// Set on a virtual's member document that a local repository generated: a format's
    /// [`super::Format::merge`] lets a local listed before a remote shadow the remote's package
    /// of the same name (the defence against dependency confusion).
    pub from_local: bool,
}

impl Rendered {
    pub fn new(body: Vec<u8>, content_type: impl Into<String>) -> Self {
        Rendered { body, content_type: content_type.into(), from_local: false }
    }
}

/// The URLs a document is rewritten with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    /// Where this repository's files are served: `{PUBLIC_URL}/api/v1/remote/{name}/`.
    pub public: String,
    /// The remote's base URL, ending with `/`.
    pub base: String,
    /// The URL the document was fetched from, which relative links resolve against.
    pub document: String,
}

impl Urls {
    /// `href` resolved against the document's URL, if it is an absolute http(s) URL then.
    pub fn resolve(&self, href: &str) -> Option<url::Url> {
        let doc = url::Url::parse(&self.document).ok()?;
        let u = doc.join(href.trim()).ok()?;
        matches!(u.scheme(), "http" | "https").then_some(u)
    }

    /// The part of `url` below the remote's base URL (still percent-encoded, no query or
    /// fragment), if it is below it.
    pub fn below_base<'u>(&self, url: &'u url::Url) -> Option<&'u str> {
        let s = &url[..url::Position::AfterPath];
        s.strip_prefix(self.base.as_str()).filter(|rest| !rest.is_empty())
    }

    /// The public URL of `path` (relative to the repository, already percent-encoded).
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{}", self.public, path.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> Urls {
        Urls {
            public: "http://proxy:8080/api/v1/remote/py/".into(),
            base: "http://up:3141/root/pypi/".into(),
            document: "http://up:3141/root/pypi/simple/foo/".into(),
        }
    }

    #[test]
    fn resolves_links_like_a_browser() {
        let u = urls();
        let cases: &[(&str, Option<&str>)] = &[
            (
                "../../packages/foo-1.0.tar.gz#sha256=ab",
                Some("http://up:3141/root/pypi/packages/foo-1.0.tar.gz#sha256=ab"),
            ),
            ("/other/foo.whl", Some("http://up:3141/other/foo.whl")),
            ("foo-1.0.whl", Some("http://up:3141/root/pypi/simple/foo/foo-1.0.whl")),
            ("https://files.example/p/foo.whl", Some("https://files.example/p/foo.whl")),
            ("ftp://files.example/foo.whl", None),
            ("javascript:alert(1)", None),
        ];
        for (href, want) in cases {
            assert_eq!(u.resolve(href).map(|u| u.to_string()).as_deref(), *want, "{href}");
        }
    }

    #[test]
    fn finds_what_is_below_the_base() {
        let u = urls();
        let below = |s: &str| u.below_base(&url::Url::parse(s).unwrap()).map(str::to_string);
        assert_eq!(below("http://up:3141/root/pypi/packages/a.whl#x").as_deref(), Some("packages/a.whl"));
        assert_eq!(below("http://up:3141/root/pypi/"), None);
        assert_eq!(below("http://up:3141/root/other/a.whl"), None);
        assert_eq!(below("http://up:3142/root/pypi/a.whl"), None);
        assert_eq!(u.public_url("/packages/a.whl"), "http://proxy:8080/api/v1/remote/py/packages/a.whl");
    }
}
