//! Property schemas: the typed, documented shape of each resource's props.

use crate::token;
use ipnet::IpNet;
use serde_json::{Map, Value};

/// The type of one property.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Any string.
    Str,
    /// An IPv4 or IPv6 CIDR block; compared in normalised form.
    Cidr,
    /// `true` or `false`.
    Bool,
    /// An integer.
    Int,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// A list of strings; compared as a set.
    StrSet,
    /// A map of string to string (tags).
    Tags,
    /// A JSON document (a map or a JSON string); compared canonically.
    Json,
    /// A list of objects with the given fields; compared as a set.
    ObjectSet(&'static [Field]),
}

/// One property of a resource.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The snake_case name, as the Terraform AWS provider spells it.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether a declaration must set it.
    pub required: bool,
    /// Whether changing it replaces the resource.
    pub force_new: bool,
    /// The value AWS uses when it is left out, as JSON text.
    pub default: Option<&'static str>,
    /// One line for `eprun docs`.
    pub doc: &'static str,
}

impl Field {
    /// A required property that forces replacement when changed.
    pub const fn required(name: &'static str, kind: Kind, doc: &'static str) -> Self {
        Self {
            name,
            kind,
            required: true,
            force_new: true,
            default: None,
            doc,
        }
    }

    /// An optional property.
    pub const fn optional(name: &'static str, kind: Kind, doc: &'static str) -> Self {
        Self {
            name,
            kind,
            required: false,
            force_new: false,
            default: None,
            doc,
        }
    }

    /// Marks the property as forcing replacement.
    pub const fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }

    /// Marks the property as updatable in place.
    pub const fn updatable(mut self) -> Self {
        self.force_new = false;
        self
    }

    /// Sets the value AWS assumes when the property is left out (JSON text).
    pub const fn default(mut self, json: &'static str) -> Self {
        self.default = Some(json);
        self
    }
}

/// The `tags` property every taggable resource has.
pub const TAGS: Field = Field::optional(
    "tags",
    Kind::Tags,
    "extra tags; `Name` and the `eprun:` ownership tags are added",
);

/// Why declared props do not fit their schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// A key the schema does not have, with the closest known name if one is close.
    #[error("unknown property `{key}`; {}", match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("known properties: {}", known.join(", ")),
    })]
    Unknown {
        /// The key.
        key: String,
        /// The known name it is likely a typo of.
        suggestion: Option<String>,
        /// Every name accepted.
        known: Vec<String>,
    },
    /// A required property left out.
    #[error("missing required property `{0}`")]
    Missing(&'static str),
    /// A value of the wrong type.
    #[error("property `{field}` must be {expected}, not {found}")]
    WrongType {
        /// The property.
        field: String,
        /// What it must be.
        expected: &'static str,
        /// The type given.
        found: &'static str,
    },
    /// A list with an item of the wrong type.
    #[error("property `{field}` must be an array of {expected}; found a {found}")]
    WrongItem {
        /// The property.
        field: String,
        /// What its items must be.
        expected: &'static str,
        /// The type of the first wrong item.
        found: &'static str,
    },
    /// A tag whose value is not a string.
    #[error("tag `{key}` in `{field}` must be a string, not {found}")]
    TagValue {
        /// The tags property.
        field: String,
        /// The tag.
        key: String,
        /// The type given.
        found: &'static str,
    },
    /// A string that is not a CIDR block.
    #[error("property `{field}`: `{value}` is not a valid CIDR block (like `10.0.0.0/16`)")]
    Cidr {
        /// The property.
        field: String,
        /// The value given.
        value: String,
    },
    /// A string outside an enum's values.
    #[error("property `{field}`: `{value}` is not one of {}{}", allowed.join(", "),
        suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    NotOneOf {
        /// The property.
        field: String,
        /// The value given.
        value: String,
        /// The values allowed.
        allowed: &'static [&'static str],
        /// The allowed value it is likely a typo of.
        suggestion: Option<&'static str>,
    },
    /// A string that is not JSON where JSON is expected.
    #[error("property `{field}` is not valid JSON: {reason}")]
    Json {
        /// The property.
        field: String,
        /// What the parser said.
        reason: String,
    },
    /// A mistake inside one item of a list of maps.
    #[error("in `{field}`: {inner}")]
    Inside {
        /// The list property.
        field: String,
        /// The mistake in the item.
        inner: Box<SchemaError>,
    },
}

