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

use super::attachment::{self, TIMEOUT, accepter, available, requester};
use super::prelude::*;
use crate::Result;
use crate::adapter::ResourceType;
use crate::{CloudErrorKind, tags, token};
use aws_sdk_ec2::types::{
    PeeringTgwInfo as Info, TransitGatewayAttachmentState as S,
    TransitGatewayPeeringAttachment as Item,
};

resource! {
    /// Accepts a transit gateway peering attachment in the peer's region.
    pub struct TransitGatewayPeeringAttachmentAccepter: TRANSIT_GATEWAY_PEERING_ATTACHMENT_ACCEPTER =
        "ec2.transit_gateway_peering_attachment_accepter",
        "Accepts a transit gateway peering attachment; declare it with \
        `region:` = the peer's region. Deleting it rejects or deletes the attachment.";
    reads Item, tagged by pairs;
    terraform "aws_ec2_transit_gateway_peering_attachment_accepter";
    props TransitGatewayPeeringAttachmentAccepterProps {
        transit_gateway_attachment_id: Option<String> =
            required(Str, "the peering attachment to accept (the requester's `id`)"),
    }
}

const ACCEPT: Wait = Wait("AcceptTransitGatewayPeeringAttachment", TIMEOUT);

/// The accepter's address, when this side carries its ownership tags (not the requester's).
fn own_address(stack: &str, a: &Item) -> Option<Address> {
    let (address, _) = tags::split_owned(stack, pairs(a.tags()))?;
    (address.kind() == TransitGatewayPeeringAttachmentAccepter::KIND).then_some(address)
}

/// Whether this region is the accepting side of the attachment.
fn accepted_here(a: &Item, region: &str) -> bool {
    a.accepter_tgw_info()
        .and_then(|i| i.region())
        .is_none_or(|r| r == region)
        && a.requester_tgw_info().is_some()
}

/// The error of an acceptance that found no attachment to accept.
fn missing(address: &Address, why: String) -> CloudError {
    let operation = "AcceptTransitGatewayPeeringAttachment";
    CloudError::new(operation, address, CloudErrorKind::NotFound, why)
}

