//! IAM resource types (roles, managed policies and their attachments, instance profiles, OpenID
//! Connect providers) and the helpers they share.
//!
//! IAM is global: a stack's roles live under the path `/eprun/<stack>/`, which is how one
//! paginated ListRoles call finds them; their tags are re-checked on the client side.
//! IAM is eventually consistent: what was made a moment ago (a role, a policy, an OIDC provider)
//! may not be seen yet by the next call that names it, which is retried for a while.

pub mod instance_profile;
pub mod openid_connect_provider;
pub mod policy;
pub mod role;
pub mod role_policy_attachment;

use crate::Result;
use crate::adapter::{Retag, Tagger, retag};
use crate::address::Address;
use crate::all;
use crate::invalid::Invalid;
use crate::resource::{Observed, Props, gone_ok};
use crate::{Aws, CloudError, CloudErrorKind, retry_while, sdk, token};
use aws_sdk_iam::types::{AttachedPolicy, Tag};
use serde_json::{Value, json};
use std::time::Duration;

/// How long a call naming something made a moment ago waits for IAM to see it.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs an IAM call again while IAM does not see yet an entity made a moment ago (`NoSuchEntity`
/// right after the role or policy it names was created), for at most [`PROPAGATION_TIMEOUT`].
pub(crate) async fn once_visible<T, F, Fut>(call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    retry_while(PROPAGATION_TIMEOUT, CloudError::is_not_found, call).await
}

/// Whether IAM refused a policy document because it does not see yet a principal made a moment
/// ago; IAM says so only in the message of its `MalformedPolicyDocument` error.
pub(crate) fn unseen_principal(e: &CloudError) -> bool {
    e.is("MalformedPolicyDocument") && e.message.contains("Invalid principal")
}

/// The IAM path of a stack's roles: `/eprun/<stack>/` (the stack's `/` kept as path separators).
pub fn stack_path(stack: &str) -> String {
    format!("/eprun/{stack}/")
}

/// Checks the name of an IAM `what` (role, policy, instance profile): 1 to `max` of letters,
/// digits and `+=,.@_-`.
pub(crate) fn check_name(what: &str, name: &str, max: usize) -> Result<(), Invalid> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if token::is_unknown(&json!(name)) || (1..=max).contains(&name.len()) && name.chars().all(valid)
    {
        return Ok(());
    }
    Err(Invalid::value(
        "name",
        format!("`{name}` is not a valid {what} name (1 to {max} letters, digits and `+=,.@_-`)"),
    ))
}

/// Checks an IAM path (policies, instance profiles): it starts and ends with `/`.
pub(crate) fn check_path(props: &Props) -> Result<(), Invalid> {
    match props.get("path").filter(|p| !token::is_unknown(p)) {
        Some(Value::String(p)) if !(p.starts_with('/') && p.ends_with('/')) => Err(Invalid::value(
            "path",
            format!("`{p}` must start and end with `/` (e.g. `/eprun/`)"),
        )),
        _ => Ok(()),
    }
}

/// Checks the policy document in `field` (IAM's policy language, also for SQS queue policies): a
/// map with a `Statement`, or JSON text (left to the service).
pub(crate) fn check_document(props: &Props, field: &str) -> Result<(), Invalid> {
    match props.get(field) {
        Some(Value::Object(doc)) if !doc.contains_key("Statement") => Err(Invalid::value(
            field,
            "a policy document needs a `Statement`",
        )),
        Some(Value::Array(_)) => Err(Invalid::form(
            field,
            "must be a policy document (a map), not an array",
        )),
        _ => Ok(()),
    }
}

/// The ARNs of the managed policies attached to a role.
pub(crate) async fn attached(aws: &Aws, role: &str) -> Result<Vec<String>> {
    let call = aws.iam().list_attached_role_policies().role_name(role);
    let policies: Vec<AttachedPolicy> = all!(call, "ListAttachedRolePolicies", role)?;
    Ok(policies
        .iter()
        .filter_map(|p| p.policy_arn.clone())
        .collect())
}

/// Attaches a managed policy to a role, once IAM sees both (either may be new).
pub(crate) async fn attach(aws: &Aws, role: &str, arn: &str) -> Result<()> {
    let call = aws
        .iam()
        .attach_role_policy()
        .role_name(role)
        .policy_arn(arn);
    let target = format!("{role} ({arn})");
    once_visible(|| {
        let (call, target) = (call.clone(), &target);
        async move { call.send().await.map_err(sdk("AttachRolePolicy", target)) }
    })
    .await
    .map(drop)
}

/// Detaches a managed policy from a role; one not attached (or gone) is what was asked.
pub(crate) async fn detach(aws: &Aws, role: &str, arn: &str) -> Result<()> {
    let call = aws
        .iam()
        .detach_role_policy()
        .role_name(role)
        .policy_arn(arn);
    let r = call.send().await.map(drop);
    gone_ok(r.map_err(sdk("DetachRolePolicy", format!("{role} ({arn})"))))
}

/// IAM's tagger: each IAM type has its own tagging calls, on the id the type reports.
pub enum IamTags {
    /// TagRole and UntagRole, on the role name.
    Role,
    /// TagPolicy and UntagPolicy, on the policy's ARN.
    Policy,
    /// TagInstanceProfile and UntagInstanceProfile, on the profile's name.
    InstanceProfile,
    /// TagOpenIDConnectProvider and UntagOpenIDConnectProvider, on the provider's ARN.
    OpenIdConnectProvider,
}

/// The tagger's match: for each IAM type, its tag and untag calls on the id set by `$on`.
macro_rules! iam_retag {
    (($kind:expr, $iam:ident, $id:ident, $set:ident, $remove:ident)
     $($variant:ident: $tag:ident / $untag:ident on $on:ident, $tag_op:literal / $untag_op:literal;)*) => {
        match $kind {
            $(IamTags::$variant => retag!($set, $remove, $id;
                $iam.$tag().$on($id).set_tags(Some(iam_tags($set))), $tag_op;
                $iam.$untag().$on($id).set_tag_keys(Some($remove.to_vec())), $untag_op),)*
        }
    };
}

#[async_trait::async_trait]
impl Tagger for IamTags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<()> {
        let (set, remove) = (change.set, change.remove);
        let (iam, id) = (aws.iam(), on.id.as_str());
        iam_retag! {(self, iam, id, set, remove)
            Role: tag_role / untag_role on role_name, "TagRole" / "UntagRole";
            Policy: tag_policy / untag_policy on policy_arn, "TagPolicy" / "UntagPolicy";
            InstanceProfile: tag_instance_profile / untag_instance_profile on instance_profile_name,
                "TagInstanceProfile" / "UntagInstanceProfile";
            OpenIdConnectProvider:
                tag_open_id_connect_provider / untag_open_id_connect_provider
                    on open_id_connect_provider_arn,
                "TagOpenIDConnectProvider" / "UntagOpenIDConnectProvider";
        }
        Ok(())
    }
}

/// The error for a create call `operation` whose answer lacks `what` (e.g. `the new role`).
pub(crate) fn answered_without(operation: &str, address: &Address, what: &str) -> CloudError {
    let empty = CloudErrorKind::Service("Empty".into());
    CloudError::new(
        operation,
        address,
        empty,
        format!("IAM answered without {what}"),
    )
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
