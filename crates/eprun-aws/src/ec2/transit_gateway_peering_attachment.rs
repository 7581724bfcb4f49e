//! `aws::ec2::transit_gateway_peering_attachment`: the request side of a peering between two transit gateways.
//!
//! The attachment is created here and waits in `pendingAcceptance` until the peer side accepts it
//! (`aws::ec2::transit_gateway_peering_attachment_accepter`, declared with `region:` = the peer's region).

use super::attachment::{self, TIMEOUT, accepter, requester};
use super::prelude::*;
use crate::Result;
use crate::token;
use aws_sdk_ec2::types::{
    PeeringTgwInfo as Info, TransitGatewayAttachmentState as S,
    TransitGatewayPeeringAttachment as Item,
};

resource! {
    /// A peering attachment requested from this region's transit gateway towards another one.
    pub struct TransitGatewayPeeringAttachment: TRANSIT_GATEWAY_PEERING_ATTACHMENT = "ec2.transit_gateway_peering_attachment",
        "A transit gateway peering requested from this region; it stays \
        `pendingAcceptance` until the peer accepts it \
        (`aws::ec2::transit_gateway_peering_attachment_accepter` with `region:` = the peer's).";
    reads Item, tagged by pairs;
    terraform "aws_ec2_transit_gateway_peering_attachment";
    props TransitGatewayPeeringAttachmentProps {
        transit_gateway_id: Option<String> =
            required(Str, "the local transit gateway (the requester)"),
        peer_transit_gateway_id: Option<String> =
            required(Str, "the transit gateway to peer with (the accepter)"),
        peer_region: Option<String> = required(Str, "the region of the peer transit gateway"),
        peer_account_id: Option<String> =
            optional(Str, "the account of the peer transit gateway; default: the caller's")
                .force_new(),
    } + TAGS
}

const CREATE: Wait = Wait("CreateTransitGatewayPeeringAttachment", TIMEOUT);

/// Whether the attachment is a peering attachment requested from `region` (emulators list other
/// kinds of attachments here, and the accepter's region lists the same attachment too).
fn requested_from(a: &Item, region: &str) -> bool {
    a.requester_tgw_info()
        .is_some_and(|r| r.region().is_none_or(|r| r == region))
        && a.accepter_tgw_info().is_some()
}

/// Usable once the peer side can see it (`pendingAcceptance`); acceptance is the accepter's job.
fn requested(a: Option<&Item>) -> WaitState {
    let ready = [S::PendingAcceptance, S::Available];
    attachment::wait(a.and_then(|a| a.state()), &ready)
}

/// The caller's account, for a peering within the same account.
async fn own_account(aws: &Aws, address: &Address) -> Result<String> {
    let me = aws.sts().get_caller_identity().send().await;
    let me = me.map_err(sdk("GetCallerIdentity", address))?;
    Ok(me.account().unwrap_or_default().to_string())
}

