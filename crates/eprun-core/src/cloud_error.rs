//! Errors of cloud API calls (AWS and Kubernetes): the operation, the resource and the service's message.

use std::fmt;

/// What went wrong talking to a cloud API (AWS or Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudErrorKind {
    /// The endpoint could not be reached.
    Unreachable,
    /// No usable credentials.
    Credentials,
    /// The service answered with an error code.
    Service(String),
    /// The resource is not there (a delete of something already gone is fine).
    NotFound,
    /// A wait ran out of time or the resource ended in a failed state.
    Wait,
}

/// An AWS or Kubernetes error naming the operation, its target and the service's message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{operation}` on {} failed: {message}", self.subject())]
pub struct CloudError {
    /// The API operation, e.g. `CreateVpc`.
    pub operation: String,
    /// The resource address or id the call was about.
    pub target: String,
    /// The resource address, when the call was made for one and `target` is a cloud id.
    pub address: Option<String>,
    /// The service's message, or what happened on the way.
    pub message: String,
    /// The class of failure.
    pub kind: CloudErrorKind,
}

impl CloudError {
    /// An error raised by eprun itself while working on a resource.
    pub fn new(
        operation: &str,
        target: impl fmt::Display,
        kind: CloudErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            operation: operation.into(),
            target: target.to_string(),
            address: None,
            message: message.into(),
            kind,
        }
    }

    /// The address (and the cloud id, when the call named one), as the message shows them.
    fn subject(&self) -> String {
        match &self.address {
            Some(a) if *a != self.target => format!("`{a}` (`{}`)", self.target),
            _ => format!("`{}`", self.target),
        }
    }

    /// Whether the service answered with the error code `code`.
    pub fn is(&self, code: &str) -> bool {
        matches!(&self.kind, CloudErrorKind::Service(c) if c == code)
    }

    /// Whether the target was already gone.
    pub fn is_not_found(&self) -> bool {
        self.kind == CloudErrorKind::NotFound
    }
}

/// Every message in an error's source chain, outermost first.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

/// The most specific message of an error chain: what actually went wrong.
pub fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    causes(err)
        .into_iter()
        .rev()
        .find(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "unknown error".into())
}
