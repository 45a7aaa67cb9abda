//! Docker Hub's naming convention: official images live under `library/`.
//!
//! A client pulling `alpine` from Docker Hub really pulls `library/alpine`; the docker CLI adds
//! the prefix before it talks to the registry. Through artifactapi the client talks to us, so
//! when a remote's base URL is Docker Hub's registry we add it for single-component names
//! (`hub/alpine` → upstream `library/alpine`), exactly as the docker CLI would. Other registries
//! have no such convention and get names unchanged.

use super::grammar::ImageName;

/// Host names of Docker Hub's registry API.
const HUB_HOSTS: &[&str] = &["registry-1.docker.io", "index.docker.io", "docker.io", "registry.hub.docker.com"];

/// Docker Hub's token service: credentials of a Docker Hub remote may go there (the registry
/// names it as its realm).
pub const HUB_TOKEN_HOST: &str = "auth.docker.io";

/// Whether `base_url` is Docker Hub's registry.
pub fn is_docker_hub(base_url: &str) -> bool {
    url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.to_ascii_lowercase()))
        .is_some_and(|h| HUB_HOSTS.contains(&h.as_str()))
}

/// The image name to ask the upstream at `base_url` for.
pub fn upstream_name(base_url: &str, name: &ImageName) -> ImageName {
    if name.is_single_component() && is_docker_hub(base_url) {
        // `library/` plus a valid component is a valid name unless it gets too long, in which
        // case the name is passed on as it is and the upstream says what it thinks.
        if let Ok(prefixed) = name.prefixed("library") {
            return prefixed;
        }
    }
    name.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_prefix_only_for_single_component_names_on_docker_hub() {
        let cases: &[(&str, &str, &str)] = &[
            ("https://registry-1.docker.io/", "alpine", "library/alpine"),
            ("https://registry-1.docker.io", "alpine", "library/alpine"),
            ("https://index.docker.io/", "redis", "library/redis"),
            ("https://REGISTRY-1.DOCKER.IO/", "alpine", "library/alpine"),
            ("https://docker.io/", "alpine", "library/alpine"),
            ("https://registry-1.docker.io/", "library/alpine", "library/alpine"),
            ("https://registry-1.docker.io/", "bitnami/redis", "bitnami/redis"),
            ("https://registry-1.docker.io/", "a/b/c", "a/b/c"),
            ("https://ghcr.io/", "alpine", "alpine"),
            ("http://127.0.0.1:5000/", "alpine", "alpine"),
            ("https://registry-1.docker.io.evil.example/", "alpine", "alpine"),
            ("https://mirror.example/registry-1.docker.io/", "alpine", "alpine"),
        ];
        for (base, name, want) in cases {
            let got = upstream_name(base, &ImageName::parse(name).unwrap());
            assert_eq!(got.as_str(), *want, "{base} {name}");
        }
    }

    #[test]
    fn a_name_too_long_for_the_prefix_stays_as_it_is() {
        let name = ImageName::parse(&"a".repeat(super::super::grammar::MAX_NAME_BYTES)).unwrap();
        assert_eq!(upstream_name("https://registry-1.docker.io/", &name), name);
    }
}
