//! Tokens: attributes known only after apply, carried through scripts as marker strings.
//!
//! Like the AWS CDK, a token is a string that can travel anywhere a string can
//! (props, interpolated strings, map keys, JSON documents) and is replaced by
//! the real value when its resource exists.

use crate::address::Address;
use serde_json::Value;
use std::collections::BTreeSet;

const OPEN: &str = "${eprun:";
const CLOSE: char = '}';

/// A reference to one attribute of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenRef {
    /// The resource that will know the value.
    pub address: Address,
    /// The attribute, e.g. `id` or `arn`.
    pub attribute: String,
}

/// The marker string that stands for `address.attribute` until it is known.
pub fn marker(address: &Address, attribute: &str) -> String {
    format!("{OPEN}{address}.{attribute}{CLOSE}")
}

/// Splits a string into literal pieces and token references.
fn pieces(s: &str) -> Vec<Result<&str, TokenRef>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else { break };
        let inner = &after[..end];
        let parsed = inner
            .rsplit_once('.')
            .and_then(|(addr, attr)| addr.parse::<Address>().ok().map(|a| (a, attr)));
        match parsed {
            Some((address, attribute)) => {
                if start > 0 {
                    out.push(Ok(&rest[..start]));
                }
                out.push(Err(TokenRef {
                    address,
                    attribute: attribute.to_string(),
                }));
            }
            None => out.push(Ok(&rest[..start + OPEN.len() + end + 1])),
        }
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Ok(rest));
    }
    out
}

/// Every token referenced by a string.
pub fn refs_in_str(s: &str) -> Vec<TokenRef> {
    pieces(s).into_iter().filter_map(Result::err).collect()
}

/// Every token referenced anywhere in a value, map keys included.
pub fn refs(value: &Value) -> BTreeSet<TokenRef> {
    let mut out = BTreeSet::new();
    collect(value, &mut out);
    out
}

fn collect(value: &Value, out: &mut BTreeSet<TokenRef>) {
    match value {
        Value::String(s) => out.extend(refs_in_str(s)),
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.extend(refs_in_str(k));
                collect(v, out);
            }
        }
        _ => {}
    }
}

/// Whether a value still holds a token.
pub fn is_unknown(value: &Value) -> bool {
    !refs(value).is_empty()
}

/// Replaces every token that `lookup` can answer; the others stay as markers. A string that is
/// exactly one token takes the attribute's own value (a list stays a list); a token inside a
/// longer string is spliced in as text.
pub fn resolve(value: &Value, lookup: &dyn Fn(&TokenRef) -> Option<Value>) -> Value {
    let as_text = |r: &TokenRef| {
        lookup(r).and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        })
    };
    match value {
        Value::String(s) => {
            let ps = pieces(s);
            if let [Err(r)] = ps.as_slice() {
                if let Some(v) = lookup(r).filter(|v| !v.is_null()) {
                    return v;
                }
            }
            Value::String(resolve_str(s, &as_text))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, lookup)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (resolve_str(k, &as_text), resolve(v, lookup)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces the tokens of one string that `lookup` can answer.
pub fn resolve_str(s: &str, lookup: &dyn Fn(&TokenRef) -> Option<String>) -> String {
    if !s.contains(OPEN) {
        return s.to_string();
    }
    pieces(s)
        .into_iter()
        .map(|p| match p {
            Ok(lit) => lit.to_string(),
            Err(r) => lookup(&r).unwrap_or_else(|| marker(&r.address, &r.attribute)),
        })
        .collect()
}

/// Renders a string for people: tokens become `(known after apply)`.
pub fn display_str(s: &str) -> String {
    if !s.contains(OPEN) {
        return s.to_string();
    }
    let ps = pieces(s);
    if ps.len() == 1 && ps[0].is_err() {
        return "(known after apply)".into();
    }
    ps.into_iter()
        .map(|p| match p {
            Ok(lit) => lit.to_string(),
            Err(r) => format!("${{{}.{}}}", r.address, r.attribute),
        })
        .collect()
}

/// A value for people: tokens become `(known after apply)`.
pub fn display(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(display_str(s)),
        Value::Array(items) => Value::Array(items.iter().map(display).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (display_str(k), display(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vpc() -> Address {
        "ec2.vpc.main".parse().unwrap()
    }

    #[test]
    fn marker_round_trips_inside_strings_and_keys() {
        let m = marker(&vpc(), "id");
        let v = json!({ format!("{m}:sub"): [format!("arn:{m}/x")], "plain": 1 });
        let found = refs(&v);
        assert_eq!(found.len(), 1);
        let r = found.into_iter().next().unwrap();
        assert_eq!(r.address, vpc());
        assert_eq!(r.attribute, "id");
        let resolved = resolve(&v, &|_| Some(json!("vpc-123")));
        assert_eq!(
            resolved,
            json!({"vpc-123:sub": ["arn:vpc-123/x"], "plain": 1})
        );
        assert!(!is_unknown(&resolved));
    }

    #[test]
    fn unresolved_tokens_stay() {
        let m = marker(&vpc(), "id");
        let v = json!(m.clone());
        assert_eq!(resolve(&v, &|_| None), json!(m));
        assert_eq!(display_str(&m), "(known after apply)");
        assert_eq!(display_str(&format!("a-{m}")), "a-${ec2.vpc.main.id}");
    }

    #[test]
    fn a_whole_token_takes_the_attribute_value_and_a_spliced_one_its_text() {
        let m = marker(&vpc(), "name_servers");
        let ns = json!(["ns-1", "ns-2"]);
        assert_eq!(resolve(&json!(m.clone()), &|_| Some(ns.clone())), ns);
        assert_eq!(
            resolve(&json!(format!("x {m}")), &|_| Some(ns.clone())),
            json!("x [\"ns-1\",\"ns-2\"]")
        );
    }

    #[test]
    fn text_that_only_looks_like_a_token_is_left_alone() {
        assert!(refs_in_str("${eprun:nope}").is_empty());
        assert_eq!(
            resolve_str("${eprun:nope} x", &|_| Some("y".into())),
            "${eprun:nope} x"
        );
    }
}
