//! `aws::eks::cluster`: an EKS control plane.
//!
//! Found by its name (ListClusters, then DescribeCluster for the names the stack expects); a
//! version change is an in-place upgrade (UpdateClusterVersion), never a replacement.

use super::{
    UpdateOf, check_eks_name, is_in_use, is_ours_already, owner, pairs, retry_new_role, sdk_error,
    tag_map, update_tags, wait_update,
};
use crate::address::Address;
use crate::context::Context;
use crate::ec2::{bool_prop, list_prop, props, str_prop};
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, WaitState, wait_until};
use async_trait::async_trait;
use aws_sdk_eks::types::{
    Cluster as EksCluster, ClusterStatus, EncryptionConfig, LogSetup, LogType, Logging, Provider,
    VpcConfigRequest,
};
use serde_json::{Value, json};
use std::time::Duration;

/// An EKS cluster (the control plane).
pub struct Cluster;

/// The five control-plane log types.
pub const LOG_TYPES: [&str; 5] = [
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];

const SCHEMA: &[Field] = &[
    Field::required("name", Kind::Str, "the cluster name, unique in the region"),
    Field::optional("version", Kind::Str, "the Kubernetes version (`1.29`); raising it upgrades in place, one minor version at a time"),
    Field::required("role_arn", Kind::Str, "the IAM role the control plane uses (trusts `eks.amazonaws.com`)"),
    Field::required("subnet_ids", Kind::StrSet, "the subnets for the control plane's network interfaces, in two AZs at least"),
    Field::optional("security_group_ids", Kind::StrSet, "extra security groups for the control plane's network interfaces")
        .default("[]"),
    Field::optional("endpoint_private_access", Kind::Bool, "serve the API endpoint inside the VPC").default("false"),
    Field::optional("endpoint_public_access", Kind::Bool, "serve the API endpoint on the internet").default("true"),
    Field::optional(
        "enabled_cluster_log_types",
        Kind::StrSet,
        "control-plane logs sent to CloudWatch: `api`, `audit`, `authenticator`, `controllerManager`, `scheduler`",
    )
    .default("[]"),
    Field::optional("encryption_key_arn", Kind::Str, "the KMS key that envelope-encrypts Kubernetes secrets").force_new(),
    TAGS,
];

/// A new cluster takes 10 to 15 minutes on AWS.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A version upgrade takes up to about 40 minutes.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// `major.minor` of a Kubernetes version.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Checks that going from `from` to `to` is an upgrade EKS can do: no downgrade, one minor version at a time.
pub fn check_upgrade(from: &str, to: &str) -> Result<(), String> {
    let (Some(f), Some(t)) = (parse_version(from), parse_version(to)) else {
        return Ok(());
    };
    if t < f {
        return Err(format!(
            "EKS cannot downgrade a cluster: it runs {from}, the declaration says {to}"
        ));
    }
    if t.0 != f.0 || t.1 > f.1 + 1 {
        return Err(format!(
            "EKS upgrades one minor version at a time: it runs {from}; declare {}.{} first, apply, then {to}",
            f.0,
            f.1 + 1
        ));
    }
    Ok(())
}

