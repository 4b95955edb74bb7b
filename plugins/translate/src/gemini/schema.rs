//! JSON Schema ↔ Gemini's OpenAPI-subset `Schema`.

use serde_json::{Map, Value};

/// Keys Gemini's `Schema` accepts.
const ALLOWED: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// `format` values Gemini accepts.
const FORMATS: &[&str] = &["enum", "date-time", "int32", "int64", "float", "double"];

/// Whether a JSON Schema uses references, which only `parametersJsonSchema`
/// / `responseJsonSchema` understand.
pub fn has_refs(schema: &Value) -> bool {
    match schema {
        Value::Object(o) => {
            o.contains_key("$ref")
                || o.contains_key("$defs")
                || o.contains_key("definitions")
                || o.values().any(has_refs)
        }
        Value::Array(a) => a.iter().any(has_refs),
        _ => false,
    }
}

/// Rewrites a JSON Schema into Gemini's subset: unknown keys
/// (`additionalProperties`, `$schema`, `strict`, ...) are dropped, type
/// arrays like `["string","null"]` become `type` + `nullable`, `const`
/// becomes a one-value `enum`, `oneOf` becomes `anyOf`, `examples` the first
/// `example`, and `required` keeps only names that are in `properties`.
pub fn to_gemini(schema: &Value) -> Value {
    let Value::Object(o) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in o {
        match k.as_str() {
            "type" => match v {
                Value::Array(types) => {
                    let mut nullable = false;
                    let mut first = None;
                    for t in types.iter().filter_map(Value::as_str) {
                        if t == "null" {
                            nullable = true;
                        } else if first.is_none() {
                            first = Some(t.to_owned());
                        }
                    }
                    if let Some(t) = first {
                        out.insert("type".into(), Value::String(t));
                    }
                    if nullable {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), Value::Array(vec![v.clone()]));
            }
            "oneOf" | "anyOf" => {
                if let Value::Array(a) = v {
                    out.insert(
                        "anyOf".into(),
                        Value::Array(a.iter().map(to_gemini).collect()),
                    );
                }
            }
            "examples" => {
                if let Some(first) = v.as_array().and_then(|a| a.first()) {
                    out.insert("example".into(), first.clone());
                }
            }
            "properties" => {
                if let Value::Object(props) = v {
                    out.insert(
                        "properties".into(),
                        Value::Object(
                            props
                                .iter()
                                .map(|(name, s)| (name.clone(), to_gemini(s)))
                                .collect(),
                        ),
                    );
                }
            }
            "items" => {
                out.insert("items".into(), to_gemini(v));
            }
            "format" if v.as_str().is_some_and(|f| FORMATS.contains(&f)) => {
                out.insert(k.clone(), v.clone());
            }
            "format" => {}
            _ if ALLOWED.contains(&k.as_str()) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    if let Some(Value::Array(req)) = out.get("required").cloned() {
        let props = out.get("properties").and_then(Value::as_object);
        let kept: Vec<Value> = req
            .into_iter()
            .filter(|r| {
                r.as_str()
                    .is_some_and(|n| props.is_some_and(|p| p.contains_key(n)))
            })
            .collect();
        if kept.is_empty() {
            out.remove("required");
        } else {
            out.insert("required".into(), Value::Array(kept));
        }
    }
    Value::Object(out)
}

/// Whether a schema is an object schema without properties (Gemini refuses
/// `parameters` like that; the declaration is sent without parameters).
pub fn is_empty_object(schema: &Value) -> bool {
    let ty = schema.get("type").and_then(Value::as_str);
    let props = schema.get("properties").and_then(Value::as_object);
    matches!(ty, Some("object") | Some("OBJECT") | None)
        && props.is_none_or(Map::is_empty)
        && schema.get("anyOf").is_none()
}

/// Rewrites a Gemini schema as JSON Schema: upper-case `type` values
/// (`STRING`, `OBJECT`, ...) become lower-case; the rest is kept.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("type", Value::String(t)) => Value::String(t.to_ascii_lowercase()),
                        ("properties", Value::Object(p)) => Value::Object(
                            p.iter()
                                .map(|(n, s)| (n.clone(), to_json_schema(s)))
                                .collect(),
                        ),
                        ("items", s) => to_json_schema(s),
                        ("anyOf", Value::Array(a)) => {
                            Value::Array(a.iter().map(to_json_schema).collect())
                        }
                        (_, v) => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cleans_json_schema() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "city": {"type": "string", "description": "City", "format": "uri"},
                "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
                "kind": {"const": "x"},
                "tags": {"type": "array", "items": {"type": "string", "examples": ["a"]}}
            },
            "required": ["city", "ghost"]
        });
        assert_eq!(
            to_gemini(&s),
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City"},
                    "unit": {"type": "string", "nullable": true, "enum": ["c", "f"]},
                    "kind": {"enum": ["x"]},
                    "tags": {"type": "array", "items": {"type": "string", "example": "a"}}
                },
                "required": ["city"]
            })
        );
        assert!(is_empty_object(
            &json!({"type": "object", "properties": {}})
        ));
        assert!(!is_empty_object(
            &json!({"type": "object", "properties": {"a": {}}})
        ));
        assert!(has_refs(
            &json!({"properties": {"a": {"$ref": "#/$defs/A"}}})
        ));
    }

    #[test]
    fn lowercases_gemini_types() {
        assert_eq!(
            to_json_schema(
                &json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}},
                                   "items": {"type": "NUMBER"}})
            ),
            json!({"type": "object", "properties": {"a": {"type": "string"}},
                   "items": {"type": "number"}})
        );
    }
}
