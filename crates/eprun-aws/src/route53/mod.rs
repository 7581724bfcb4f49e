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

use crate::Result;
use crate::adapter::{Retag, Tagger, found};
use crate::address::Address;
use crate::invalid::Invalid;
use crate::resource::Observed;
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, STACK_TAG, WaitState, sdk, tags, wait_until};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeInfo, ChangeStatus, ResourceRecordSet, RrType, Tag,
    TagResourceType,
};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Display;
use std::time::Duration;

/// The prefix of every caller reference eprun sends.
const REFERENCE_PREFIX: &str = "eprun:";

/// ListTagsForResources takes at most this many ids.
const TAG_BATCH: usize = 10;

/// A change batch holds at most this many changes.
const CHANGE_BATCH: usize = 500;

/// Route 53 changes reach all its servers within about a minute.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(600);

/// A fresh caller reference for creating `address` in `stack`.
pub fn caller_reference(stack: &str, address: &Address) -> String {
    let (name, nonce) = (address.name(), uuid::Uuid::new_v4().simple().to_string());
    format!("{REFERENCE_PREFIX}{stack}:{name}:{}", &nonce[..8])
}

/// A fresh caller reference for creating `address` in the stack its ownership `tags` name.
fn reference_for(address: &Address, tags: &[(String, String)]) -> String {
    let stack: String = tags::kept(tags, STACK_TAG).unwrap_or_default();
    caller_reference(&stack, address)
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
pub fn check_dns_name(prop: &str, value: Option<&Value>) -> Result<(), Invalid> {
    let known = value.filter(|v| !token::is_unknown(v));
    let Some(name) = known.and_then(Value::as_str) else {
        return Ok(());
    };
    if name.is_empty() || name == "." {
        return Err(Invalid::form(prop, "cannot be empty"));
    }
    if name.ends_with('.') {
        return Err(Invalid::value(
            prop,
            format!(
                "write `{}` without the trailing dot",
                name.trim_end_matches('.')
            ),
        ));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(Invalid::value(
            prop,
            format!(
                "DNS names are compared in lowercase; write `{}`",
                name.to_ascii_lowercase()
            ),
        ));
    }
    let bad_label = name.split('.').any(|l| l.is_empty() || l.len() > 63);
    if name.len() > 253 || bad_label {
        return Err(Invalid::value(
            prop,
            format!("`{name}` is not a valid DNS name"),
        ));
    }
    Ok(())
}

/// Whether a change batch was refused because a record it deletes is not there; Route 53 says so
/// only in the message of its `InvalidChangeBatch` error.
pub fn missing_record(e: &CloudError) -> bool {
    e.is("InvalidChangeBatch") && e.message.contains("not found")
}

/// A request refused before it is sent (a required field missing, a name too long), as an AWS
/// error for `target`.
pub fn client_error(operation: &str, target: impl Display, why: impl Display) -> CloudError {
    let client = CloudErrorKind::Service("Client".into());
    CloudError::new(operation, target, client, why.to_string())
}

/// A string prop, if set and not empty.
pub fn nonempty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|s| !s.is_empty())
}

/// An answer that lacks the `what` it creates.
pub fn no_answer(operation: &str, target: &Address, what: &str) -> CloudError {
    let empty = CloudErrorKind::Service("Empty".into());
    let why = format!("the answer named no {what}");
    CloudError::new(operation, target, empty, why)
}

/// Route 53's tagger: ChangeTagsForResource on the zones or the health checks.
pub struct R53Tags(pub TagResourceType);

impl R53Tags {
    /// Of `items`, those whose caller reference names `stack` (as a `kind`), each with its tags;
    /// `refs` answers an item's caller reference and id.
    pub async fn owned<T>(
        &self,
        aws: &Aws,
        stack: &str,
        kind: &str,
        items: Vec<T>,
        refs: fn(&T) -> (&str, &str),
    ) -> Result<Vec<(T, Vec<(String, String)>)>> {
        let ours = |i: &T| owner(refs(i).0, stack, kind).is_some();
        let ours: Vec<T> = items.into_iter().filter(ours).collect();
        self.tagged(aws, ours, refs).await
    }

