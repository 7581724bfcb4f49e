//! `aws::eks::cluster`: an EKS control plane.
//!
//! Found by its name (ListClusters, then DescribeCluster for the names the stack expects); a
//! version change is an in-place upgrade (UpdateClusterVersion), never a replacement.

use super::{
    EksItem, EksTags, check_eks_name, created, pairs, read, retry_new_role, sdk, settle, tag_map,
    wait_gone,
};
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, found, resource};
use crate::all;
use crate::invalid::Invalid;
use crate::props::{list_prop, str_prop};
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind};
use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    Cluster as EksCluster, EncryptionConfig, LogSetup, LogType, Logging, Provider, Update,
    VpcConfigRequest,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use eprun_core::environment::LOG_TYPES;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

resource! {
    /// An EKS cluster (the control plane).
    pub struct Cluster: CLUSTER = "eks.cluster",
        "An EKS cluster; found by name.";
    reads EksCluster, tagged by pairs;
    terraform "aws_eks_cluster";
    props ClusterProps {
        name: String = required(Str, "the cluster name, unique in the region"),
        version: Option<String> =
            optional(Str, "the Kubernetes version (`1.29`); raising it upgrades in place, one minor version at a time"),
        role_arn: String =
            required(Str, "the IAM role the control plane uses (trusts `eks.amazonaws.com`)"),
        subnet_ids: Vec<String> =
            required(StrSet, "the subnets for the control plane's network interfaces, in two AZs at least"),
        security_group_ids: Option<Vec<String>> =
            optional(StrSet, "extra security groups for the control plane's network interfaces")
                .default("[]"),
        endpoint_private_access: Option<bool> =
            optional(Bool, "serve the API endpoint inside the VPC").default("false"),
        endpoint_public_access: Option<bool> =
            optional(Bool, "serve the API endpoint on the internet").default("true"),
        enabled_cluster_log_types: Option<Vec<String>> =
            optional(StrSet, "control-plane logs sent to CloudWatch: `api`, `audit`, `authenticator`, `controllerManager`, `scheduler`")
                .default("[]"),
        encryption_key_arn: Option<String> =
            optional(Str, "the KMS key that envelope-encrypts Kubernetes secrets").force_new(),
    } + TAGS
}

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
pub fn check_upgrade(from: &str, to: &str) -> Result<(), Invalid> {
    let (Some(f), Some(t)) = (parse_version(from), parse_version(to)) else {
        return Ok(());
    };
    if t < f {
        return Err(Invalid::Combination(format!(
            "EKS cannot downgrade a cluster: it runs {from}, the declaration says {to}"
        )));
    }
    if t.0 != f.0 || t.1 > f.1 + 1 {
        return Err(Invalid::Combination(format!(
            "EKS upgrades one minor version at a time: it runs {from}; declare {}.{} first, apply, then {to}",
            f.0,
            f.1 + 1
        )));
    }
    Ok(())
}

/// The log types that are on, sorted.
fn enabled_logs(c: &EksCluster) -> Vec<String> {
    let setups = c.logging().map(|l| l.cluster_logging()).unwrap_or_default();
    let on = setups.iter().filter(|s| s.enabled() == Some(true));
    let types: BTreeSet<&str> = on
        .flat_map(|s| s.types().iter().map(|t| t.as_str()))
        .collect();
    types.into_iter().map(String::from).collect()
}

