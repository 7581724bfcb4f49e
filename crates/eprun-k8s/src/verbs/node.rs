//! Nodes: cordon, uncordon, and drain through the eviction API (so PodDisruptionBudgets hold).

use super::objects::{list_with, read};
use super::wait::{Backoff, pause};
use super::{KindRef, Target, VerbError};
use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::mutation::Mutations;
use crate::{Kube, api_error};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// How long a drain waits for disruption budgets and terminating pods, unless told.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The annotation the kubelet puts on the API's copy of a static pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

fn node_kind() -> KindRef {
    KindRef::new("v1", "Node")
}

fn pod_kind() -> KindRef {
    KindRef::new("v1", "Pod")
}

/// Marks a node unschedulable (`true`, cordon) or schedulable again (`false`, uncordon).
/// Returns `#{node, unschedulable, changed}`; a node already in that state is left alone.
pub async fn cordon(
    kube: &Kube,
    mutations: &Mutations,
    node: &str,
    unschedulable: bool,
) -> Result<Value, VerbError> {
    let operation = if unschedulable { "cordon" } else { "uncordon" };
    let t = Target::resolve(kube, &node_kind(), "", node).await?;
    let target = t.describe();
    let current = read(&t, operation).await?;
    let was = current["spec"]["unschedulable"].as_bool() == Some(true);
    let mut out = Map::new();
    out.insert("node".into(), json!(t.name));
    out.insert("unschedulable".into(), json!(unschedulable));
    out.insert("changed".into(), json!(was != unschedulable));
    if was == unschedulable {
        return Ok(Value::Object(out));
    }
    // Uncordon removes the field, as kubectl does (its default is false).
    let patch = json!({ "spec": { "unschedulable": if unschedulable { json!(true) } else { Value::Null } } });
    let done = mutations
        .perform(operation, &target, "", async {
            t.api
                .patch(&t.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| api_error(operation, &target, e))
        })
        .await?;
    if done.is_none() {
        out.insert("dry_run".into(), json!(true));
    }
    Ok(Value::Object(out))
}

/// How a drain goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainOptions {
    /// How long to keep retrying evictions a PodDisruptionBudget blocks, and to wait for the
    /// evicted pods to be gone, in all.
    pub timeout: Duration,
    /// The pods' termination grace period, instead of their own.
    pub grace_period: Option<u32>,
    /// Also evict pods no controller manages (kubectl's `--force`): nothing recreates them.
    pub force: bool,
    /// Also evict pods with emptyDir volumes (kubectl's `--delete-emptydir-data`): their data
    /// is lost.
    pub delete_emptydir_data: bool,
}

impl Default for DrainOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_DRAIN_TIMEOUT,
            grace_period: None,
            force: false,
            delete_emptydir_data: false,
        }
    }
}

/// Why a drain refuses to evict a pod unless told to, as `kubectl drain` does: a pod no
/// controller manages is gone for good, a pod's emptyDir data is lost with it.
pub fn refusal(pod: &Value, options: &DrainOptions) -> Option<&'static str> {
    let controlled = pod["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["controller"] == true));
    let finished = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if !controlled && !finished && !options.force {
        return Some("no controller would recreate it (`force: true` evicts it anyway)");
    }
    let empty_dir = pod["spec"]["volumes"]
        .as_array()
        .is_some_and(|vs| vs.iter().any(|v| v.get("emptyDir").is_some()));
    if empty_dir && !finished && !options.delete_emptydir_data {
        return Some(
            "its emptyDir data would be lost (`delete_emptydir_data: true` evicts it anyway)",
        );
    }
    None
}

/// Why a drain leaves a pod where it is, if it does: mirror pods (the kubelet's static pods) and
/// pods of a DaemonSet (which would be put back on the node at once).
pub fn skip_reason(pod: &Value) -> Option<&'static str> {
    let meta = &pod["metadata"];
    if meta["annotations"].get(MIRROR_ANNOTATION).is_some() {
        return Some("mirror pod");
    }
    let daemon = meta["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["kind"].as_str() == Some("DaemonSet")));
    daemon.then_some("DaemonSet")
}