    /// Each of `items` with its tags (ListTagsForResources, ten ids a call); `refs` answers an
    /// item's caller reference and id.
    pub async fn tagged<T>(
        &self,
        aws: &Aws,
        items: Vec<T>,
        refs: fn(&T) -> (&str, &str),
    ) -> Result<Vec<(T, Vec<(String, String)>)>> {
        let ids: Vec<String> = items.iter().map(|i| refs(i).1.to_string()).collect();
        let mut tags = HashMap::new();
        for chunk in ids.chunks(TAG_BATCH) {
            let call = aws.route53().list_tags_for_resources();
            let call = call.resource_type(self.0.clone());
            let answer = call.set_resource_ids(Some(chunk.to_vec())).send().await;
            let answer = answer.map_err(sdk("ListTagsForResources", chunk.join(",")))?;
            for set in answer.resource_tag_sets() {
                let text = |s: Option<&str>| s.unwrap_or_default().to_string();
                let pairs = set.tags().iter().map(|t| (text(t.key()), text(t.value())));
                tags.insert(text(set.resource_id()), pairs.collect());
            }
        }
        let each = ids.iter().map(|id| tags.remove(id).unwrap_or_default());
        Ok(items.into_iter().zip(each).collect())
    }
}

#[async_trait::async_trait]
impl Tagger for R53Tags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<()> {
        let (set, remove) = (change.set, change.remove);
        let tag = |(k, v): &(String, String)| Tag::builder().key(k).value(v).build();
        (aws.route53().change_tags_for_resource())
            .resource_type(self.0.clone())
            .resource_id(&on.id)
            .set_add_tags((!set.is_empty()).then(|| set.iter().map(tag).collect()))
            .set_remove_tag_keys((!remove.is_empty()).then(|| remove.to_vec()))
            .send()
            .await
            .map_err(sdk("ChangeTagsForResource", &on.id))?;
        Ok(())
    }
}

/// The zone or health check `id`, as the tagger takes it (only its id matters).
pub fn by_id(id: &str) -> Observed {
    Observed {
        id: id.to_string(),
        ..Observed::default()
    }
}

/// Waits until a change (as a change call answered it) has reached every Route 53 server.
pub async fn wait_change(
    aws: &Aws,
    operation: &str,
    target: &str,
    change: Option<&ChangeInfo>,
) -> Result<()> {
    let Some(id) = change.map(ChangeInfo::id).filter(|id| !id.is_empty()) else {
        return Ok(());
    };
    wait_until(operation, target, CHANGE_TIMEOUT, || async move {
        let out = aws.route53().get_change().id(id).send().await;
        // Emulators may not keep changes around.
        let out = found(out.map_err(sdk("GetChange", id)))?;
        Ok(
            match out
                .as_ref()
                .and_then(|o| o.change_info())
                .map(|c| c.status())
            {
                Some(ChangeStatus::Insync) | None => WaitState::Ready,
                Some(s) => WaitState::Pending(s.as_str().to_string()),
            },
        )
    })
    .await
}

/// Every record set of one zone, in one paginated ListResourceRecordSets.
pub async fn record_sets(aws: &Aws, zone: &str) -> Result<Vec<ResourceRecordSet>> {
    let mut out = Vec::new();
    let (mut next_name, mut next_type, mut next_id) =
        (None::<String>, None::<RrType>, None::<String>);
    loop {
        let page = (aws.route53().list_resource_record_sets())
            .hosted_zone_id(zone)
            .set_start_record_name(next_name)
            .set_start_record_type(next_type)
            .set_start_record_identifier(next_id)
            .send()
            .await
            .map_err(sdk("ListResourceRecordSets", zone))?;
        out.extend(page.resource_record_sets().iter().cloned());
        if !page.is_truncated() {
            return Ok(out);
        }
        next_name = page.next_record_name().map(String::from);
        next_type = page.next_record_type().cloned();
        next_id = page.next_record_identifier().map(String::from);
    }
}

