//! The pure half of a repository resource: what a configuration plans, the API body it sends,
//! and the state an API answer gives, all driven by the kind's attribute table.
//!
//! Planning takes the configuration, not the proposed state: an optional attribute that is left
//! out plans the server's default (so removing `patterns` from the configuration empties them
//! rather than keeping the old list), and an unknown value stays unknown until apply.

use tf_provider::value::ValueAny;

use crate::kinds::{Kind, Role};
use crate::values::{is_null, to_json, Obj};

/// The planned state of `config`, and the attributes whose change replaces the repository
/// (compared with `prior`, the state before, when there is one).
pub fn plan(kind: &Kind, config: &Obj, prior: Option<&Obj>) -> (Obj, Vec<&'static str>) {
    let mut planned = Obj::new();
    for f in &kind.fields {
        let given = config.get(f.name);
        let value = match f.role {
            Role::Required => given.cloned().unwrap_or(ValueAny::Null),
            Role::Optional(default) if is_null(given) => default.value(),
            Role::Optional(_) => given.cloned().unwrap_or(ValueAny::Null),
            Role::Computed => computed(kind, f.name, config),
        };
        planned.insert(f.name.to_string(), value);
    }
    let replace = match prior {
        Some(prior) => kind
            .fields
            .iter()
            .filter(|f| f.replace && prior.get(f.name) != planned.get(f.name))
            .map(|f| f.name)
            .collect(),
        None => Vec::new(),
    };
    (planned, replace)
}

/// A computed attribute: `id` is the name, a remote's `package_type` its resource's.
fn computed(kind: &Kind, name: &str, config: &Obj) -> ValueAny {
    match name {
        "id" => config.get("name").cloned().unwrap_or(ValueAny::Unknown),
        "package_type" => kind.fixed_type.map(|t| ValueAny::String(t.into())).unwrap_or(ValueAny::Unknown),
        _ => ValueAny::Unknown,
    }
}

/// The API body of a planned state (every value known at apply); `None` if one is not.
pub fn body(kind: &Kind, planned: &Obj) -> Option<serde_json::Value> {
    let mut body = serde_json::Map::new();
    for f in &kind.fields {
        if f.name == "id" {
            continue;
        }
        let v = planned.get(f.name).unwrap_or(&ValueAny::Null);
        if matches!(v, ValueAny::Null) {
            continue;
        }
        body.insert(f.name.to_string(), to_json(v)?);
    }
    Some(serde_json::Value::Object(body))
}

