use super::*;

#[test]
fn tokens_are_found_by_id_then_by_unique_name() {
    let all = vec![
        serde_json::json!({"id": "0b7c", "name": "ci"}),
        serde_json::json!({"id": "1d2e", "name": "dup"}),
        serde_json::json!({"id": "3f4a", "name": "dup"}),
    ];
    assert_eq!(find(&all, "0b7c").ok().flatten().map(|t| t["name"].clone()), Some("ci".into()));
    assert_eq!(find(&all, "ci").ok().flatten().map(|t| t["id"].clone()), Some("0b7c".into()));
    assert!(find(&all, "dup").is_err_and(|m| m.contains("2 tokens")));
    assert!(matches!(find(&all, "none"), Ok(None)));
}

#[test]
fn reads_keep_the_secret_and_the_expiry_as_written() {
    let listed = serde_json::json!({"id": "i", "name": "ci", "scopes": [{"repository": "*", "access": "read"}],
        "expires_at": "2030-01-31T00:00:00Z", "created_at": "2026-01-01T00:00:00Z"});
    let mut prior = Obj::new();
    prior.insert("token".into(), ValueAny::String("aat_x".into()));
    prior.insert("expires_at".into(), ValueAny::String("2030-01-31T01:00:00+01:00".into()));
    let state = from_listed(&listed, Some(&prior));
    assert!(matches!(state.get("token"), Some(ValueAny::String(t)) if t == "aat_x"));
    assert!(matches!(state.get("expires_at"), Some(ValueAny::String(e)) if e.ends_with("+01:00")));
    let imported = from_listed(&listed, None);
    assert!(matches!(imported.get("token"), Some(ValueAny::Null)));
    assert!(matches!(imported.get("expires_at"), Some(ValueAny::String(e)) if e.ends_with('Z')));
}
