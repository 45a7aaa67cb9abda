//! Which events a stream client asked for: `?repo=a,b&type=fetch_completed,cache_hit`.
//!
//! Both parameters take comma-separated lists and may be repeated (the lists add up); leaving
//! one out means "all". A repository that does not exist (yet) is fine, since it may be
//! created while the stream is open, but a name no repository could have is refused, and so is
//! an unknown event type (the answer lists the valid ones) or any other parameter: a typo must
//! not silently turn into "everything" or "nothing".

use artifactapi_actors::events::EventKind;

use crate::remotes::validate_name;

/// A client's selection of events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    repos: Vec<String>,
    types: Vec<EventKind>,
}

/// Why a query string is not a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown query parameter {0:?}; expected repo or type")]
    UnknownParameter(String),
    #[error("{0}: empty name in the list")]
    Empty(&'static str),
    #[error("repo: invalid repository name {0:?}")]
    BadRepo(String),
    #[error("type: unknown event type {0:?}; valid types: {valid}", valid = valid_types())]
    UnknownType(String),
}

fn valid_types() -> String {
    EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

impl Filter {
    /// Parses a raw (still percent-encoded) query string.
    pub fn parse(query: &str) -> Result<Filter, FilterError> {
        let mut filter = Filter::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let param = match key.as_ref() {
                "repo" => "repo",
                "type" => "type",
                _ => return Err(FilterError::UnknownParameter(key.into_owned())),
            };
            for item in value.split(',').map(str::trim) {
                if item.is_empty() {
                    return Err(FilterError::Empty(param));
                }
                if param == "repo" {
                    validate_name(item).map_err(|_| FilterError::BadRepo(item.to_string()))?;
                    if !filter.repos.iter().any(|r| r == item) {
                        filter.repos.push(item.to_string());
                    }
                } else {
                    let kind = EventKind::from_name(item).ok_or_else(|| FilterError::UnknownType(item.to_string()))?;
                    if !filter.types.contains(&kind) {
                        filter.types.push(kind);
                    }
                }
            }
        }
        Ok(filter)
    }

    /// Whether an event of type `kind` about repository `repo` is wanted. With a repository
    /// filter, events about no repository (GC runs) are not.
    pub fn matches(&self, kind: &str, repo: Option<&str>) -> bool {
        let type_ok = self.types.is_empty() || self.types.iter().any(|t| t.as_str() == kind);
        let repo_ok = self.repos.is_empty() || repo.is_some_and(|r| self.repos.iter().any(|x| x == r));
        type_ok && repo_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(repos: &[&str], types: &[EventKind]) -> Filter {
        Filter { repos: repos.iter().map(|r| r.to_string()).collect(), types: types.to_vec() }
    }

    #[test]
    fn parses_lists_and_refuses_what_it_cannot_mean() {
        use EventKind::*;
        let cases: Vec<(&str, Result<Filter, FilterError>)> = vec![
            ("", Ok(f(&[], &[]))),
            ("&&", Ok(f(&[], &[]))),
            ("repo=a", Ok(f(&["a"], &[]))),
            ("repo=a,b", Ok(f(&["a", "b"], &[]))),
            ("repo=a&repo=b,a", Ok(f(&["a", "b"], &[]))),
            ("repo=a%2Cb", Ok(f(&["a", "b"], &[]))),
            ("repo=%20a%20,b", Ok(f(&["a", "b"], &[]))),
            ("repo=not-created-yet", Ok(f(&["not-created-yet"], &[]))),
            ("type=fetch_completed,cache_hit", Ok(f(&[], &[FetchCompleted, CacheHit]))),
            ("type=gc_run&repo=r&type=gc_run", Ok(f(&["r"], &[GcRun]))),
            ("repo=", Err(FilterError::Empty("repo"))),
            ("repo", Err(FilterError::Empty("repo"))),
            ("repo=a,,b", Err(FilterError::Empty("repo"))),
            ("type=", Err(FilterError::Empty("type"))),
            ("type=fetch_completed,", Err(FilterError::Empty("type"))),
            ("repo=../etc", Err(FilterError::BadRepo("../etc".into()))),
            ("repo=UPPER", Err(FilterError::BadRepo("UPPER".into()))),
            ("repo=a%00b", Err(FilterError::BadRepo("a\0b".into()))),
            ("repo=%ff", Err(FilterError::BadRepo("\u{fffd}".into()))),
            ("type=fetch", Err(FilterError::UnknownType("fetch".into()))),
            ("type=FetchCompleted", Err(FilterError::UnknownType("FetchCompleted".into()))),
            ("type=lagged", Err(FilterError::UnknownType("lagged".into()))),
            ("repos=a", Err(FilterError::UnknownParameter("repos".into()))),
            ("Repo=a", Err(FilterError::UnknownParameter("Repo".into()))),
            ("repo=a&limit=5", Err(FilterError::UnknownParameter("limit".into()))),
        ];
        for (query, want) in cases {
            assert_eq!(Filter::parse(query), want, "{query:?}");
        }
        let long = format!("repo={}", "a".repeat(65));
        assert_eq!(Filter::parse(&long), Err(FilterError::BadRepo("a".repeat(65))));
    }

    #[test]
    fn unknown_types_are_answered_with_the_valid_ones() {
        let msg = FilterError::UnknownType("fetch".into()).to_string();
        for kind in EventKind::ALL {
            assert!(msg.contains(kind.as_str()), "{msg}");
        }
        assert!(msg.starts_with("type: unknown event type \"fetch\"; valid types: fetch_started, "), "{msg}");
    }

    #[test]
    fn matching() {
        use EventKind::*;
        let cases: &[(Filter, &str, Option<&str>, bool)] = &[
            (f(&[], &[]), "anything_new", None, true),
            (f(&[], &[]), "fetch_started", Some("a"), true),
            (f(&["a"], &[]), "fetch_started", Some("a"), true),
            (f(&["a"], &[]), "fetch_started", Some("b"), false),
            (f(&["a"], &[]), "gc_run", None, false),
            (f(&[], &[GcRun]), "gc_run", None, true),
            (f(&[], &[GcRun]), "fetch_started", Some("a"), false),
            (f(&["a", "b"], &[CacheHit, FetchFailed]), "fetch_failed", Some("b"), true),
            (f(&["a", "b"], &[CacheHit, FetchFailed]), "fetch_completed", Some("b"), false),
            (f(&["a", "b"], &[CacheHit, FetchFailed]), "cache_hit", Some("c"), false),
        ];
        for (filter, kind, repo, want) in cases {
            assert_eq!(filter.matches(kind, *repo), *want, "{filter:?} {kind} {repo:?}");
        }
    }
}
