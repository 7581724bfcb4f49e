//! `aws::ec2::transit_gateway_peering_attachment_accepter`: the accepting side of a transit gateway peering.
//!
//! Declared with `region:` = the peer's region, it "owns" an attachment that the requester created:
//! it is found by the attachment id (its natural key), not by ownership tags, and it counts as
//! existing once the attachment is accepted (`available`).
//!
//! - create: AcceptTransitGatewayPeeringAttachment (skipped when it is accepted already), then waits
//!   for `available` and sets the declared tags on this side.
//! - delete: the peering cannot be "un-accepted". If the attachment still exists it is torn down
//!   from this side: rejected while it waits for acceptance, deleted once accepted. An attachment
//!   already deleted, rejected or failed needs nothing.

use super::transit_gateway::attachment_gone;
use super::transit_gateway_peering_attachment::{describe, wait_for, wait_gone};
use super::{pairs, props, str_prop, update_tags};
use crate::aws::{tags, Aws, AwsError, AwsErrorKind};
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, Tag, TransitGatewayAttachmentState as S, TransitGatewayPeeringAttachment as Peering};
use serde_json::{json, Value};

/// Accepts a transit gateway peering attachment in the peer's region.
pub struct TransitGatewayPeeringAttachmentAccepter;

const SCHEMA: &[Field] = &[
    Field::required("transit_gateway_attachment_id", Kind::Str, "the peering attachment to accept (the requester's `id`)"),
    TAGS,
];

