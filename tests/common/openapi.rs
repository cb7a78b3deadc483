//! Every answer the harness's [`super::Http`] receives, checked against the server's
//! OpenAPI description (`assent::server::openapi::spec`, what `GET /v1/openapi.json`
//! serves): its status must be described for the (method, path template), and its JSON
//! body must validate against that response's schema. So every test that talks to the
//! API through the harness also tests the description. Changes when the way responses
//! are described changes.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Value, json};

/// The description, as JSON.
pub static SPEC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::to_value(assent::server::openapi::spec()).expect("the description serialises")
});

type Key = (String, String, u16);

/// One compiled validator per described response, or None where the description gives
/// that response no JSON schema.
static VALIDATORS: LazyLock<Mutex<HashMap<Key, Option<Arc<jsonschema::Validator>>>>> =
    LazyLock::new(Default::default);

/// The path template of the description that `path` (no query) is an instance of.
pub fn template_of(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').collect();
    let paths = SPEC["paths"].as_object()?;
    // A literal segment beats a parameter (none overlap today; this keeps it so).
    let mut best: Option<(usize, &String)> = None;
    for t in paths.keys() {
        let tsegs: Vec<&str> = t.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.is_none_or(|(n, _)| literal > n) {
            best = Some((literal, t));
        }
    }
    best.map(|(_, t)| t.clone())
}

/// `schema` as a document of its own that resolves the description's `#/components/…`.
fn standalone(schema: &Value) -> Value {
    let mut doc = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": SPEC["components"].clone(),
    });
    match schema {
        Value::Object(m) => {
            for (k, v) in m {
                doc[k] = v.clone();
            }
        }
        Value::Bool(true) => {}
        other => doc["allOf"] = json!([other]),
    }
    doc
}

fn compile(schema: &Value) -> Arc<jsonschema::Validator> {
    let doc = standalone(schema);
    Arc::new(jsonschema::draft202012::new(&doc).unwrap_or_else(|e| {
        panic!("the description has a schema that does not compile: {e}\n{doc}")
    }))
}

/// The JSON schema of the error body, for the answers of the router's own fallbacks.
fn error_schema() -> Value {
    json!({"$ref": "#/components/schemas/ErrorResponse"})
}

/// The validator for `method` on `template` answering `status`; Err when the description
/// does not describe that answer.
fn validator(
    method: &str,
    template: &str,
    status: u16,
) -> Result<Option<Arc<jsonschema::Validator>>, String> {
    let key = (method.to_owned(), template.to_owned(), status);
    if let Some(v) = VALIDATORS.lock().unwrap().get(&key) {
        return Ok(v.clone());
    }
    let op = &SPEC["paths"][template][method];
    let compiled = if op.is_null() {
        // The router answers a method a path does not take itself (405).
        if status != 405 {
            return Err(format!(
                "{method} {template} is not described, yet answered {status}"
            ));
        }
        Some(compile(&error_schema()))
    } else {
        let responses = &op["responses"];
        let resp = match responses.get(status.to_string()) {
            Some(r) => r,
            None => responses.get("default").ok_or_else(|| {
                format!(
                    "{method} {template}: status {status} is not described (described: {})",
                    responses
                        .as_object()
                        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                )
            })?,
        };
        let schema = &resp["content"]["application/json"]["schema"];
        (!schema.is_null()).then(|| compile(schema))
    };
    VALIDATORS.lock().unwrap().insert(key, compiled.clone());
    Ok(compiled)
}

/// Checks one answer: `status` and `body` (Null for an empty body) of `method` (upper
/// case, as sent) on `path`. Err says what the description does not allow.
pub fn check(method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
    let method = method.to_ascii_lowercase();
    let validator = match template_of(path) {
        Some(t) => validator(&method, &t, status)?,
        // The router's fallback for a path the API does not have.
        None if status == 404 => Some(compile(&error_schema())),
        None => return Err(format!("{path} is not described, yet answered {status}")),
    };
    let Some(v) = validator else {
        return Ok(());
    };
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