/// Checks declared props against a schema: unknown keys, types, enums, CIDR syntax, required keys.
pub fn validate(fields: &[Field], props: &Map<String, Value>) -> Result<(), SchemaError> {
    validate_among(fields, &[], props)
}

/// Like `validate`, where `also` names keys accepted elsewhere (offered as "did you mean" too).
pub fn validate_among(
    fields: &[Field],
    also: &[&str],
    props: &Map<String, Value>,
) -> Result<(), SchemaError> {
    for (key, value) in props {
        let Some(field) = fields.iter().find(|f| f.name == key) else {
            let names: Vec<&str> = fields
                .iter()
                .map(|f| f.name)
                .chain(also.iter().copied())
                .collect();
            return Err(SchemaError::Unknown {
                key: key.clone(),
                suggestion: suggest(key, &names).map(String::from),
                known: names.into_iter().map(String::from).collect(),
            });
        };
        check_kind(field.name, &field.kind, value)?;
    }
    match fields
        .iter()
        .find(|f| f.required && !props.contains_key(f.name))
    {
        Some(field) => Err(SchemaError::Missing(field.name)),
        None => Ok(()),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "()",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "map",
    }
}

fn check_kind(name: &str, kind: &Kind, value: &Value) -> Result<(), SchemaError> {
    let field = name.to_string();
    let wrong = |expected| {
        let found = type_name(value);
        Err(SchemaError::WrongType {
            field: field.clone(),
            expected,
            found,
        })
    };
    let item = |expected, bad: &Value| {
        let found = type_name(bad);
        Err(SchemaError::WrongItem {
            field: field.clone(),
            expected,
            found,
        })
    };
    match (kind, value) {
        (Kind::Str, Value::String(_)) => Ok(()),
        (Kind::Cidr, Value::String(s)) => {
            if token::is_unknown(value) || s.parse::<IpNet>().is_ok() {
                return Ok(());
            }
            Err(SchemaError::Cidr {
                field,
                value: s.clone(),
            })
        }
        (Kind::Bool, Value::Bool(_)) => Ok(()),
        (Kind::Int, Value::Number(n)) if n.is_i64() => Ok(()),
        (Kind::Enum(allowed), Value::String(s)) => {
            if allowed.contains(&s.as_str()) || token::is_unknown(value) {
                return Ok(());
            }
            let suggestion = suggest(s, allowed);
            Err(SchemaError::NotOneOf {
                field,
                value: s.clone(),
                allowed,
                suggestion,
            })
        }
        (Kind::StrSet, Value::Array(items)) => match items.iter().find(|i| !i.is_string()) {
            Some(bad) => item("strings", bad),
            None => Ok(()),
        },
        (Kind::Tags, Value::Object(map)) => match map.iter().find(|(_, v)| !v.is_string()) {
            Some((k, v)) => Err(SchemaError::TagValue {
                field,
                key: k.clone(),
                found: type_name(v),
            }),
            None => Ok(()),
        },
        (Kind::Json, Value::Object(_) | Value::Array(_)) => Ok(()),
        (Kind::Json, Value::String(s)) => {
            if token::is_unknown(value) && !s.trim_start().starts_with(['{', '[']) {
                return Ok(());
            }
            let reason = |e: serde_json::Error| SchemaError::Json {
                field,
                reason: e.to_string(),
            };
            serde_json::from_str::<Value>(s).map(drop).map_err(reason)
        }
        (Kind::ObjectSet(fields), Value::Array(items)) => {
            for each in items {
                let Value::Object(m) = each else {
                    return item("maps", each);
                };
                validate(fields, m).map_err(|inner| SchemaError::Inside {
                    field: field.clone(),
                    inner: Box::new(inner),
                })?;
            }
            Ok(())
        }
        (Kind::Str | Kind::Cidr | Kind::Enum(_), _) => wrong("a string"),
        (Kind::Bool, _) => wrong("a bool (`true` or `false`)"),
        (Kind::Int, _) => wrong("an integer"),
        (Kind::StrSet, _) => wrong("an array of strings"),
        (Kind::Tags, _) => wrong("a map of strings"),
        (Kind::Json, _) => wrong("a map or a JSON string"),
        (Kind::ObjectSet(_), _) => wrong("an array of maps"),
    }
}

