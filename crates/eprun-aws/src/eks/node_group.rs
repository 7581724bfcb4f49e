//! `aws::eks::node_group`: an EKS managed node group.
//!
//! Found by `<cluster>/<node group>`: ListNodegroups for each cluster the stack expects node
//! groups in, then DescribeNodegroup for the expected ones. Sizes, labels and taints change in
//! place (UpdateNodegroupConfig); `desired_size` is usually left to autoscalers (`ignore_changes`).

use super::{
    EksItem, EksTags, check_eks_name, created, pair_key, pairs, read, retry_new_role, sdk, settle,
    split_key, tag_map, wait_gone,
};
use crate::Aws;
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, found, resource};
use crate::all;
use crate::invalid::Invalid;
use crate::props::schema;
use crate::props::{int_prop, list_prop, str_prop};
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::token;
use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::operation::describe_update::builders::DescribeUpdateFluentBuilder;
use aws_sdk_eks::types::{
    Nodegroup, NodegroupScalingConfig, Taint, TaintEffect, UpdateLabelsPayload, UpdateTaintsPayload,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

resource! {
    /// A managed node group of an EKS cluster.
    pub struct NodeGroup: NODE_GROUP = "eks.node_group",
        "An EKS managed node group; found by `<cluster>/<node group>`.";
    reads Nodegroup, tagged by pairs;
    terraform "aws_eks_node_group";
    props NodeGroupProps {
        cluster_name: String = required(Str, "the cluster the node group belongs to"),
        node_group_name: String = required(Str, "the node group's name, unique in its cluster"),
        node_role_arn: String =
            required(Str, "the IAM role of the nodes (trusts `ec2.amazonaws.com`)"),
        subnet_ids: Vec<String> = required(StrSet, "the subnets the nodes are launched in"),
        instance_types: Option<Vec<String>> =
            optional(StrSet, "the EC2 instance types (AWS picks `t3.medium` when left out)")
                .force_new(),
        capacity_type: Option<String> =
            optional(Enum(&["ON_DEMAND", "SPOT"]), "on-demand or spot capacity")
                .default("\"ON_DEMAND\"")
                .force_new(),
        min_size: i64 = required(Int, "the fewest nodes").updatable(),
        max_size: i64 = required(Int, "the most nodes").updatable(),
        desired_size: Option<i64> =
            optional(Int, "the nodes wanted now (the minimum when left out); usually owned by autoscalers"),
        labels: Option<Labels> = optional(Tags, "Kubernetes labels of the nodes").default("{}"),
        taints: Option<Vec<TaintProps>> =
            optional(ObjectSet(TAINT), "Kubernetes taints of the nodes: `key`, `value`, `effect`")
                .default("[]"),
    } + TAGS
}

schema! {
    /// One Kubernetes taint of the nodes.
    #[derive(Clone, PartialEq)]
    pub struct TaintProps: TAINT {
        key: String = required(Str, "the taint key"),
        value: Option<String> = optional(Str, "the taint value"),
        effect: String =
            required(Enum(&["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]), "what the taint does to pods that do not tolerate it"),
    }
}

/// Nodes take a few minutes; a stuck launch is bounded by this.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Rolling a node group (a config change that replaces nodes) can take long.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Labels, ordered.
type Labels = BTreeMap<String, String>;

impl TaintProps {
    fn sdk(&self) -> Taint {
        let t = Taint::builder()
            .key(&self.key)
            .set_value(self.value.clone());
        t.effect(TaintEffect::from(self.effect.as_str())).build()
    }
}

/// The label changes from `current` to `desired`: (to add or update, to remove).
fn label_changes(current: &Labels, desired: &Labels) -> (Labels, Vec<String>) {
    let changed = desired.iter().filter(|(k, v)| current.get(*k) != Some(v));
    let gone = current.keys().filter(|k| !desired.contains_key(*k));
    (
        changed.map(|(k, v)| (k.clone(), v.clone())).collect(),
        gone.cloned().collect(),
    )
}

/// The taint changes from `current` to `desired`: (to add or update, to remove). A taint is
/// identified by key and effect; one whose value changed is re-added.
fn taint_changes(current: &[TaintProps], desired: &[TaintProps]) -> (Vec<Taint>, Vec<Taint>) {
    let add = desired.iter().filter(|t| !current.contains(t));
    let kept = |t: &&TaintProps| {
        desired
            .iter()
            .any(|d| (&d.key, &d.effect) == (&t.key, &t.effect))
    };
    let remove = current.iter().filter(|t| !kept(t));
    (
        add.map(TaintProps::sdk).collect(),
        remove.map(TaintProps::sdk).collect(),
    )
}

/// Checks `min_size <= desired_size <= max_size` for the sizes that are known.
fn check_sizes(props: &Props) -> Result<(), Invalid> {
    let sizes = ["min_size", "max_size", "desired_size"].map(|f| (f, int_prop(props, f)));
    if let Some((bad, _)) = sizes.iter().find(|(_, v)| v.is_some_and(|v| v < 0)) {
        return Err(Invalid::form(*bad, "cannot be negative"));
    }
    let [(_, min), (_, max), (_, desired)] = sizes;
    if max == Some(0) {
        return Err(Invalid::form("max_size", "must be at least 1"));
    }
    if let (Some(min), Some(max)) = (min, max) {
        if min > max {
            return Err(Invalid::form(
                "min_size",
                format!("({min}) is larger than `max_size` ({max})"),
            ));
        }
    }
    match desired {
        Some(d) if min.is_some_and(|m| d < m) || max.is_some_and(|m| d > m) => Err(Invalid::form(
            "desired_size",
            format!("({d}) must lie between `min_size` and `max_size`"),
        )),
        _ => Ok(()),
    }
}

#[async_trait]
impl EksItem for Nodegroup {
    const WHAT: &'static str = "node group";

    super::spelled_alike!(issues);

    fn of_update(call: DescribeUpdateFluentBuilder, name: &str) -> DescribeUpdateFluentBuilder {
        call.nodegroup_name(name)
    }

    async fn describe(eks: &Client, key: &str) -> Result<Option<Self>> {
        let (cluster, name) = split_key(key);
        let call = eks.describe_nodegroup().cluster_name(cluster);
        let out = call.nodegroup_name(name).send().await;
        Ok(found(out.map_err(sdk("DescribeNodegroup", key)))?.and_then(|o| o.nodegroup))
    }
}

#[async_trait]
impl Description for NodeGroup {
    const ATTRIBUTES: &'static [Attr<Nodegroup>] = &[
        Attr::new("id", |_, ng: &Nodegroup| {
            json!(super::pair_id(ng.cluster_name(), ng.nodegroup_name()))
        })
        .note("`cluster:name`"),
        Attr::new("arn", |_, ng| json!(ng.nodegroup_arn().unwrap_or_default())),
        Attr::new("node_group_name", |_, ng| {
            json!(ng.nodegroup_name().unwrap_or_default())
        }),
        Attr::new("status", |_, ng| {
            json!(ng.status().map(|s| s.as_str()).unwrap_or_default())
        }),
    ];
    const IDENTITY: Identity =
        Identity::Named(&EksTags, |p| pair_key(p, "cluster_name", "node_group_name"));

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_eks_name("node_group_name", str_prop(props, "node_group_name"), 63)?;
        if props.get("instance_types").is_some() && list_prop(props, "instance_types").is_empty() {
            let why = "cannot be empty; leave it out for the AWS default";
            return Err(Invalid::form("instance_types", why));
        }
        let taints = props.get("taints").filter(|t| !token::is_unknown(t));
        if let Some(Ok(taints)) = taints.map(|t| Vec::<TaintProps>::deserialize(t)) {
            let unique: BTreeSet<_> = taints.iter().map(|t| (&t.key, &t.effect)).collect();
            if unique.len() != taints.len() {
                return Err(Invalid::value(
                    "taints",
                    "two taints with the same key and effect",
                ));
            }
        }
        check_sizes(props)
    }

    async fn list(&self, aws: &Aws, _: &str, hints: &ReadHints) -> Result<Vec<Nodegroup>> {
        let eks = aws.eks();
        read(&eks, hints, |cluster| async {
            all!(
                eks.list_nodegroups().cluster_name(&cluster),
                "ListNodegroups",
                cluster
            )
        })
        .await
    }

    async fn props(&self, _aws: &Aws, ng: &Nodegroup) -> Result<NodeGroupProps> {
        let scaling = ng.scaling_config();
        let size = |f: fn(&NodegroupScalingConfig) -> Option<i32>| {
            i64::from(scaling.and_then(f).unwrap_or_default())
        };
        let taints = ng.taints().iter().map(|t| TaintProps {
            key: t.key().unwrap_or_default().to_string(),
            value: t.value().map(String::from),
            effect: t
                .effect()
                .map(|e| e.as_str())
                .unwrap_or_default()
                .to_string(),
        });
        Ok(NodeGroupProps {
            cluster_name: ng.cluster_name().unwrap_or_default().to_string(),
            node_group_name: ng.nodegroup_name().unwrap_or_default().to_string(),
            node_role_arn: ng.node_role().unwrap_or_default().to_string(),
            subnet_ids: ng.subnets().to_vec(),
            instance_types: Some(ng.instance_types().to_vec()),
            capacity_type: Some(
                ng.capacity_type()
                    .map_or("ON_DEMAND", |c| c.as_str())
                    .into(),
            ),
            min_size: size(NodegroupScalingConfig::min_size),
            max_size: size(NodegroupScalingConfig::max_size),
            desired_size: Some(size(NodegroupScalingConfig::desired_size)),
            labels: Some(
                ng.labels()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            ),
            taints: Some(taints.collect()),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, NodeGroupProps>) -> Result<Nodegroup> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let eks = aws.eks();
        let scaling = NodegroupScalingConfig::builder()
            .min_size(p.min_size as i32)
            .max_size(p.max_size as i32)
            .desired_size(p.desired_size.unwrap_or(p.min_size) as i32);
        let types = p.instance_types.clone().filter(|t| !t.is_empty());
        let labels = p.labels.clone().filter(|l| !l.is_empty());
        let taints = p.taints.as_deref().unwrap_or_default();
        let call = eks
            .create_nodegroup()
            .cluster_name(&p.cluster_name)
            .nodegroup_name(&p.node_group_name)
            .node_role(&p.node_role_arn)
            .set_subnets(Some(p.subnet_ids.clone()))
            .set_instance_types(types)
            .capacity_type(p.capacity_type.as_deref().unwrap_or("ON_DEMAND").into())
            .scaling_config(scaling.build())
            .set_labels(labels.map(|l| l.into_iter().collect()))
            .set_taints((!taints.is_empty()).then(|| taints.iter().map(TaintProps::sdk).collect()))
            .set_tags(Some(tag_map(tags)));
        let sent = retry_new_role(|| async {
            let out = call.clone().send().await;
            out.map(drop).map_err(sdk("CreateNodegroup", address))
        });
        let key = format!("{}/{}", p.cluster_name, p.node_group_name);
        let op = "CreateNodegroup";
        created(&eks, sent.await, op, &key, address, tags, CREATE_TIMEOUT).await
    }

    /// Changes sizes, labels and taints in one UpdateNodegroupConfig, and waits for it.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, NodeGroupProps>,
    ) -> Result<Option<Nodegroup>> {
        let (changed, current, desired) = (changes.fields, changes.current, changes.desired);
        let has = |f: &str| changed.iter().any(|c| c == f);
        let eks = aws.eks();
        let (cluster, name) = (&current.cluster_name, &current.node_group_name);
        let mut call = eks
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(name);
        if has("min_size") || has("max_size") || has("desired_size") {
            // Only the sizes that changed: an ignored `desired_size` stays the autoscaler's.
            let size = |f: &str, v: Option<i64>| v.filter(|_| has(f)).map(|v| v as i32);
            call = call.scaling_config(
                NodegroupScalingConfig::builder()
                    .set_min_size(size("min_size", Some(desired.min_size)))
                    .set_max_size(size("max_size", Some(desired.max_size)))
                    .set_desired_size(size("desired_size", desired.desired_size))
                    .build(),
            );
        }
        if has("labels") {
            let none = Labels::new();
            let labels = |p: &NodeGroupProps| p.labels.as_ref().unwrap_or(&none).clone();
            let (set, remove) = label_changes(&labels(current), &labels(desired));
            call = call.labels(
                UpdateLabelsPayload::builder()
                    .set_add_or_update_labels((!set.is_empty()).then(|| set.into_iter().collect()))
                    .set_remove_labels((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        if has("taints") {
            let taints = |p: &NodeGroupProps| p.taints.clone().unwrap_or_default();
            let (add, remove) = taint_changes(&taints(current), &taints(desired));
            call = call.taints(
                UpdateTaintsPayload::builder()
                    .set_add_or_update_taints((!add.is_empty()).then_some(add))
                    .set_remove_taints((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        let fields = ["min_size", "max_size", "desired_size", "labels", "taints"];
        if fields.iter().any(|f| has(f)) {
            let key = format!("{cluster}/{name}");
            let out = call
                .send()
                .await
                .map_err(sdk("UpdateNodegroupConfig", &key))?;
            let op = "UpdateNodegroupConfig";
            settle::<Nodegroup>(&eks, op, &key, out.update(), UPDATE_TIMEOUT).await?;
        }
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, _id: &str, p: &NodeGroupProps) -> Result<()> {
        let eks = aws.eks();
        let key = format!("{}/{}", p.cluster_name, p.node_group_name);
        let call = eks.delete_nodegroup().cluster_name(&p.cluster_name);
        let out = call.nodegroup_name(&p.node_group_name).send().await;
        out.map_err(sdk("DeleteNodegroup", &key))?;
        wait_gone::<Nodegroup>(&eks, "DeleteNodegroup", &key, DELETE_TIMEOUT).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, obj, refusal, round_trip};
    use crate::eks::testing::{described_update, update};
    use crate::resource::Observed;
    use crate::resource::Resource;
    use crate::schema::normalize_props;
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_eks::Client;
    use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
    use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
    use aws_sdk_eks::types::UpdateStatus;
    use aws_sdk_eks::types::{CapacityTypes, NodegroupStatus};
    use aws_smithy_mocks::mock;
    use serde_json::Value;

    async fn observe(stack: &str, ng: &Nodegroup) -> Option<Observed> {
        crate::adapter::testing::observe(&NODE_GROUP, &Aws::mocked(&[]), stack, ng).await
    }

    fn typed<T: serde::de::DeserializeOwned>(p: &Props, field: &str) -> T {
        serde_json::from_value(p[field].clone()).unwrap()
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

    #[tokio::test]
    async fn a_described_node_group_round_trip_as_declared() {
        let o = observe("prod/us-east-1", &live(2, 2)).await.unwrap();
        assert_eq!(o.natural_key.as_deref(), Some("examplepay-prod/karpenter"));
        assert_eq!(
            NODE_GROUP.natural_key(&declared()).as_deref(),
            Some("examplepay-prod/karpenter")
        );
        let mut want = normalize_props(SCHEMA, &declared());
        want.insert("tags".into(), json!({}));
        assert_eq!(normalize_props(SCHEMA, &o.props), want);
    }

    #[tokio::test]
    async fn an_autoscaled_desired_size_is_not_a_change_when_ignored() {
        let o = observe("prod/us-east-1", &live(2, 3)).await.unwrap();
        assert_eq!(
            crate::planner::diff(&NODE_GROUP, &declared(), &o, &[]).len(),
            1
        );
        assert!(
            crate::planner::diff(&NODE_GROUP, &declared(), &o, &["desired_size".to_string()])
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
        let (set, remove) = label_changes(&typed(&cur, "labels"), &typed(&want, "labels"));
        assert_eq!(
            set,
            BTreeMap::from([
                ("b".to_string(), "3".to_string()),
                ("c".to_string(), "4".to_string())
            ])
        );
        assert!(remove.is_empty());
        let (add, remove) = taint_changes(
            &typed::<Vec<_>>(&cur, "taints"),
            &typed::<Vec<_>>(&want, "taints"),
        );
        assert_eq!(add.len(), 1);
        assert_eq!(add[0].value(), Some("2"));
        assert_eq!(remove.len(), 1);
        assert_eq!(remove[0].key(), Some("y"));
    }

    #[test]
    fn sizes_are_checked() {
        assert!(NODE_GROUP.validate(&declared(), &NoOthers).is_ok());
        let mut p = declared();
        p.insert("desired_size".into(), json!(5));
        assert!(refusal(&NODE_GROUP, &p).contains("between"));
        p.insert("min_size".into(), json!(4));
        assert!(refusal(&NODE_GROUP, &p).contains("larger than"));
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
                    .update(update("u-3", UpdateStatus::InProgress))
                    .build()
            });
        let progress = mock!(Client::describe_update)
            .match_requests(|r| {
                r.nodegroup_name() == Some("karpenter") && r.update_id() == Some("u-3")
            })
            .then_output(|| described_update("u-3", UpdateStatus::Successful));
        let ng = mock!(Client::describe_nodegroup).then_output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(live(1, 2))
                .build()
        });
        let aws = Aws::mocked(&[&update_call, &progress, &ng]);
        let current = observe("prod/us-east-1", &live(2, 2)).await.unwrap();
        let mut want = declared();
        want.insert("min_size".into(), json!(1));
        let next = NODE_GROUP
            .update(&aws.context(), &current, &want, &["min_size".to_string()])
            .await
            .unwrap();
        assert_eq!(update_call.num_calls(), 1);
        assert_eq!(progress.num_calls(), 1);
        assert_eq!(next.props["min_size"], json!(1));
    }

    #[tokio::test]
    async fn a_created_node_group_round_trip_as_declared() {
        let create = mock!(Client::create_nodegroup)
            .match_requests(|r| {
                let tags = r.tags().unwrap();
                r.nodegroup_name() == Some("karpenter")
                    && r.taints().len() == 1
                    && tags.get(STACK_TAG).map(String::as_str) == Some("test")
            })
            .then_output(|| {
                aws_sdk_eks::operation::create_nodegroup::CreateNodegroupOutput::builder().build()
            });
        let read = mock!(Client::describe_nodegroup).then_output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(live(2, 2))
                .build()
        });
        let observed = round_trip(
            &NODE_GROUP,
            &Aws::mocked(&[&create, &read]),
            "eks.node_group.examplepay-prod-karpenter",
            Value::Object(declared()),
        )
        .await;
        assert_eq!(create.num_calls(), 1);
        assert_eq!(observed.id, "examplepay-prod:karpenter");
    }
}
