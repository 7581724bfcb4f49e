//! IAM resource types (roles, OpenID Connect providers) and the helpers they share.
//!
//! IAM is global: a stack's roles live under the path `/eprun/<stack>/`, which is how one
//! paginated ListRoles call finds them; their tags are re-checked on the client side.

pub mod openid_connect_provider;
pub mod role;

use crate::adapter::{Retag, Tagger};
use crate::resource::Observed;
use crate::{Aws, CloudError, sdk};
use aws_sdk_iam::types::Tag;

/// Every item of a paginated IAM call: `all!(iam.list_role_tags().role_name(n), "ListRoleTags", n)`.
macro_rules! all {
    ($call:expr, $operation:literal, $target:expr) => {
        $call
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(crate::sdk($operation, $target))
    };
}
use all;

/// The IAM path of a stack's roles: `/eprun/<stack>/` (the stack's `/` kept as path separators).
pub fn stack_path(stack: &str) -> String {
    format!("/eprun/{stack}/")
}

/// IAM's tagger: each IAM type has its own tagging calls, on the id the type reports.
pub enum IamTags {
    /// TagRole and UntagRole, on the role name.
    Role,
    /// TagOpenIDConnectProvider and UntagOpenIDConnectProvider, on the provider's ARN.
    OpenIdConnectProvider,
}

#[async_trait::async_trait]
impl Tagger for IamTags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<(), CloudError> {
        let (set, remove) = (change.set, change.remove);
        let (iam, id) = (aws.iam(), on.id.as_str());
        let (tags, keys) = (Some(iam_tags(set)), Some(remove.to_vec()));
        match self {
            IamTags::Role => {
                if !set.is_empty() {
                    let call = iam.tag_role().role_name(id).set_tags(tags);
                    call.send().await.map_err(sdk("TagRole", id))?;
                }
                if !remove.is_empty() {
                    let call = iam.untag_role().role_name(id).set_tag_keys(keys);
                    call.send().await.map_err(sdk("UntagRole", id))?;
                }
            }
            IamTags::OpenIdConnectProvider => {
                if !set.is_empty() {
                    let call = iam.tag_open_id_connect_provider().set_tags(tags);
                    let call = call.open_id_connect_provider_arn(id).send().await;
                    call.map_err(sdk("TagOpenIDConnectProvider", id))?;
                }
                if !remove.is_empty() {
                    let call = iam.untag_open_id_connect_provider().set_tag_keys(keys);
                    let call = call.open_id_connect_provider_arn(id).send().await;
                    call.map_err(sdk("UntagOpenIDConnectProvider", id))?;
                }
            }
        }
        Ok(())
    }
}

/// IAM tags as (key, value) pairs.
pub(crate) fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    let pair = |t: &Tag| (t.key().to_string(), t.value().to_string());
    tags.iter().map(pair).collect()
}

/// (key, value) pairs as IAM tags (both halves are set, so every tag builds).
pub(crate) fn iam_tags(tags: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().key(k).value(v).build().ok();
    tags.iter().filter_map(tag).collect()
}

/// A policy document (a map, or JSON text) as the text IAM and KMS take; KMS key policies are
/// written in IAM's policy language.
pub(crate) fn policy_text(doc: &serde_json::Value) -> String {
    doc.as_str().map_or_else(|| doc.to_string(), String::from)
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
