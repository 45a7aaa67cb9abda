//! Local repository configuration: a named repository of one package type whose files are
//! pushed or uploaded to artifactapi itself rather than fetched from an upstream.
//!
//! [`LocalSpec`] is the wire and storage form; [`LocalSpec::validate`] is a plain function the
//! handler calls and the tests drive with a table. What a local holds lives in `local_files`.

use serde::{Deserialize, Serialize};

use crate::formats::PackageType;
use crate::remotes::{validate_name, FieldError};

/// A local repository as created, updated, stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    pub name: String,
    pub package_type: PackageType,
}

impl LocalSpec {
    /// Checks the spec on its own (the name; the package type is checked by parsing).
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remotes::parse_json;

    fn parse(json: serde_json::Value) -> Result<LocalSpec, String> {
        let spec: LocalSpec = parse_json(json.to_string().as_bytes()).map_err(|e| e.to_string())?;
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    #[test]
    fn every_package_type_is_accepted() {
        for t in PackageType::ALL {
            let spec = parse(serde_json::json!({"name": "l", "package_type": t.as_str()})).unwrap();
            assert_eq!(spec.package_type, t);
        }
    }

    #[test]
    fn validates_the_spec_and_names_the_field() {
        let long = "a".repeat(65);
        let cases: Vec<(serde_json::Value, Result<(), &str>)> = vec![
            (serde_json::json!({"name": "l", "package_type": "docker"}), Ok(())),
            (serde_json::json!({"name": "a".repeat(64), "package_type": "docker"}), Ok(())),
            (serde_json::json!({"name": "my.repo-1_x", "package_type": "generic"}), Ok(())),
            (serde_json::json!({"name": long, "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "../x", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "Upper", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": ".x", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "a/b", "package_type": "docker"}), Err("name: 1-64 characters")),
            (serde_json::json!({"name": "l", "package_type": "maven"}), Err("package_type:")),
            (serde_json::json!({"name": "l", "package_type": 3}), Err("package_type:")),
            (serde_json::json!({"name": 1, "package_type": "docker"}), Err("name:")),
            (serde_json::json!({"name": "l"}), Err("missing field `package_type`")),
            (serde_json::json!({"package_type": "docker"}), Err("missing field `name`")),
            (serde_json::json!({"name": "l", "package_type": "docker", "members": []}), Err("unknown field `members`")),
        ];
        for (json, want) in cases {
            match (parse(json.clone()), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(w)) => assert!(e.contains(w), "{json}: {e:?} does not contain {w:?}"),
                (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
            }
        }
    }
}
