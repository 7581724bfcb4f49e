//! `aws::eks::node_group`: an EKS managed node group.
//!
//! Found by `<cluster>/<node group>`: ListNodegroups for each cluster the stack expects node
//! groups in, then DescribeNodegroup for the expected ones. Sizes, labels and taints change in
//! place (UpdateNodegroupConfig); `desired_size` is usually left to autoscalers (`ignore_changes`).

use super::{
    UpdateOf, check_eks_name, int_prop, is_in_use, is_ours_already, keys_by_cluster, owner,
    pair_key, pairs, retry_new_role, sdk_error, tag_map, update_tags, wait_update,
};
use crate::context::Context;
use crate::ec2::{list_prop, props, str_prop};
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, WaitState, wait_until};
use async_trait::async_trait;
use aws_sdk_eks::types::{
    CapacityTypes, Nodegroup, NodegroupScalingConfig, NodegroupStatus, Taint, TaintEffect,
    UpdateLabelsPayload, UpdateTaintsPayload,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A managed node group of an EKS cluster.
pub struct NodeGroup;

const TAINT: &[Field] = &[
    Field::required("key", Kind::Str, "the taint key"),
    Field::optional("value", Kind::Str, "the taint value"),
    Field::required(
        "effect",
        Kind::Enum(&["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]),
        "what the taint does to pods that do not tolerate it",
    ),
];

const SCHEMA: &[Field] = &[
    Field::required(
        "cluster_name",
        Kind::Str,
        "the cluster the node group belongs to",
    ),
    Field::required(
        "node_group_name",
        Kind::Str,
        "the node group's name, unique in its cluster",
    ),
    Field::required(
        "node_role_arn",
        Kind::Str,
        "the IAM role of the nodes (trusts `ec2.amazonaws.com`)",
    ),
    Field::required(
        "subnet_ids",
        Kind::StrSet,
        "the subnets the nodes are launched in",
    ),
    Field::optional(
        "instance_types",
        Kind::StrSet,
        "the EC2 instance types (AWS picks `t3.medium` when left out)",
    )
    .force_new(),
    Field::optional(
        "capacity_type",
        Kind::Enum(&["ON_DEMAND", "SPOT"]),
        "on-demand or spot capacity",
    )
    .default("\"ON_DEMAND\"")
    .force_new(),
    Field::required("min_size", Kind::Int, "the fewest nodes").updatable(),
    Field::required("max_size", Kind::Int, "the most nodes").updatable(),
    Field::optional(
        "desired_size",
        Kind::Int,
        "the nodes wanted now (the minimum when left out); usually owned by autoscalers",
    ),
    Field::optional("labels", Kind::Tags, "Kubernetes labels of the nodes").default("{}"),
    Field::optional(
        "taints",
        Kind::ObjectSet(TAINT),
        "Kubernetes taints of the nodes: `key`, `value`, `effect`",
    )
    .default("[]"),
    TAGS,
];

/// Nodes take a few minutes; a stuck launch is bounded by this.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Rolling a node group (a config change that replaces nodes) can take long.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The health issues of a node group, for error messages: ` (CODE: message; …)`, or empty.
pub(crate) fn issues(ng: &Nodegroup) -> String {
    let list: Vec<String> = ng
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            format!(
                "{}: {}",
                i.code().map(|c| c.as_str()).unwrap_or("Unknown"),
                i.message().unwrap_or_default()
            )
        })
        .collect();
    if list.is_empty() {
        String::new()
    } else {
        format!(" ({})", list.join("; "))
    }
}

/// Taints as the props' list of maps (no `value` key when there is none).
fn taint_props(taints: &[Taint]) -> Value {
    Value::Array(
        taints
            .iter()
            .map(|t| {
                let mut m = Map::new();
                m.insert("key".into(), json!(t.key().unwrap_or_default()));
                if let Some(v) = t.value() {
                    m.insert("value".into(), json!(v));
                }
                m.insert(
                    "effect".into(),
                    json!(t.effect().map(|e| e.as_str()).unwrap_or_default()),
                );
                Value::Object(m)
            })
            .collect(),
    )
}

/// The declared taints as SDK values.
fn taints(props: &Props) -> Vec<Taint> {
    props
        .get("taints")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .map(|t| {
                    Taint::builder()
                        .key(str_prop(t, "key"))
                        .set_value(t.get("value").and_then(Value::as_str).map(String::from))
                        .effect(TaintEffect::from(str_prop(t, "effect")))
                        .build()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A map prop (labels) as an ordered string map.
fn string_map(props: &Props, key: &str) -> BTreeMap<String, String> {
    props
        .get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The label changes from `current` to `desired`: (to add or update, to remove).
fn label_changes(current: &Props, desired: &Props) -> (BTreeMap<String, String>, Vec<String>) {
    let cur = string_map(current, "labels");
    let want = string_map(desired, "labels");
    let set = want
        .iter()
        .filter(|(k, v)| cur.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = cur
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// The taint changes from `current` to `desired`: (to add or update, to remove). A taint is
/// identified by key and effect; one whose value changed is re-added.
fn taint_changes(current: &Props, desired: &Props) -> (Vec<Taint>, Vec<Taint>) {
    let id = |t: &Taint| {
        (
            t.key().unwrap_or_default().to_string(),
            t.effect()
                .map(|e| e.as_str().to_string())
                .unwrap_or_default(),
        )
    };
    let cur = taints(current);
    let want = taints(desired);
    let add: Vec<Taint> = want.iter().filter(|t| !cur.contains(t)).cloned().collect();
    let kept: BTreeSet<_> = want.iter().map(id).collect();
    let remove = cur
        .iter()
        .filter(|t| !kept.contains(&id(t)))
        .cloned()
        .collect();
    (add, remove)
}

/// What a described node group looks like as props, if it is ours.
fn observe(stack: &str, ng: &Nodegroup) -> Option<Observed> {
    let (address, user_tags) = owner(stack, pairs(ng.tags())).split()?;
    let cluster = ng.cluster_name().unwrap_or_default();
    let name = ng.nodegroup_name().unwrap_or_default();
    let scaling = ng.scaling_config();
    let labels: Map<String, Value> = ng
        .labels()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        .unwrap_or_default();
    let id = format!("{cluster}:{name}");
    Some(Observed {
        address,
        id: id.clone(),
        natural_key: Some(format!("{cluster}/{name}")),
        props: props([
            ("cluster_name", json!(cluster)),
            ("node_group_name", json!(name)),
            ("node_role_arn", json!(ng.node_role().unwrap_or_default())),
            ("subnet_ids", json!(ng.subnets())),
            ("instance_types", json!(ng.instance_types())),
            (
                "capacity_type",
                json!(
                    ng.capacity_type()
                        .map(|c| c.as_str())
                        .unwrap_or("ON_DEMAND")
                ),
            ),
            (
                "min_size",
                json!(scaling.and_then(|s| s.min_size()).unwrap_or_default()),
            ),
            (
                "max_size",
                json!(scaling.and_then(|s| s.max_size()).unwrap_or_default()),
            ),
            (
                "desired_size",
                json!(scaling.and_then(|s| s.desired_size()).unwrap_or_default()),
            ),
            ("labels", Value::Object(labels)),
            ("taints", taint_props(ng.taints())),
            ("tags", user_tags),
        ]),
        attrs: props([
            ("id", json!(id)),
            ("arn", json!(ng.nodegroup_arn().unwrap_or_default())),
            ("node_group_name", json!(name)),
            (
                "status",
                json!(ng.status().map(|s| s.as_str()).unwrap_or_default()),
            ),
        ]),
    })
}

/// DescribeNodegroup; `None` when there is no such node group (or cluster).
async fn describe(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
) -> Result<Option<Nodegroup>, CloudError> {
    match eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.nodegroup().cloned()),
        Err(e) => {
            let e = sdk_error("DescribeNodegroup", format!("{cluster}/{name}"), e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Waits until the node group is ACTIVE.
async fn wait_active(
    eks: &aws_sdk_eks::Client,
    operation: &str,
    cluster: &str,
    name: &str,
    timeout: Duration,
) -> Result<Nodegroup, CloudError> {
    let target = format!("{cluster}/{name}");
    wait_until(operation, &target, timeout, || async move {
        Ok(match describe(eks, cluster, name).await? {
            None => WaitState::Pending("not visible yet".into()),
            Some(ng) => match ng.status() {
                Some(NodegroupStatus::Active) => WaitState::Ready,
                Some(s @ (NodegroupStatus::CreateFailed | NodegroupStatus::DeleteFailed)) => {
                    WaitState::Failed(format!(
                        "the node group ended in state `{}`{}",
                        s.as_str(),
                        issues(&ng)
                    ))
                }
                Some(s) => WaitState::Pending(format!("{}{}", s.as_str(), issues(&ng))),
                None => WaitState::Pending("status unknown".into()),
            },
        })
    })
    .await?;
    describe(eks, cluster, name).await?.ok_or_else(|| {
        CloudError::new(
            operation,
            &target,
            CloudErrorKind::NotFound,
            "the node group disappeared while it was being made ready",
        )
    })
}

/// Reads the node groups the stack expects: ListNodegroups per cluster, DescribeNodegroup for each expected one.
pub(crate) async fn read(
    eks: &aws_sdk_eks::Client,
    stack: &str,
    hints: &ReadHints,
) -> Result<Vec<Observed>, CloudError> {
    let mut out = Vec::new();
    for (cluster, wanted) in keys_by_cluster(&hints.natural_keys) {
        let mut present = Vec::new();
        let mut pages = eks
            .list_nodegroups()
            .cluster_name(&cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => present.extend(
                    page.nodegroups()
                        .iter()
                        .filter(|n| wanted.contains(*n))
                        .cloned(),
                ),
                Err(e) => {
                    let e = sdk_error("ListNodegroups", &cluster, e);
                    // No cluster, no node groups.
                    if e.is_not_found() {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        for name in present {
            let Some(ng) = describe(eks, &cluster, &name).await? else {
                continue;
            };
            if ng.status() == Some(&NodegroupStatus::Deleting) {
                continue;
            }
            out.extend(observe(stack, &ng));
        }
    }
    Ok(out)
}

/// CreateNodegroup with the ownership tags, then waits until it is ACTIVE.
pub(crate) async fn create(
    eks: &aws_sdk_eks::Client,
    req: &CreateRequest<'_>,
) -> Result<Observed, CloudError> {
    let p = req.props;
    let cluster = str_prop(p, "cluster_name");
    let name = str_prop(p, "node_group_name");
    let min = int_prop(p, "min_size").unwrap_or(1);
    let scaling = NodegroupScalingConfig::builder()
        .min_size(min as i32)
        .max_size(int_prop(p, "max_size").unwrap_or(min) as i32)
        .desired_size(int_prop(p, "desired_size").unwrap_or(min) as i32)
        .build();
    let types = list_prop(p, "instance_types");
    let labels = string_map(p, "labels");
    let taints = taints(p);
    let call = eks
        .create_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .node_role(str_prop(p, "node_role_arn"))
        .set_subnets(Some(list_prop(p, "subnet_ids")))
        .set_instance_types((!types.is_empty()).then_some(types))
        .capacity_type(CapacityTypes::from(
            p.get("capacity_type")
                .and_then(Value::as_str)
                .unwrap_or("ON_DEMAND"),
        ))
        .scaling_config(scaling)
        .set_labels((!labels.is_empty()).then(|| labels.into_iter().collect()))
        .set_taints((!taints.is_empty()).then_some(taints))
        .set_tags(Some(tag_map(&req.tags)));
    let created = retry_new_role(|| async {
        call.clone()
            .send()
            .await
            .map_err(|e| sdk_error("CreateNodegroup", req.address, e))
    })
    .await;
    if let Err(e) = created {
        // Made by this stack before its state was lost: wait for it instead of failing.
        let existing = if is_in_use(&e) {
            describe(eks, cluster, name).await?
        } else {
            None
        };
        let ours = existing.is_some_and(|ng| {
            ng.status() != Some(&NodegroupStatus::Deleting)
                && is_ours_already(req.stack, req.address, ng.tags())
        });
        if !ours {
            return Err(e);
        }
    }
    let ng = wait_active(eks, "CreateNodegroup", cluster, name, CREATE_TIMEOUT).await?;
    observe(req.stack, &ng)
        .ok_or_else(|| crate::ec2::untagged("CreateNodegroup", req.address, "node group"))
}

/// Changes sizes, labels and taints in one UpdateNodegroupConfig (waiting for it), and tags.
pub(crate) async fn update(
    eks: &aws_sdk_eks::Client,
    current: &Observed,
    desired: &Props,
    changed: &[String],
) -> Result<Observed, CloudError> {
    let cluster = str_prop(&current.props, "cluster_name");
    let name = str_prop(&current.props, "node_group_name");
    let target = format!("{cluster}/{name}");
    let has = |f: &str| changed.iter().any(|c| c == f);
    let mut call = eks
        .update_nodegroup_config()
        .cluster_name(cluster)
        .nodegroup_name(name);
    let mut any = false;
    if has("min_size") || has("max_size") || has("desired_size") {
        // Only the sizes that changed: an ignored `desired_size` stays the autoscaler's.
        let size = |f: &str| {
            if has(f) {
                int_prop(desired, f).map(|v| v as i32)
            } else {
                None
            }
        };
        call = call.scaling_config(
            NodegroupScalingConfig::builder()
                .set_min_size(size("min_size"))
                .set_max_size(size("max_size"))
                .set_desired_size(size("desired_size"))
                .build(),
        );
        any = true;
    }
    if has("labels") {
        let (set, remove) = label_changes(&current.props, desired);
        call = call.labels(
            UpdateLabelsPayload::builder()
                .set_add_or_update_labels((!set.is_empty()).then(|| set.into_iter().collect()))
                .set_remove_labels((!remove.is_empty()).then_some(remove))
                .build(),
        );
        any = true;
    }
    if has("taints") {
        let (add, remove) = taint_changes(&current.props, desired);
        call = call.taints(
            UpdateTaintsPayload::builder()
                .set_add_or_update_taints((!add.is_empty()).then_some(add))
                .set_remove_taints((!remove.is_empty()).then_some(remove))
                .build(),
        );
        any = true;
    }
    if any {
        let out = call
            .send()
            .await
            .map_err(|e| sdk_error("UpdateNodegroupConfig", &target, e))?;
        wait_update(
            eks,
            "UpdateNodegroupConfig",
            cluster,
            UpdateOf::Nodegroup(name),
            out.update(),
            UPDATE_TIMEOUT,
        )
        .await?;
        wait_active(eks, "UpdateNodegroupConfig", cluster, name, UPDATE_TIMEOUT).await?;
    }
    if has("tags") {
        let arn = current
            .attrs
            .get("arn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        update_tags(eks, arn, &current.props, desired).await?;
    }
    Ok(current.updated(desired, changed))
}

/// DeleteNodegroup, then waits until it is gone.
pub(crate) async fn delete(
    eks: &aws_sdk_eks::Client,
    current: &Observed,
) -> Result<(), CloudError> {
    let cluster = str_prop(&current.props, "cluster_name");
    let name = str_prop(&current.props, "node_group_name");
    let target = format!("{cluster}/{name}");
    if let Err(e) = eks
        .delete_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        let e = sdk_error("DeleteNodegroup", &target, e);
        return if e.is_not_found() { Ok(()) } else { Err(e) };
    }
    wait_until("DeleteNodegroup", &target, DELETE_TIMEOUT, || async move {
        Ok(match describe(eks, cluster, name).await? {
            None => WaitState::Ready,
            Some(ng) if ng.status() == Some(&NodegroupStatus::DeleteFailed) => {
                WaitState::Failed(format!(
                    "the node group ended in state `DELETE_FAILED`{}",
                    issues(&ng)
                ))
            }
            Some(ng) => WaitState::Pending(
                ng.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "deleting".into()),
            ),
        })
    })
    .await
}

/// Checks `min_size <= desired_size <= max_size` for the sizes that are known.
fn check_sizes(props: &Props) -> Result<(), String> {
    let (min, max, desired) = (
        int_prop(props, "min_size"),
        int_prop(props, "max_size"),
        int_prop(props, "desired_size"),
    );
    if let Some(bad) = [
        ("min_size", min),
        ("max_size", max),
        ("desired_size", desired),
    ]
    .iter()
    .find(|(_, v)| v.is_some_and(|v| v < 0))
    {
        return Err(format!("property `{}` cannot be negative", bad.0));
    }
    if max == Some(0) {
        return Err("property `max_size` must be at least 1".into());
    }
    if let (Some(min), Some(max)) = (min, max) {
        if min > max {
            return Err(format!(
                "property `min_size` ({min}) is larger than `max_size` ({max})"
            ));
        }
    }
    if let Some(d) = desired {
        if min.is_some_and(|m| d < m) || max.is_some_and(|m| d > m) {
            return Err(format!(
                "property `desired_size` ({d}) must lie between `min_size` and `max_size`"
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl Resource for NodeGroup {
    fn kind(&self) -> &'static str {
        "eks.node_group"
    }

    fn doc(&self) -> &'static str {
        "An EKS managed node group; found by `<cluster>/<node group>`. Attributes: `id` (`cluster:name`), `arn`, `node_group_name`, `status`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "node_group_name", "status"]
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        pair_key(props, "cluster_name", "node_group_name")
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_eks_name("node_group_name", str_prop(props, "node_group_name"), 63)?;
        if props.get("instance_types").is_some() && list_prop(props, "instance_types").is_empty() {
            return Err(
                "property `instance_types` cannot be empty; leave it out for the AWS default"
                    .into(),
            );
        }
        if !token::is_unknown(props.get("taints").unwrap_or(&Value::Null)) {
            let keys: Vec<_> = taints(props)
                .iter()
                .map(|t| (t.key().map(String::from), t.effect().cloned()))
                .collect();
            let unique: BTreeSet<_> = keys
                .iter()
                .map(|(k, e)| (k.clone(), e.as_ref().map(|e| e.as_str().to_string())))
                .collect();
            if unique.len() != keys.len() {
                return Err("property `taints`: two taints with the same key and effect".into());
            }
        }
        check_sizes(props)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        read(&aws.eks(), stack, hints).await
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        create(&aws.eks(), req).await
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        update(&aws.eks(), current, desired, changed).await
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        delete(&aws.eks(), current).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eks::testing;
    use crate::schema::normalize_props;
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_eks::Client;
    use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
    use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
    use aws_sdk_eks::types::{Update, UpdateStatus};
    use aws_smithy_mocks::{RuleMode, mock};

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn live(min: i32, desired: i32) -> Nodegroup {
        Nodegroup::builder()
            .cluster_name("examplepay-prod")
            .nodegroup_name("karpenter")
            .nodegroup_arn(
                "arn:aws:eks:us-east-1:123456789012:nodegroup/examplepay-prod/karpenter/1",
            )
            .node_role("arn:aws:iam::123456789012:role/node")
            .subnets("subnet-a")
            .subnets("subnet-b")
            .instance_types("m6i.large")
            .capacity_type(CapacityTypes::OnDemand)
            .status(NodegroupStatus::Active)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(min)
                    .max_size(3)
                    .desired_size(desired)
                    .build(),
            )
            .labels("role", "karpenter")
            .taints(
                Taint::builder()
                    .key("CriticalAddonsOnly")
                    .value("true")
                    .effect(TaintEffect::NoSchedule)
                    .build(),
            )
            .tags(STACK_TAG, "prod/us-east-1")
            .tags(ADDRESS_TAG, "eks.node_group.examplepay-prod-karpenter")
            .build()
    }

    fn declared() -> Props {
        obj(json!({
            "cluster_name": "examplepay-prod",
            "node_group_name": "karpenter",
            "node_role_arn": "arn:aws:iam::123456789012:role/node",
            "subnet_ids": ["subnet-b", "subnet-a"],
            "instance_types": ["m6i.large"],
            "min_size": 2,
            "max_size": 3,
            "desired_size": 2,
            "labels": {"role": "karpenter"},
            "taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}],
        }))
    }

    #[test]
    fn a_described_node_group_reads_back_as_declared() {
        let o = observe("prod/us-east-1", &live(2, 2)).unwrap();
        assert_eq!(o.natural_key.as_deref(), Some("examplepay-prod/karpenter"));
        assert_eq!(
            NodeGroup.natural_key(&declared()).as_deref(),
            Some("examplepay-prod/karpenter")
        );
        let mut want = normalize_props(SCHEMA, &declared());
        want.insert("tags".into(), json!({}));
        assert_eq!(normalize_props(SCHEMA, &o.props), want);
    }

    #[test]
    fn an_autoscaled_desired_size_is_not_a_change_when_ignored() {
        let o = observe("prod/us-east-1", &live(2, 3)).unwrap();
        assert_eq!(
            crate::planner::diff(&NodeGroup, &declared(), &o, &[]).len(),
            1
        );
        assert!(
            crate::planner::diff(&NodeGroup, &declared(), &o, &["desired_size".to_string()])
                .is_empty()
        );
    }

    #[test]
    fn label_and_taint_changes_are_minimal() {
        let cur = obj(
            json!({"labels": {"a": "1", "b": "2"}, "taints": [{"key": "x", "value": "1", "effect": "NO_SCHEDULE"}, {"key": "y", "effect": "NO_EXECUTE"}]}),
        );
        let want = obj(
            json!({"labels": {"a": "1", "b": "3", "c": "4"}, "taints": [{"key": "x", "value": "2", "effect": "NO_SCHEDULE"}]}),
        );
        let (set, remove) = label_changes(&cur, &want);
        assert_eq!(
            set,
            BTreeMap::from([
                ("b".to_string(), "3".to_string()),
                ("c".to_string(), "4".to_string())
            ])
        );
        assert!(remove.is_empty());
        let (add, remove) = taint_changes(&cur, &want);
        assert_eq!(add.len(), 1);
        assert_eq!(add[0].value(), Some("2"));
        assert_eq!(remove.len(), 1);
        assert_eq!(remove[0].key(), Some("y"));
    }

    #[test]
    fn sizes_are_checked() {
        let others = crate::declaration::Declarations::default();
        assert!(NodeGroup.validate(&declared(), &others).is_ok());
        let mut p = declared();
        p.insert("desired_size".into(), json!(5));
        assert!(
            NodeGroup
                .validate(&p, &others)
                .unwrap_err()
                .contains("between")
        );
        p.insert("min_size".into(), json!(4));
        assert!(
            NodeGroup
                .validate(&p, &others)
                .unwrap_err()
                .contains("larger than")
        );
    }

    #[tokio::test]
    async fn a_size_update_sends_only_the_changed_sizes_and_waits() {
        let update_call = mock!(Client::update_nodegroup_config)
            .match_requests(|r| {
                let s = r.scaling_config().unwrap();
                s.min_size() == Some(1) && s.desired_size().is_none() && s.max_size().is_none()
            })
            .then_output(|| {
                UpdateNodegroupConfigOutput::builder()
                    .update(
                        Update::builder()
                            .id("u-3")
                            .status(UpdateStatus::InProgress)
                            .build(),
                    )
                    .build()
            });
        let progress = mock!(Client::describe_update)
            .match_requests(|r| {
                r.nodegroup_name() == Some("karpenter") && r.update_id() == Some("u-3")
            })
            .then_output(|| {
                aws_sdk_eks::operation::describe_update::DescribeUpdateOutput::builder()
                    .update(
                        Update::builder()
                            .id("u-3")
                            .status(UpdateStatus::Successful)
                            .build(),
                    )
                    .build()
            });
        let ng = mock!(Client::describe_nodegroup).then_output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(live(1, 2))
                .build()
        });
        let eks = testing::client(RuleMode::MatchAny, &[&update_call, &progress, &ng]);
        let current = observe("prod/us-east-1", &live(2, 2)).unwrap();
        let mut want = declared();
        want.insert("min_size".into(), json!(1));
        let next = update(&eks, &current, &want, &["min_size".to_string()])
            .await
            .unwrap();
        assert_eq!(update_call.num_calls(), 1);
        assert_eq!(progress.num_calls(), 1);
        assert_eq!(next.props["min_size"], json!(1));
    }
}
