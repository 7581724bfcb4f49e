//! EKS verbs: clusters and managed node groups (describe, scale, wait).

use super::{check_keys, empty_answer, invalid, opt, opt_str};
use crate::Result;
use crate::all;
use crate::eks::{EksItem, sdk};
use crate::mutation::Mutations;
use crate::{WaitState, wait_until};
use aws_sdk_eks::types::{Nodegroup, NodegroupScalingConfig, NodegroupStatus};
use serde_json::{Map, Value, json};
use std::sync::Mutex;
use std::time::Duration;

/// The keys `update_nodegroup_scaling` takes.
pub const SCALING_KEYS: &[&str] = &["min_size", "max_size", "desired_size"];

/// DescribeCluster: `{name, arn, status, version, endpoint, platform_version}`.
pub async fn describe_cluster(eks: &aws_sdk_eks::Client, name: &str) -> Result<Value> {
    let out = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(sdk("DescribeCluster", name))?;
    let c = out
        .cluster()
        .ok_or_else(|| empty_answer("DescribeCluster", name, "cluster"))?;
    Ok(json!({
        "name": opt_str(c.name()),
        "arn": opt_str(c.arn()),
        "status": opt_str(c.status().map(|s| s.as_str())),
        "version": opt_str(c.version()),
        "endpoint": opt_str(c.endpoint()),
        "platform_version": opt_str(c.platform_version()),
    }))
}

/// ListNodegroups: the names of a cluster's managed node groups.
pub async fn list_nodegroups(eks: &aws_sdk_eks::Client, cluster: &str) -> Result<Value> {
    let names: Vec<String> = all!(
        eks.list_nodegroups().cluster_name(cluster),
        "ListNodegroups",
        cluster
    )?;
    Ok(json!(names))
}

/// The node group itself (an error when it does not exist).
async fn nodegroup(eks: &aws_sdk_eks::Client, cluster: &str, name: &str) -> Result<Nodegroup> {
    let target = format!("{cluster}/{name}");
    let out = eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .map_err(sdk("DescribeNodegroup", &target))?;
    out.nodegroup()
        .cloned()
        .ok_or_else(|| empty_answer("DescribeNodegroup", &target, "node group"))
}

/// A node group as a plain map.
fn nodegroup_map(ng: &Nodegroup) -> Value {
    let scaling = ng.scaling_config();
    let issues: Vec<Value> = ng
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            json!({
                "code": opt_str(i.code().map(|c| c.as_str())),
                "message": opt_str(i.message()),
            })
        })
        .collect();
    json!({
        "name": opt_str(ng.nodegroup_name()),
        "cluster": opt_str(ng.cluster_name()),
        "arn": opt_str(ng.nodegroup_arn()),
        "status": opt_str(ng.status().map(|s| s.as_str())),
        "min_size": scaling.and_then(|s| s.min_size()),
        "max_size": scaling.and_then(|s| s.max_size()),
        "desired_size": scaling.and_then(|s| s.desired_size()),
        "instance_types": ng.instance_types(),
        "capacity_type": opt_str(ng.capacity_type().map(|c| c.as_str())),
        "version": opt_str(ng.version()),
        "health_issues": issues,
    })
}

/// DescribeNodegroup: `{name, status, min_size, max_size, desired_size, instance_types, capacity_type, …}`.
pub async fn describe_nodegroup(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
) -> Result<Value> {
    Ok(nodegroup_map(&nodegroup(eks, cluster, name).await?))
}

/// The three sizes of a node group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// The fewest nodes.
    pub min: i64,
    /// The most nodes.
    pub max: i64,
    /// The nodes wanted now.
    pub desired: i64,
}

/// The sizes a script asked for, over the current ones; checked as EKS would (min ≤ desired ≤ max).
pub fn merge_sizes(target: &str, current: Sizes, change: &Map<String, Value>) -> Result<Sizes> {
    const OP: &str = "UpdateNodegroupConfig";
    check_keys(OP, target, change, SCALING_KEYS)?;
    let min = opt::<i64>(OP, target, change, "min_size")?;
    let max = opt::<i64>(OP, target, change, "max_size")?;
    let desired = opt::<i64>(OP, target, change, "desired_size")?;
    if min.is_none() && max.is_none() && desired.is_none() {
        return Err(invalid(
            OP,
            target,
            "give at least one of `min_size`, `max_size`, `desired_size`",
        ));
    }
    let next = Sizes {
        min: min.unwrap_or(current.min),
        max: max.unwrap_or(current.max),
        desired: desired.unwrap_or(current.desired),
    };
    // Say which sizes were kept, so a refusal explains where a value came from.
    let src = |given: Option<i64>, name: &str, v: i64| {
        if given.is_some() {
            format!("{name} {v}")
        } else {
            format!("{name} {v} (current)")
        }
    };
    let (smin, smax, sdes) = (
        src(min, "min_size", next.min),
        src(max, "max_size", next.max),
        src(desired, "desired_size", next.desired),
    );
    let refuse = |why: String| Err(invalid(OP, target, format!("{why}; nothing was changed")));
    if next.min < 0 {
        return refuse(format!("{smin} is negative"));
    }
    if next.max < 1 {
        return refuse(format!("{smax} must be at least 1"));
    }
    if next.min > next.max {
        return refuse(format!("{smin} is above {smax}"));
    }
    if next.desired < next.min {
        return refuse(format!("{sdes} is below {smin}"));
    }
    if next.desired > next.max {
        return refuse(format!("{sdes} is above {smax}"));
    }
    for (name, v) in [
        ("min_size", next.min),
        ("max_size", next.max),
        ("desired_size", next.desired),
    ] {
        if i32::try_from(v).is_err() {
            return refuse(format!("{name} {v} is too large"));
        }
    }
    Ok(next)
}