/// `namespace/name` of a pod.
fn pod_id(pod: &Value) -> String {
    format!(
        "{}/{}",
        pod["metadata"]["namespace"].as_str().unwrap_or_default(),
        pod["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The policy/v1 Eviction of a pod (kube-rs's own `evict` writes `delete_options`, which an API
/// server ignores, so the grace period would be lost).
pub fn eviction_body(namespace: &str, name: &str, grace_period: Option<u32>) -> Value {
    let mut body = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": { "name": name, "namespace": namespace },
    });
    if let Some(g) = grace_period {
        body["deleteOptions"] = json!({ "gracePeriodSeconds": g });
    }
    body
}

/// Cordons a node, then evicts every pod on it but mirror and DaemonSet pods, retrying (with
/// backoff) the evictions a PodDisruptionBudget refuses (429) until `options.timeout`, then waits
/// for the evicted pods to be gone. Returns `#{node, evicted: ["ns/name"], skipped: [#{pod, reason}]}`.
/// On failure the node stays cordoned and the message names the pods still there.
pub async fn drain(
    kube: &Kube,
    mutations: &Mutations,
    node: &str,
    options: DrainOptions,
) -> Result<Value, VerbError> {
    let deadline = Instant::now() + options.timeout;
    let target = super::describe("Node", None, node);
    // Refused before anything changes: the node is not even cordoned.
    let refused: Vec<String> = pods_on(kube, node)
        .await?
        .iter()
        .filter(|p| skip_reason(p).is_none())
        .filter_map(|p| refusal(p, &options).map(|why| format!("{}: {why}", pod_id(p))))
        .collect();
    if !refused.is_empty() {
        return Err(CloudError::new(
            "drain",
            &target,
            CloudErrorKind::Service("Refused".into()),
            format!(
                "refused to evict {}; nothing was changed",
                refused.join("; ")
            ),
        )
        .into());
    }
    let cordoned = cordon(kube, mutations, node, true).await?;
    let node = cordoned["node"].as_str().unwrap_or(node).to_string();
    // Listed again once cordoned: nothing new can land on it after this.
    let pods = pods_on(kube, &node).await?;
    let mut skipped = Vec::new();
    let mut to_evict = Vec::new();
    for pod in &pods {
        match skip_reason(pod) {
            Some(reason) => skipped.push(json!({ "pod": pod_id(pod), "reason": reason })),
            None => to_evict.push(pod),
        }
    }

    let evictions = to_evict.iter().map(|pod| {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let eviction_target = format!("pod {namespace}/{name}");
        async move {
            let (api, _) = kube.api("v1", "Pod", Some(namespace)).await?;
            mutations
                .perform(
                    "evict",
                    &eviction_target,
                    "",
                    evict(&api, namespace, name, options.grace_period, deadline),
                )
                .await?;
            Ok::<_, CloudError>(format!("{namespace}/{name}"))
        }
    });
    let results = futures::future::join_all(evictions).await;
    if crate::interrupt::requested() {
        return Err(VerbError::Interrupted);
    }
    let mut evicted = Vec::new();
    let mut blocked = Vec::new();
    let mut failed = Vec::new();
    let dry_run = mutations.dry_run();
    for r in results {
        match r {
            Ok(id) => evicted.push(id),
            Err(e) if e.kind == CloudErrorKind::Wait => blocked.push(e),
            Err(e) => failed.push(e),
        }
    }
    if !blocked.is_empty() || !failed.is_empty() {
        let mut parts = Vec::new();
        if !blocked.is_empty() {
            parts.push(format!(
                "PodDisruptionBudgets still block the eviction of {} after {}s ({})",
                blocked
                    .iter()
                    .map(|e| e.target.trim_start_matches("pod ").to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                options.timeout.as_secs_f64(),
                blocked
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        for e in &failed {
            parts.push(e.to_string());
        }
        let done = if evicted.is_empty() {
            String::new()
        } else {
            format!(" (evicted: {})", evicted.join(", "))
        };
        return Err(CloudError::new(
            "drain",
            &target,
            CloudErrorKind::Wait,
            format!("{}; the node stays cordoned{done}", parts.join("; ")),
        )
        .into());
    }
    if !dry_run {
        wait_gone(kube, &target, &to_evict, deadline, options.timeout).await?;
    }
    let mut out = Map::new();
    out.insert("node".into(), json!(node));
    out.insert("evicted".into(), json!(evicted));
    out.insert("skipped".into(), Value::Array(skipped));
    if dry_run {
        out.insert("dry_run".into(), json!(true));
    }
    Ok(Value::Object(out))
}

/// The pods bound to `node`, in every namespace.
async fn pods_on(kube: &Kube, node: &str) -> Result<Vec<Value>, VerbError> {
    list_with(
        kube,
        &pod_kind(),
        "",
        None,
        Some(&format!("spec.nodeName={node}")),
    )
    .await
}

/// Evicts one pod, retrying while a disruption budget refuses (429) until `deadline`; a pod
/// already gone counts as evicted. A budget that still refuses at the deadline is a `Wait` error.
async fn evict(
    api: &Api<DynamicObject>,
    namespace: &str,
    name: &str,
    grace_period: Option<u32>,
    deadline: Instant,
) -> Result<(), CloudError> {
    let target = format!("pod {namespace}/{name}");
    let body = eviction_body(namespace, name, grace_period);
    let mut backoff = Backoff::default();
    loop {
        let answer: Result<Value, kube::Error> = api
            .create_subresource("eviction", name, &PostParams::default(), &body)
            .await;
        match answer {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 429 => {
                let causes: Vec<String> = s
                    .details
                    .iter()
                    .flat_map(|d| d.causes.iter())
                    .map(|c| c.message.clone())
                    .filter(|m| !m.is_empty())
                    .collect();
                let why = if causes.is_empty() {
                    s.message.clone()
                } else {
                    causes.join("; ")
                };
                let now = Instant::now();
                if now >= deadline {
                    return Err(CloudError::new(
                        "evict",
                        &target,
                        CloudErrorKind::Wait,
                        format!("{namespace}/{name}: {why}"),
                    ));
                }
                if pause(backoff.next_delay().min(deadline - now))
                    .await
                    .is_err()
                {
                    return Err(CloudError::new(
                        "evict",
                        &target,
                        CloudErrorKind::Service("Interrupted".into()),
                        format!(
                            "interrupted by Ctrl-C while a disruption budget blocked it ({why})"
                        ),
                    ));
                }
            }
            Err(e) => return Err(api_error("evict", &target, e)),
        }
    }
}

/// Waits until every evicted pod is gone (or replaced by a new pod of the same name).
async fn wait_gone(
    kube: &Kube,
    target: &str,
    pods: &[&Value],
    deadline: Instant,
    timeout: Duration,
) -> Result<(), VerbError> {
    let mut left: Vec<(String, String, String)> = pods
        .iter()
        .map(|p| {
            (
                p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let mut backoff = Backoff::default();
    loop {
        let mut still = Vec::new();
        for (ns, name, uid) in left {
            let (api, _) = kube.api("v1", "Pod", Some(&ns)).await?;
            let found = api
                .get_opt(&name)
                .await
                .map_err(|e| api_error("get", format!("pod {ns}/{name}"), e))?;
            let same = found.is_some_and(|p| p.metadata.uid.as_deref().unwrap_or_default() == uid);
            if same {
                still.push((ns, name, uid));
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            let names: Vec<String> = still.iter().map(|(ns, n, _)| format!("{ns}/{n}")).collect();
            return Err(CloudError::new(
                "drain",
                target,
                CloudErrorKind::Wait,
                format!(
                    "evicted pods still terminating after {}s: {}; the node stays cordoned",
                    timeout.as_secs_f64(),
                    names.join(", ")
                ),
            )
            .into());
        }
        left = still;
        pause(backoff.next_delay().min(deadline - now)).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_skips_mirror_and_daemon_set_pods_only() {
        let mirror = json!({"metadata": {"name": "kube-apiserver-n1", "namespace": "kube-system",
                                         "annotations": {"kubernetes.io/config.mirror": "abc"}}});
        let daemon = json!({"metadata": {"name": "aws-node-x", "namespace": "kube-system",
                                         "ownerReferences": [{"kind": "DaemonSet", "name": "aws-node", "controller": true}]}});
        let replica = json!({"metadata": {"name": "web-1", "namespace": "payments",
                                          "ownerReferences": [{"kind": "ReplicaSet", "name": "web-6f7b"}]}});
        let bare = json!({"metadata": {"name": "debug", "namespace": "default"}});
        assert_eq!(skip_reason(&mirror), Some("mirror pod"));
        assert_eq!(skip_reason(&daemon), Some("DaemonSet"));
        assert_eq!(skip_reason(&replica), None);
        assert_eq!(skip_reason(&bare), None);
        assert_eq!(pod_id(&replica), "payments/web-1");
    }

    #[test]
    fn evictions_are_policy_v1_with_an_optional_grace_period() {
        assert_eq!(
            eviction_body("payments", "web-1", None),
            json!({"apiVersion": "policy/v1", "kind": "Eviction",
                   "metadata": {"name": "web-1", "namespace": "payments"}})
        );
        assert_eq!(
            eviction_body("payments", "web-1", Some(30))["deleteOptions"],
            json!({"gracePeriodSeconds": 30})
        );
    }

    #[test]
    fn drain_refuses_what_kubectl_drain_refuses_unless_told() {
        let bare = json!({"metadata": {}, "status": {"phase": "Running"}});
        let scratch = json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "controller": true}]},
                             "spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]},
                             "status": {"phase": "Running"}});
        let done = json!({"metadata": {}, "status": {"phase": "Succeeded"}});
        let default = DrainOptions::default();
        assert!(refusal(&bare, &default).unwrap().contains("no controller"));
        assert!(refusal(&scratch, &default).unwrap().contains("emptyDir"));
        assert_eq!(
            refusal(&done, &default),
            None,
            "a finished pod loses nothing"
        );
        let told = DrainOptions {
            force: true,
            delete_emptydir_data: true,
            ..DrainOptions::default()
        };
        assert_eq!(refusal(&bare, &told), None);
        assert_eq!(refusal(&scratch, &told), None);
    }
}
