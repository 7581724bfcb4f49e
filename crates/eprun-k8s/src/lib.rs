//! Kubernetes: the connection to a cluster, declared objects in stacks, and imperative verbs.

// The core's modules, at the paths this crate's files name them by.
use eprun_core::{
    address, cloud_error, cluster, context, environment, interrupt, mutation, plan, resource,
    schema, secret, token,
};

pub mod catalog;
pub mod connection;
pub mod helm;
pub mod manifest;
pub mod object;
pub mod readiness;
pub mod verbs;

pub use connection::{Kube, Target};

use crate::cloud_error::innermost;
use crate::cloud_error::{CloudError, CloudErrorKind};
use std::fmt;

/// The field manager of every server-side apply eprun makes.
pub const FIELD_MANAGER: &str = "eprun";

/// A Kubernetes client error as a cloud error naming the operation and the object.
pub fn api_error(operation: &str, target: impl fmt::Display, err: kube::Error) -> CloudError {
    let (kind, message) = match &err {
        kube::Error::Api(status) => {
            let kind = match status.code {
                404 => CloudErrorKind::NotFound,
                401 => CloudErrorKind::Credentials,
                _ => CloudErrorKind::Service(if status.reason.is_empty() {
                    status.code.to_string()
                } else {
                    status.reason.clone()
                }),
            };
            let message = match status.code {
                401 => "the API server refused the credentials (an expired token?)".to_string(),
                403 => format!("forbidden: {}", status.message),
                _ => status.message.clone(),
            };
            (kind, message)
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => (
            CloudErrorKind::Unreachable,
            format!("could not reach the Kubernetes API ({})", innermost(&err)),
        ),
        _ => (CloudErrorKind::Service("Client".into()), innermost(&err)),
    };
    CloudError::new(operation, target, kind, message)
}
