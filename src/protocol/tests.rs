//! The wire protocol's own tests: hashes, names, shapes.

use super::*;
use serde_json::json;

#[test]
fn args_hash_ignores_key_order_and_whitespace() {
    let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2, {"y": true, "x": null}]}"#)
        .unwrap_or_default();
    let b: Value =
        serde_json::from_str(r#"{"a":[1,2,{"x":null,"y":true}],"b":1}"#).unwrap_or_default();
    assert_eq!(args_hash(&a), args_hash(&b));
    assert!(args_hash(&a).starts_with("sha256:"));
    assert_eq!(args_hash(&a).len(), "sha256:".len() + 64);
}

#[test]
fn args_hash_changes_with_any_value() {
    assert_ne!(
        args_hash(&json!({"amount": 100})),
        args_hash(&json!({"amount": 1000}))
    );
    assert_ne!(args_hash(&json!({"a": "1"})), args_hash(&json!({"a": 1})));
}

#[test]
fn args_hash_matches_rfc8785_canonical_form() {
    // The canonical form of this object is {"a":1,"b":"x"}; its SHA-256 is fixed.
    let v = json!({"b": "x", "a": 1});
    let expected = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(br#"{"a":1,"b":"x"}"#))
    );
    assert_eq!(args_hash(&v), expected);
}

/// The command line, the wire and the store spell these enums one way.
#[test]
fn cli_names_are_the_wire_names() {
    use clap::ValueEnum;
    fn check<T: ValueEnum + Serialize + std::fmt::Debug + PartialEq>(as_str: fn(&T) -> &str) {
        for v in T::value_variants() {
            let name = v.to_possible_value().map(|p| p.get_name().to_owned());
            let wire = serde_json::to_string(v).unwrap_or_default();
            assert_eq!(name.as_deref(), Some(as_str(v)), "{v:?}");
            assert_eq!(wire, format!("\"{}\"", as_str(v)), "{v:?}");
        }
    }
    check::<Status>(|s| s.as_str());
    check::<Risk>(|r| r.as_str());
    check::<Scope>(|s| s.as_str());
    assert_eq!(Status::value_variants(), Status::ALL);
    assert_eq!(Risk::value_variants(), Risk::ALL);
    for st in Status::ALL {
        assert_eq!(Status::parse(st.as_str()), Some(st));
    }
    assert_eq!(Scope::parse("always"), Some(Scope::Always));
    assert_eq!(Risk::parse("High"), None, "names are exact, as on the wire");
}

#[test]
fn event_kind_names_are_the_documented_ones() {
    for k in EventKind::ALL {
        let s = serde_json::to_string(&k).unwrap_or_default();
        assert_eq!(s, format!("\"{}\"", k.as_str()));
        assert_eq!(EventKind::parse(k.as_str()), Some(k));
    }
}
