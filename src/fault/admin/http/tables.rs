//! Fault tables from the API (JSON objects, or a TOML profile) read through the same
//! validation as profile files, so every rule and every message is shared.

use crate::config::{self, Fault};
use crate::fault::admin::ApiError;
use serde_json::Value;

/// One fault, read from a JSON table shown in messages as `label` (e.g. `faults[1]`).
///
/// The table becomes the only `[[faults]]` entry of a profile, which the profile parser
/// validates; its problems come back prefixed with `label`.
pub fn from_json(label: &str, table: &Value) -> Result<Fault, ApiError> {
    if !table.is_object() {
        return Err(ApiError::new(
            400,
            format!("{label}: a fault is a table (a JSON object), not {table}"),
        ));
    }
    let entry = toml::Value::try_from(table)
        .map_err(|e| ApiError::new(400, format!("{label}: not expressible as TOML: {e}")))?;
    let mut doc = toml::Table::new();
    doc.insert("faults".into(), toml::Value::Array(vec![entry]));
    let text = toml::to_string(&doc)
        .map_err(|e| ApiError::new(400, format!("{label}: not expressible as TOML: {e}")))?;
    let profile = config::parse_profile("api", label, &text).map_err(|e| {
        let messages: Vec<String> = e
            .diagnostics()
            .iter()
            .map(|d| format!("{label}: {}", d.message))
            .collect();
        ApiError::new(400, messages.join("; "))
    })?;
    profile
        .faults
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::new(400, format!("{label}: no fault")))
}

/// The faults of a TOML profile, each with its table as JSON.
///
/// Problems are the parser's `profile:LINE:COL: message`, joined with `; `.
pub fn from_profile(text: &str) -> Result<Vec<(Fault, Value)>, ApiError> {
    let profile = config::parse_profile("api", "profile", text).map_err(|e| {
        let messages: Vec<String> = e.diagnostics().iter().map(ToString::to_string).collect();
        ApiError::new(400, messages.join("; "))
    })?;
    // It parsed as a profile, so it is a TOML table; its entries are shown as given.
    let tables: Vec<Value> = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|mut doc| doc.remove("faults"))
        .and_then(|faults| match faults {
            toml::Value::Array(entries) => Some(entries),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .map(|entry| serde_json::to_value(entry).unwrap_or(Value::Null))
        .collect();
    let mut tables = tables.into_iter();
    Ok(profile
        .faults
        .into_iter()
        .map(|fault| (fault, tables.next().unwrap_or(Value::Null)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_json_table_is_a_profile_entry() {
        let f = from_json(
            "faults[0]",
            &json!({"kind": "status", "status": 503, "probability": 0.5, "path": "/item/*",
                    "start": "2s", "duration": "10s", "headers": {"retry-after": "5"}}),
        )
        .expect("valid");
        assert_eq!(f.kind_name(), "status");
        assert_eq!(f.probability, 0.5);
        assert_eq!(f.start, Duration::from_secs(2));
        assert_eq!(f.duration, Some(Duration::from_secs(10)));
        assert_eq!(f.matcher.path.as_deref(), Some("/item/*"));
    }

    #[test]
    fn problems_name_the_fault() {
        let e = from_json("faults[1]", &json!({"kind": "stauts"})).expect_err("bad kind");
        assert_eq!(e.status, 400);
        assert!(
            e.message
                .starts_with("faults[1]: unknown fault kind \"stauts\""),
            "{e}"
        );
        assert!(e.message.contains("status, latency"), "{e}");
        let e = from_json("faults[0]", &json!(["status"])).expect_err("not a table");
        assert!(
            e.message.starts_with("faults[0]: a fault is a table"),
            "{e}"
        );
        let e =
            from_json("faults[0]", &json!({"kind": "status", "status": null})).expect_err("null");
        assert!(e.message.starts_with("faults[0]:"), "{e}");
    }

    #[test]
    fn a_profile_keeps_its_tables() {
        let faults = from_profile(
            "name = \"x\"\n[[faults]]\nkind = \"status\"\nstatus = 503\n[[faults]]\nkind = \"reset\"\n",
        )
        .expect("valid");
        assert_eq!(faults.len(), 2);
        assert_eq!(faults[0].1, json!({"kind": "status", "status": 503}));
        let e = from_profile("[[faults]]\nkind = \"status\"\nstatus = \n").expect_err("bad TOML");
        assert!(e.message.starts_with("profile:3:"), "{e}");
    }
}