/// The tags this side shows: everything but the ownership tags and the `Name` an eprun-managed
/// requester set (some emulators show the requester's tags on both sides).
fn visible_tags(all: Vec<(String, String)>) -> Value {
    let managed = all.iter().any(|(k, _)| k == tags::ADDRESS_TAG);
    Value::Object(
        all.into_iter()
            .filter(|(k, _)| !k.starts_with("eprun:") && !k.starts_with("aws:"))
            .filter(|(k, _)| !(managed && k == "Name"))
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// Whether this region is the accepting side of the attachment.
fn accepted_here(a: &Peering, region: &str) -> bool {
    a.accepter_tgw_info().and_then(|i| i.region()).is_none_or(|r| r == region) && a.requester_tgw_info().is_some()
}

fn observe(a: &Peering) -> Observed {
    let id = a.transit_gateway_attachment_id().unwrap_or_default().to_string();
    let accepter = a.accepter_tgw_info();
    let requester = a.requester_tgw_info();
    Observed {
        address: None,
        id: id.clone(),
        natural_key: Some(id.clone()),
        props: props([("transit_gateway_attachment_id", json!(id)), ("tags", visible_tags(pairs(a.tags())))]),
        attrs: props([
            ("id", json!(id)),
            ("transit_gateway_id", json!(accepter.and_then(|i| i.transit_gateway_id()).unwrap_or_default())),
            ("peer_transit_gateway_id", json!(requester.and_then(|i| i.transit_gateway_id()).unwrap_or_default())),
            ("peer_region", json!(requester.and_then(|i| i.region()).unwrap_or_default())),
            ("peer_account_id", json!(requester.and_then(|i| i.owner_id()).unwrap_or_default())),
        ]),
    }
}

#[async_trait]
impl Resource for TransitGatewayPeeringAttachmentAccepter {
    fn kind(&self) -> &'static str {
        "ec2.transit_gateway_peering_attachment_accepter"
    }

    fn doc(&self) -> &'static str {
        "Accepts a transit gateway peering attachment; declare it with `region:` = the peer's region. Deleting it \
         rejects or deletes the attachment. Attributes: `id` (the attachment), `transit_gateway_id` (this side's), \
         `peer_transit_gateway_id`, `peer_region`, `peer_account_id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "transit_gateway_id", "peer_transit_gateway_id", "peer_region", "peer_account_id"]
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let id = props.get("transit_gateway_attachment_id")?;
        if token::is_unknown(id) {
            return None;
        }
        id.as_str().map(String::from)
    }

    async fn read_all(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<Observed>, AwsError> {
        // Found only by the attachment ids the stack knows of; with none there is nothing to read.
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        let ids = Filter::builder()
            .name("transit-gateway-attachment-id")
            .set_values(Some(hints.natural_keys.iter().cloned().collect()))
            .build();
        let mut pages = aws.ec2().describe_transit_gateway_peering_attachments().filters(ids).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeTransitGatewayPeeringAttachments", stack, e))?;
            for a in page.transit_gateway_peering_attachments() {
                let known = a.transit_gateway_attachment_id().is_some_and(|id| hints.natural_keys.contains(id));
                // Only an accepted attachment counts: a pending one is for create to accept.
                if known && accepted_here(a, aws.region()) && matches!(a.state(), Some(S::Available | S::Modifying)) {
                    out.push(observe(a));
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, aws: &Aws, req: &CreateRequest<'_>) -> Result<Observed, AwsError> {
        let id = str_prop(req.props, "transit_gateway_attachment_id").to_string();
        let Some(current) = describe(aws, &id).await? else {
            return Err(AwsError::new(
                "AcceptTransitGatewayPeeringAttachment",
                req.address,
                AwsErrorKind::NotFound,
                format!("no peering attachment `{id}` in {}; is `region` the peer's region?", aws.region()),
            ));
        };
        if current.state() == Some(&S::PendingAcceptance) {
            aws.ec2()
                .accept_transit_gateway_peering_attachment()
                .transit_gateway_attachment_id(&id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("AcceptTransitGatewayPeeringAttachment", req.address, e))?;
        }
        wait_for(aws, "AcceptTransitGatewayPeeringAttachment", &id, &[S::Available]).await?;
        let user = tags::user_tags(req.props);
        if !user.is_empty() {
            aws.ec2()
                .create_tags()
                .resources(&id)
                .set_tags(Some(user.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreateTags", &id, e))?;
        }
        let accepted = describe(aws, &id).await?.ok_or_else(|| {
            AwsError::new("AcceptTransitGatewayPeeringAttachment", req.address, AwsErrorKind::NotFound, "the attachment vanished after acceptance")
        })?;
        let mut o = observe(&accepted);
        o.address = Some(req.address.clone());
        Ok(o)
    }

    async fn update(&self, aws: &Aws, current: &Observed, desired: &Props, changed: &[String]) -> Result<Observed, AwsError> {
        if changed.iter().any(|f| f == "tags") {
            update_tags(aws, &current.id, &current.props, desired).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, aws: &Aws, current: &Observed) -> Result<(), AwsError> {
        let id = current.id.as_str();
        let state = describe(aws, id).await?.and_then(|a| a.state().cloned());
        let result = match state {
            None => return Ok(()),
            Some(ref s) if attachment_gone(Some(s)) => return wait_gone(aws, "DeleteTransitGatewayPeeringAttachment", id).await,
            Some(S::PendingAcceptance) => aws
                .ec2()
                .reject_transit_gateway_peering_attachment()
                .transit_gateway_attachment_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::from_sdk("RejectTransitGatewayPeeringAttachment", id, e)),
            Some(_) => aws
                .ec2()
                .delete_transit_gateway_peering_attachment()
                .transit_gateway_attachment_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::from_sdk("DeleteTransitGatewayPeeringAttachment", id, e)),
        };
        match result {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
            Ok(()) => wait_gone(aws, "DeleteTransitGatewayPeeringAttachment", id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::PeeringTgwInfo;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn natural_key_is_the_attachment_id_once_known() {
        let p = json!({"transit_gateway_attachment_id": "tgw-attach-1"});
        assert_eq!(TransitGatewayPeeringAttachmentAccepter.natural_key(p.as_object().unwrap()).as_deref(), Some("tgw-attach-1"));
        let t = token::marker(&"ec2.transit_gateway_peering_attachment.p".parse().unwrap(), "id");
        let p = json!({ "transit_gateway_attachment_id": t });
        assert_eq!(TransitGatewayPeeringAttachmentAccepter.natural_key(p.as_object().unwrap()), None);
    }

    #[test]
    fn shows_user_tags_only() {
        let managed = vec![
            pair(tags::STACK_TAG, "s"),
            pair(tags::ADDRESS_TAG, "ec2.transit_gateway_peering_attachment.p"),
            pair("Name", "p"),
            pair("Project", "examplepay"),
        ];
        assert_eq!(visible_tags(managed), json!({"Project": "examplepay"}));
        assert_eq!(visible_tags(vec![pair("Name", "mine")]), json!({"Name": "mine"}));
    }

    #[test]
    fn only_the_accepting_region_counts() {
        let info = |tgw: &str, region: &str| PeeringTgwInfo::builder().transit_gateway_id(tgw).region(region).build();
        let a = Peering::builder()
            .transit_gateway_attachment_id("tgw-attach-1")
            .requester_tgw_info(info("tgw-eu", "eu-west-1"))
            .accepter_tgw_info(info("tgw-us", "us-east-1"))
            .state(S::Available)
            .build();
        assert!(accepted_here(&a, "us-east-1"));
        assert!(!accepted_here(&a, "eu-west-1"));
        let o = observe(&a);
        assert_eq!(o.natural_key.as_deref(), Some("tgw-attach-1"));
        assert_eq!(o.attrs["transit_gateway_id"], "tgw-us");
        assert_eq!(o.attrs["peer_region"], "eu-west-1");
    }
}
