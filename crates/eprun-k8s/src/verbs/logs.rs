//! `logs`: a pod's log as text.

use super::{KindRef, Target, VerbError};
use crate::{Kube, api_error};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

/// Which part of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Only the last lines.
    pub tail_lines: Option<i64>,
    /// The container (needed when the pod has more than one).
    pub container: Option<String>,
    /// The log of the previous, terminated instance of the container.
    pub previous: bool,
    /// Only the lines of the last seconds.
    pub since_seconds: Option<i64>,
}

/// The log of one pod (of its only container, or `options.container`).
pub async fn logs(
    kube: &Kube,
    namespace: &str,
    pod: &str,
    options: &LogOptions,
) -> Result<String, VerbError> {
    if let Some(n) = options.tail_lines.filter(|n| *n < 0) {
        return Err(VerbError::Usage(format!(
            "`tail_lines` must be 0 or more, not {n}"
        )));
    }
    if let Some(n) = options.since_seconds.filter(|n| *n <= 0) {
        return Err(VerbError::Usage(format!(
            "`since_seconds` must be more than 0, not {n}"
        )));
    }
    // Resolving checks the namespace; the log itself needs the typed Pod API.
    let t = Target::resolve(kube, &KindRef::new("v1", "Pod"), namespace, pod).await?;
    let namespace = t.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(kube.client().await?, &namespace);
    let params = LogParams {
        tail_lines: options.tail_lines,
        container: options.container.clone(),
        previous: options.previous,
        since_seconds: options.since_seconds,
        ..LogParams::default()
    };
    let target = match &options.container {
        Some(c) => format!("{} (container {c})", t.describe()),
        None => t.describe(),
    };
    api.logs(&t.name, &params)
        .await
        .map_err(|e| api_error("logs", target, e).into())
}
