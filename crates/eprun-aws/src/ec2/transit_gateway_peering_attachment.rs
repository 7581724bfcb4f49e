//! `aws::ec2::transit_gateway_peering_attachment`: the request side of a peering between two transit gateways.
//!
//! The attachment is created here and waits in `pendingAcceptance` until the peer side accepts it
//! (`aws::ec2::transit_gateway_peering_attachment_accepter`, declared with `region:` = the peer's region).

use super::attachment::{TIMEOUT, gone as attachment_gone, wait as attachment_wait};
use super::{pairs, props, stack_filter, str_prop, tag_spec, untagged, update_tags};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    ResourceType, TransitGatewayAttachmentState as S, TransitGatewayPeeringAttachment as Peering,
};
use serde_json::json;

/// A peering attachment requested from this region's transit gateway towards another one.
pub struct TransitGatewayPeeringAttachment;

const SCHEMA: &[Field] = &[
    Field::required(
        "transit_gateway_id",
        Kind::Str,
        "the local transit gateway (the requester)",
    ),
    Field::required(
        "peer_transit_gateway_id",
        Kind::Str,
        "the transit gateway to peer with (the accepter)",
    ),
    Field::required(
        "peer_region",
        Kind::Str,
        "the region of the peer transit gateway",
    ),
    Field::optional(
        "peer_account_id",
        Kind::Str,
        "the account of the peer transit gateway; default: the caller's",
    )
    .force_new(),
    TAGS,
];

/// One peering attachment by id as this region sees it, `None` when it is gone.
pub(super) async fn describe(aws: &Aws, id: &str) -> Result<Option<Peering>, CloudError> {
    let out = aws
        .ec2()
        .describe_transit_gateway_peering_attachments()
        .transit_gateway_attachment_ids(id)
        .send()
        .await;
    match out.map_err(|e| crate::from_sdk("DescribeTransitGatewayPeeringAttachments", id, e)) {
        Ok(out) => Ok(out
            .transit_gateway_peering_attachments()
            .iter()
            .find(|a| a.transit_gateway_attachment_id() == Some(id))
            .cloned()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Waits until the attachment is in one of the `ready` states.
pub(super) async fn wait_for(
    aws: &Aws,
    operation: &str,
    id: &str,
    ready: &[S],
) -> Result<(), CloudError> {
    wait_until(operation, id, TIMEOUT, || async move {
        let a = describe(aws, id).await?;
        Ok(attachment_wait(a.as_ref().and_then(|a| a.state()), ready))
    })
    .await
}

/// Waits until the attachment is gone (deleted, rejected or failed count as gone).
pub(super) async fn wait_gone(aws: &Aws, operation: &str, id: &str) -> Result<(), CloudError> {
    wait_until(operation, id, TIMEOUT, || async move {
        Ok(
            match describe(aws, id).await?.as_ref().and_then(|a| a.state()) {
                None | Some(S::Deleted | S::Rejected | S::Failed) => WaitState::Ready,
                Some(s) => WaitState::Pending(s.as_str().to_string()),
            },
        )
    })
    .await
}

/// Whether the attachment is a peering attachment requested from `region` (emulators list other
/// kinds of attachments here, and the accepter's region lists the same attachment too).
fn requested_from(a: &Peering, region: &str) -> bool {
    a.requester_tgw_info()
        .is_some_and(|r| r.region().is_none_or(|r| r == region))
        && a.accepter_tgw_info().is_some()
}

impl TransitGatewayPeeringAttachment {
    fn observe(stack: &str, a: &Peering) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(a.tags()))?;
        let id = a
            .transit_gateway_attachment_id()
            .unwrap_or_default()
            .to_string();
        let requester = a.requester_tgw_info();
        let accepter = a.accepter_tgw_info();
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: props([
                (
                    "transit_gateway_id",
                    json!(
                        requester
                            .and_then(|r| r.transit_gateway_id())
                            .unwrap_or_default()
                    ),
                ),
                (
                    "peer_transit_gateway_id",
                    json!(
                        accepter
                            .and_then(|r| r.transit_gateway_id())
                            .unwrap_or_default()
                    ),
                ),
                (
                    "peer_region",
                    json!(accepter.and_then(|r| r.region()).unwrap_or_default()),
                ),
                (
                    "peer_account_id",
                    json!(accepter.and_then(|r| r.owner_id()).unwrap_or_default()),
                ),
                ("tags", user_tags),
            ]),
            attrs: props([
                ("id", json!(id)),
                (
                    "transit_gateway_id",
                    json!(
                        requester
                            .and_then(|r| r.transit_gateway_id())
                            .unwrap_or_default()
                    ),
                ),
                (
                    "peer_transit_gateway_id",
                    json!(
                        accepter
                            .and_then(|r| r.transit_gateway_id())
                            .unwrap_or_default()
                    ),
                ),
            ]),
        })
    }

    /// The caller's account, for a peering within the same account.
    async fn own_account(aws: &Aws, target: &str) -> Result<String, CloudError> {
        let me = aws
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| crate::from_sdk("GetCallerIdentity", target, e))?;
        Ok(me.account().unwrap_or_default().to_string())
    }
}

