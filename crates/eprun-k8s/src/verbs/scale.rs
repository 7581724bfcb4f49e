//! `scale`: replicas through the `/scale` subresource (Deployment, StatefulSet, Argo Rollout, and
//! any custom kind that serves it).

use super::{KindRef, Target, VerbError};
use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::mutation::Mutations;
use crate::{Kube, api_error};
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// What a scale did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    /// `spec.replicas` before.
    pub previous: i64,
    /// `spec.replicas` asked for (and, unless a dry run, set).
    pub replicas: i64,
    /// Whether a dry run skipped the change.
    pub dry_run: bool,
}

/// Checks a replica count before any call.
pub fn check_replicas(replicas: i64) -> Result<i32, VerbError> {
    i32::try_from(replicas)
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            VerbError::Usage(format!(
                "replicas must be a whole number from 0 to {}, not {replicas}",
                i32::MAX
            ))
        })
}

/// Sets `spec.replicas` of one object through its `/scale` subresource.
pub async fn scale(
    kube: &Kube,
    mutations: &Mutations,
    kind: &KindRef,
    namespace: &str,
    name: &str,
    replicas: i64,
) -> Result<Scaled, VerbError> {
    let wanted = check_replicas(replicas)?;
    let t = Target::resolve(kube, kind, namespace, name).await?;
    let target = t.describe();
    let current = match t.api.get_scale(&t.name).await {
        Ok(s) => s,
        Err(kube::Error::Api(status)) if status.code == 404 => {
            // Either the object is missing or its kind has no /scale: say which.
            let exists = t.get().await?.is_some();
            let message = if exists {
                format!(
                    "`{kind}` has no `/scale` subresource (Deployments, StatefulSets and Rollouts have one)"
                )
            } else {
                "not found".to_string()
            };
            return Err(
                CloudError::new("scale", &target, CloudErrorKind::NotFound, message).into(),
            );
        }
        Err(e) => return Err(api_error("scale", &target, e).into()),
    };
    let previous = i64::from(current.spec.and_then(|s| s.replicas).unwrap_or(0));
    let detail = format!("replicas {previous} → {wanted}");
    let done = mutations
        .perform("scale", &target, &detail, async {
            t.api
                .patch_scale(
                    &t.name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": { "replicas": wanted } })),
                )
                .await
                .map_err(|e| api_error("scale", &target, e))
        })
        .await?;
    let dry_run = done.is_none();
    Ok(Scaled {
        previous,
        replicas: done
            .and_then(|s| s.spec.and_then(|s| s.replicas))
            .map_or(i64::from(wanted), i64::from),
        dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_counts_are_checked_before_any_call() {
        assert_eq!(check_replicas(0).unwrap(), 0);
        assert_eq!(check_replicas(12).unwrap(), 12);
        assert!(check_replicas(-1).unwrap_err().to_string().contains("-1"));
        assert!(check_replicas(i64::from(i32::MAX) + 1).is_err());
    }
}