#[async_trait]
impl Description for TransitGatewayPeeringAttachmentAccepter {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, a: &Item| {
            json!(a.transit_gateway_attachment_id().unwrap_or_default())
        })
        .note("the attachment"),
        Attr::new("transit_gateway_id", |_, a: &Item| {
            json!(accepter(a, Info::transit_gateway_id))
        })
        .note("this side's"),
        Attr::new("peer_transit_gateway_id", |_, a| {
            json!(requester(a, Info::transit_gateway_id))
        }),
        Attr::new("peer_region", |_, a| json!(requester(a, Info::region))),
        Attr::new("peer_account_id", |_, a| {
            json!(requester(a, Info::owner_id))
        }),
    ];
    const IDENTITY: Identity = Identity::NaturalKey(|p| {
        let id = p.get("transit_gateway_attachment_id")?;
        id.as_str()
            .filter(|_| !token::is_unknown(id))
            .map(String::from)
    });

    /// One paginated call for the region's peering attachments (a handful): the ones the stack
    /// knows by id, and the ones whose accepting side carries this stack's ownership tags.
    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<Item>> {
        let mut all = describe!(aws.describe_transit_gateway_peering_attachments(), stack)?;
        all.retain(|a| {
            let known = a
                .transit_gateway_attachment_id()
                .is_some_and(|id| hints.natural_keys.contains(id));
            // Only an accepted attachment counts: a pending one is for create to accept.
            let accepted = matches!(a.state(), Some(S::Available | S::Modifying));
            (known || own_address(stack, a).is_some()) && accepted_here(a, aws.region()) && accepted
        });
        Ok(all)
    }

    async fn props(&self, _: &Aws, a: &Item) -> Result<Self::Props> {
        let id = Some(
            a.transit_gateway_attachment_id()
                .unwrap_or_default()
                .to_string(),
        );
        Ok(TransitGatewayPeeringAttachmentAccepterProps {
            transit_gateway_attachment_id: id,
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let id = p.transit_gateway_attachment_id.clone().unwrap_or_default();
        let Some(current) = attachment::describe_peering(aws, &id).await? else {
            let region = aws.region();
            let why =
                format!("no peering attachment `{id}` in {region}; is `region` the peer's region?");
            return Err(missing(address, why));
        };
        if current.state() == Some(&S::PendingAcceptance) {
            let call = aws.ec2().accept_transit_gateway_peering_attachment();
            let sent = call.transit_gateway_attachment_id(&id).send().await;
            sent.map_err(sdk("AcceptTransitGatewayPeeringAttachment", address))?;
        }
        let accepted = settle(aws, &id, ACCEPT, attachment::describe_peering, available).await?;
        // This side's ownership tags tell a later read its address.
        attachment::tag(aws, &id, tags).await?;
        accepted.ok_or_else(|| missing(address, "the attachment vanished after acceptance".into()))
    }

    /// The peering cannot be "un-accepted": it is torn down from this side.
    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        attachment::tear_down(aws, id, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::observe;
    use crate::ec2::attachment::testing::{described, peering};
    use crate::ec2::testing::{owned, round_trip};
    use crate::resource::Observed;
    use crate::resource::Resource;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::accept_transit_gateway_peering_attachment::AcceptTransitGatewayPeeringAttachmentOutput as Accepted;
    use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
    use aws_sdk_ec2::operation::reject_transit_gateway_peering_attachment::RejectTransitGatewayPeeringAttachmentOutput as Rejected;
    use aws_smithy_mocks::mock;

    #[test]
    fn natural_key_is_the_attachment_id_once_known() {
        let p = json!({"transit_gateway_attachment_id": "tgw-attach-1"});
        assert_eq!(
            TRANSIT_GATEWAY_PEERING_ATTACHMENT_ACCEPTER
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
            TRANSIT_GATEWAY_PEERING_ATTACHMENT_ACCEPTER.natural_key(p.as_object().unwrap()),
            None
        );
    }

    #[test]
    fn its_address_comes_only_from_its_own_ownership_tags() {
        let with = |address: &str| peering(S::Available, owned("s", address));
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

    #[tokio::test]
    async fn only_the_accepting_region_counts() {
        let a = peering(S::Available, vec![]);
        assert!(accepted_here(&a, "us-east-1"));
        assert!(!accepted_here(&a, "eu-west-1"));
        let aws = Aws::mocked(&[]);
        let o = observe(&TRANSIT_GATEWAY_PEERING_ATTACHMENT_ACCEPTER, &aws, "s", &a);
        let o = o.await.unwrap();
        assert_eq!(o.natural_key.as_deref(), Some("tgw-attach-1"));
        assert_eq!(o.attrs["transit_gateway_id"], "tgw-us");
        assert_eq!(o.attrs["peer_region"], "eu-west-1");
    }

    #[tokio::test]
    async fn an_accepted_peering_is_tagged_here_and_round_trip_as_declared() {
        // Both sides show the requester's tags.
        let requester = || owned("test", "ec2.transit_gateway_peering_attachment.p");
        let describe = mock!(Client::describe_transit_gateway_peering_attachments)
            .sequence()
            .output(move || described(S::PendingAcceptance, requester()))
            .output(move || described(S::Available, requester()))
            .build();
        let accept = mock!(Client::accept_transit_gateway_peering_attachment)
            .then_output(|| Accepted::builder().build());
        let tag = mock!(Client::create_tags)
            .match_requests(|r| r.resources() == ["tgw-attach-1"])
            .then_output(|| CreateTagsOutput::builder().build());
        let aws = Aws::mocked(&[&describe, &accept, &tag]);
        let address = "ec2.transit_gateway_peering_attachment_accepter.p";
        let declared = json!({"transit_gateway_attachment_id": "tgw-attach-1"});
        let accepter = &TRANSIT_GATEWAY_PEERING_ATTACHMENT_ACCEPTER;
        let observed = round_trip(accepter, &aws, address, declared).await;
        assert_eq!(
            observed.address.map(|a| a.to_string()).as_deref(),
            Some(address)
        );
        assert_eq!(observed.natural_key.as_deref(), Some("tgw-attach-1"));
        assert_eq!((accept.num_calls(), tag.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_pending_peering_is_rejected_on_delete() {
        let describe = mock!(Client::describe_transit_gateway_peering_attachments)
            .sequence()
            .output(|| described(S::PendingAcceptance, vec![]))
            .output(|| described(S::Rejected, vec![]))
            .build();
        let reject = mock!(Client::reject_transit_gateway_peering_attachment)
            .then_output(|| Rejected::builder().build());
        let aws = Aws::mocked(&[&describe, &reject]);
        let current = Observed {
            id: "tgw-attach-1".into(),
            props: crate::ec2::testing::obj(
                json!({"transit_gateway_attachment_id": "tgw-attach-1"}),
            ),
            ..Observed::default()
        };
        let accepter = &TRANSIT_GATEWAY_PEERING_ATTACHMENT_ACCEPTER;
        accepter.delete(&aws.context(), &current).await.unwrap();
        assert_eq!(reject.num_calls(), 1);
    }
}