/// The log types that are on, sorted.
fn enabled_logs(c: &EksCluster) -> Vec<String> {
    let mut v: Vec<String> = c
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The logging setting that turns on exactly `enabled` (and turns the other types off).
fn logging(enabled: &[String]) -> Logging {
    let on: Vec<LogType> = enabled.iter().map(|t| LogType::from(t.as_str())).collect();
    let off: Vec<LogType> = LOG_TYPES
        .iter()
        .filter(|t| !enabled.iter().any(|e| e == *t))
        .map(|t| LogType::from(*t))
        .collect();
    let mut b = Logging::builder();
    if !on.is_empty() {
        b = b.cluster_logging(
            LogSetup::builder()
                .set_types(Some(on))
                .enabled(true)
                .build(),
        );
    }
    if !off.is_empty() {
        b = b.cluster_logging(
            LogSetup::builder()
                .set_types(Some(off))
                .enabled(false)
                .build(),
        );
    }
    b.build()
}

/// Envelope encryption of Kubernetes secrets with `key`. EKS now encrypts all API data and
/// deprecates the `resources` list, but still takes `["secrets"]`, which every API version accepts.
#[allow(deprecated)]
fn secrets_encryption(key: &str) -> EncryptionConfig {
    EncryptionConfig::builder()
        .resources("secrets")
        .provider(Provider::builder().key_arn(key).build())
        .build()
}

/// The attributes of a cluster.
fn attrs(c: &EksCluster) -> Props {
    let issuer = c
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .unwrap_or_default();
    let vpc = c.resources_vpc_config();
    props([
        ("id", json!(c.name().unwrap_or_default())),
        ("arn", json!(c.arn().unwrap_or_default())),
        ("endpoint", json!(c.endpoint().unwrap_or_default())),
        (
            "certificate_authority",
            json!(
                c.certificate_authority()
                    .and_then(|a| a.data())
                    .unwrap_or_default()
            ),
        ),
        ("oidc_issuer", json!(issuer)),
        (
            "oidc_issuer_host",
            json!(issuer.trim_start_matches("https://")),
        ),
        ("version", json!(c.version().unwrap_or_default())),
        (
            "security_group_id",
            json!(
                vpc.and_then(|v| v.cluster_security_group_id())
                    .unwrap_or_default()
            ),
        ),
    ])
}

/// What a described cluster looks like as props and attributes, with the given owner.
fn observed(c: &EksCluster, address: Option<Address>, user_tags: Value) -> Observed {
    let name = c.name().unwrap_or_default().to_string();
    let vpc = c.resources_vpc_config();
    let mut p = props([
        ("name", json!(name)),
        ("version", json!(c.version().unwrap_or_default())),
        ("role_arn", json!(c.role_arn().unwrap_or_default())),
        (
            "subnet_ids",
            json!(vpc.map(|v| v.subnet_ids()).unwrap_or_default()),
        ),
        (
            "security_group_ids",
            json!(vpc.map(|v| v.security_group_ids()).unwrap_or_default()),
        ),
        (
            "endpoint_private_access",
            json!(vpc.is_some_and(|v| v.endpoint_private_access())),
        ),
        (
            "endpoint_public_access",
            json!(vpc.is_none_or(|v| v.endpoint_public_access())),
        ),
        ("enabled_cluster_log_types", json!(enabled_logs(c))),
        ("tags", user_tags),
    ]);
    let key = c
        .encryption_config()
        .iter()
        .find_map(|e| e.provider())
        .and_then(|p| p.key_arn());
    if let Some(key) = key {
        p.insert("encryption_key_arn".into(), json!(key));
    }
    Observed {
        address,
        id: name.clone(),
        natural_key: Some(name),
        props: p,
        attrs: attrs(c),
    }
}

/// A described cluster, if it is ours (tagged for the stack, or untagged and adopted by name).
fn observe(stack: &str, c: &EksCluster) -> Option<Observed> {
    let (address, user_tags) = owner(stack, pairs(c.tags())).split()?;
    Some(observed(c, address, user_tags))
}

/// DescribeCluster; `None` when there is no such cluster.
pub(crate) async fn describe(
    eks: &aws_sdk_eks::Client,
    name: &str,
) -> Result<Option<EksCluster>, CloudError> {
    match eks.describe_cluster().name(name).send().await {
        Ok(out) => Ok(out.cluster().cloned()),
        Err(e) => {
            let e = sdk_error("DescribeCluster", name, e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Waits until the cluster is ACTIVE (after a create or an update).
async fn wait_active(
    eks: &aws_sdk_eks::Client,
    operation: &str,
    name: &str,
    timeout: Duration,
) -> Result<EksCluster, CloudError> {
    wait_until(operation, name, timeout, || async move {
        Ok(
            match describe(eks, name)
                .await?
                .as_ref()
                .and_then(|c| c.status().cloned())
            {
                Some(ClusterStatus::Active) => WaitState::Ready,
                Some(ClusterStatus::Failed) => {
                    WaitState::Failed("the cluster ended in state `FAILED`".into())
                }
                Some(s) => WaitState::Pending(s.as_str().to_string()),
                None => WaitState::Pending("not visible yet".into()),
            },
        )
    })
    .await?;
    describe(eks, name).await?.ok_or_else(|| {
        CloudError::new(
            operation,
            name,
            CloudErrorKind::NotFound,
            "the cluster disappeared while it was being made ready",
        )
    })
}

/// Reads the clusters the stack expects by name: one paginated ListClusters, then DescribeCluster for each.
pub(crate) async fn read(
    eks: &aws_sdk_eks::Client,
    stack: &str,
    hints: &ReadHints,
) -> Result<Vec<Observed>, CloudError> {
    if hints.natural_keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    let mut pages = eks.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("ListClusters", stack, e))?;
        names.extend(
            page.clusters()
                .iter()
                .filter(|n| hints.natural_keys.contains(*n))
                .cloned(),
        );
    }
    let mut out = Vec::new();
    for name in names {
        let Some(c) = describe(eks, &name).await? else {
            continue;
        };
        // A cluster on its way out is gone for planning purposes.
        if c.status() == Some(&ClusterStatus::Deleting) {
            continue;
        }
        out.extend(observe(stack, &c));
    }
    Ok(out)
}

/// CreateCluster with the ownership tags, then waits until it is ACTIVE.
pub(crate) async fn create(
    eks: &aws_sdk_eks::Client,
    req: &CreateRequest<'_>,
) -> Result<Observed, CloudError> {
    let p = req.props;
    let name = str_prop(p, "name");
    let vpc = VpcConfigRequest::builder()
        .set_subnet_ids(Some(list_prop(p, "subnet_ids")))
        .set_security_group_ids(Some(list_prop(p, "security_group_ids")))
        .endpoint_private_access(bool_prop(p, "endpoint_private_access").unwrap_or(false))
        .endpoint_public_access(bool_prop(p, "endpoint_public_access").unwrap_or(true))
        .build();
    let encryption = p
        .get("encryption_key_arn")
        .and_then(Value::as_str)
        .map(|key| vec![secrets_encryption(key)]);
    let logs = list_prop(p, "enabled_cluster_log_types");
    let call = eks
        .create_cluster()
        .name(name)
        .set_version(p.get("version").and_then(Value::as_str).map(String::from))
        .role_arn(str_prop(p, "role_arn"))
        .resources_vpc_config(vpc)
        .set_logging((!logs.is_empty()).then(|| logging(&logs)))
        .set_encryption_config(encryption)
        .set_tags(Some(tag_map(&req.tags)));
    let created = retry_new_role(|| async {
        call.clone()
            .send()
            .await
            .map_err(|e| sdk_error("CreateCluster", req.address, e))
    })
    .await;
    if let Err(e) = created {
        // Made by this stack before its state was lost: wait for it instead of failing.
        let existing = if is_in_use(&e) {
            describe(eks, name).await?
        } else {
            None
        };
        let ours = existing.is_some_and(|c| {
            c.status() != Some(&ClusterStatus::Deleting)
                && is_ours_already(req.stack, req.address, c.tags())
        });
        if !ours {
            return Err(e);
        }
    }
    let c = wait_active(eks, "CreateCluster", name, CREATE_TIMEOUT).await?;
    observe(req.stack, &c)
        .ok_or_else(|| crate::ec2::untagged("CreateCluster", req.address, "cluster"))
}

/// Changes the version (an in-place upgrade), logging, endpoint access, security groups and tags.
pub(crate) async fn update(
    eks: &aws_sdk_eks::Client,
    current: &Observed,
    desired: &Props,
    changed: &[String],
) -> Result<Observed, CloudError> {
    let name = current.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("version") {
        let from = str_prop(&current.props, "version");
        let to = str_prop(desired, "version");
        check_upgrade(from, to).map_err(|m| {
            CloudError::new(
                "UpdateClusterVersion",
                name,
                CloudErrorKind::Service("Version".into()),
                m,
            )
        })?;
        let out = eks
            .update_cluster_version()
            .name(name)
            .version(to)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateClusterVersion", name, e))?;
        wait_update(
            eks,
            "UpdateClusterVersion",
            name,
            UpdateOf::Cluster,
            out.update(),
            UPDATE_TIMEOUT,
        )
        .await?;
        wait_active(eks, "UpdateClusterVersion", name, UPDATE_TIMEOUT).await?;
    }
    if has("enabled_cluster_log_types") {
        let out = eks
            .update_cluster_config()
            .name(name)
            .logging(logging(&list_prop(desired, "enabled_cluster_log_types")))
            .send()
            .await
            .map_err(|e| sdk_error("UpdateClusterConfig", name, e))?;
        wait_update(
            eks,
            "UpdateClusterConfig",
            name,
            UpdateOf::Cluster,
            out.update(),
            UPDATE_TIMEOUT,
        )
        .await?;
        wait_active(eks, "UpdateClusterConfig", name, UPDATE_TIMEOUT).await?;
    }
    // EKS takes one kind of change per UpdateClusterConfig: endpoint access, then security groups.
    let endpoint = has("endpoint_private_access") || has("endpoint_public_access");
    let groups = has("security_group_ids");
    for (wanted, vpc) in [
        (
            endpoint,
            VpcConfigRequest::builder()
                .endpoint_private_access(
                    bool_prop(desired, "endpoint_private_access").unwrap_or(false),
                )
                .endpoint_public_access(
                    bool_prop(desired, "endpoint_public_access").unwrap_or(true),
                )
                .build(),
        ),
        (
            groups,
            VpcConfigRequest::builder()
                .set_security_group_ids(Some(list_prop(desired, "security_group_ids")))
                .build(),
        ),
    ] {
        if !wanted {
            continue;
        }
        let out = eks
            .update_cluster_config()
            .name(name)
            .resources_vpc_config(vpc)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateClusterConfig", name, e))?;
        wait_update(
            eks,
            "UpdateClusterConfig",
            name,
            UpdateOf::Cluster,
            out.update(),
            UPDATE_TIMEOUT,
        )
        .await?;
        wait_active(eks, "UpdateClusterConfig", name, UPDATE_TIMEOUT).await?;
    }
    if has("tags") {
        let arn = current
            .attrs
            .get("arn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        update_tags(eks, arn, &current.props, desired).await?;
    }
    let mut next = current.updated(desired, changed);
    if let Some(c) = describe(eks, name).await? {
        next.attrs = attrs(&c);
    }
    Ok(next)
}

/// DeleteCluster, then waits until it is gone.
pub(crate) async fn delete(
    eks: &aws_sdk_eks::Client,
    current: &Observed,
) -> Result<(), CloudError> {
    let name = current.id.as_str();
    match eks.delete_cluster().name(name).send().await {
        Ok(_) => {}
        Err(e) => {
            let e = sdk_error("DeleteCluster", name, e);
            if e.is_not_found() {
                return Ok(());
            }
            return Err(e);
        }
    }
    wait_until("DeleteCluster", name, DELETE_TIMEOUT, || async move {
        Ok(match describe(eks, name).await? {
            None => WaitState::Ready,
            Some(c) if c.status() == Some(&ClusterStatus::Failed) => {
                WaitState::Failed("the cluster ended in state `FAILED` while being deleted".into())
            }
            Some(c) => WaitState::Pending(
                c.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "deleting".into()),
            ),
        })
    })
    .await
}

#[async_trait]
impl Resource for Cluster {
    fn kind(&self) -> &'static str {
        "eks.cluster"
    }

    fn doc(&self) -> &'static str {
        "An EKS cluster; found by name. Attributes: `id` (the name), `arn`, `endpoint`, `certificate_authority`, `oidc_issuer`, `oidc_issuer_host`, `version`, `security_group_id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &[
            "id",
            "arn",
            "endpoint",
            "certificate_authority",
            "oidc_issuer",
            "oidc_issuer_host",
            "version",
            "security_group_id",
        ]
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let name = props.get("name")?;
        if token::is_unknown(name) {
            return None;
        }
        name.as_str().map(String::from)
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_eks_name("name", str_prop(props, "name"), 100)?;
        if let Some(v) = props.get("version").and_then(Value::as_str) {
            if !token::is_unknown(&json!(v)) && parse_version(v).is_none() {
                return Err(format!(
                    "property `version`: `{v}` is not a Kubernetes version like `1.29`"
                ));
            }
        }
        for t in list_prop(props, "enabled_cluster_log_types") {
            if !LOG_TYPES.contains(&t.as_str()) && !token::is_unknown(&json!(t)) {
                let hint = crate::schema::suggest(&t, &LOG_TYPES)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(format!(
                    "property `enabled_cluster_log_types`: `{t}` is not one of {}{hint}",
                    LOG_TYPES.join(", ")
                ));
            }
        }
        if list_prop(props, "subnet_ids").len() == 1 {
            return Err(
                "property `subnet_ids`: EKS needs subnets in at least two availability zones"
                    .into(),
            );
        }
        Ok(())
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
    use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
    use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
    use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
    use aws_sdk_eks::types::{
        Certificate, Identity, Oidc, Update, UpdateStatus, UpdateType, VpcConfigResponse,
    };
    use aws_smithy_mocks::{RuleMode, mock};

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn live(version: &str, status: ClusterStatus) -> EksCluster {
        EksCluster::builder()
            .name("examplepay-prod")
            .arn("arn:aws:eks:us-east-1:123456789012:cluster/examplepay-prod")
            .version(version)
            .status(status)
            .endpoint("https://ABC.gr7.us-east-1.eks.amazonaws.com")
            .role_arn("arn:aws:iam::123456789012:role/cluster")
            .certificate_authority(Certificate::builder().data("Q0E=").build())
            .identity(
                Identity::builder()
                    .oidc(
                        Oidc::builder()
                            .issuer("https://oidc.eks.us-east-1.amazonaws.com/id/ABC")
                            .build(),
                    )
                    .build(),
            )
            .resources_vpc_config(
                VpcConfigResponse::builder()
                    .subnet_ids("subnet-b")
                    .subnet_ids("subnet-a")
                    .cluster_security_group_id("sg-cluster")
                    .endpoint_private_access(true)
                    .endpoint_public_access(false)
                    .build(),
            )
            .logging(logging(
                &LOG_TYPES.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ))
            .encryption_config(secrets_encryption("arn:aws:kms:key/1"))
            .tags(STACK_TAG, "prod/us-east-1")
            .tags(ADDRESS_TAG, "eks.cluster.examplepay-prod")
            .tags("Project", "examplepay")
            .build()
    }

    fn declared(version: &str) -> Props {
        obj(json!({
            "name": "examplepay-prod",
            "version": version,
            "role_arn": "arn:aws:iam::123456789012:role/cluster",
            "subnet_ids": ["subnet-a", "subnet-b"],
            "endpoint_private_access": true,
            "endpoint_public_access": false,
            "enabled_cluster_log_types": ["scheduler", "api", "audit", "authenticator", "controllerManager"],
            "encryption_key_arn": "arn:aws:kms:key/1",
            "tags": {"Project": "examplepay"},
        }))
    }

    #[test]
    fn a_described_cluster_reads_back_as_declared() {
        let o = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active)).unwrap();
        assert_eq!(
            o.address.unwrap().to_string(),
            "eks.cluster.examplepay-prod"
        );
        assert_eq!(o.natural_key.as_deref(), Some("examplepay-prod"));
        assert_eq!(
            normalize_props(SCHEMA, &o.props),
            normalize_props(SCHEMA, &declared("1.29"))
        );
        assert_eq!(
            o.attrs["oidc_issuer_host"],
            json!("oidc.eks.us-east-1.amazonaws.com/id/ABC")
        );
        assert_eq!(o.attrs["security_group_id"], json!("sg-cluster"));
        assert!(
            observe("prod/eu-west-1", &live("1.29", ClusterStatus::Active)).is_none(),
            "another stack's cluster is not ours"
        );
    }

    #[test]
    fn a_version_change_is_an_update_not_a_replacement() {
        let o = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active)).unwrap();
        let fields = crate::planner::diff(&Cluster, &declared("1.30"), &o, &[]);
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert_eq!(fields[0].name, "version");
        assert!(!fields[0].forces_replacement);
    }

    #[test]
    fn upgrades_go_one_minor_version_at_a_time() {
        assert!(check_upgrade("1.29", "1.30").is_ok());
        assert!(
            check_upgrade("1.29", "1.31")
                .unwrap_err()
                .contains("declare 1.30 first")
        );
        assert!(
            check_upgrade("1.30", "1.29")
                .unwrap_err()
                .contains("cannot downgrade")
        );
    }

    #[test]
    fn logging_turns_the_rest_off() {
        let l = logging(&["api".to_string()]);
        assert_eq!(l.cluster_logging().len(), 2);
        assert_eq!(l.cluster_logging()[0].enabled(), Some(true));
        assert_eq!(l.cluster_logging()[1].types().len(), 4);
    }

    #[test]
    fn declarations_are_checked() {
        let others = crate::declaration::Declarations::default();
        let mut p = declared("1.29");
        assert!(Cluster.validate(&p, &others).is_ok());
        p.insert("enabled_cluster_log_types".into(), json!(["audits"]));
        assert!(
            Cluster
                .validate(&p, &others)
                .unwrap_err()
                .contains("did you mean `audit`")
        );
        p.insert("enabled_cluster_log_types".into(), json!([]));
        p.insert("version".into(), json!("latest"));
        assert!(
            Cluster
                .validate(&p, &others)
                .unwrap_err()
                .contains("not a Kubernetes version")
        );
    }

    #[tokio::test]
    async fn a_version_upgrade_waits_for_the_update_and_the_cluster() {
        let start = mock!(Client::update_cluster_version)
            .match_requests(|r| r.name() == Some("examplepay-prod") && r.version() == Some("1.30"))
            .then_output(|| {
                UpdateClusterVersionOutput::builder()
                    .update(
                        Update::builder()
                            .id("u-1")
                            .status(UpdateStatus::InProgress)
                            .r#type(UpdateType::VersionUpdate)
                            .build(),
                    )
                    .build()
            });
        let progress = mock!(Client::describe_update)
            .match_requests(|r| r.update_id() == Some("u-1") && r.nodegroup_name().is_none())
            .sequence()
            .output(|| {
                DescribeUpdateOutput::builder()
                    .update(
                        Update::builder()
                            .id("u-1")
                            .status(UpdateStatus::InProgress)
                            .build(),
                    )
                    .build()
            })
            .output(|| {
                DescribeUpdateOutput::builder()
                    .update(
                        Update::builder()
                            .id("u-1")
                            .status(UpdateStatus::Successful)
                            .build(),
                    )
                    .build()
            })
            .build();
        let cluster = mock!(Client::describe_cluster)
            .sequence()
            .output(|| {
                DescribeClusterOutput::builder()
                    .cluster(live("1.30", ClusterStatus::Updating))
                    .build()
            })
            .output(|| {
                DescribeClusterOutput::builder()
                    .cluster(live("1.30", ClusterStatus::Active))
                    .build()
            })
            .times(3)
            .build();
        let eks = testing::client(RuleMode::MatchAny, &[&start, &progress, &cluster]);
        let current = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active)).unwrap();
        let next = update(&eks, &current, &declared("1.30"), &["version".to_string()])
            .await
            .unwrap();
        assert_eq!(start.num_calls(), 1);
        assert_eq!(progress.num_calls(), 2);
        assert_eq!(next.props["version"], json!("1.30"));
        assert_eq!(next.attrs["version"], json!("1.30"));
    }

    #[tokio::test]
    async fn a_failed_upgrade_is_reported() {
        let start = mock!(Client::update_cluster_version).then_output(|| {
            UpdateClusterVersionOutput::builder()
                .update(
                    Update::builder()
                        .id("u-2")
                        .status(UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        });
        let progress = mock!(Client::describe_update).then_output(|| {
            DescribeUpdateOutput::builder()
                .update(
                    Update::builder()
                        .id("u-2")
                        .status(UpdateStatus::Failed)
                        .errors(
                            aws_sdk_eks::types::ErrorDetail::builder()
                                .error_code(
                                    aws_sdk_eks::types::ErrorCode::InsufficientFreeAddresses,
                                )
                                .error_message("no free addresses")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        let eks = testing::client(RuleMode::MatchAny, &[&start, &progress]);
        let current = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active)).unwrap();
        let err = update(&eks, &current, &declared("1.30"), &["version".to_string()])
            .await
            .unwrap_err();
        assert_eq!(err.kind, CloudErrorKind::Wait);
        assert!(
            err.message
                .contains("InsufficientFreeAddresses: no free addresses"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_skipped_minor_version_is_refused_before_any_call() {
        let eks = testing::client(RuleMode::MatchAny, &[]);
        let current = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active)).unwrap();
        let err = update(&eks, &current, &declared("1.31"), &["version".to_string()])
            .await
            .unwrap_err();
        assert!(err.message.contains("one minor version at a time"), "{err}");
    }
}
