//! Argo Rollouts: a rollout's status with its analysis runs, promote and abort — what
//! `kubectl argo rollouts status|promote|abort` do, through the Rollout's `/status` subresource.

use super::objects::{list, read};
use super::{KindRef, Target, VerbError};
use crate::cloud_error::CloudError;
use crate::mutation::Mutations;
use crate::{Kube, api_error};
use kube::api::{Patch, PatchParams};
use serde_json::{Map, Value, json};

/// The label Argo Rollouts puts on a ReplicaSet's pods and on the AnalysisRuns of that version.
pub const POD_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// The Argo Rollout kind.
pub fn rollout_kind() -> KindRef {
    KindRef::new("argoproj.io/v1alpha1", "Rollout")
}

/// The Argo AnalysisRun kind.
pub fn analysis_run_kind() -> KindRef {
    KindRef::new("argoproj.io/v1alpha1", "AnalysisRun")
}

/// A rollout's status: phase, pause, replica counts, blue/green selectors, pod hashes, and its
/// analysis runs (the AnalysisRuns in its namespace it owns, oldest first, each with the pod hash
/// of the version it analysed).
pub async fn status(kube: &Kube, namespace: &str, name: &str) -> Result<Value, VerbError> {
    let t = Target::resolve(kube, &rollout_kind(), namespace, name).await?;
    let rollout = read(&t, "rollout status").await?;
    let runs = list(kube, &analysis_run_kind(), namespace, None).await?;
    Ok(summarize(&rollout, &runs))
}

