//! Conversion between Rhai values and the JSON that props, outputs and API results are made of.

use crate::handle::Handle;
use rhai::Dynamic;
use serde_json::{Map, Number, Value};

/// Why a script value cannot be JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A float that is infinite or not a number.
    #[error("`{0}` is not a finite number")]
    NotFinite(String),
    /// A resource handle where a value was expected.
    #[error(
        "a resource handle (`{0}`) cannot be used as a value; use one of its attributes, like `.id`"
    )]
    Handle(crate::address::Address),
    /// An array or map that cannot be read (locked by a running closure).
    #[error("cannot read {what} ({locked})")]
    Locked {
        /// `an array` or `a map`.
        what: &'static str,
        /// The type Rhai names.
        locked: String,
    },
    /// A map entry that cannot be JSON.
    #[error("in `{key}`: {error}")]
    In {
        /// The key.
        key: String,
        /// Why its value cannot be JSON.
        error: Box<ValueError>,
    },
    /// A type with no JSON form (a function pointer, a timestamp).
    #[error("a value of type `{0}` cannot be turned into JSON")]
    Type(String),
}

/// Turns a script value into JSON; handles are refused with a hint to use an attribute.
pub fn to_json(value: &Dynamic) -> Result<Value, ValueError> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return Ok(Value::Bool(b));
    }
    if let Some(i) = value.clone().try_cast::<rhai::INT>() {
        return Ok(Value::Number(i.into()));
    }
    if let Some(f) = value.clone().try_cast::<rhai::FLOAT>() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| ValueError::NotFinite(f.to_string()));
    }
    if value.is_string() || value.is_char() {
        return Ok(Value::String(value.to_string()));
    }
    if let Some(h) = value.clone().try_cast::<Handle>() {
        return Err(ValueError::Handle(h.address));
    }
    if value.is_array() {
        let arr = value.as_array_ref().map_err(|t| ValueError::Locked {
            what: "an array",
            locked: t.to_string(),
        })?;
        return arr
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.as_map_ref().map_err(|t| ValueError::Locked {
            what: "a map",
            locked: t.to_string(),
        })?;
        let mut out = Map::new();
        for (k, v) in map.iter() {
            out.insert(
                k.to_string(),
                to_json(v).map_err(|e| ValueError::In {
                    key: k.to_string(),
                    error: Box::new(e),
                })?,
            );
        }
        return Ok(Value::Object(out));
    }
    Err(ValueError::Type(value.type_name().to_string()))
}

/// Turns JSON into a script value.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from(i),
            None => Dynamic::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_plain_values() {
        let v = json!({"a": [1, true, "x", null], "b": {"c": 2.5}});
        assert_eq!(to_json(&to_dynamic(&v)).unwrap(), v);
    }

    #[test]
    fn refuses_handles_with_a_hint() {
        let h = Handle {
            address: "ec2.vpc.main".parse().unwrap(),
            attributes: &["id"],
        };
        let err = to_json(&Dynamic::from(h)).unwrap_err().to_string();
        assert!(err.contains("use one of its attributes"), "{err}");
    }
}
