//! Virtual repository configuration: one name in front of an ordered list of members (remotes
//! and locals) of one package type.
//!
//! [`VirtualSpec`] is the wire and storage form. [`VirtualSpec::validate`] checks what the spec
//! alone decides (name, member count, duplicates); [`check_members`] checks the members against
//! the repositories that exist, given as a lookup of each member's package type. Both are plain
//! functions the tests drive with tables: the handler calls the first, the catalog the second,
//! inside the transaction that writes the virtual (see [`crate::db::membership`]).

use serde::{Deserialize, Serialize};

use crate::formats::PackageType;
use crate::remotes::{validate_name, FieldError};

/// Most members a virtual may list: every request may try each of them in turn.
pub const MAX_MEMBERS: usize = 32;

/// A virtual repository as created, updated, stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualSpec {
    pub name: String,
    pub package_type: PackageType,
    /// Member repository names, in the order requests try them.
    pub members: Vec<String>,
}

fn field_err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

impl VirtualSpec {
    /// Checks the spec on its own: the name, 1..=[`MAX_MEMBERS`] well-formed members, no
    /// duplicates.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name(&self.name)?;
        if self.members.is_empty() || self.members.len() > MAX_MEMBERS {
            return Err(field_err("members", format!("1 to {MAX_MEMBERS} repository names")));
        }
        for (i, member) in self.members.iter().enumerate() {
            let field = format!("members[{i}]");
            validate_name(member).map_err(|e| field_err(&field, e.message))?;
            if *member == self.name {
                return Err(field_err(field, format!("{member:?} is the virtual itself")));
            }
            if self.members[..i].contains(member) {
                return Err(field_err(field, format!("{member:?} is listed twice")));
            }
        }
        Ok(())
    }
}

/// Checks that every member exists (`lookup` gives the package type of a remote or local of
/// that name) and has the virtual's package type.
pub fn check_members(spec: &VirtualSpec, lookup: impl Fn(&str) -> Option<PackageType>) -> Result<(), FieldError> {
    for (i, member) in spec.members.iter().enumerate() {
        let field = format!("members[{i}]");
        match lookup(member) {
            None => return Err(field_err(field, format!("no remote or local repository named {member:?}"))),
            Some(t) if t != spec.package_type => {
                return Err(field_err(
                    field,
                    format!("{member:?} is a {} repository, the virtual is {}", t.as_str(), spec.package_type.as_str()),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remotes::parse_json;

    fn parse(json: serde_json::Value) -> Result<VirtualSpec, String> {
        let spec: VirtualSpec = parse_json(json.to_string().as_bytes()).map_err(|e| e.to_string())?;
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    #[test]
    fn validates_the_spec_and_names_the_field() {
        let many: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("m{i}")).collect();
        let cases: Vec<(serde_json::Value, Result<(), &str>)> = vec![
            (serde_json::json!({"name": "v", "package_type": "generic", "members": ["a", "b"]}), Ok(())),
            (serde_json::json!({"name": "v", "package_type": "goproxy", "members": many[..MAX_MEMBERS]}), Ok(())),
            (serde_json::json!({"name": "v", "package_type": "generic", "members": []}), Err("members: 1 to 32")),
            (serde_json::json!({"name": "v", "package_type": "generic", "members": many}), Err("members: 1 to 32")),
            (
                serde_json::json!({"name": "v", "package_type": "generic", "members": ["a", "a"]}),
                Err("members[1]: \"a\" is listed twice"),
            ),
            (
                serde_json::json!({"name": "v", "package_type": "generic", "members": ["v"]}),
                Err("members[0]: \"v\" is the virtual itself"),
            ),
            (
                serde_json::json!({"name": "v", "package_type": "generic", "members": ["a", "../x"]}),
                Err("members[1]: 1-64 characters"),
            ),
            (serde_json::json!({"name": "v", "package_type": "generic", "members": [""]}), Err("members[0]:")),
            (serde_json::json!({"name": "V", "package_type": "generic", "members": ["a"]}), Err("name:")),
            (serde_json::json!({"name": "v", "package_type": "maven", "members": ["a"]}), Err("package_type:")),
            (serde_json::json!({"name": "v", "package_type": "generic", "members": "a"}), Err("members:")),
            (serde_json::json!({"name": "v", "package_type": "generic", "members": [1]}), Err("members[0]:")),
            (serde_json::json!({"name": "v", "package_type": "generic"}), Err("missing field `members`")),
            (
                serde_json::json!({"name": "v", "package_type": "generic", "members": ["a"], "x": 1}),
                Err("unknown field `x`"),
            ),
        ];
        for (json, want) in cases {
            match (parse(json.clone()), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(w)) => assert!(e.contains(w), "{json}: {e:?} does not contain {w:?}"),
                (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn members_must_exist_and_share_the_type() {
        let lookup = |name: &str| match name {
            "gen1" | "gen2" => Some(PackageType::Generic),
            "go1" => Some(PackageType::Goproxy),
            _ => None,
        };
        let spec = |members: &[&str]| VirtualSpec {
            name: "v".into(),
            package_type: PackageType::Generic,
            members: members.iter().map(|m| m.to_string()).collect(),
        };
        let cases: &[(&[&str], Result<(), &str>)] = &[
            (&["gen1", "gen2"], Ok(())),
            (&["gen1", "nope"], Err("members[1]: no remote or local repository named \"nope\"")),
            (&["go1"], Err("members[0]: \"go1\" is a goproxy repository, the virtual is generic")),
        ];
        for (members, want) in cases {
            let got = check_members(&spec(members), lookup).map_err(|e| e.to_string());
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(w)) => assert_eq!(e, *w, "{members:?}"),
                (got, want) => panic!("{members:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
