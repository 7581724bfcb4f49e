//! `aws::ec2::transit_gateway_peering_attachment_accepter`: the accepting side of a transit gateway peering.
//!
//! Declared with `region:` = the peer's region, it "owns" an attachment that the requester created:
//! it is found by the attachment id (its natural key), and it counts as existing once the attachment
//! is accepted (`available`). It has no `tags` prop: the attachment's tags are the requester's (an
//! emulator even shows the requester's tags on both sides). Its own side gets the ownership tags
//! after acceptance, and a read that sees them knows its address as well.
//!
//! - create: AcceptTransitGatewayPeeringAttachment (skipped when it is accepted already), then waits
//!   for `available` and tags this side with `Name` and the ownership tags.
//! - delete: the peering cannot be "un-accepted". If the attachment still exists it is torn down
//!   from this side: rejected while it waits for acceptance, deleted once accepted. An attachment
//!   already deleted, rejected or failed needs nothing.

use super::attachment::{TIMEOUT, available, describe_peering as describe, tear_down};
use super::{Wait, pairs, props, settle, str_prop};
use crate::context::Context;
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource, gone_ok};
use crate::schema::{Field, Kind};
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, tags};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Tag, TransitGatewayAttachmentState as S, TransitGatewayPeeringAttachment as Peering,
};
use serde_json::json;

/// Accepts a transit gateway peering attachment in the peer's region.
pub struct TransitGatewayPeeringAttachmentAccepter;

const KIND: &str = "ec2.transit_gateway_peering_attachment_accepter";

const SCHEMA: &[Field] = &[Field::required(
    "transit_gateway_attachment_id",
    Kind::Str,
    "the peering attachment to accept (the requester's `id`)",
)];

/// The accepter's address, when this side carries its ownership tags (not the requester's).
fn own_address(stack: &str, a: &Peering) -> Option<crate::address::Address> {
    tags::split_owned(stack, pairs(a.tags()))
        .map(|(address, _)| address)
        .filter(|address| address.kind() == KIND)
}

/// Whether this region is the accepting side of the attachment.
fn accepted_here(a: &Peering, region: &str) -> bool {
    a.accepter_tgw_info()
        .and_then(|i| i.region())
        .is_none_or(|r| r == region)
        && a.requester_tgw_info().is_some()
}

fn observe(stack: &str, a: &Peering) -> Observed {
    let id = a
        .transit_gateway_attachment_id()
        .unwrap_or_default()
        .to_string();
    let accepter = a.accepter_tgw_info();
    let requester = a.requester_tgw_info();
    Observed {
        address: own_address(stack, a),
        id: id.clone(),
        natural_key: Some(id.clone()),
        props: props([("transit_gateway_attachment_id", json!(id))]),
        attrs: props([
            ("id", json!(id)),
            (
                "transit_gateway_id",
                json!(
                    accepter
                        .and_then(|i| i.transit_gateway_id())
                        .unwrap_or_default()
                ),
            ),
            (
                "peer_transit_gateway_id",
                json!(
                    requester
                        .and_then(|i| i.transit_gateway_id())
                        .unwrap_or_default()
                ),
            ),
            (
                "peer_region",
                json!(requester.and_then(|i| i.region()).unwrap_or_default()),
            ),
            (
                "peer_account_id",
                json!(requester.and_then(|i| i.owner_id()).unwrap_or_default()),
            ),
        ]),
    }
}