/// The status map of a rollout, given the AnalysisRuns of its namespace.
pub fn summarize(rollout: &Value, runs: &[Value]) -> Value {
    let status = &rollout["status"];
    let text = |v: &Value| {
        v.as_str()
            .map_or(Value::Null, |s| Value::String(s.to_string()))
    };
    let count = |field: &str| json!(status[field].as_i64().unwrap_or(0));
    let pause_conditions = status["pauseConditions"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    let paused = rollout["spec"]["paused"].as_bool() == Some(true)
        || pause_conditions
        || status["controllerPause"].as_bool() == Some(true);
    let mut owned: Vec<&Value> = runs.iter().filter(|r| owned_by(r, rollout)).collect();
    owned.sort_by(|a, b| {
        let key = |r: &Value| {
            (
                r["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    // Argo labels each run with the pod template hash of the ReplicaSet it analyses: runs of
    // earlier versions stay (up to the history limits), so only a matching hash speaks for the
    // version in preview.
    let analysis_runs: Vec<Value> = owned
        .iter()
        .map(|r| {
            json!({
                "name": text(&r["metadata"]["name"]),
                "phase": text(&r["status"]["phase"]),
                "pod_hash": text(&r["metadata"]["labels"][POD_HASH_LABEL]),
                "message": text(&r["status"]["message"]),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("phase".into(), text(&status["phase"]));
    out.insert("message".into(), text(&status["message"]));
    out.insert("paused".into(), json!(paused));
    out.insert(
        "aborted".into(),
        json!(status["abort"].as_bool() == Some(true)),
    );
    out.insert("replicas".into(), count("replicas"));
    out.insert("ready_replicas".into(), count("readyReplicas"));
    out.insert("updated_replicas".into(), count("updatedReplicas"));
    out.insert("available_replicas".into(), count("availableReplicas"));
    out.insert(
        "active_selector".into(),
        text(&status["blueGreen"]["activeSelector"]),
    );
    out.insert(
        "preview_selector".into(),
        text(&status["blueGreen"]["previewSelector"]),
    );
    out.insert("current_pod_hash".into(), text(&status["currentPodHash"]));
    out.insert("stable_pod_hash".into(), text(&status["stableRS"]));
    out.insert("analysis_runs".into(), Value::Array(analysis_runs));
    Value::Object(out)
}

/// Whether an AnalysisRun belongs to a rollout: an owner reference to it (by uid when both
/// carry one, else by kind and name).
fn owned_by(run: &Value, rollout: &Value) -> bool {
    let name = rollout["metadata"]["name"].as_str();
    let uid = rollout["metadata"]["uid"].as_str();
    run["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r["kind"].as_str() == Some("Rollout")
                    && match (r["uid"].as_str(), uid) {
                        (Some(a), Some(b)) => a == b,
                        _ => r["name"].as_str() == name,
                    }
            })
        })
}

/// The patches a promotion makes, as `kubectl argo rollouts promote` computes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    /// Merge patch of the main resource (`spec.paused: false`), when paused by a person.
    pub spec: Option<Value>,
    /// Merge patch of `/status`: the pause conditions cleared (blue/green, or a paused canary
    /// step), or, for a canary with steps and no pause, the next step.
    pub status: Option<Value>,
    /// The canary step the rollout moves to, when it moves to one.
    pub step_index: Option<i64>,
}

impl Promotion {
    /// Whether there is anything to do.
    pub fn is_empty(&self) -> bool {
        self.spec.is_none() && self.status.is_none()
    }
}

/// What promoting this rollout takes.
pub fn promotion(rollout: &Value) -> Promotion {
    let spec = (rollout["spec"]["paused"].as_bool() == Some(true))
        .then(|| json!({ "spec": { "paused": false } }));
    let status = &rollout["status"];
    let has_pause_conditions = status["pauseConditions"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    let steps = rollout["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .map(Vec::len)
        .filter(|n| *n > 0);
    if has_pause_conditions {
        return Promotion {
            spec,
            status: Some(json!({ "status": { "pauseConditions": null } })),
            step_index: None,
        };
    }
    if let Some(steps) = steps {
        let steps = i64::try_from(steps).unwrap_or(i64::MAX);
        let current = status["currentStepIndex"].as_i64().unwrap_or(0);
        let next = if current < steps {
            current + 1
        } else {
            current
        };
        return Promotion {
            spec,
            status: Some(json!({ "status": { "currentStepIndex": next } })),
            step_index: Some(next),
        };
    }
    Promotion {
        spec,
        status: None,
        step_index: None,
    }
}

/// Promotes a paused rollout: clears its pause conditions through `/status` (or moves a canary
/// to its next step) and sets `spec.paused` to false. A rollout that is not paused is left alone.
pub async fn promote(
    kube: &Kube,
    mutations: &Mutations,
    namespace: &str,
    name: &str,
) -> Result<Value, VerbError> {
    let t = Target::resolve(kube, &rollout_kind(), namespace, name).await?;
    let target = t.describe();
    let rollout = read(&t, "promote").await?;
    let plan = promotion(&rollout);
    let mut out = Map::new();
    out.insert("rollout".into(), json!(t.id()));
    out.insert("promoted".into(), json!(!plan.is_empty()));
    out.insert("unpaused".into(), json!(plan.spec.is_some()));
    out.insert(
        "pause_conditions_cleared".into(),
        json!(plan.status.is_some() && plan.step_index.is_none()),
    );
    out.insert("current_step_index".into(), json!(plan.step_index));
    if plan.is_empty() {
        return Ok(Value::Object(out));
    }
    let mut what = Vec::new();
    if plan.status.is_some() {
        what.push(match plan.step_index {
            Some(i) => format!("status.currentStepIndex → {i}"),
            None => "clear status.pauseConditions".to_string(),
        });
    }
    if plan.spec.is_some() {
        what.push("spec.paused → false".into());
    }
    let done = mutations
        .perform("promote", &target, &what.join(", "), async {
            if let Some(patch) = &plan.status {
                patch_status(&t, "promote", &target, patch).await?;
            }
            if let Some(patch) = &plan.spec {
                t.api
                    .patch(&t.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .map_err(|e| api_error("promote", &target, e))?;
            }
            Ok::<_, crate::cloud_error::CloudError>(())
        })
        .await?;
    if done.is_none() {
        out.insert("dry_run".into(), json!(true));
    }
    Ok(Value::Object(out))
}

/// Aborts a rollout: `status.abort = true` through `/status`; the controller scales the new
/// version down and sends traffic back to the stable one.
pub async fn abort(
    kube: &Kube,
    mutations: &Mutations,
    namespace: &str,
    name: &str,
) -> Result<Value, VerbError> {
    let t = Target::resolve(kube, &rollout_kind(), namespace, name).await?;
    let target = t.describe();
    let patch = json!({ "status": { "abort": true } });
    let done = mutations
        .perform("abort", &target, "status.abort → true", async {
            patch_status(&t, "abort", &target, &patch).await
        })
        .await?;
    let mut out = Map::new();
    out.insert("rollout".into(), json!(t.id()));
    out.insert("aborted".into(), json!(true));
    if done.is_none() {
        out.insert("dry_run".into(), json!(true));
    }
    Ok(Value::Object(out))
}

/// Merge-patches a rollout's `/status` (`op` and `target` name the call in an error).
async fn patch_status(t: &Target, op: &str, target: &str, patch: &Value) -> Result<(), CloudError> {
    t.api
        .patch_subresource(
            "status",
            &t.name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .map(|_| ())
        .map_err(|e| api_error(op, target, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blue_green() -> Value {
        json!({
            "metadata": {"name": "payment-service", "namespace": "payments", "uid": "r-1"},
            "spec": {"replicas": 6, "strategy": {"blueGreen": {"activeService": "a", "previewService": "p"}}},
            "status": {
                "phase": "Paused", "message": "BlueGreenPause",
                "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2024-01-01T00:00:00Z"}],
                "controllerPause": true,
                "replicas": 12, "readyReplicas": 12, "updatedReplicas": 6, "availableReplicas": 12,
                "blueGreen": {"activeSelector": "6f7b", "previewSelector": "9c4d"},
                "currentPodHash": "9c4d", "stableRS": "6f7b"
            }
        })
    }

    #[test]
    fn status_summarizes_the_rollout_and_its_own_analysis_runs() {
        let runs = vec![
            json!({"metadata": {"name": "payment-service-9c4d-2", "creationTimestamp": "2024-01-01T00:02:00Z",
                                "labels": {"rollouts-pod-template-hash": "9c4d"},
                                "ownerReferences": [{"kind": "Rollout", "name": "payment-service", "uid": "r-1"}]},
                   "status": {"phase": "Running"}}),
            json!({"metadata": {"name": "payment-service-6f7b-1", "creationTimestamp": "2024-01-01T00:01:00Z",
                                "labels": {"rollouts-pod-template-hash": "6f7b"},
                                "ownerReferences": [{"kind": "Rollout", "name": "payment-service"}]},
                   "status": {"phase": "Failed", "message": "Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)"}}),
            // An older rollout of the same name (another uid), and someone else's run.
            json!({"metadata": {"name": "old", "ownerReferences": [{"kind": "Rollout", "name": "payment-service", "uid": "r-0"}]}}),
            json!({"metadata": {"name": "other", "ownerReferences": [{"kind": "Rollout", "name": "checkout"}]}}),
            json!({"metadata": {"name": "bare"}}),
        ];
        let s = summarize(&blue_green(), &runs);
        assert_eq!(
            s,
            json!({
                "phase": "Paused", "message": "BlueGreenPause", "paused": true, "aborted": false,
                "replicas": 12, "ready_replicas": 12, "updated_replicas": 6, "available_replicas": 12,
                "active_selector": "6f7b", "preview_selector": "9c4d",
                "current_pod_hash": "9c4d", "stable_pod_hash": "6f7b",
                "analysis_runs": [
                    {"name": "payment-service-6f7b-1", "phase": "Failed", "pod_hash": "6f7b",
                     "message": "Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)"},
                    {"name": "payment-service-9c4d-2", "phase": "Running", "pod_hash": "9c4d", "message": null}
                ]
            })
        );
        let empty = summarize(&json!({"metadata": {"name": "x"}}), &[]);
        assert_eq!(empty["paused"], false);
        assert_eq!(empty["replicas"], 0);
        assert_eq!(empty["phase"], Value::Null);
    }

    #[test]
    fn promoting_a_blue_green_pause_clears_its_conditions() {
        let p = promotion(&blue_green());
        assert_eq!(p.status, Some(json!({"status": {"pauseConditions": null}})));
        assert_eq!(p.spec, None);
        let mut paused = blue_green();
        paused["spec"]["paused"] = json!(true);
        let p = promotion(&paused);
        assert_eq!(p.spec, Some(json!({"spec": {"paused": false}})));
        assert!(p.status.is_some());
        let mut running = blue_green();
        running["status"]["pauseConditions"] = json!([]);
        assert!(promotion(&running).is_empty());
    }

    #[test]
    fn promoting_a_canary_without_a_pause_moves_to_the_next_step() {
        let canary = json!({
            "metadata": {"name": "c"},
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]}}},
            "status": {"currentStepIndex": 1}
        });
        let p = promotion(&canary);
        assert_eq!(p.status, Some(json!({"status": {"currentStepIndex": 2}})));
        assert_eq!(p.step_index, Some(2));
        let mut done = canary.clone();
        done["status"]["currentStepIndex"] = json!(3);
        assert_eq!(promotion(&done).step_index, Some(3));
        let mut paused_step = canary;
        paused_step["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
        let p = promotion(&paused_step);
        assert_eq!(p.status, Some(json!({"status": {"pauseConditions": null}})));
        assert_eq!(p.step_index, None);
    }
}
