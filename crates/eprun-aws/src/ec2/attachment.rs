//! What the transit gateway attachment types share: their states, waits and teardown.

use super::Ec2Tags;
use crate::adapter::{Tagger, found};
use crate::resource::Observed;
use crate::{Aws, CloudError, WaitState};
use aws_sdk_ec2::types::TransitGatewayAttachmentState as S;
use aws_sdk_ec2::types::TransitGatewayVpcAttachment as VpcAttachment;
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
attachment!(VpcAttachment);

/// The attachment `id` among what a Describe by id answers (emulators answer other ones too);
/// "not found" is `None`.
pub fn by_id<A: Attachment>(
    id: &str,
    all: Result<Vec<A>, CloudError>,
) -> Result<Option<A>, CloudError> {
    Ok(found(all)?.and_then(|all| all.into_iter().find(|a| a.id() == Some(id))))
}

/// Ready once `available`.
pub fn available<A: Attachment>(a: Option<&A>) -> WaitState {
    wait(a.and_then(A::state), &[S::Available])
}

/// Sets `tags` on an attachment after its create or acceptance call (CreateTags).
pub async fn tag(aws: &Aws, id: &str, tags: &[(String, String)]) -> Result<(), CloudError> {
    let on = Observed {
        id: id.into(),
        ..Observed::default()
    };
    Ec2Tags.retag(aws, &on, tags, &[]).await
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