#[async_trait]
impl Resource for TransitGatewayPeeringAttachmentAccepter {
    fn kind(&self) -> &'static str {
        KIND
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
        &[
            "id",
            "transit_gateway_id",
            "peer_transit_gateway_id",
            "peer_region",
            "peer_account_id",
        ]
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

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        // One paginated call for the region's peering attachments (a handful): the ones the stack
        // knows by id, and the ones whose accepting side carries this stack's ownership tags.
        let mut pages = aws
            .ec2()
            .describe_transit_gateway_peering_attachments()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                crate::from_sdk("DescribeTransitGatewayPeeringAttachments", stack, e)
            })?;
            for a in page.transit_gateway_peering_attachments() {
                let known = a
                    .transit_gateway_attachment_id()
                    .is_some_and(|id| hints.natural_keys.contains(id));
                let ours = known || own_address(stack, a).is_some();
                // Only an accepted attachment counts: a pending one is for create to accept.
                if ours
                    && accepted_here(a, aws.region())
                    && matches!(a.state(), Some(S::Available | S::Modifying))
                {
                    out.push(observe(stack, a));
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let id = str_prop(req.props, "transit_gateway_attachment_id").to_string();
        let Some(current) = describe(aws, &id).await? else {
            return Err(CloudError::new(
                "AcceptTransitGatewayPeeringAttachment",
                req.address,
                CloudErrorKind::NotFound,
                format!(
                    "no peering attachment `{id}` in {}; is `region` the peer's region?",
                    aws.region()
                ),
            ));
        };
        if current.state() == Some(&S::PendingAcceptance) {
            aws.ec2()
                .accept_transit_gateway_peering_attachment()
                .transit_gateway_attachment_id(&id)
                .send()
                .await
                .map_err(|e| {
                    crate::from_sdk("AcceptTransitGatewayPeeringAttachment", req.address, e)
                })?;
        }
        let accept = Wait("AcceptTransitGatewayPeeringAttachment", TIMEOUT);
        settle(aws, &id, accept, describe, available).await?;
        aws.ec2()
            .create_tags()
            .resources(&id)
            .set_tags(Some(
                req.tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateTags", &id, e))?;
        let accepted = describe(aws, &id).await?.ok_or_else(|| {
            CloudError::new(
                "AcceptTransitGatewayPeeringAttachment",
                req.address,
                CloudErrorKind::NotFound,
                "the attachment vanished after acceptance",
            )
        })?;
        let mut o = observe(req.stack, &accepted);
        o.address = Some(req.address.clone());
        Ok(o)
    }

    async fn update(
        &self,
        _cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        // Its one prop forces a new acceptance: nothing changes in place.
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        gone_ok(tear_down(aws, &current.id, true).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::PeeringTgwInfo;

    #[test]
    fn natural_key_is_the_attachment_id_once_known() {
        let p = json!({"transit_gateway_attachment_id": "tgw-attach-1"});
        assert_eq!(
            TransitGatewayPeeringAttachmentAccepter
                .natural_key(p.as_object().unwrap())
                .as_deref(),
            Some("tgw-attach-1")
        );
        let t = token::marker(
            &"ec2.transit_gateway_peering_attachment.p".parse().unwrap(),
            "id",
        );
        let p = json!({ "transit_gateway_attachment_id": t });
        assert_eq!(
            TransitGatewayPeeringAttachmentAccepter.natural_key(p.as_object().unwrap()),
            None
        );
    }

    #[test]
    fn its_address_comes_only_from_its_own_ownership_tags() {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let with = |address: &str| {
            Peering::builder()
                .transit_gateway_attachment_id("tgw-attach-1")
                .tags(tag(tags::STACK_TAG, "s"))
                .tags(tag(tags::ADDRESS_TAG, address))
                .build()
        };
        let mine = with("ec2.transit_gateway_peering_attachment_accepter.p");
        assert_eq!(
            own_address("s", &mine).map(|a| a.to_string()).as_deref(),
            Some("ec2.transit_gateway_peering_attachment_accepter.p")
        );
        assert_eq!(own_address("other", &mine), None);
        // The requester's tags, as an emulator shows them on the accepter's side too.
        assert_eq!(
            own_address("s", &with("ec2.transit_gateway_peering_attachment.p")),
            None
        );
    }

    #[test]
    fn only_the_accepting_region_counts() {
        let info = |tgw: &str, region: &str| {
            PeeringTgwInfo::builder()
                .transit_gateway_id(tgw)
                .region(region)
                .build()
        };
        let a = Peering::builder()
            .transit_gateway_attachment_id("tgw-attach-1")
            .requester_tgw_info(info("tgw-eu", "eu-west-1"))
            .accepter_tgw_info(info("tgw-us", "us-east-1"))
            .state(S::Available)
            .build();
        assert!(accepted_here(&a, "us-east-1"));
        assert!(!accepted_here(&a, "eu-west-1"));
        let o = observe("s", &a);
        assert_eq!(o.natural_key.as_deref(), Some("tgw-attach-1"));
        assert_eq!(o.attrs["transit_gateway_id"], "tgw-us");
        assert_eq!(o.attrs["peer_region"], "eu-west-1");
    }
}
