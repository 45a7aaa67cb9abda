//! Local repositories, read through the same path as remotes: the request is parsed once by
//! the package type's format, which says how a local answers it ([`LocalPlan`]): a stored file,
//! a document generated from what the local holds, or a redirect.
//!
//! A generated document (an npm packument, a PyPI simple page, a helm `index.yaml`, a goproxy
//! `@v/list`) is rendered once per generation of the local and form, kept in the blob store by
//! [`super::renders`] and streamed from there like any file; every write to the local bumps its
//! generation, so the next request renders the new state. Virtual repositories read their local
//! members through the same two functions ([`Service::local_member`],
//! [`Service::local_rendered`]).

use artifactapi_actors::digest::Digest;
use artifactapi_actors::remote::CacheStatus;

use super::documents::blocking;
use super::renders::{RenderKey, RenderedRef};
use super::{Body, Outcome, ServeError, Service, Stored};
use crate::formats::{Doc, Format, LocalPlan, PackageType, Request, Urls};
use crate::locals::LocalSpec;

impl Service {
    /// `GET|HEAD /api/v1/local/{name}/{path}` of a local of any type but docker (which is
    /// served on `/v2`).
    pub async fn local(&self, spec: &LocalSpec, req: &Request<'_>) -> Result<Outcome, ServeError> {
        if spec.package_type == PackageType::Docker {
            return Err(ServeError::WrongRoute(format!(
                "{name} is a docker repository: pull through the registry API, /v2/{name}/{{image}}/...",
                name = spec.name
            )));
        }
        crate::with_format!(spec.package_type, f => {
            let e = f.parse(req).map_err(|e| super::refused(&spec.name, e))?;
            self.local_member(f, spec, &e).await
        })
    }

    /// The URLs documents of local `name` are written with.
    fn local_urls(&self, name: &str) -> Urls {
        Urls {
            public: format!("{}/api/v1/local/{name}/", self.public_base),
            base: String::new(),
            document: String::new(),
        }
    }

    /// The parsed request `e` answered by the local `spec`.
    pub(super) async fn local_member<F: Format>(
        &self,
        f: &'static F,
        spec: &LocalSpec,
        e: &F::Endpoint,
    ) -> Result<Outcome, ServeError> {
        let name = spec.name.as_str();
        match f.local_plan(e) {
            None => Err(ServeError::NotFound(format!("{name}: local {} repositories serve nothing at {e:?}", F::TYPE))),
            Some(LocalPlan::Redirect(to)) => Ok(Outcome::Redirect(to)),
            Some(LocalPlan::File(path)) => {
                let file = self.db.local_file(name, &path).await.map_err(|e| ServeError::Unavailable(e.to_string()))?;
                let file = file.ok_or_else(|| ServeError::NotFound(format!("{name}: {path:?} not found")))?;
                let stored = Stored {
                    digest: file.digest,
                    size: file.size,
                    content_type: file.content_type,
                    last_modified: Some(httpdate(file.updated_at)),
                };
                Ok(Outcome::Served { body: Body::Stored(stored), status: CacheStatus::Hit, rendered: false })
            }
            Some(LocalPlan::Document { package, doc }) => {
                let rendered = self.local_rendered(f, spec, e, package, doc).await?;
                Ok(Outcome::Served { body: Body::Stored(rendered.stored()), status: CacheStatus::Hit, rendered: true })
            }
        }
    }

    /// The document `e` of local `spec`, generated from its packages (`package`, or all):
    /// once per generation of the local and form.
    pub(super) async fn local_rendered<F: Format>(
        &self,
        f: &'static F,
        spec: &LocalSpec,
        e: &F::Endpoint,
        package: Option<String>,
        doc: Doc,
    ) -> Result<RenderedRef, ServeError> {
        let name = spec.name.clone();
        let unavailable = |e: crate::db::DbError| ServeError::Unavailable(e.to_string());
        let generation = self.db.local_generation(&name).await.map_err(unavailable)?;
        let what = format!("{e:?}");
        let state = format!("{name}\n{generation}\n{}", package.as_deref().unwrap_or("*"));
        let key = RenderKey::new(&name, &format!("local:{what}"), doc, Digest::of(state.as_bytes()));
        let (db, urls, e) = (self.db.clone(), self.local_urls(&name), e.clone());
        let job = async move {
            let packages = db.local_packages(&name, package.as_deref()).await.map_err(unavailable)?;
            if package.is_some() && packages.versions.is_empty() {
                return Err(ServeError::NotFound(format!("{name}: {} not found", package.unwrap_or_default())));
            }
            if f.local_absent(&e, &packages) {
                return Err(ServeError::NotFound(format!("{name}: {what} not found")));
            }
            blocking(move || f.local_document(&e, &doc, &packages, &urls))
                .await?
                .map_err(|why| ServeError::Internal(format!("{name}: generating {what}: {why}")))
        };
        self.renders.get_or_render(key, job).await
    }
}

/// An HTTP date (`Last-Modified`).
fn httpdate(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
