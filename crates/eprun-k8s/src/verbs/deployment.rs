//! A Deployment's rollout status from its ReplicaSets, as `kubectl rollout status deployment/NAME`
//! reports it: done or what is missing, the revision, and each ReplicaSet it owns.

use super::objects::{list, read};
use super::{KindRef, Target, VerbError};
use crate::Kube;
use crate::readiness::deployment_rolled_out;
use serde_json::{Value, json};

/// The annotation the deployment controller numbers revisions with, on the Deployment and on
/// each of its ReplicaSets.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// The Deployment kind.
pub fn deployment_kind() -> KindRef {
    KindRef::new("apps/v1", "Deployment")
}

/// The rollout status of a Deployment, read with its ReplicaSets.
pub async fn status(kube: &Kube, namespace: &str, name: &str) -> Result<Value, VerbError> {
    let t = Target::resolve(kube, &deployment_kind(), namespace, name).await?;
    let deployment = read(&t, "rollout status").await?;
    let sets = list(
        kube,
        &KindRef::new("apps/v1", "ReplicaSet"),
        namespace,
        None,
    )
    .await?;
    Ok(summarize(&deployment, &sets))
}

/// `#{done, message, revision, replicas, updated_replicas, ready_replicas, available_replicas,
/// replica_sets: [#{name, revision, pod_template_hash, replicas, ready_replicas, current}]}`,
/// the ReplicaSets the Deployment controls, newest revision first.
pub fn summarize(deployment: &Value, sets: &[Value]) -> Value {
    let revision = |v: &Value| {
        v["metadata"]["annotations"][REVISION]
            .as_str()
            .and_then(|r| r.parse::<i64>().ok())
    };
    let current = revision(deployment);
    let uid = deployment["metadata"]["uid"].as_str();
    let mut owned: Vec<&Value> = sets
        .iter()
        .filter(|rs| {
            rs["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r["controller"] == true && r["uid"].as_str() == uid)
                })
        })
        .collect();
    owned.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
    let replica_sets: Vec<Value> = owned
        .iter()
        .map(|rs| {
            json!({
                "name": rs["metadata"]["name"],
                "revision": revision(rs),
                "pod_template_hash": rs["metadata"]["labels"]["pod-template-hash"],
                "replicas": rs["status"]["replicas"].as_i64().unwrap_or(0),
                "ready_replicas": rs["status"]["readyReplicas"].as_i64().unwrap_or(0),
                "current": current.is_some() && revision(rs) == current,
            })
        })
        .collect();
    let rolled_out = deployment_rolled_out(deployment);
    let status = &deployment["status"];
    let count = |field: &str| status[field].as_i64().unwrap_or(0);
    json!({
        "done": rolled_out.is_ok(),
        "message": match &rolled_out {
            Ok(()) => "successfully rolled out".to_string(),
            Err(missing) => format!("waiting for the rollout to finish: {missing}"),
        },
        "revision": current,
        "replicas": count("replicas"),
        "updated_replicas": count("updatedReplicas"),
        "ready_replicas": count("readyReplicas"),
        "available_replicas": count("availableReplicas"),
        "replica_sets": replica_sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_lists_the_deployments_own_replica_sets_newest_first() {
        let deployment = json!({
            "metadata": {"uid": "d1", "generation": 2, "annotations": {REVISION: "2"}},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                       "readyReplicas": 3, "availableReplicas": 3}});
        let rs = |name: &str, rev: &str, owner: &str, ready: i64| {
            json!({"metadata": {"name": name, "annotations": {REVISION: rev},
                                "labels": {"pod-template-hash": name.trim_start_matches("web-")},
                                "ownerReferences": [{"controller": true, "uid": owner}]},
                   "status": {"replicas": ready, "readyReplicas": ready}})
        };
        let sets = [
            rs("web-aaa", "1", "d1", 2),
            rs("web-bbb", "2", "d1", 1),
            rs("api-ccc", "5", "other", 4),
        ];
        let s = summarize(&deployment, &sets);
        assert_eq!(s["done"], false);
        assert_eq!(
            s["message"],
            "waiting for the rollout to finish: 1 of 2 replicas updated, 3 available"
        );
        assert_eq!(s["revision"], 2);
        let names: Vec<&str> = s["replica_sets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["web-bbb", "web-aaa"]);
        assert_eq!(s["replica_sets"][0]["current"], true);
        assert_eq!(s["replica_sets"][0]["pod_template_hash"], "bbb");
        assert_eq!(s["replica_sets"][1]["current"], false);
    }
}
