//! Imperative verbs: the AWS calls runbooks make (describe, update, wait), plain JSON in and out.
//!
//! Each verb is written over the SDK client it needs, so unit tests drive it with a mocked client
//! (`aws-smithy-mocks`). Reads are never gated; every mutating call goes through
//! [`Mutations::perform`](crate::mutation::Mutations::perform), which skips it in a dry run and
//! records it in the runbook's journal. `src/api/aws_verbs.rs` registers the verbs as
//! `aws::<service>::<verb>`; results use snake_case keys.

pub mod cloudwatch;
pub mod ec2;
pub mod ecr;
pub mod eks;
pub mod iam;
pub mod route53;
pub mod secretsmanager;
pub mod servicequotas;
pub mod sts;

use crate::Result;
use crate::{CloudError, CloudErrorKind};
use serde_json::{Map, Value};
use std::future::Future;
use std::time::Duration;

/// An error in what a script passed to a verb, found before any mutating call was made.
pub fn invalid(operation: &str, target: &str, message: impl Into<String>) -> CloudError {
    CloudError::new(
        operation,
        target,
        CloudErrorKind::Service("InvalidArgument".into()),
        message,
    )
}

/// An answer that lacks something it must carry (never a panic).
pub fn empty_answer(operation: &str, target: &str, what: &str) -> CloudError {
    CloudError::new(
        operation,
        target,
        CloudErrorKind::Service("Empty".into()),
        format!("the answer carried no {what}"),
    )
}

/// Refuses keys of an options map that the verb does not take, with a "did you mean".
pub fn check_keys(
    operation: &str,
    target: &str,
    given: &Map<String, Value>,
    allowed: &[&str],
) -> Result<()> {
    for key in given.keys() {
        if !allowed.contains(&key.as_str()) {
            // A typo, or a shortened name (`desired` for `desired_size`).
            let hint = crate::schema::suggest(key, allowed)
                .or_else(|| {
                    allowed
                        .iter()
                        .copied()
                        .find(|a| a.starts_with(key.as_str()) || key.starts_with(a))
                })
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(invalid(
                operation,
                target,
                format!(
                    "unknown key `{key}` (it takes {}){hint}",
                    allowed
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A type an option may have, as a script passes it in JSON.
pub trait OptionType: Sized {
    /// What a value of the type is, for errors: `true or false`.
    const MUST_BE: &'static str;
    /// The value, if it is of the type.
    fn from_json(v: &Value) -> Option<Self>;
}

impl OptionType for bool {
    const MUST_BE: &'static str = "true or false";
    fn from_json(v: &Value) -> Option<Self> {
        v.as_bool()
    }
}

impl OptionType for i64 {
    const MUST_BE: &'static str = "a whole number";
    fn from_json(v: &Value) -> Option<Self> {
        v.as_i64()
    }
}

/// An optional option of type `T`.
pub fn opt<T: OptionType>(
    operation: &str,
    target: &str,
    given: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>> {
    match given.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::from_json(v).map(Some).ok_or_else(|| {
            invalid(
                operation,
                target,
                format!("`{key}` must be {}, not {v}", T::MUST_BE),
            )
        }),
    }
}

/// Runs a read (or a wait) until it finishes or Ctrl-C is pressed: a long wait in a runbook
/// must stop with the script, not after its timeout.
pub async fn interruptible<T>(
    operation: &str,
    target: &str,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    let watch = async {
        while !crate::interrupt::requested() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        result = call => result,
        () = watch => Err(CloudError::new(operation, target, CloudErrorKind::Wait, "interrupted by Ctrl-C")),
    }
}

/// A timeout given in seconds by a script.
pub fn timeout(operation: &str, target: &str, secs: i64) -> Result<Duration> {
    if secs <= 0 {
        return Err(invalid(
            operation,
            target,
            format!("the timeout must be a positive number of seconds, not {secs}"),
        ));
    }
    Ok(Duration::from_secs(secs.unsigned_abs()))
}

/// A JSON string, or null when absent.
pub fn opt_str(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// A date as RFC 3339 text, or null.
pub fn opt_date(v: Option<&aws_smithy_types::DateTime>) -> Value {
    v.and_then(|d| {
        d.fmt(aws_smithy_types::date_time::Format::DateTime)
            .ok()
            .map(Value::String)
    })
    .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_named_with_a_hint() {
        let given = json!({"min": 1}).as_object().unwrap().clone();
        let e = check_keys("Op", "t", &given, &["min_size", "max_size"]).unwrap_err();
        assert!(e.to_string().contains("unknown key `min`"), "{e}");
        let given = json!({"max_sizes": 1}).as_object().unwrap().clone();
        let e = check_keys("Op", "t", &given, &["min_size", "max_size"]).unwrap_err();
        assert!(e.to_string().contains("did you mean `max_size`"), "{e}");
    }

    #[test]
    fn options_are_typed() {
        let given = json!({"a": "yes", "b": 2.5, "c": true, "d": 3})
            .as_object()
            .unwrap()
            .clone();
        assert!(opt::<bool>("Op", "t", &given, "a").is_err());
        assert!(opt::<i64>("Op", "t", &given, "b").is_err());
        assert_eq!(opt("Op", "t", &given, "c").unwrap(), Some(true));
        assert_eq!(opt("Op", "t", &given, "d").unwrap(), Some(3));
        assert_eq!(opt::<i64>("Op", "t", &given, "z").unwrap(), None);
        assert!(timeout("Op", "t", 0).is_err());
    }
}
