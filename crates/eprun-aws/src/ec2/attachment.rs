//! What the transit gateway attachment types share: their states, waits and teardown.

use crate::WaitState;
use aws_sdk_ec2::types::TransitGatewayAttachmentState as S;
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
