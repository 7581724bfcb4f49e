//! Waiting until an applied object is usable, as `kubectl rollout status` and `kubectl wait` do:
//! a CustomResourceDefinition established and its kind discoverable, a Deployment, StatefulSet or
//! DaemonSet rolled out. Other kinds are usable once stored; Argo Rollouts are left to their own
//! controller, which may hold them paused for a promotion by design.

use super::Kube;
use super::manifest::ObjectRef;
use crate::cloud_error::{CloudError, CloudErrorKind};
use kube::api::{Api, DynamicObject};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long apply waits for one object before it reports it as not ready.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// How often the object is read again while waiting.
const POLL: Duration = Duration::from_millis(500);

/// What an object still lacks before it is usable: not a failure, a reason to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending(pub String);

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a check found: ready, or what is still missing.
type Check = fn(&Value) -> Result<(), Pending>;

/// Waits until `object` (just applied, as `applied`) is usable; returns at once for kinds that
/// have no readiness of their own.
pub async fn wait(
    kube: &Kube,
    api: &Api<DynamicObject>,
    object: &ObjectRef,
    applied: &Value,
) -> Result<(), CloudError> {
    let group = object.api_version.split_once('/').map_or("", |(g, _)| g);
    // A CRD must also be found by discovery once established.
    let (check, is_crd): (Check, bool) = match (group, object.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => (established, true),
        ("apps", "Deployment") => (deployment_rolled_out, false),
        ("apps", "StatefulSet") => (stateful_set_rolled_out, false),
        ("apps", "DaemonSet") => (daemon_set_rolled_out, false),
        _ => return Ok(()),
    };
    let target = format!("{} {}", object.kind, object.id());
    let deadline = Instant::now() + TIMEOUT;
    let mut live = applied.clone();
    loop {
        let missing = match check(&live) {
            Ok(()) if is_crd => crd_served(kube, &live).await,
            other => other,
        };
        let Err(missing) = missing else {
            return Ok(());
        };
        if Instant::now() > deadline {
            return Err(CloudError::new(
                "wait for readiness",
                &target,
                CloudErrorKind::Wait,
                format!("not ready after {}s: {missing}", TIMEOUT.as_secs()),
            ));
        }
        tokio::time::sleep(POLL).await;
        let read = api
            .get(&object.name)
            .await
            .map_err(|e| kube.fail("wait for readiness", &target, e))?;
        live = serde_json::to_value(&read).unwrap_or(Value::Null);
    }
}

/// A CRD is ready when its `Established` condition is true.
fn established(crd: &Value) -> Result<(), Pending> {
    let conditions = crd["status"]["conditions"].as_array();
    let is = |t: &str| {
        conditions.is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    if is("Established") {
        Ok(())
    } else if is("NamesAccepted") {
        Err(Pending(
            "its names are accepted, it is not established yet".into(),
        ))
    } else {
        Err(Pending("not established yet".into()))
    }
}

/// After `Established`, the kind must also be found by discovery, which lags a moment behind.
async fn crd_served(kube: &Kube, crd: &Value) -> Result<(), Pending> {
    let spec = &crd["spec"];
    let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str()) else {
        return Ok(());
    };
    let Some(version) = spec["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["served"] == true))
        .and_then(|v| v["name"].as_str())
    else {
        return Ok(());
    };
    kube.kind(&format!("{group}/{version}"), kind)
        .await
        .map(|_| ())
        .map_err(|_| {
            Pending(format!(
                "discovery does not list `{kind}` in `{group}/{version}` yet"
            ))
        })
}

/// The replica counts of a workload's status, 0 when absent.
fn count(v: &Value, field: &str) -> i64 {
    v["status"][field].as_i64().unwrap_or(0)
}

/// Whether the controller has seen the latest spec.
fn observed(v: &Value) -> Result<(), Pending> {
    let generation = v["metadata"]["generation"].as_i64().unwrap_or(0);
    if count(v, "observedGeneration") < generation {
        Err(Pending(
            "its controller has not seen the new spec yet".into(),
        ))
    } else {
        Ok(())
    }
}

/// A Deployment is rolled out when every replica runs the new template and is available.
pub fn deployment_rolled_out(d: &Value) -> Result<(), Pending> {
    observed(d)?;
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let (updated, available) = (count(d, "updatedReplicas"), count(d, "availableReplicas"));
    if updated < want || available < want || count(d, "replicas") > want {
        return Err(Pending(format!(
            "{updated} of {want} replicas updated, {available} available"
        )));
    }
    Ok(())
}

/// A StatefulSet is rolled out when every replica is ready on the update revision.
fn stateful_set_rolled_out(s: &Value) -> Result<(), Pending> {
    observed(s)?;
    let want = s["spec"]["replicas"].as_i64().unwrap_or(1);
    let (updated, ready) = (count(s, "updatedReplicas"), count(s, "readyReplicas"));
    if updated < want || ready < want {
        return Err(Pending(format!(
            "{updated} of {want} replicas updated, {ready} ready"
        )));
    }
    Ok(())
}

/// A DaemonSet is rolled out when every node it schedules to runs an available, updated pod.
fn daemon_set_rolled_out(d: &Value) -> Result<(), Pending> {
    observed(d)?;
    let want = count(d, "desiredNumberScheduled");
    let (updated, available) = (
        count(d, "updatedNumberScheduled"),
        count(d, "numberAvailable"),
    );
    if updated < want || available < want {
        return Err(Pending(format!(
            "{updated} of {want} pods updated, {available} available"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_is_ready_once_every_replica_is_updated_and_available() {
        let mut d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
                           "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}});
        assert!(
            deployment_rolled_out(&d)
                .unwrap_err()
                .0
                .contains("not seen")
        );
        d["status"]["observedGeneration"] = json!(2);
        d["status"]["availableReplicas"] = json!(2);
        assert_eq!(
            deployment_rolled_out(&d).unwrap_err().0,
            "3 of 3 replicas updated, 2 available"
        );
        d["status"]["availableReplicas"] = json!(3);
        assert!(deployment_rolled_out(&d).is_ok());
        // Old pods still terminating after a scale-down.
        d["status"]["replicas"] = json!(4);
        assert!(deployment_rolled_out(&d).is_err());
    }

    #[test]
    fn a_crd_is_ready_once_established() {
        let crd = json!({"status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}});
        assert!(established(&crd).unwrap_err().0.contains("not established"));
        let crd = json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert!(established(&crd).is_ok());
    }

    #[test]
    fn statefulsets_and_daemonsets_count_their_own_fields() {
        let s = json!({"metadata": {"generation": 1}, "spec": {"replicas": 2},
                       "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 1}});
        assert_eq!(
            stateful_set_rolled_out(&s).unwrap_err().0,
            "2 of 2 replicas updated, 1 ready"
        );
        let d = json!({"metadata": {"generation": 1},
                       "status": {"observedGeneration": 1, "desiredNumberScheduled": 3,
                                  "updatedNumberScheduled": 3, "numberAvailable": 3}});
        assert!(daemon_set_rolled_out(&d).is_ok());
    }
}
