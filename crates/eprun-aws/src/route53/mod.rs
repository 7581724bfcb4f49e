//! Route 53 resource types and the helpers they share.
//!
//! Route 53 takes no tags in its create calls, so zones and health checks are recognised by their
//! `CallerReference` instead: `eprun:<stack>:<name>:<nonce>`, where `<name>` is the resource's name in
//! its address (the type is implied by the API) and `<nonce>` makes each create unique — AWS refuses
//! a reference that a deleted zone or health check used, so a purely fixed one would break every
//! re-create. The batched read decodes the stack and address from the reference, so a resource
//! created just before a crash is found (and adopted) before anything creates it again. The
//! ownership and user tags are set right after the create with ChangeTagsForResource.

pub mod health_check;
pub mod record;
pub mod zone;

use crate::address::Address;
use crate::resource::Props;
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, WaitState, wait_until};
use aws_sdk_route53::types::{ChangeStatus, Tag, TagResourceType};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The prefix of every caller reference eprun sends.
const REFERENCE_PREFIX: &str = "eprun:";

/// ListTagsForResources takes at most this many ids.
const TAG_BATCH: usize = 10;

/// Route 53 changes reach all its servers within about a minute.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(600);

/// A fresh caller reference for creating `address` in `stack`.
pub fn caller_reference(stack: &str, address: &Address) -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{REFERENCE_PREFIX}{stack}:{}:{}",
        address.name(),
        &nonce[..8]
    )
}

/// The address a caller reference names, if eprun made it for `stack` (a resource of type `kind`).
pub fn owner(reference: &str, stack: &str, kind: &str) -> Option<Address> {
    let rest = reference.strip_prefix(REFERENCE_PREFIX)?;
    let (rest, _nonce) = rest.rsplit_once(':')?;
    let (ref_stack, name) = rest.rsplit_once(':')?;
    (ref_stack == stack)
        .then(|| Address::new(kind, name).ok())
        .flatten()
}

/// The stack a caller reference made by eprun names.
pub fn reference_stack(reference: &str) -> Option<&str> {
    let rest = reference.strip_prefix(REFERENCE_PREFIX)?;
    let (rest, _nonce) = rest.rsplit_once(':')?;
    Some(rest.rsplit_once(':')?.0)
}

/// A hosted zone id without the `/hostedzone/` prefix that some answers carry.
pub fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// A DNS name as Route 53 reports it, in the form declarations use: octal escapes (`\052` for
/// `*`) decoded, lowercase, without the trailing dot.
pub fn dns_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            let octal = (digits.len() == 3 && digits.chars().all(|d| d.is_digit(8)))
                .then(|| u8::from_str_radix(&digits, 8).ok())
                .flatten();
            if let Some(decoded) = octal {
                out.push(char::from(decoded));
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out.trim_end_matches('.').to_ascii_lowercase()
}

/// Checks that a declared DNS name is in the form reads report: lowercase, no trailing dot.
pub fn check_dns_name(prop: &str, value: Option<&Value>) -> Result<(), String> {
    let Some(v) = value else { return Ok(()) };
    if token::is_unknown(v) {
        return Ok(());
    }
    let Some(name) = v.as_str() else {
        return Ok(());
    };
    if name.is_empty() || name == "." {
        return Err(format!("property `{prop}` cannot be empty"));
    }
    if name.ends_with('.') {
        return Err(format!(
            "property `{prop}`: write `{}` without the trailing dot",
            name.trim_end_matches('.')
        ));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "property `{prop}`: DNS names are compared in lowercase; write `{}`",
            name.to_ascii_lowercase()
        ));
    }
    if name.len() > 253
        || name
            .split('.')
            .any(|label| label.is_empty() || label.len() > 63)
    {
        return Err(format!(
            "property `{prop}`: `{name}` is not a valid DNS name"
        ));
    }
    Ok(())
}

/// A client-side build error (a required field missing), as an AWS error for `target`.
pub fn build_error(
    operation: &str,
    target: impl std::fmt::Display,
    e: impl std::fmt::Display,
) -> CloudError {
    CloudError::new(
        operation,
        target,
        CloudErrorKind::Service("Client".into()),
        e.to_string(),
    )
}