/// The state of a repository as the API returned it; secrets (never returned) are taken from
/// `secrets_from` (the prior or planned state), else null.
pub fn from_api(kind: &Kind, answer: &serde_json::Value, secrets_from: Option<&Obj>) -> Obj {
    let mut state = Obj::new();
    for f in &kind.fields {
        let value = if f.secret {
            secrets_from.and_then(|s| s.get(f.name)).cloned().unwrap_or(ValueAny::Null)
        } else if f.name == "id" {
            answer.get("name").map(crate::values::from_json).unwrap_or(ValueAny::Null)
        } else {
            match (answer.get(f.name), f.role) {
                (Some(v), _) if !v.is_null() => crate::values::from_json(v),
                (_, Role::Optional(default)) => default.value(),
                _ => ValueAny::Null,
            }
        };
        state.insert(f.name.to_string(), value);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::from_json;

    fn obj(json: serde_json::Value) -> Obj {
        match from_json(&json) {
            ValueAny::Map(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn json(o: &Obj) -> serde_json::Value {
        to_json(&ValueAny::Map(o.clone())).unwrap_or_default()
    }

    fn config(kind: &Kind, set: serde_json::Value) -> Obj {
        let mut c: Obj = kind.fields.iter().map(|f| (f.name.to_string(), ValueAny::Null)).collect();
        c.extend(obj(set));
        c
    }

    #[test]
    fn left_out_attributes_plan_the_server_defaults() {
        let kind = Kind::remote("docker");
        let c = config(
            &kind,
            serde_json::json!({"name": "hub", "base_url": "https://registry-1.docker.io", "ban_tags": ["latest"]}),
        );
        let (planned, replace) = plan(&kind, &c, None);
        assert!(replace.is_empty());
        assert_eq!(
            json(&planned),
            serde_json::json!({
                "id": "hub", "name": "hub", "package_type": "docker", "base_url": "https://registry-1.docker.io",
                "immutable_ttl": 0, "mutable_ttl": 3600, "patterns": [], "blocklist": [], "mutable_patterns": [],
                "immutable_patterns": [], "username": null, "password": null, "tls_ca": null,
                "tls_insecure_skip_verify": false, "allow_private_upstreams": false, "ban_tags_enabled": false,
                "ban_tags": ["latest"], "token_realm_hosts": []
            })
        );
        let body = body(&kind, &planned).unwrap_or_default();
        assert!(body.get("id").is_none() && body.get("password").is_none() && body["package_type"] == "docker");
    }

    #[test]
    fn generic_remotes_have_no_docker_attributes() {
        let kind = Kind::remote("generic");
        let (planned, _) = plan(&kind, &config(&kind, serde_json::json!({"name": "g", "base_url": "https://x"})), None);
        assert!(!planned.contains_key("ban_tags") && !planned.contains_key("token_realm_hosts"));
    }

    #[test]
    fn a_new_name_or_type_replaces_other_changes_do_not() {
        let kind = Kind::virtual_repo();
        let prior = obj(serde_json::json!({"id": "v", "name": "v", "package_type": "helm", "members": ["a"]}));
        let cases: &[(serde_json::Value, &[&str])] = &[
            (serde_json::json!({"name": "v", "package_type": "helm", "members": ["a", "b"]}), &[]),
            (serde_json::json!({"name": "w", "package_type": "helm", "members": ["a"]}), &["name"]),
            (serde_json::json!({"name": "v", "package_type": "npm", "members": ["a"]}), &["package_type"]),
        ];
        for (set, want) in cases {
            let (_, replace) = plan(&kind, &config(&kind, set.clone()), Some(&prior));
            assert_eq!(&replace, want, "{set}");
        }
    }

    #[test]
    fn unknown_values_stay_unknown_and_block_the_body() {
        let kind = Kind::virtual_repo();
        let mut c = config(&kind, serde_json::json!({"name": "v", "package_type": "helm"}));
        c.insert("members".into(), ValueAny::List(vec![ValueAny::Unknown]));
        let (planned, _) = plan(&kind, &c, None);
        assert!(matches!(planned.get("members"), Some(ValueAny::List(l)) if matches!(l[0], ValueAny::Unknown)));
        assert!(body(&kind, &planned).is_none());
    }

    #[test]
    fn reads_fill_defaults_and_keep_secrets_from_the_state() {
        let kind = Kind::remote("helm");
        let answer = serde_json::json!({"name": "j", "package_type": "helm", "base_url": "https://charts.jetstack.io",
            "immutable_ttl": 0, "mutable_ttl": 60, "patterns": [], "blocklist": [], "mutable_patterns": [],
            "immutable_patterns": [], "ban_tags_enabled": false, "ban_tags": [], "username": "u",
            "tls_insecure_skip_verify": false, "allow_private_upstreams": true});
        let prior = obj(serde_json::json!({"password": "s3cret"}));
        let state = from_api(&kind, &answer, Some(&prior));
        assert_eq!(json(&state)["password"], "s3cret");
        assert_eq!(json(&state)["id"], "j");
        assert_eq!(json(&state)["tls_ca"], serde_json::Value::Null);
        assert_eq!(json(&state)["mutable_ttl"], 60);
        let imported = from_api(&kind, &answer, None);
        assert_eq!(json(&imported)["password"], serde_json::Value::Null);
        let local = from_api(&Kind::local(), &serde_json::json!({"name": "l", "package_type": "generic"}), None);
        assert_eq!(json(&local)["allow_overwrite"], false);
    }
}