#[async_trait]
impl Description for TransitGatewayPeeringAttachment {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, a| {
            json!(a.transit_gateway_attachment_id().unwrap_or_default())
        }),
        Attr::new("transit_gateway_id", |_, a| {
            json!(requester(a, Info::transit_gateway_id))
        }),
        Attr::new("peer_transit_gateway_id", |_, a| {
            json!(accepter(a, Info::transit_gateway_id))
        }),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        let (local, peer) = (
            props.get("transit_gateway_id"),
            props.get("peer_transit_gateway_id"),
        );
        if local.is_some_and(|l| !token::is_unknown(l)) && local == peer {
            let why = "a transit gateway cannot peer with itself";
            return Err(Invalid::value("peer_transit_gateway_id", why));
        }
        Ok(())
    }

    const FETCH: Option<Fetch<Item>> = fetch!(
        describe_transit_gateway_peering_attachments,
        set_transit_gateway_attachment_ids
    );

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        let f = stack_filter(stack);
        let mut all = describe!(
            aws.describe_transit_gateway_peering_attachments()
                .filters(f),
            stack
        )?;
        all.retain(|a| requested_from(a, aws.region()) && !attachment::gone(a.state()));
        Ok(all)
    }

    async fn props(&self, _: &Aws, a: &Item) -> Result<Self::Props> {
        let (ours, peer) = (
            |f| Some(requester(a, f).into()),
            |f| Some(accepter(a, f).into()),
        );
        Ok(TransitGatewayPeeringAttachmentProps {
            transit_gateway_id: ours(Info::transit_gateway_id),
            peer_transit_gateway_id: peer(Info::transit_gateway_id),
            peer_region: peer(Info::region),
            peer_account_id: peer(Info::owner_id),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let account = match p.peer_account_id.as_deref() {
            None | Some("") => own_account(aws, address).await?,
            Some(a) => a.to_string(),
        };
        let out = aws
            .ec2()
            .create_transit_gateway_peering_attachment()
            .set_transit_gateway_id(p.transit_gateway_id.clone())
            .set_peer_transit_gateway_id(p.peer_transit_gateway_id.clone())
            .set_peer_region(p.peer_region.clone())
            .peer_account_id(account)
            .tag_specifications(tags_at_create(ResourceType::TransitGatewayAttachment, tags))
            .send()
            .await
            .map_err(sdk("CreateTransitGatewayPeeringAttachment", address))?;
        let id = out.transit_gateway_peering_attachment().map(|a| {
            a.transit_gateway_attachment_id()
                .unwrap_or_default()
                .to_string()
        });
        let id = id.unwrap_or_default();
        let describe = attachment::describe_peering;
        let requested = settle(aws, &id, CREATE, describe, requested).await?;
        let requested = requested.filter(|a| kept_ownership(a.tags(), tags));
        let what = "peering attachment";
        requested.ok_or_else(|| untagged("CreateTransitGatewayPeeringAttachment", address, what))
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        // The accepter side may have deleted (or rejected) it already.
        attachment::tear_down(aws, id, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::observe;
    use crate::ec2::attachment::testing::{described, peering};
    use crate::ec2::testing::{NoOthers, obj, owned, round_trip};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_transit_gateway_peering_attachment::CreateTransitGatewayPeeringAttachmentOutput as Created;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    use aws_smithy_mocks::mock;

    const ADDRESS: &str = "ec2.transit_gateway_peering_attachment.to-primary";

    #[tokio::test]
    async fn reads_both_sides_from_the_requester_view() {
        let aws = Aws::mocked(&[]);
        let peering = peering(S::PendingAcceptance, owned("prod/eu-west-1", ADDRESS));
        let o = observe(
            &TRANSIT_GATEWAY_PEERING_ATTACHMENT,
            &aws,
            "prod/eu-west-1",
            &peering,
        );
        let o = o.await.unwrap();
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
        let peering = peering(S::PendingAcceptance, vec![]);
        assert!(requested_from(&peering, "eu-west-1"));
        assert!(!requested_from(&peering, "us-east-1"));
        let vpc_like = Item::builder()
            .transit_gateway_attachment_id("tgw-attach-2")
            .build();
        assert!(!requested_from(&vpc_like, "eu-west-1"));
    }

    #[test]
    fn cannot_peer_with_itself() {
        let p = json!({"transit_gateway_id": "tgw-1", "peer_transit_gateway_id": "tgw-1", "peer_region": "us-east-1"});
        let e = TransitGatewayPeeringAttachment
            .validate(&obj(p), &NoOthers)
            .unwrap_err()
            .to_string();
        assert!(e.contains("itself"), "{e}");
    }

    #[tokio::test]
    async fn a_requested_peering_round_trip_as_declared_and_peers_in_the_callers_account() {
        let me = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
            GetCallerIdentityOutput::builder()
                .account("123456789012")
                .build()
        });
        let create = mock!(Client::create_transit_gateway_peering_attachment)
            .match_requests(|r| r.peer_account_id() == Some("123456789012"))
            .then_output(|| {
                let requested = peering(S::InitiatingRequest, owned("test", ADDRESS));
                Created::builder()
                    .transit_gateway_peering_attachment(requested)
                    .build()
            });
        let describe = mock!(Client::describe_transit_gateway_peering_attachments)
            .then_output(|| described(S::PendingAcceptance, owned("test", ADDRESS)));
        let aws = Aws::mocked(&[&me, &create, &describe]).in_region("eu-west-1");
        let declared = json!({"transit_gateway_id": "tgw-eu", "peer_transit_gateway_id": "tgw-us", "peer_region": "us-east-1",
                   "tags": {"team": "net"}});
        let observed =
            round_trip(&TRANSIT_GATEWAY_PEERING_ATTACHMENT, &aws, ADDRESS, declared).await;
        assert_eq!(observed.id, "tgw-attach-1");
        assert_eq!(observed.attrs["peer_transit_gateway_id"], "tgw-us");
    }
}
