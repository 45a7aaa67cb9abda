//! Virtual repositories: one name in front of several remotes and locals.
//!
//! The request is parsed once, for the virtual's package type; then each member is tried in
//! order through the same steps a remote request takes ([`Service::member`]; a local member
//! through [`Service::local_member`]), so each member's own access rules, classification, cache
//! and breaker apply. The first member that has the
//! file answers. A member whose answer [`ServeError::is_absent`] is passed over; one that
//! [`ServeError::is_down`] is passed over too and named in the reply's `unavailable`, and when
//! no member had the file the answer is then a 502 naming it rather than a 404 that would be
//! wrong.
//!
//! Package indexes ([`Plan::Document`]) are merged instead: each member renders its own copy
//! (so file URLs point at the member that serves them), the package type merges them
//! ([`crate::formats::Format::merge`]), and the merge is kept like any rendering, keyed by the
//! members' renderings, so it is made once per combination of member copies. A local member
//! that has the package a per-package document is about (an npm packument, a PyPI project
//! page, a goproxy `@v/list`) shadows it in every member after it: those are not asked, so a
//! name published in the local can never be taken over by a remote listed later (dependency
//! confusion). Documents of a whole repository (a helm `index.yaml`) are merged from every
//! member; a member document a local generated is marked ([`Rendered::from_local`]) so the
//! type's merge can let the local's packages shadow the same names of later members.

use artifactapi_actors::digest::Digest;
use artifactapi_actors::remote::CacheStatus;
use sha2::Digest as _;

use super::documents::{blocking, read_whole};
use super::renders::{RenderKey, RenderedRef};
use super::{repo_of, Body, Outcome, ServeError, Service, VirtualReply};
use crate::formats::{Doc, Format, LocalPlan, Plan, Rendered, Repo, Request};
use crate::virtuals::VirtualSpec;

