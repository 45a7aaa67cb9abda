//! Package types: what a path means for each kind of repository.
//!
//! One module per package type behind the [`Format`] trait. A format is pure: no I/O and no
//! HTTP types, so its decisions are unit-tested with tables of cases. This layer decides
//! whether an upstream path is mutable (cached for `mutable_ttl`, then revalidated) or
//! immutable (cached for `immutable_ttl`, 0 meaning forever).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The ten package types of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageType {
    Generic,
    Docker,
    Helm,
    Pypi,
    Npm,
    Rpm,
    Alpine,
    Puppet,
    Terraform,
    Goproxy,
}

impl PackageType {
    pub const ALL: [PackageType; 10] = [
        PackageType::Generic,
        PackageType::Docker,
        PackageType::Helm,
        PackageType::Pypi,
        PackageType::Npm,
        PackageType::Rpm,
        PackageType::Alpine,
        PackageType::Puppet,
        PackageType::Terraform,
        PackageType::Goproxy,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PackageType::Generic => "generic",
            PackageType::Docker => "docker",
            PackageType::Helm => "helm",
            PackageType::Pypi => "pypi",
            PackageType::Npm => "npm",
            PackageType::Rpm => "rpm",
            PackageType::Alpine => "alpine",
            PackageType::Puppet => "puppet",
            PackageType::Terraform => "terraform",
            PackageType::Goproxy => "goproxy",
        }
    }
}

impl fmt::Display for PackageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PackageType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown package type {s:?} (expected one of generic, docker, helm, pypi, npm, rpm, alpine, puppet, terraform, goproxy)"))
    }
}