/// `names` in backticks, joined by commas, as messages list them: `` `a`, `b` ``.
pub fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest name in `candidates`, if one is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Puts a value in the canonical form used for comparison.
pub fn normalize(kind: &Kind, value: &Value) -> Value {
    if token::is_unknown(value)
        && !matches!(
            kind,
            Kind::Json | Kind::StrSet | Kind::ObjectSet(_) | Kind::Tags
        )
    {
        return value.clone();
    }
    match (kind, value) {
        (Kind::Cidr, Value::String(s)) => match s.parse::<IpNet>() {
            Ok(net) => Value::String(net.trunc().to_string()),
            Err(_) => value.clone(),
        },
        (Kind::StrSet, Value::Array(items)) => {
            let mut v: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect();
            v.sort();
            v.dedup();
            Value::Array(v.into_iter().map(Value::String).collect())
        }
        (Kind::Json, Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(doc) => canonical_json(&doc),
            Err(_) => value.clone(),
        },
        (Kind::Json, _) => canonical_json(value),
        (Kind::ObjectSet(fields), Value::Array(items)) => {
            let mut v: Vec<Value> = items
                .iter()
                .map(|item| match item {
                    Value::Object(m) => Value::Object(normalize_props(fields, m)),
                    other => other.clone(),
                })
                .collect();
            v.sort_by_key(|x| x.to_string());
            v.dedup();
            Value::Array(v)
        }
        _ => value.clone(),
    }
}

/// Normalises every known field of a props map and fills in AWS defaults.
pub fn normalize_props(fields: &[Field], props: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for field in fields {
        let value = match props.get(field.name) {
            Some(v) => Some(v.clone()),
            None => field.default.and_then(|d| serde_json::from_str(d).ok()),
        };
        if let Some(v) = value {
            out.insert(field.name.to_string(), normalize(&field.kind, &v));
        }
    }
    out
}

/// JSON with object keys sorted and single-element IAM-style arrays kept as written.
pub fn canonical_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical_json(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical_json).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[Field] = &[
        Field::required("cidr_block", Kind::Cidr, "the block"),
        Field::optional("enable_dns_hostnames", Kind::Bool, "dns").default("false"),
        Field::optional("tenancy", Kind::Enum(&["default", "dedicated"]), "tenancy"),
        Field::optional("policy", Kind::Json, "policy"),
        Field::optional("subnet_ids", Kind::StrSet, "subnets"),
    ];

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn suggests_near_names_for_typos() {
        let err = validate(FIELDS, &obj(json!({"cidr_blok": "10.0.0.0/16"})))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown property `cidr_blok`; did you mean `cidr_block`?"
        );
    }

    #[test]
    fn suggests_names_accepted_elsewhere_too() {
        let err = validate_among(
            FIELDS,
            &["depends_on"],
            &obj(json!({"cidr_block": "10.0.0.0/16", "depend_on": []})),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "unknown property `depend_on`; did you mean `depends_on`?"
        );
    }

    #[test]
    fn rejects_bad_cidr_types_and_enums() {
        assert!(
            validate(FIELDS, &obj(json!({"cidr_block": "10.0.0.0/33"})))
                .unwrap_err()
                .to_string()
                .contains("not a valid CIDR")
        );
        assert!(
            validate(FIELDS, &obj(json!({"cidr_block": 5})))
                .unwrap_err()
                .to_string()
                .contains("must be a string")
        );
        let e = validate(
            FIELDS,
            &obj(json!({"cidr_block": "10.0.0.0/16", "tenancy": "dedicatd"})),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("did you mean `dedicated`"), "{e}");
        assert!(
            validate(FIELDS, &obj(json!({})))
                .unwrap_err()
                .to_string()
                .contains("missing required property `cidr_block`")
        );
    }

    #[test]
    fn normalization_makes_equivalent_values_equal() {
        let a = normalize_props(
            FIELDS,
            &obj(json!({
                "cidr_block": "10.0.1.7/16",
                "policy": "{\"b\": 1, \"a\": [2]}",
                "subnet_ids": ["b", "a", "b"],
            })),
        );
        let b = normalize_props(
            FIELDS,
            &obj(json!({
                "cidr_block": "10.0.0.0/16",
                "enable_dns_hostnames": false,
                "policy": {"a": [2], "b": 1},
                "subnet_ids": ["a", "b"],
            })),
        );
        assert_eq!(a, b);
    }
}