/// The logging setting that turns on exactly `enabled` (and turns the other types off).
fn logging(enabled: &[String]) -> Logging {
    let (on, off): (Vec<&str>, Vec<&str>) = LOG_TYPES
        .into_iter()
        .partition(|t| enabled.iter().any(|e| e == t));
    let setup = |types: Vec<&str>, enabled| {
        let types = types.into_iter().map(LogType::from).collect::<Vec<_>>();
        (!types.is_empty()).then(|| {
            LogSetup::builder()
                .set_types(Some(types))
                .enabled(enabled)
                .build()
        })
    };
    let setups = setup(on, true).into_iter().chain(setup(off, false));
    Logging::builder()
        .set_cluster_logging(Some(setups.collect()))
        .build()
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

/// Waits for the update that the call `op` on cluster `name` started, as `sent` answers it, and
/// then for the cluster to be active again.
async fn settled<E>(
    eks: &Client,
    op: &'static str,
    name: &str,
    sent: Result<Option<Update>, SdkError<E, Response>>,
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let update = sent.map_err(sdk(op, name))?;
    settle::<EksCluster>(eks, op, name, update.as_ref(), UPDATE_TIMEOUT).await?;
    Ok(())
}

/// The OIDC issuer URL of a cluster.
fn issuer(c: &EksCluster) -> &str {
    let oidc = c.identity().and_then(|i| i.oidc());
    oidc.and_then(|o| o.issuer()).unwrap_or_default()
}

#[async_trait]
impl EksItem for EksCluster {
    const WHAT: &'static str = "cluster";

    super::spelled_alike!();

    async fn describe(eks: &Client, name: &str) -> Result<Option<Self>> {
        let out = eks.describe_cluster().name(name).send().await;
        Ok(found(out.map_err(sdk("DescribeCluster", name)))?.and_then(|o| o.cluster))
    }
}

#[async_trait]
impl Description for Cluster {
    const ATTRIBUTES: &'static [Attr<EksCluster>] = &[
        Attr::new("id", |_, c: &EksCluster| {
            json!(c.name().unwrap_or_default())
        })
        .note("the name"),
        Attr::new("arn", |_, c| json!(c.arn().unwrap_or_default())),
        Attr::new("endpoint", |_, c| json!(c.endpoint().unwrap_or_default())),
        Attr::new("certificate_authority", |_, c| {
            json!(
                c.certificate_authority()
                    .and_then(|a| a.data())
                    .unwrap_or_default()
            )
        }),
        Attr::new("oidc_issuer", |_, c| json!(issuer(c))),
        Attr::new("oidc_issuer_host", |_, c| {
            json!(issuer(c).trim_start_matches("https://"))
        }),
        Attr::new("version", |_, c| json!(c.version().unwrap_or_default())),
        Attr::new("security_group_id", |_, c| {
            let vpc = c.resources_vpc_config();
            json!(
                vpc.and_then(|v| v.cluster_security_group_id())
                    .unwrap_or_default()
            )
        }),
    ];
    const IDENTITY: Identity = Identity::Named(&EksTags, |p| {
        let name = p.get("name").filter(|n| !token::is_unknown(n))?;
        name.as_str().map(String::from)
    });

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_eks_name("name", str_prop(props, "name"), 100)?;
        if let Some(v) = props.get("version").and_then(Value::as_str) {
            if !token::is_unknown(&json!(v)) && parse_version(v).is_none() {
                return Err(Invalid::value(
                    "version",
                    format!("`{v}` is not a Kubernetes version like `1.29`"),
                ));
            }
        }
        for t in list_prop(props, "enabled_cluster_log_types") {
            if !LOG_TYPES.contains(&t.as_str()) && !token::is_unknown(&json!(t)) {
                let hint = crate::schema::suggest(&t, &LOG_TYPES)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(Invalid::value(
                    "enabled_cluster_log_types",
                    format!("`{t}` is not one of {}{hint}", LOG_TYPES.join(", ")),
                ));
            }
        }
        if list_prop(props, "subnet_ids").len() == 1 {
            let why = "EKS needs subnets in at least two availability zones";
            return Err(Invalid::value("subnet_ids", why));
        }
        Ok(())
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<EksCluster>> {
        let eks = aws.eks();
        read(&eks, hints, |_| async {
            all!(eks.list_clusters(), "ListClusters", stack)
        })
        .await
    }

    async fn props(&self, _aws: &Aws, c: &EksCluster) -> Result<ClusterProps> {
        let vpc = c.resources_vpc_config();
        let key = c.encryption_config().iter().find_map(|e| e.provider());
        Ok(ClusterProps {
            name: c.name().unwrap_or_default().to_string(),
            version: Some(c.version().unwrap_or_default().to_string()),
            role_arn: c.role_arn().unwrap_or_default().to_string(),
            subnet_ids: vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default(),
            security_group_ids: Some(
                vpc.map(|v| v.security_group_ids().to_vec())
                    .unwrap_or_default(),
            ),
            endpoint_private_access: Some(vpc.is_some_and(|v| v.endpoint_private_access())),
            endpoint_public_access: Some(vpc.is_none_or(|v| v.endpoint_public_access())),
            enabled_cluster_log_types: Some(enabled_logs(c)),
            encryption_key_arn: key.and_then(|p| p.key_arn()).map(String::from),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, ClusterProps>) -> Result<EksCluster> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let eks = aws.eks();
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .set_security_group_ids(Some(p.security_group_ids.clone().unwrap_or_default()))
            .endpoint_private_access(p.endpoint_private_access.unwrap_or(false))
            .endpoint_public_access(p.endpoint_public_access.unwrap_or(true));
        let logs = p.enabled_cluster_log_types.as_deref().unwrap_or_default();
        let call = eks
            .create_cluster()
            .name(&p.name)
            .set_version(p.version.clone())
            .role_arn(&p.role_arn)
            .resources_vpc_config(vpc.build())
            .set_logging((!logs.is_empty()).then(|| logging(logs)))
            .set_encryption_config(
                p.encryption_key_arn
                    .as_deref()
                    .map(|k| vec![secrets_encryption(k)]),
            )
            .set_tags(Some(tag_map(tags)));
        let sent = retry_new_role(|| async {
            let out = call.clone().send().await;
            out.map(drop).map_err(sdk("CreateCluster", address))
        });
        let op = "CreateCluster";
        created(&eks, sent.await, op, &p.name, address, tags, CREATE_TIMEOUT).await
    }

    /// Changes the version (an in-place upgrade), logging, endpoint access and security groups,
    /// then reads the cluster again for its attributes.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, ClusterProps>,
    ) -> Result<Option<EksCluster>> {
        let (on, changed, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        let (eks, name) = (aws.eks(), on.id.as_str());
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("version") {
            let (from, to) = (current.version.as_deref(), desired.version.as_deref());
            let (from, to) = (from.unwrap_or_default(), to.unwrap_or_default());
            check_upgrade(from, to).map_err(|m| {
                let kind = CloudErrorKind::Service("Version".into());
                CloudError::new("UpdateClusterVersion", name, kind, m.to_string())
            })?;
            let call = eks.update_cluster_version().name(name).version(to);
            let sent = call.send().await.map(|o| o.update);
            settled(&eks, "UpdateClusterVersion", name, sent).await?;
        }
        // EKS takes one kind of change per UpdateClusterConfig: logging, endpoint access, then
        // security groups.
        let logs = desired
            .enabled_cluster_log_types
            .as_deref()
            .unwrap_or_default();
        let endpoint = VpcConfigRequest::builder()
            .endpoint_private_access(desired.endpoint_private_access.unwrap_or(false))
            .endpoint_public_access(desired.endpoint_public_access.unwrap_or(true));
        let groups = desired.security_group_ids.clone().unwrap_or_default();
        let groups = VpcConfigRequest::builder().set_security_group_ids(Some(groups));
        let configs = [
            (has("enabled_cluster_log_types"), Some(logging(logs)), None),
            (
                has("endpoint_private_access") || has("endpoint_public_access"),
                None,
                Some(endpoint.build()),
            ),
            (has("security_group_ids"), None, Some(groups.build())),
        ];
        for (_, logging, vpc) in configs.into_iter().filter(|c| c.0) {
            let call = eks.update_cluster_config().name(name);
            let call = call.set_logging(logging).set_resources_vpc_config(vpc);
            let sent = call.send().await.map(|o| o.update);
            settled(&eks, "UpdateClusterConfig", name, sent).await?;
        }
        EksCluster::describe(&eks, name).await
    }

    async fn delete(&self, aws: &Aws, name: &str, _: &ClusterProps) -> Result<()> {
        let eks = aws.eks();
        let out = eks.delete_cluster().name(name).send().await;
        out.map_err(sdk("DeleteCluster", name))?;
        wait_gone::<EksCluster>(&eks, "DeleteCluster", name, DELETE_TIMEOUT).await
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
    use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
    use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
    use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
    use aws_sdk_eks::types::ClusterStatus;
    use aws_sdk_eks::types::{
        Certificate, Identity, Oidc, Update, UpdateStatus, UpdateType, VpcConfigResponse,
    };
    use aws_smithy_mocks::mock;

    async fn observe(stack: &str, c: &EksCluster) -> Option<Observed> {
        crate::adapter::testing::observe(&CLUSTER, &Aws::mocked(&[]), stack, c).await
    }

    /// What DescribeCluster answers for the cluster `live` makes.
    fn described(version: &str, status: ClusterStatus) -> DescribeClusterOutput {
        DescribeClusterOutput::builder()
            .cluster(live(version, status))
            .build()
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

    /// Updates an active 1.29 cluster to `version` on `aws` (mocked).
    async fn upgrade(aws: &Aws, version: &str) -> Result<Observed> {
        let current = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active))
            .await
            .unwrap();
        let changed = ["version".to_string()];
        let declared = declared(version);
        CLUSTER
            .update(&aws.context(), &current, &declared, &changed)
            .await
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

    #[tokio::test]
    async fn a_described_cluster_round_trip_as_declared() {
        let o = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active))
            .await
            .unwrap();
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
            observe("prod/eu-west-1", &live("1.29", ClusterStatus::Active))
                .await
                .is_none(),
            "another stack's cluster is not ours"
        );
    }

    #[tokio::test]
    async fn a_version_change_is_an_update_not_a_replacement() {
        let o = observe("prod/us-east-1", &live("1.29", ClusterStatus::Active))
            .await
            .unwrap();
        let fields = crate::planner::diff(&CLUSTER, &declared("1.30"), &o, &[]);
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
                .to_string()
                .contains("declare 1.30 first")
        );
        assert!(
            check_upgrade("1.30", "1.29")
                .unwrap_err()
                .to_string()
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
        let mut p = declared("1.29");
        assert!(CLUSTER.validate(&p, &NoOthers).is_ok());
        p.insert("enabled_cluster_log_types".into(), json!(["audits"]));
        assert!(refusal(&CLUSTER, &p).contains("did you mean `audit`"));
        p.insert("enabled_cluster_log_types".into(), json!([]));
        p.insert("version".into(), json!("latest"));
        assert!(refusal(&CLUSTER, &p).contains("not a Kubernetes version"));
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
            .output(|| described_update("u-1", UpdateStatus::InProgress))
            .output(|| described_update("u-1", UpdateStatus::Successful))
            .build();
        let cluster = mock!(Client::describe_cluster)
            .sequence()
            .output(|| described("1.30", ClusterStatus::Updating))
            .output(|| described("1.30", ClusterStatus::Active))
            .times(3)
            .build();
        let aws = Aws::mocked(&[&start, &progress, &cluster]);
        let next = upgrade(&aws, "1.30").await.unwrap();
        assert_eq!(start.num_calls(), 1);
        assert_eq!(progress.num_calls(), 2);
        assert_eq!(next.props["version"], json!("1.30"));
        assert_eq!(next.attrs["version"], json!("1.30"));
    }

    #[tokio::test]
    async fn a_failed_upgrade_is_reported() {
        let start = mock!(Client::update_cluster_version).then_output(|| {
            UpdateClusterVersionOutput::builder()
                .update(update("u-2", UpdateStatus::InProgress))
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
        let aws = Aws::mocked(&[&start, &progress]);
        let err = upgrade(&aws, "1.30").await.unwrap_err();
        assert_eq!(err.kind, CloudErrorKind::Wait);
        assert!(
            err.message
                .contains("InsufficientFreeAddresses: no free addresses"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_skipped_minor_version_is_refused_before_any_call() {
        let aws = Aws::mocked(&[]);
        let err = upgrade(&aws, "1.31").await.unwrap_err();
        assert!(err.message.contains("one minor version at a time"), "{err}");
    }

    #[tokio::test]
    async fn a_created_cluster_round_trip_as_declared() {
        let create = mock!(Client::create_cluster)
            .match_requests(|r| {
                let tags = r.tags().unwrap();
                r.name() == Some("examplepay-prod")
                    && r.encryption_config().len() == 1
                    && tags.get(STACK_TAG).map(String::as_str) == Some("test")
            })
            .then_output(|| {
                aws_sdk_eks::operation::create_cluster::CreateClusterOutput::builder().build()
            });
        let read = mock!(Client::describe_cluster)
            .then_output(|| described("1.29", ClusterStatus::Active));
        let observed = round_trip(
            &CLUSTER,
            &Aws::mocked(&[&create, &read]),
            "eks.cluster.examplepay-prod",
            Value::Object(declared("1.29")),
        )
        .await;
        assert_eq!(create.num_calls(), 1);
        assert_eq!(observed.id, "examplepay-prod");
        assert_eq!(observed.attrs["security_group_id"], json!("sg-cluster"));
    }
}