/// The cache status a merged answer reports: the least fresh of its parts.
pub(super) fn worse(a: CacheStatus, b: CacheStatus) -> CacheStatus {
    let rank = |s: CacheStatus| match s {
        CacheStatus::Hit => 0,
        CacheStatus::Revalidated => 1,
        CacheStatus::Miss => 2,
        CacheStatus::Stale => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn none_had_it(name: &str, path: &str, down: &[String]) -> ServeError {
    let message = if down.is_empty() {
        format!("{path:?} not found in any member of virtual {name:?}")
    } else {
        format!("{path:?} not found in the members of virtual {name:?} that answered; unavailable: {}", down.join(", "))
    };
    ServeError::NoMember { message, down: down.to_vec() }
}

impl Service {
    pub(super) async fn virtual_request<F: Format>(
        &self,
        f: &'static F,
        spec: &VirtualSpec,
        req: &Request<'_>,
    ) -> VirtualReply {
        let mut down = Vec::new();
        let result = self.walk(f, spec, req, &mut down).await;
        VirtualReply { result, unavailable: down }
    }

    async fn walk<F: Format>(
        &self,
        f: &'static F,
        spec: &VirtualSpec,
        req: &Request<'_>,
        down: &mut Vec<String>,
    ) -> Result<Outcome, ServeError> {
        let e = f.parse(req).map_err(|e| super::refused(&spec.name, e))?;
        let repo = Repo { name: &spec.name, base_url: "", ban_tags: &[] };
        match f.plan(&e, &repo).map_err(|err| super::refused(&spec.name, err))? {
            Plan::Redirect(to) => Ok(Outcome::Redirect(to)),
            Plan::Document(target, doc) => self.merged(f, spec, &e, &target.path, doc, down).await,
            Plan::Bytes(target) => self.first_hit(f, spec, &e, &target.path, down).await,
            Plan::Listed { path, .. } => self.first_hit(f, spec, &e, &path, down).await,
        }
    }

    /// The first member's answer that is not "absent". A local member that lacks the file but
    /// has the package it belongs to ([`Format::local_owner`]) ends the walk: the name is the
    /// local's, and a later member's file of that name is never served (dependency confusion).
    async fn first_hit<F: Format>(
        &self,
        f: &'static F,
        spec: &VirtualSpec,
        e: &F::Endpoint,
        path: &str,
        down: &mut Vec<String>,
    ) -> Result<Outcome, ServeError> {
        for member in &spec.members {
            let answer = match (self.registry.get(member), self.registry.get_local(member)) {
                (Some(entry), _) => self.member(f, &entry, e).await,
                (None, Some(local)) => self.local_member(f, &local, e).await,
                (None, None) => continue,
            };
            match answer {
                Ok(outcome) => return Ok(outcome),
                Err(err) if err.is_absent() && self.registry.get_local(member).is_some() => {
                    if let Some(package) = f.local_owner(e) {
                        let owned = self.db.local_has_package(member, &package).await;
                        if owned.map_err(|e| ServeError::Unavailable(e.to_string()))? {
                            return Err(ServeError::NotFound(format!(
                                "{path:?}: {package} belongs to local {member:?}, which does not have this file \
                                 (members after it are not asked)"
                            )));
                        }
                    }
                }
                Err(err) if err.is_absent() => {}
                Err(err) if err.is_down() => down.push(member.clone()),
                Err(err) => return Err(err),
            }
        }
        Err(none_had_it(&spec.name, path, down))
    }

    /// A document merged from every member's rendered copy, by the package type's rules.
    async fn merged<F: Format>(
        &self,
        f: &'static F,
        spec: &VirtualSpec,
        e: &F::Endpoint,
        path: &str,
        doc: Doc,
        down: &mut Vec<String>,
    ) -> Result<Outcome, ServeError> {
        let mut parts: Vec<(RenderedRef, bool)> = Vec::new();
        let mut status = CacheStatus::Hit;
        for member in &spec.members {
            let mut shadows = false;
            let rendered = match (self.registry.get(member), self.registry.get_local(member)) {
                (Some(entry), _) => {
                    let repo = repo_of(&entry);
                    if entry.remote.rules.check_access(&f.subject(e, &repo)).is_err() {
                        continue;
                    }
                    match f.plan(e, &repo) {
                        Ok(Plan::Document(target, member_doc)) => self.document(f, &entry, e, target, member_doc).await,
                        Ok(_) => continue,
                        Err(err) => Err(super::refused(member, err)),
                    }
                }
                (None, Some(local)) => match f.local_plan(e) {
                    Some(LocalPlan::Document { package, doc }) => {
                        shadows = package.is_some();
                        self.local_rendered(f, &local, e, package, doc).await.map(|r| (r, CacheStatus::Hit))
                    }
                    _ => continue,
                },
                (None, None) => continue,
            };
            let from_local = self.registry.get(member).is_none();
            match rendered {
                Ok((part, s)) => {
                    status = worse(status, s);
                    parts.push((part, from_local));
                    if shadows {
                        // A local that has this package shadows it in every later member.
                        break;
                    }
                }
                Err(err) if err.is_absent() => {}
                Err(err) if err.is_down() => down.push(member.clone()),
                Err(err) => return Err(err),
            }
        }
        if parts.is_empty() {
            return Err(none_had_it(&spec.name, path, down));
        }
        let mut combined = sha2::Sha256::new();
        for (p, from_local) in &parts {
            combined.update(p.digest.hex().as_bytes());
            combined.update(if *from_local { b"L" } else { b"R" });
        }
        let source = Digest::from_bytes(combined.finalize().into());
        let key = RenderKey::new(&spec.name, path, doc, source);
        let (store, e, name) = (self.store.clone(), e.clone(), spec.name.clone());
        let what = format!("virtual {name}: merging {path:?}");
        let job = async move {
            let mut members = Vec::with_capacity(parts.len());
            for (p, from_local) in &parts {
                let body = read_whole(&*store, &what, &p.digest, p.size).await?;
                members.push(Rendered { from_local: *from_local, ..Rendered::new(body, p.content_type.clone()) });
            }
            blocking(move || f.merge(&e, &doc, members))
                .await?
                .map_err(|why| ServeError::BadGateway(format!("{what}: {why}")))
        };
        let merged = self.renders.get_or_render(key, job).await?;
        Ok(Outcome::Served { body: Body::Stored(merged.stored()), status, rendered: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_answers_report_their_least_fresh_part() {
        use CacheStatus::*;
        assert_eq!(worse(Hit, Miss), Miss);
        assert_eq!(worse(Stale, Hit), Stale);
        assert_eq!(worse(Revalidated, Hit), Revalidated);
        assert_eq!(worse(Miss, Stale), Stale);
    }

    #[test]
    fn a_virtual_without_the_file_says_whether_members_were_down() {
        let absent = none_had_it("v", "a.txt", &[]);
        assert!(absent.is_absent() && absent.status() == 404, "{absent}");
        let down = none_had_it("v", "a.txt", &["m1".to_string()]);
        assert!(down.is_down() && down.status() == 502 && down.to_string().contains("m1"), "{down}");
    }
}