#[async_trait]
impl Resource for TransitGatewayPeeringAttachment {
    fn kind(&self) -> &'static str {
        "ec2.transit_gateway_peering_attachment"
    }

    fn doc(&self) -> &'static str {
        "A transit gateway peering requested from this region; it stays `pendingAcceptance` until the peer accepts it \
         (`aws::ec2::transit_gateway_peering_attachment_accepter` with `region:` = the peer's). Attributes: `id`, \
         `transit_gateway_id`, `peer_transit_gateway_id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "transit_gateway_id", "peer_transit_gateway_id"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        let (local, peer) = (
            props.get("transit_gateway_id"),
            props.get("peer_transit_gateway_id"),
        );
        if local.is_some_and(|l| !token::is_unknown(l)) && local == peer {
            return Err(
                "property `peer_transit_gateway_id`: a transit gateway cannot peer with itself"
                    .into(),
            );
        }
        Ok(())
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let mut pages = aws
            .ec2()
            .describe_transit_gateway_peering_attachments()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                crate::from_sdk("DescribeTransitGatewayPeeringAttachments", stack, e)
            })?;
            for a in page.transit_gateway_peering_attachments() {
                if requested_from(a, aws.region()) && !attachment_gone(a.state()) {
                    out.extend(Self::observe(stack, a));
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let account = match str_prop(p, "peer_account_id") {
            "" => Self::own_account(aws, &req.address.to_string()).await?,
            a => a.to_string(),
        };
        let out = aws
            .ec2()
            .create_transit_gateway_peering_attachment()
            .transit_gateway_id(str_prop(p, "transit_gateway_id"))
            .peer_transit_gateway_id(str_prop(p, "peer_transit_gateway_id"))
            .peer_region(str_prop(p, "peer_region"))
            .peer_account_id(account)
            .tag_specifications(tag_spec(ResourceType::TransitGatewayAttachment, req))
            .send()
            .await
            .map_err(|e| {
                crate::from_sdk("CreateTransitGatewayPeeringAttachment", req.address, e)
            })?;
        let id = out
            .transit_gateway_peering_attachment()
            .and_then(|a| a.transit_gateway_attachment_id())
            .unwrap_or_default()
            .to_string();
        // Usable once the peer side can see it; acceptance is the accepter's job.
        wait_for(
            aws,
            "CreateTransitGatewayPeeringAttachment",
            &id,
            &[S::PendingAcceptance, S::Available],
        )
        .await?;
        describe(aws, &id)
            .await?
            .and_then(|a| Self::observe(req.stack, &a))
            .ok_or_else(|| {
                untagged(
                    "CreateTransitGatewayPeeringAttachment",
                    req.address,
                    "peering attachment",
                )
            })
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        if changed.iter().any(|f| f == "tags") {
            update_tags(aws, &current.id, &current.props, desired).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        // The accepter side may have deleted (or rejected) it already.
        let state = describe(aws, &current.id)
            .await?
            .and_then(|a| a.state().cloned());
        if state.is_none() || attachment_gone(state.as_ref()) {
            return wait_gone(aws, "DeleteTransitGatewayPeeringAttachment", &current.id).await;
        }
        let deleted = aws
            .ec2()
            .delete_transit_gateway_peering_attachment()
            .transit_gateway_attachment_id(&current.id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DeleteTransitGatewayPeeringAttachment", &current.id, e));
        match deleted {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
            Ok(_) => wait_gone(aws, "DeleteTransitGatewayPeeringAttachment", &current.id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use aws_sdk_ec2::types::{PeeringTgwInfo, Tag};

    struct NoOthers;

    impl DeclaredProps for NoOthers {
        fn props_of(&self, _: &Address) -> Option<&Props> {
            None
        }
    }

    fn info(tgw: &str, region: &str) -> PeeringTgwInfo {
        PeeringTgwInfo::builder()
            .transit_gateway_id(tgw)
            .region(region)
            .owner_id("123456789012")
            .build()
    }

    fn peering() -> Peering {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        Peering::builder()
            .transit_gateway_attachment_id("tgw-attach-1")
            .requester_tgw_info(info("tgw-eu", "eu-west-1"))
            .accepter_tgw_info(info("tgw-us", "us-east-1"))
            .state(S::PendingAcceptance)
            .tags(tag(tags::STACK_TAG, "prod/eu-west-1"))
            .tags(tag(
                tags::ADDRESS_TAG,
                "ec2.transit_gateway_peering_attachment.to-primary",
            ))
            .build()
    }

    #[test]
    fn reads_both_sides_from_the_requester_view() {
        let o = TransitGatewayPeeringAttachment::observe("prod/eu-west-1", &peering()).unwrap();
        assert_eq!(o.props["transit_gateway_id"], "tgw-eu");
        assert_eq!(o.props["peer_transit_gateway_id"], "tgw-us");
        assert_eq!(o.props["peer_region"], "us-east-1");
        assert_eq!(o.props["peer_account_id"], "123456789012");
        assert_eq!(
            o.address.unwrap().to_string(),
            "ec2.transit_gateway_peering_attachment.to-primary"
        );
    }

    #[test]
    fn only_the_requesting_region_reports_it() {
        assert!(requested_from(&peering(), "eu-west-1"));
        assert!(!requested_from(&peering(), "us-east-1"));
        let vpc_like = Peering::builder()
            .transit_gateway_attachment_id("tgw-attach-2")
            .build();
        assert!(!requested_from(&vpc_like, "eu-west-1"));
    }

    #[test]
    fn cannot_peer_with_itself() {
        let p = json!({"transit_gateway_id": "tgw-1", "peer_transit_gateway_id": "tgw-1", "peer_region": "us-east-1"});
        let e = TransitGatewayPeeringAttachment
            .validate(p.as_object().unwrap(), &NoOthers)
            .unwrap_err();
        assert!(e.contains("itself"), "{e}");
    }
}