/// The tags of many zones or health checks, a batch of ten ids per call.
pub async fn list_tags(
    aws: &Aws,
    kind: TagResourceType,
    ids: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>, CloudError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(TAG_BATCH) {
        let answer = aws
            .route53()
            .list_tags_for_resources()
            .resource_type(kind.clone())
            .set_resource_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| crate::from_sdk("ListTagsForResources", chunk.join(","), e))?;
        for set in answer.resource_tag_sets() {
            let tags = set
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            out.insert(set.resource_id().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(out)
}

/// Sets `set` and removes `remove` on one zone or health check.
pub async fn change_tags(
    aws: &Aws,
    kind: TagResourceType,
    id: &str,
    set: &[(String, String)],
    remove: &[String],
) -> Result<(), CloudError> {
    if set.is_empty() && remove.is_empty() {
        return Ok(());
    }
    aws.route53()
        .change_tags_for_resource()
        .resource_type(kind)
        .resource_id(id)
        .set_add_tags((!set.is_empty()).then(|| {
            set.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect()
        }))
        .set_remove_tag_keys((!remove.is_empty()).then(|| remove.to_vec()))
        .send()
        .await
        .map_err(|e| crate::from_sdk("ChangeTagsForResource", id, e))?;
    Ok(())
}

/// The user-visible tags of an owned resource: no `eprun:`/`aws:` tags, and no `Name` that is just
/// its address name.
pub fn visible_tags(address: &Address, all: &[(String, String)]) -> Value {
    Value::Object(
        all.iter()
            .filter(|(k, _)| !k.starts_with("eprun:") && !k.starts_with("aws:"))
            .filter(|(k, v)| !(k == "Name" && v == address.name()))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The whole tag set a resource should carry, and the keys it has that should go.
pub fn tag_plan(
    full: Vec<(String, String)>,
    existing: &[(String, String)],
) -> (Vec<(String, String)>, Vec<String>) {
    let want: BTreeMap<String, String> = full.into_iter().collect();
    let have: BTreeMap<&String, &String> = existing.iter().map(|(k, v)| (k, v)).collect();
    let set = want
        .iter()
        .filter(|(k, v)| have.get(k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = existing
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// A string prop, if set and not empty.
pub fn opt_str<'a>(p: &'a Props, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Waits until a change has reached every Route 53 server.
pub async fn wait_change(
    aws: &Aws,
    operation: &str,
    target: &str,
    change_id: &str,
) -> Result<(), CloudError> {
    if change_id.is_empty() {
        return Ok(());
    }
    wait_until(operation, target, CHANGE_TIMEOUT, || async move {
        let out = aws.route53().get_change().id(change_id).send().await;
        match out.map_err(|e| crate::from_sdk("GetChange", change_id, e)) {
            Ok(o) => Ok(match o.change_info().map(|c| c.status()) {
                Some(ChangeStatus::Insync) | None => WaitState::Ready,
                Some(s) => WaitState::Pending(s.as_str().to_string()),
            }),
            // Emulators may not keep changes around.
            Err(e) if e.is_not_found() => Ok(WaitState::Ready),
            Err(e) => Err(e),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn caller_references_name_their_stack_and_address() {
        let a: Address = "route53.health_check.ingress-us-east-1".parse().unwrap();
        let r = caller_reference("prod/us-east-1", &a);
        assert!(
            r.starts_with("eprun:prod/us-east-1:ingress-us-east-1:"),
            "{r}"
        );
        assert!(r.len() <= 64, "{r}");
        assert_ne!(
            r,
            caller_reference("prod/us-east-1", &a),
            "each create gets its own reference"
        );
        assert_eq!(owner(&r, "prod/us-east-1", "route53.health_check"), Some(a));
        assert_eq!(owner(&r, "prod/eu-west-1", "route53.health_check"), None);
        assert_eq!(reference_stack(&r), Some("prod/us-east-1"));
        assert_eq!(
            owner(
                "1234-some-console-reference",
                "prod/us-east-1",
                "route53.zone"
            ),
            None
        );
    }

    #[test]
    fn dns_names_are_read_in_declared_form() {
        assert_eq!(dns_name("API.ExamplePay.com."), "api.examplepay.com");
        assert_eq!(dns_name("\\052.examplepay.com."), "*.examplepay.com");
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
    }

    #[test]
    fn declared_names_must_be_canonical() {
        assert!(check_dns_name("name", Some(&json!("api.examplepay.com"))).is_ok());
        assert!(
            check_dns_name("name", Some(&json!("api.examplepay.com.")))
                .unwrap_err()
                .contains("trailing dot")
        );
        assert!(
            check_dns_name("name", Some(&json!("API.examplepay.com")))
                .unwrap_err()
                .contains("lowercase")
        );
        assert!(
            check_dns_name("name", Some(&json!("a..b")))
                .unwrap_err()
                .contains("not a valid")
        );
    }

    #[test]
    fn tag_plan_sets_changes_and_drops_leftovers() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let (set, remove) = tag_plan(
            vec![pair("a", "1"), pair("b", "2")],
            &[pair("a", "1"), pair("b", "1"), pair("c", "3")],
        );
        assert_eq!(set, vec![pair("b", "2")]);
        assert_eq!(remove, vec!["c".to_string()]);
    }
}
