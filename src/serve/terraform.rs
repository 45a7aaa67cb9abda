//! The network mirror documents of a terraform remote, made from its registry documents.
//!
//! `index.json` comes from the upstream's `versions` document; `{version}.json` from that and
//! the download document of every platform of the version (fetched together, each cached as
//! the registry proxy caches it). Both are rendered once per set of upstream copies (keyed by
//! the digests of what they were made from) and served from the blob store like any rendered
//! document, so the mirror answers with the upstream down as long as those copies are cached.

use artifactapi_actors::digest::Digest;
use artifactapi_actors::remote::CacheStatus;
use futures_util::future::try_join_all;
use sha2::Digest as _;

use super::documents::{blocking, read_whole};
use super::renders::RenderKey;
use super::virtuals::worse;
use super::{repo_of, Body, Outcome, ServeError, Service};
use crate::formats::terraform::{mirror, mirror_plan, Endpoint, Terraform, TerraformRequest, DOC};
use crate::formats::{Format, Plan};
use crate::registry::RemoteEntry;

impl Service {
    /// The upstream copy of the registry document `e` of the remote, read whole.
    async fn terraform_doc(
        &self,
        entry: &RemoteEntry,
        e: &TerraformRequest,
    ) -> Result<(Digest, Vec<u8>, CacheStatus), ServeError> {
        let name = entry.remote.spec.name.as_str();
        let Plan::Document(target, _) = Terraform.plan(e, &repo_of(entry)).map_err(|err| super::refused(name, err))?
        else {
            return Err(ServeError::Internal(format!("{name}: {:?} is no document", e.path.as_str())));
        };
        let (source, status) = self.source(&Terraform, entry, e, &target).await?;
        let what = format!("remote {name}: {:?}", target.path);
        let body = read_whole(&*self.store, &what, &source.digest, source.size).await?;
        Ok((source.digest, body, status))
    }

    /// `{hostname}/{ns}/{type}/index.json` or `{version}.json` of a terraform remote.
    pub(super) async fn terraform_mirror(
        &self,
        entry: &RemoteEntry,
        e: &TerraformRequest,
    ) -> Result<Outcome, ServeError> {
        let name = entry.remote.spec.name.clone();
        let plan = mirror_plan(e, &repo_of(entry)).map_err(|err| super::refused(&name, err))?;
        let (digest, versions, mut status) = self.terraform_doc(entry, &plan.versions).await?;
        let mut combined = sha2::Sha256::new();
        combined.update(digest.hex().as_bytes());
        let urls = self.urls(entry, String::new());
        let path = e.path.as_str().to_string();
        let job: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> = match plan.version {
            None => Box::pin(async move { blocking(move || mirror::index(&versions)).await }),
            Some(version) => {
                let Endpoint::Versions(provider) = &plan.versions.endpoint else {
                    return Err(ServeError::Internal(format!("{name}: the mirror's versions request")));
                };
                let builds = mirror::builds(&versions, provider, &version)
                    .map_err(|why| ServeError::BadGateway(format!("remote {name}: {why}")))?
                    .ok_or_else(|| ServeError::NotFound(format!("{name}: {provider:?} has no version {version}")))?;
                let fetches = builds.iter().map(|b| async move {
                    let request = TerraformRequest::new(&b.path(), Endpoint::Download(b.clone()))
                        .map_err(|err| super::refused(&entry.remote.spec.name, err))?;
                    self.terraform_doc(entry, &request).await.map(|doc| (b.clone(), doc))
                });
                let mut downloads = Vec::new();
                for (build, (digest, body, s)) in try_join_all(fetches).await? {
                    combined.update(digest.hex().as_bytes());
                    status = worse(status, s);
                    downloads.push((build, body));
                }
                Box::pin(async move { blocking(move || mirror::version(&downloads, &urls)).await })
            }
        };
        let source = Digest::from_bytes(combined.finalize().into());
        let key = RenderKey::new(&name, &path, DOC, source);
        let what = format!("remote {name}: {path:?}");
        let job = async move { job.await?.map_err(|why| ServeError::BadGateway(format!("{what}: {why}"))) };
        let rendered = self.renders.get_or_render(key, job).await?;
        Ok(Outcome::Served { body: Body::Stored(rendered.stored()), status, rendered: true })
    }
}
