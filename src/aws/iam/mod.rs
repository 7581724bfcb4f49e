//! IAM resource types (roles, OpenID Connect providers) and the helpers they share.
//!
//! IAM is global: a stack's roles live under the path `/eprun/<stack>/`, which is how one
//! paginated ListRoles call finds them; their tags are re-checked on the client side.

pub mod openid_connect_provider;
pub mod role;

use crate::aws::{CloudError, CloudErrorKind};
use aws_sdk_iam::types::Tag;

/// The IAM path of a stack's roles: `/eprun/<stack>/` (the stack's `/` kept as path separators).
pub fn stack_path(stack: &str) -> String {
    format!("/eprun/{stack}/")
}

/// IAM tags as (key, value) pairs.
pub(crate) fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// (key, value) pairs as IAM tags.
pub(crate) fn iam_tags(
    operation: &str,
    target: &str,
    tags: &[(String, String)],
) -> Result<Vec<Tag>, CloudError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| {
                CloudError::new(
                    operation,
                    target,
                    CloudErrorKind::Service("Client".into()),
                    e.to_string(),
                )
            })
        })
        .collect()
}

/// A policy document (a map, or JSON text) as the text IAM and KMS take; KMS key policies are
/// written in IAM's policy language.
pub(crate) fn policy_text(doc: &serde_json::Value) -> String {
    match doc {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A policy document as IAM returns it: URL-encoded (RFC 3986) JSON text; plain JSON is kept as it is.
pub fn decode_policy(text: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
pub(crate) mod testing {
    //! A mocked IAM client for unit tests (`aws-smithy-mocks`).

    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};

    /// An IAM client whose calls are answered by `rules`.
    pub(crate) fn client(rules: &[&Rule]) -> aws_sdk_iam::Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_come_back_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_policy(encoded),
            r#"{"Version":"2012-10-17","Statement":[]}"#
        );
        let plain = r#"{"a": "b+c%"}"#;
        assert_eq!(decode_policy(plain), plain);
        assert_eq!(
            decode_policy("%7B%22a%22%3A%22x%20y%22%7D"),
            r#"{"a":"x y"}"#
        );
    }

    #[test]
    fn stack_paths_keep_the_slash() {
        assert_eq!(stack_path("prod/us-east-1"), "/eprun/prod/us-east-1/");
    }
}