/// Applies `action` to each of `sets` in `zone`, a batch at a time, each waited for until in sync.
pub async fn change_records(
    aws: &Aws,
    zone: &str,
    action: ChangeAction,
    sets: &[ResourceRecordSet],
    comment: &str,
    target: &str,
) -> Result<()> {
    let op = "ChangeResourceRecordSets";
    for chunk in sets.chunks(CHANGE_BATCH) {
        let change = |rr: &ResourceRecordSet| {
            let change = Change::builder().action(action.clone());
            change.resource_record_set(rr.clone()).build()
        };
        let changes = chunk.iter().map(change).collect::<Result<Vec<_>, _>>();
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes.map_err(|e| client_error(op, target, e))?))
            .comment(comment)
            .build()
            .map_err(|e| client_error(op, target, e))?;
        let out = (aws.route53().change_resource_record_sets())
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(sdk(op, target))?;
        wait_change(aws, op, target, out.change_info()).await?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the Route 53 tests share.

    use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckRegion, HealthCheckType};

    /// An HTTPS check of `fqdn` on port 443 and `/healthz`, every 10 seconds from three regions,
    /// failing after 3 failures.
    pub(crate) fn https_config(fqdn: &str, inverted: bool) -> HealthCheckConfig {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Https)
            .fully_qualified_domain_name(fqdn)
            .port(443)
            .resource_path("/healthz")
            .request_interval(10)
            .failure_threshold(3)
            .inverted(inverted)
            .regions(HealthCheckRegion::UsEast1)
            .regions(HealthCheckRegion::EuWest1)
            .regions(HealthCheckRegion::UsWest2)
            .build()
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    pub(super) use crate::adapter::testing::obj;
    use crate::adapter::{Adapter, Description, testing};
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::change_tags_for_resource::ChangeTagsForResourceOutput;
    use aws_sdk_route53::operation::get_change::GetChangeOutput;
    use aws_sdk_route53::primitives::DateTime;
    use aws_smithy_mocks::{Rule, mock};
    use serde_json::json;

    /// Props from a JSON map.

    /// How `res` observes `item` for the stack `s` (no calls answered).
    pub(super) async fn observe<D: Description>(res: &Adapter<D>, item: &D::Item) -> Observed {
        let aws = Aws::mocked(&[]);
        let found = testing::observe(res, &aws, "s", item).await;
        found.expect("stack `s` owns it")
    }

    /// Whether a create sent a fresh caller reference for `name` in the stack `test`.
    pub(super) fn fresh(reference: Option<&str>, name: &str) -> bool {
        let prefix = format!("eprun:test:{name}:");
        reference.is_some_and(|r| r.starts_with(&prefix) && r.len() == prefix.len() + 8)
    }

    /// What a change call answers: change `C1`, in `status`.
    pub(super) fn change(status: ChangeStatus) -> ChangeInfo {
        let at = DateTime::from_secs(0);
        let info = ChangeInfo::builder()
            .id("C1")
            .status(status)
            .submitted_at(at);
        info.build().expect("a whole change")
    }

    /// GetChange, finding change `C1` in sync.
    pub(super) fn in_sync() -> Rule {
        mock!(Client::get_change)
            .match_requests(|r| r.id() == Some("C1"))
            .then_output(|| {
                let info = change(ChangeStatus::Insync);
                GetChangeOutput::builder().change_info(info).build()
            })
    }

    /// ChangeTagsForResource, when it sets the ownership tags of a create in the stack `test`.
    pub(super) fn tagged() -> Rule {
        let ours = |t: &Tag| t.key() == Some(STACK_TAG) && t.value() == Some("test");
        mock!(Client::change_tags_for_resource)
            .match_requests(move |r| r.add_tags().iter().any(ours))
            .then_output(|| ChangeTagsForResourceOutput::builder().build())
    }

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
        assert!(owner(&r, "prod/us-east-1", "route53.zone").is_some());
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
                .to_string()
                .contains("trailing dot")
        );
        assert!(
            check_dns_name("name", Some(&json!("API.examplepay.com")))
                .unwrap_err()
                .to_string()
                .contains("lowercase")
        );
        assert!(
            check_dns_name("name", Some(&json!("a..b")))
                .unwrap_err()
                .to_string()
                .contains("not a valid")
        );
    }
}
