//! What the transit gateway attachment types share: their states, waits and teardown.

use super::{Ec2Tags, Wait, settle};
use crate::Result;
use crate::adapter::{Retag, Tagger, found};
use crate::resource::Observed;
use crate::{Aws, WaitState, sdk};
use aws_sdk_ec2::types::{
    PeeringTgwInfo as Info, TransitGatewayAttachmentState as S,
    TransitGatewayPeeringAttachment as Peering, TransitGatewayVpcAttachment as VpcAttachment,
};
use std::time::Duration;

/// Attachments take a few minutes to become available and to go away.
pub const TIMEOUT: Duration = Duration::from_secs(900);

/// Where an attachment is on its way to one of the `ready` states.
pub fn wait(state: Option<&S>, ready: &[S]) -> WaitState {
    match state {
        Some(s) if ready.contains(s) => WaitState::Ready,
        Some(s) if gone(state) || *s == S::RollingBack => {
            WaitState::Failed(format!("the attachment is `{}`", s.as_str()))
        }
        Some(s) => WaitState::Pending(s.as_str().to_string()),
        None => WaitState::Pending("not visible yet".into()),
    }
}

/// Whether an attachment in this state is gone (or on its way out) and no longer counts as existing.
pub fn gone(state: Option<&S>) -> bool {
    matches!(
        state,
        Some(S::Deleted | S::Deleting | S::Failed | S::Failing | S::Rejected | S::Rejecting)
    )
}

/// An attachment as Describe answers it.
pub trait Attachment {
    /// Its id.
    fn id(&self) -> Option<&str>;
    /// Its state.
    fn state(&self) -> Option<&S>;
}

/// Every kind of attachment answers its id and state alike.
macro_rules! attachment {
    ($($item:ty),+) => {$(
        impl Attachment for $item {
            fn id(&self) -> Option<&str> {
                self.transit_gateway_attachment_id()
            }

            fn state(&self) -> Option<&S> {
                <$item>::state(self)
            }
        }
    )+};
}
attachment!(VpcAttachment, Peering);

/// The attachment `id` among what a Describe by id answers (emulators answer other ones too);
/// "not found" is `None`.
pub fn by_id<A: Attachment>(id: &str, all: Result<Vec<A>>) -> Result<Option<A>> {
    Ok(found(all)?.and_then(|all| all.into_iter().find(|a| a.id() == Some(id))))
}

/// Ready once `available`.
pub fn available<A: Attachment>(a: Option<&A>) -> WaitState {
    wait(a.and_then(A::state), &[S::Available])
}

/// The requester side's `field` of a peering, `""` when AWS does not say.
pub fn requester<'a>(a: &'a Peering, field: fn(&'a Info) -> Option<&'a str>) -> &'a str {
    a.requester_tgw_info().and_then(field).unwrap_or_default()
}

/// The accepter side's `field` of a peering, `""` when AWS does not say.
pub fn accepter<'a>(a: &'a Peering, field: fn(&'a Info) -> Option<&'a str>) -> &'a str {
    a.accepter_tgw_info().and_then(field).unwrap_or_default()
}

/// The peering attachment `id` as this region sees it, if Describe sees it.
pub async fn describe_peering(aws: &Aws, id: &str) -> Result<Option<Peering>> {
    let all = describe!(
        aws.describe_transit_gateway_peering_attachments()
            .transit_gateway_attachment_ids(id),
        id
    );
    by_id(id, all)
}

/// Ready once a peering is gone: deleted, rejected or failed all count.
fn peering_gone(a: Option<&Peering>) -> WaitState {
    match a.and_then(|a| a.state()) {
        None | Some(S::Deleted | S::Rejected | S::Failed) => WaitState::Ready,
        Some(s) => WaitState::Pending(s.as_str().to_string()),
    }
}

/// Tears a peering down from either side and waits until it is gone: one still waiting for
/// acceptance is rejected when `reject_pending` (the accepter's side), any other is deleted, and
/// one on its way out (the other side may have started) is only waited for.
pub async fn tear_down(aws: &Aws, id: &str, reject_pending: bool) -> Result<()> {
    let (ec2, seen) = (aws.ec2(), describe_peering(aws, id).await?);
    match seen.and_then(|a| a.state().cloned()) {
        None => return Ok(()),
        Some(S::PendingAcceptance) if reject_pending => {
            let call = ec2.reject_transit_gateway_peering_attachment();
            let sent = call.transit_gateway_attachment_id(id).send().await;
            sent.map_err(sdk("RejectTransitGatewayPeeringAttachment", id))?;
        }
        Some(s) if !gone(Some(&s)) => {
            let call = ec2.delete_transit_gateway_peering_attachment();
            let sent = call.transit_gateway_attachment_id(id).send().await;
            sent.map_err(sdk("DeleteTransitGatewayPeeringAttachment", id))?;
        }
        Some(_) => {}
    }
    let delete = Wait("DeleteTransitGatewayPeeringAttachment", TIMEOUT);
    let gone = settle(aws, id, delete, describe_peering, peering_gone);
    gone.await.map(drop)
}

/// Sets `tags` on an attachment after its create or acceptance call (CreateTags).
pub async fn tag(aws: &Aws, id: &str, tags: &[(String, String)]) -> Result<()> {
    let on = Observed {
        id: id.into(),
        ..Observed::default()
    };
    Ec2Tags
        .retag(
            aws,
            &on,
            Retag {
                set: tags,
                remove: &[],
            },
        )
        .await
}

#[cfg(test)]
pub(crate) mod testing {
    //! The peering both sides' tests read.

    use super::*;
    use aws_sdk_ec2::operation::describe_transit_gateway_peering_attachments::DescribeTransitGatewayPeeringAttachmentsOutput as Described;
    use aws_sdk_ec2::types::Tag;

    /// A peering from `tgw-eu` (eu-west-1) to `tgw-us` (us-east-1), in `state`, tagged `tags`.
    pub(crate) fn peering(state: S, tags: Vec<Tag>) -> Peering {
        let info = |tgw: &str, region: &str| {
            let info = Info::builder().transit_gateway_id(tgw).region(region);
            info.owner_id("123456789012").build()
        };
        Peering::builder()
            .transit_gateway_attachment_id("tgw-attach-1")
            .requester_tgw_info(info("tgw-eu", "eu-west-1"))
            .accepter_tgw_info(info("tgw-us", "us-east-1"))
            .state(state)
            .set_tags(Some(tags))
            .build()
    }

    /// What Describe answers for that peering.
    pub(crate) fn described(state: S, tags: Vec<Tag>) -> Described {
        let all = Described::builder().transit_gateway_peering_attachments(peering(state, tags));
        all.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_states() {
        assert_eq!(wait(Some(&S::Available), &[S::Available]), WaitState::Ready);
        assert!(matches!(
            wait(Some(&S::Pending), &[S::Available]),
            WaitState::Pending(_)
        ));
        assert!(matches!(
            wait(Some(&S::Rejected), &[S::Available]),
            WaitState::Failed(_)
        ));
        assert!(gone(Some(&S::Deleted)));
        assert!(!gone(Some(&S::PendingAcceptance)));
    }
}