/// `min_size 1→2, max_size 2→4, desired_size 1`: what a scaling update changes.
fn describe_change(current: Sizes, next: Sizes) -> String {
    [
        ("min_size", current.min, next.min),
        ("max_size", current.max, next.max),
        ("desired_size", current.desired, next.desired),
    ]
    .iter()
    .map(|(name, a, b)| {
        if a == b {
            format!("{name} {b}")
        } else {
            format!("{name} {a}→{b}")
        }
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// UpdateNodegroupConfig of the sizes given in `change` (any of `min_size`, `max_size`,
/// `desired_size`; the others keep their current values and are not sent, so an autoscaler's
/// `desired_size` stays its own). The merged sizes are checked (min ≤ desired ≤ max) before the
/// call. Returns `{update_id, status, cluster, nodegroup, min_size, max_size, desired_size,
/// changed, dry_run}`; nothing is called when the sizes are already those.
pub async fn update_nodegroup_scaling(
    eks: &aws_sdk_eks::Client,
    mutations: &Mutations,
    cluster: &str,
    name: &str,
    change: &Map<String, Value>,
) -> Result<Value> {
    const OP: &str = "UpdateNodegroupConfig";
    let target = format!("{cluster}/{name}");
    // Check the keys before any call: a typo is reported even for a missing node group.
    check_keys(OP, &target, change, SCALING_KEYS)?;
    let ng = nodegroup(eks, cluster, name).await?;
    let scaling = ng.scaling_config();
    let size = |v: Option<i32>, what: &str| {
        v.map(i64::from)
            .ok_or_else(|| empty_answer("DescribeNodegroup", &target, what))
    };
    let current = Sizes {
        min: size(scaling.and_then(|s| s.min_size()), "min_size")?,
        max: size(scaling.and_then(|s| s.max_size()), "max_size")?,
        desired: size(scaling.and_then(|s| s.desired_size()), "desired_size")?,
    };
    let next = merge_sizes(&target, current, change)?;
    let result = |update_id: Value, status: Value, changed: bool, dry_run: bool| {
        json!({
            "update_id": update_id,
            "status": status,
            "cluster": cluster,
            "nodegroup": name,
            "min_size": next.min,
            "max_size": next.max,
            "desired_size": next.desired,
            "changed": changed,
            "dry_run": dry_run,
        })
    };
    if next == current {
        return Ok(result(Value::Null, Value::Null, false, mutations.dry_run()));
    }
    // Only the sizes the script gave (and that differ) are sent.
    let send = |key: &str, cur: i64, new: i64| {
        (change.contains_key(key) && cur != new).then(|| i32::try_from(new).unwrap_or(i32::MAX))
    };
    let config = NodegroupScalingConfig::builder()
        .set_min_size(send("min_size", current.min, next.min))
        .set_max_size(send("max_size", current.max, next.max))
        .set_desired_size(send("desired_size", current.desired, next.desired))
        .build();
    let detail = describe_change(current, next);
    let call = async {
        eks.update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .scaling_config(config)
            .send()
            .await
            .map_err(sdk(OP, &target))
    };
    match mutations.perform(OP, &target, &detail, call).await? {
        None => Ok(result(Value::Null, Value::Null, true, true)),
        Some(out) => {
            let update = out.update();
            Ok(result(
                opt_str(update.and_then(|u| u.id())),
                opt_str(update.and_then(|u| u.status()).map(|s| s.as_str())),
                true,
                false,
            ))
        }
    }
}

/// Where a node group is on its way to ACTIVE.
fn nodegroup_state(ng: &Nodegroup) -> WaitState {
    match ng.status() {
        Some(NodegroupStatus::Active) => WaitState::Ready,
        Some(
            s @ (NodegroupStatus::CreateFailed
            | NodegroupStatus::DeleteFailed
            | NodegroupStatus::Degraded),
        ) => WaitState::Failed(format!(
            "the node group is {}{}",
            s.as_str(),
            EksItem::issues(ng)
        )),
        Some(NodegroupStatus::Deleting) => {
            WaitState::Failed("the node group is being deleted".into())
        }
        Some(s) => WaitState::Pending(s.as_str().to_string()),
        None => WaitState::Pending("in an unknown state".into()),
    }
}

/// Polls DescribeNodegroup until the node group is ACTIVE (an error when it fails, is deleted or
/// the time runs out); returns it as `describe_nodegroup` does.
pub async fn wait_nodegroup_active(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
    timeout: Duration,
) -> Result<Value> {
    let target = format!("{cluster}/{name}");
    let last: Mutex<Option<Nodegroup>> = Mutex::new(None);
    let last_ref = &last;
    wait_until("wait for ACTIVE", &target, timeout, || async move {
        let ng = nodegroup(eks, cluster, name).await?;
        let state = nodegroup_state(&ng);
        *last_ref.lock().unwrap_or_else(|p| p.into_inner()) = Some(ng);
        Ok(state)
    })
    .await?;
    let ng = last.into_inner().unwrap_or_else(|p| p.into_inner());
    match ng {
        Some(ng) => Ok(nodegroup_map(&ng)),
        None => describe_nodegroup(eks, cluster, name).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eks::testing;
    use aws_sdk_eks::Client;
    use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
    use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
    use aws_sdk_eks::types::UpdateStatus;
    use aws_smithy_mocks::{RuleMode, mock};
    use std::sync::Arc;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const NOW: Sizes = Sizes {
        min: 1,
        max: 3,
        desired: 2,
    };

    fn live(status: NodegroupStatus) -> Nodegroup {
        live_with(status, None)
    }

    fn live_with(
        status: NodegroupStatus,
        health: Option<aws_sdk_eks::types::NodegroupHealth>,
    ) -> Nodegroup {
        Nodegroup::builder()
            .set_health(health)
            .cluster_name("examplepay-local")
            .nodegroup_name("system")
            .status(status)
            .instance_types("t3.medium")
            .capacity_type(aws_sdk_eks::types::CapacityTypes::OnDemand)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(1)
                    .max_size(3)
                    .desired_size(2)
                    .build(),
            )
            .build()
    }

    #[test]
    fn missing_sizes_keep_their_current_values() {
        let next = merge_sizes("c/ng", NOW, &obj(json!({"max_size": 6}))).unwrap();
        assert_eq!(
            next,
            Sizes {
                min: 1,
                max: 6,
                desired: 2
            }
        );
        let next =
            merge_sizes("c/ng", NOW, &obj(json!({"min_size": 3, "desired_size": 3}))).unwrap();
        assert_eq!((next.min, next.max, next.desired), (3, 3, 3));
    }

    #[test]
    fn sizes_are_checked_against_the_kept_ones() {
        let e = merge_sizes("c/ng", NOW, &obj(json!({"desired_size": 5}))).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("`UpdateNodegroupConfig` on `c/ng`"), "{m}");
        assert!(
            m.contains("desired_size 5 is above max_size 3 (current)"),
            "{m}"
        );
        assert!(m.contains("nothing was changed"), "{m}");
        let e = merge_sizes("c/ng", NOW, &obj(json!({"min_size": 4, "max_size": 3}))).unwrap_err();
        assert!(
            e.to_string().contains("min_size 4 is above max_size 3"),
            "{e}"
        );
        let e = merge_sizes("c/ng", NOW, &obj(json!({"min_size": 3}))).unwrap_err();
        assert!(
            e.to_string()
                .contains("desired_size 2 (current) is below min_size 3"),
            "{e}"
        );
        let e = merge_sizes(
            "c/ng",
            NOW,
            &obj(json!({"max_size": 0, "min_size": 0, "desired_size": 0})),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
        let e = merge_sizes("c/ng", NOW, &obj(json!({}))).unwrap_err();
        assert!(e.to_string().contains("at least one of"), "{e}");
        let e = merge_sizes("c/ng", NOW, &obj(json!({"desired": 2}))).unwrap_err();
        assert!(e.to_string().contains("did you mean `desired_size`"), "{e}");
        let e = merge_sizes("c/ng", NOW, &obj(json!({"desired_size": "2"}))).unwrap_err();
        assert!(e.to_string().contains("whole number"), "{e}");
    }

    /// Scales `examplepay-local/system` through `eks` (mocked) as `change` says.
    async fn scale(eks: &Client, mutations: &Mutations, change: Value) -> Result<Value> {
        update_nodegroup_scaling(eks, mutations, "examplepay-local", "system", &obj(change)).await
    }

    /// Scales as `change` says against a group of sizes 1, 2, 3, and checks that the group was
    /// read once and UpdateNodegroupConfig never called.
    async fn scale_without_a_call(mutations: &Mutations, change: Value) -> Result<Value> {
        let describe = describe_rule();
        let update = mock!(Client::update_nodegroup_config)
            .then_output(|| UpdateNodegroupConfigOutput::builder().build());
        let eks = testing::client(RuleMode::MatchAny, &[&describe, &update]);
        let out = scale(&eks, mutations, change).await;
        assert_eq!((describe.num_calls(), update.num_calls()), (1, 0));
        out
    }

    fn describe_rule() -> aws_smithy_mocks::Rule {
        mock!(Client::describe_nodegroup).then_output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(live(NodegroupStatus::Active))
                .build()
        })
    }

    #[tokio::test]
    async fn a_partial_update_sends_only_the_given_sizes() {
        let describe = describe_rule();
        let seen: Arc<Mutex<Vec<NodegroupScalingConfig>>> = Arc::default();
        let record = seen.clone();
        let update = mock!(Client::update_nodegroup_config).then_compute_output(move |r| {
            if let Some(c) = r.scaling_config() {
                record.lock().unwrap().push(c.clone());
            }
            UpdateNodegroupConfigOutput::builder()
                .update(testing::update("u-1", UpdateStatus::InProgress))
                .build()
        });
        let eks = testing::client(RuleMode::MatchAny, &[&describe, &update]);
        let mutations = Mutations::default();
        let out = scale(&eks, &mutations, json!({"max_size": 6, "desired_size": 4}))
            .await
            .unwrap();
        assert_eq!(update.num_calls(), 1);
        let sent = seen.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (
                sent[0].min_size(),
                sent[0].max_size(),
                sent[0].desired_size()
            ),
            (None, Some(6), Some(4)),
            "min_size was not given and is not sent"
        );
        assert_eq!(out["update_id"], "u-1");
        assert_eq!(out["status"], "InProgress");
        assert_eq!(
            (&out["min_size"], &out["max_size"], &out["desired_size"]),
            (&json!(1), &json!(6), &json!(4))
        );
        assert_eq!(out["dry_run"], false);
    }

    #[tokio::test]
    async fn an_invalid_update_is_refused_before_the_call() {
        let e = scale_without_a_call(&Mutations::default(), json!({"desired_size": 9}))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("`UpdateNodegroupConfig` on `examplepay-local/system` failed: desired_size 9 is above max_size 3 (current)"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_dry_run_reads_checks_and_skips_the_call() {
        let mutations = Mutations::default();
        mutations.set_dry_run(true);
        let out = scale_without_a_call(&mutations, json!({"min_size": 2}))
            .await
            .unwrap();
        assert_eq!(out["dry_run"], true);
        assert_eq!(out["update_id"], Value::Null);
        assert_eq!(out["min_size"], 2);
    }

    #[tokio::test]
    async fn sizes_already_in_place_make_no_call() {
        let out = scale_without_a_call(&Mutations::default(), json!({"desired_size": 2}))
            .await
            .unwrap();
        assert_eq!(out["changed"], false);
    }

    #[tokio::test]
    async fn waiting_ends_when_active_and_fails_on_a_degraded_group() {
        let describe = mock!(Client::describe_nodegroup)
            .sequence()
            .output(|| {
                DescribeNodegroupOutput::builder()
                    .nodegroup(live(NodegroupStatus::Updating))
                    .build()
            })
            .times(2)
            .output(|| {
                DescribeNodegroupOutput::builder()
                    .nodegroup(live(NodegroupStatus::Active))
                    .build()
            })
            .build();
        let eks = testing::client(RuleMode::Sequential, &[&describe]);
        let ng = wait_nodegroup_active(&eks, "examplepay-local", "system", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(ng["status"], "ACTIVE");
        assert_eq!(ng["desired_size"], 2);
        assert_eq!(describe.num_calls(), 3);

        let degraded = mock!(Client::describe_nodegroup).then_output(|| {
            let ng = live_with(
                NodegroupStatus::Degraded,
                Some(aws_sdk_eks::types::NodegroupHealth::builder()
                    .issues(
                        aws_sdk_eks::types::Issue::builder()
                            .code(aws_sdk_eks::types::NodegroupIssueCode::AsgInstanceLaunchFailures)
                            .message("no capacity")
                            .build(),
                    )
                    .build()),
            );
            DescribeNodegroupOutput::builder().nodegroup(ng).build()
        });
        let eks = testing::client(RuleMode::MatchAny, &[&degraded]);
        let e = wait_nodegroup_active(&eks, "examplepay-local", "system", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("DEGRADED"), "{e}");
        assert!(e.to_string().contains("no capacity"), "{e}");
    }
}
