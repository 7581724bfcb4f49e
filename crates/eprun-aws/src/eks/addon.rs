//! `aws::eks::addon`: an EKS add-on (VPC CNI, CoreDNS, kube-proxy, …).
//!
//! Found by `<cluster>/<add-on>`: ListAddons for each cluster the stack expects add-ons in, then
//! DescribeAddon for the expected ones. `resolve_conflicts_on_update` is not something EKS keeps:
//! it is kept in an `eprun:` tag, so a read reports what was declared and a plan shows no change.

use super::{
    UpdateOf, is_in_use, is_ours_already, keys_by_cluster, opt_str, owner, pair_key, pairs,
    sdk_error, update_tags, wait_update,
};
use crate::context::Context;
use crate::ec2::{props, str_prop};
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, CloudErrorKind, WaitState, wait_until};
use async_trait::async_trait;
use aws_sdk_eks::types::{Addon as EksAddon, AddonStatus, ResolveConflicts};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// An EKS add-on.
pub struct Addon;

/// Where `resolve_conflicts_on_update` is kept.
const RESOLVE_TAG: &str = "eprun:resolve_conflicts_on_update";

const SCHEMA: &[Field] = &[
    Field::required("cluster_name", Kind::Str, "the cluster the add-on runs in"),
    Field::required(
        "addon_name",
        Kind::Str,
        "the add-on, e.g. `vpc-cni`, `coredns`, `kube-proxy`",
    ),
    Field::optional(
        "addon_version",
        Kind::Str,
        "the add-on version (EKS's default for the cluster version when left out)",
    ),
    Field::optional(
        "configuration_values",
        Kind::Json,
        "the add-on's configuration (a map or JSON text)",
    ),
    Field::optional(
        "resolve_conflicts_on_update",
        Kind::Enum(&["OVERWRITE", "PRESERVE", "NONE"]),
        "what an update does with fields changed in the cluster (`OVERWRITE` when left out)",
    ),
    Field::optional(
        "service_account_role_arn",
        Kind::Str,
        "the IAM role (IRSA) of the add-on's service account",
    ),
    TAGS,
];

const CREATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const UPDATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The health issues of an add-on, for messages.
fn issues(a: &EksAddon) -> String {
    let list: Vec<String> = a
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

/// What a described add-on looks like as props, if it is ours.
fn observe(stack: &str, a: &EksAddon) -> Option<Observed> {
    let all = pairs(a.tags());
    let resolve = all
        .iter()
        .find(|(k, _)| k == RESOLVE_TAG)
        .map(|(_, v)| v.clone());
    let (address, user_tags) = owner(stack, all).split()?;
    let cluster = a.cluster_name().unwrap_or_default();
    let name = a.addon_name().unwrap_or_default();
    let version = a.addon_version().unwrap_or_default();
    let mut p = props([
        ("cluster_name", json!(cluster)),
        ("addon_name", json!(name)),
        ("addon_version", json!(version)),
        ("tags", user_tags),
    ]);
    if let Some(c) = a.configuration_values().filter(|c| !c.trim().is_empty()) {
        p.insert("configuration_values".into(), json!(c));
    }
    if let Some(r) = a.service_account_role_arn().filter(|r| !r.is_empty()) {
        p.insert("service_account_role_arn".into(), json!(r));
    }
    if let Some(r) = resolve {
        p.insert("resolve_conflicts_on_update".into(), json!(r));
    }
    let id = format!("{cluster}:{name}");
    Some(Observed {
        address,
        id: id.clone(),
        natural_key: Some(format!("{cluster}/{name}")),
        props: p,
        attrs: props([
            ("id", json!(id)),
            ("arn", json!(a.addon_arn().unwrap_or_default())),
            ("addon_version", json!(version)),
        ]),
    })
}

/// DescribeAddon; `None` when there is no such add-on (or cluster).
async fn describe(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
) -> Result<Option<EksAddon>, CloudError> {
    match eks
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.addon().cloned()),
        Err(e) => {
            let e = sdk_error("DescribeAddon", format!("{cluster}/{name}"), e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Waits until the add-on is ACTIVE.
async fn wait_active(
    eks: &aws_sdk_eks::Client,
    operation: &str,
    cluster: &str,
    name: &str,
    timeout: Duration,
) -> Result<EksAddon, CloudError> {
    let target = format!("{cluster}/{name}");
    wait_until(operation, &target, timeout, || async move {
        Ok(match describe(eks, cluster, name).await? {
            None => WaitState::Pending("not visible yet".into()),
            Some(a) => match a.status() {
                Some(AddonStatus::Active) => WaitState::Ready,
                Some(
                    s @ (AddonStatus::CreateFailed
                    | AddonStatus::UpdateFailed
                    | AddonStatus::DeleteFailed),
                ) => WaitState::Failed(format!(
                    "the add-on ended in state `{}`{}",
                    s.as_str(),
                    issues(&a)
                )),
                Some(s) => WaitState::Pending(format!("{}{}", s.as_str(), issues(&a))),
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
            "the add-on disappeared while it was being made ready",
        )
    })
}

/// Reads the add-ons the stack expects: ListAddons per cluster, DescribeAddon for each expected one.
pub(crate) async fn read(
    eks: &aws_sdk_eks::Client,
    stack: &str,
    hints: &ReadHints,
) -> Result<Vec<Observed>, CloudError> {
    let mut out = Vec::new();
    for (cluster, wanted) in keys_by_cluster(&hints.natural_keys) {
        let mut present = Vec::new();
        let mut pages = eks
            .list_addons()
            .cluster_name(&cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => present.extend(
                    page.addons()
                        .iter()
                        .filter(|n| wanted.contains(*n))
                        .cloned(),
                ),
                Err(e) => {
                    let e = sdk_error("ListAddons", &cluster, e);
                    if e.is_not_found() {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        for name in present {
            let Some(a) = describe(eks, &cluster, &name).await? else {
                continue;
            };
            if a.status() == Some(&AddonStatus::Deleting) {
                continue;
            }
            out.extend(observe(stack, &a));
        }
    }
    Ok(out)
}

/// The full tag set of an add-on: ownership and user tags, plus the `resolve_conflicts_on_update` marker.
fn with_resolve(tags: &[(String, String)], props: &Props) -> HashMap<String, String> {
    let mut all: HashMap<String, String> = tags
        .iter()
        .filter(|(k, _)| k != RESOLVE_TAG)
        .cloned()
        .collect();
    if let Some(r) = opt_str(props, "resolve_conflicts_on_update") {
        all.insert(RESOLVE_TAG.into(), r.into());
    }
    all
}

/// CreateAddon with the ownership tags (taking over what EKS installed by itself), then waits until ACTIVE.
pub(crate) async fn create(
    eks: &aws_sdk_eks::Client,
    req: &CreateRequest<'_>,
) -> Result<Observed, CloudError> {
    let p = req.props;
    let cluster = str_prop(p, "cluster_name");
    let name = str_prop(p, "addon_name");
    let created = eks
        .create_addon()
        .cluster_name(cluster)
        .addon_name(name)
        .set_addon_version(opt_str(p, "addon_version").map(String::from))
        .set_configuration_values(super::json_text(p, "configuration_values"))
        .set_service_account_role_arn(opt_str(p, "service_account_role_arn").map(String::from))
        // The default add-ons EKS installs itself are taken over, not refused.
        .resolve_conflicts(ResolveConflicts::Overwrite)
        .set_tags(Some(with_resolve(&req.tags, p)))
        .send()
        .await
        .map_err(|e| sdk_error("CreateAddon", req.address, e));
    if let Err(e) = created {
        // Made by this stack before its state was lost: wait for it instead of failing.
        let existing = if is_in_use(&e) {
            describe(eks, cluster, name).await?
        } else {
            None
        };
        let ours = existing.is_some_and(|a| {
            a.status() != Some(&AddonStatus::Deleting)
                && is_ours_already(req.stack, req.address, a.tags())
        });
        if !ours {
            return Err(e);
        }
    }
    let a = wait_active(eks, "CreateAddon", cluster, name, CREATE_TIMEOUT).await?;
    observe(req.stack, &a).ok_or_else(|| crate::ec2::untagged("CreateAddon", req.address, "add-on"))
}

/// UpdateAddon for version, configuration and role (waiting for it), then tags.
pub(crate) async fn update(
    eks: &aws_sdk_eks::Client,
    current: &Observed,
    desired: &Props,
    changed: &[String],
) -> Result<Observed, CloudError> {
    let cluster = str_prop(&current.props, "cluster_name");
    let name = str_prop(&current.props, "addon_name");
    let target = format!("{cluster}/{name}");
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("addon_version") || has("configuration_values") || has("service_account_role_arn") {
        let resolve = opt_str(desired, "resolve_conflicts_on_update").unwrap_or("OVERWRITE");
        let mut call = eks
            .update_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .resolve_conflicts(ResolveConflicts::from(resolve));
        if has("addon_version") {
            call = call.set_addon_version(opt_str(desired, "addon_version").map(String::from));
        }
        if has("configuration_values") {
            // An empty configuration removes the one set before.
            call = call.configuration_values(
                super::json_text(desired, "configuration_values").unwrap_or_default(),
            );
        }
        if has("service_account_role_arn") {
            call = call.service_account_role_arn(
                opt_str(desired, "service_account_role_arn").unwrap_or_default(),
            );
        }
        let out = call
            .send()
            .await
            .map_err(|e| sdk_error("UpdateAddon", &target, e))?;
        wait_update(
            eks,
            "UpdateAddon",
            cluster,
            UpdateOf::Addon(name),
            out.update(),
            UPDATE_TIMEOUT,
        )
        .await?;
        wait_active(eks, "UpdateAddon", cluster, name, UPDATE_TIMEOUT).await?;
    }
    let arn = current
        .attrs
        .get("arn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if has("tags") {
        update_tags(eks, arn, &current.props, desired).await?;
    }
    if has("resolve_conflicts_on_update") {
        match opt_str(desired, "resolve_conflicts_on_update") {
            Some(r) => {
                eks.tag_resource()
                    .resource_arn(arn)
                    .tags(RESOLVE_TAG, r)
                    .send()
                    .await
                    .map_err(|e| sdk_error("TagResource", &target, e))?;
            }
            None => {
                eks.untag_resource()
                    .resource_arn(arn)
                    .tag_keys(RESOLVE_TAG)
                    .send()
                    .await
                    .map_err(|e| sdk_error("UntagResource", &target, e))?;
            }
        }
    }
    let mut next = current.updated(desired, changed);
    if has("addon_version") {
        if let Some(a) = describe(eks, cluster, name).await? {
            let version = a.addon_version().unwrap_or_default();
            next.attrs.insert("addon_version".into(), json!(version));
        }
    }
    Ok(next)
}

/// DeleteAddon (removing what it runs in the cluster), then waits until it is gone.
pub(crate) async fn delete(
    eks: &aws_sdk_eks::Client,
    current: &Observed,
) -> Result<(), CloudError> {
    let cluster = str_prop(&current.props, "cluster_name");
    let name = str_prop(&current.props, "addon_name");
    let target = format!("{cluster}/{name}");
    if let Err(e) = eks
        .delete_addon()
        .cluster_name(cluster)
        .addon_name(name)
        .send()
        .await
    {
        let e = sdk_error("DeleteAddon", &target, e);
        return if e.is_not_found() { Ok(()) } else { Err(e) };
    }
    wait_until("DeleteAddon", &target, DELETE_TIMEOUT, || async move {
        Ok(match describe(eks, cluster, name).await? {
            None => WaitState::Ready,
            Some(a) if a.status() == Some(&AddonStatus::DeleteFailed) => WaitState::Failed(
                format!("the add-on ended in state `DELETE_FAILED`{}", issues(&a)),
            ),
            Some(a) => WaitState::Pending(
                a.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "deleting".into()),
            ),
        })
    })
    .await
}

#[async_trait]
impl Resource for Addon {
    fn kind(&self) -> &'static str {
        "eks.addon"
    }

    fn doc(&self) -> &'static str {
        "An EKS add-on; found by `<cluster>/<add-on>`. Attributes: `id` (`cluster:addon`), `arn`, `addon_version`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "addon_version"]
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        pair_key(props, "cluster_name", "addon_name")
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        let name = str_prop(props, "addon_name");
        if name.is_empty() {
            return Err("property `addon_name` cannot be empty".into());
        }
        if let Some(Value::Array(_)) = props.get("configuration_values") {
            return Err(
                "property `configuration_values` must be a map (or JSON text of one), not an array"
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
    use crate::address::Address;
    use crate::eks::testing;
    use crate::schema::normalize_props;
    use crate::{ADDRESS_TAG, STACK_TAG, ownership_tags};
    use aws_sdk_eks::Client;
    use aws_sdk_eks::error::ErrorMetadata;
    use aws_sdk_eks::operation::create_addon::CreateAddonOutput;
    use aws_sdk_eks::operation::delete_addon::DeleteAddonOutput;
    use aws_sdk_eks::operation::describe_addon::{DescribeAddonError, DescribeAddonOutput};
    use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
    use aws_sdk_eks::operation::list_addons::ListAddonsOutput;
    use aws_sdk_eks::operation::update_addon::UpdateAddonOutput;
    use aws_sdk_eks::types::error::ResourceNotFoundException;
    use aws_sdk_eks::types::{Update, UpdateStatus};
    use aws_smithy_mocks::{RuleMode, mock};
    use std::collections::BTreeSet;

    const CNI_CONFIG: &str =
        r#"{"enableNetworkPolicy":"true","env":{"ENABLE_PREFIX_DELEGATION":"true"}}"#;

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn address() -> Address {
        "eks.addon.examplepay-prod-vpc-cni".parse().unwrap()
    }

    fn live(status: AddonStatus, config: &str, stack: &str) -> EksAddon {
        EksAddon::builder()
            .cluster_name("examplepay-prod")
            .addon_name("vpc-cni")
            .addon_version("v1.18.1-eksbuild.1")
            .addon_arn("arn:aws:eks:us-east-1:123456789012:addon/examplepay-prod/vpc-cni/1")
            .status(status)
            .configuration_values(config)
            .tags(STACK_TAG, stack)
            .tags(ADDRESS_TAG, "eks.addon.examplepay-prod-vpc-cni")
            .tags("Project", "examplepay")
            .build()
    }

    fn declared() -> Props {
        obj(json!({
            "cluster_name": "examplepay-prod",
            "addon_name": "vpc-cni",
            // Declared as a map, read back as JSON text: the same document.
            "configuration_values": {"env": {"ENABLE_PREFIX_DELEGATION": "true"}, "enableNetworkPolicy": "true"},
            "tags": {"Project": "examplepay"},
        }))
    }

    fn not_found() -> DescribeAddonError {
        DescribeAddonError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("No addon: vpc-cni found in cluster: examplepay-prod")
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build(),
        )
    }

    #[test]
    fn a_described_addon_reads_back_as_declared() {
        let o = observe(
            "prod/us-east-1",
            &live(AddonStatus::Active, CNI_CONFIG, "prod/us-east-1"),
        )
        .unwrap();
        assert_eq!(o.natural_key.as_deref(), Some("examplepay-prod/vpc-cni"));
        assert!(
            crate::planner::diff(&Addon, &declared(), &o, &[]).is_empty(),
            "{:?}",
            normalize_props(SCHEMA, &o.props)
        );
    }

    #[tokio::test]
    async fn create_tags_in_the_call_takes_over_and_waits_until_active() {
        let create_call = mock!(Client::create_addon)
            .match_requests(|r| {
                let tags = r.tags().unwrap();
                r.cluster_name() == Some("examplepay-prod")
                    && r.addon_name() == Some("vpc-cni")
                    && r.resolve_conflicts() == Some(&ResolveConflicts::Overwrite)
                    && r.configuration_values()
                        .map(|c| serde_json::from_str::<Value>(c).unwrap())
                        == Some(serde_json::from_str(CNI_CONFIG).unwrap())
                    && tags.get(STACK_TAG).map(String::as_str) == Some("prod/us-east-1")
                    && tags.get(ADDRESS_TAG).map(String::as_str)
                        == Some("eks.addon.examplepay-prod-vpc-cni")
            })
            .then_output(|| {
                CreateAddonOutput::builder()
                    .addon(live(AddonStatus::Creating, CNI_CONFIG, "prod/us-east-1"))
                    .build()
            });
        let describe_call = mock!(Client::describe_addon)
            .sequence()
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(live(AddonStatus::Creating, CNI_CONFIG, "prod/us-east-1"))
                    .build()
            })
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(live(AddonStatus::Active, CNI_CONFIG, "prod/us-east-1"))
                    .build()
            })
            .times(2)
            .build();
        let eks = testing::client(RuleMode::MatchAny, &[&create_call, &describe_call]);
        let p = declared();
        let addr = address();
        let req = CreateRequest {
            address: &addr,
            stack: "prod/us-east-1",
            props: &p,
            tags: ownership_tags("prod/us-east-1", &addr, &p),
        };
        let o = create(&eks, &req).await.unwrap();
        assert_eq!(create_call.num_calls(), 1);
        assert_eq!(
            describe_call.num_calls(),
            3,
            "polled until ACTIVE, then read"
        );
        assert_eq!(o.address, Some(addr));
        assert_eq!(o.attrs["addon_version"], json!("v1.18.1-eksbuild.1"));
    }

    #[tokio::test]
    async fn a_create_that_collides_with_this_very_addon_takes_it_back() {
        let in_use = || {
            aws_sdk_eks::operation::create_addon::CreateAddonError::ResourceInUseException(
                aws_sdk_eks::types::error::ResourceInUseException::builder()
                    .message("Addon already exists.")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ResourceInUseException")
                            .build(),
                    )
                    .build(),
            )
        };
        let p = declared();
        let addr = address();
        for (stack, adopted) in [("prod/us-east-1", true), ("prod/eu-west-1", false)] {
            let create_call = mock!(Client::create_addon).then_error(in_use);
            let describe_call = mock!(Client::describe_addon).then_output(|| {
                DescribeAddonOutput::builder()
                    .addon(live(AddonStatus::Active, CNI_CONFIG, "prod/us-east-1"))
                    .build()
            });
            let eks = testing::client(RuleMode::MatchAny, &[&create_call, &describe_call]);
            let req = CreateRequest {
                address: &addr,
                stack,
                props: &p,
                tags: ownership_tags(stack, &addr, &p),
            };
            match create(&eks, &req).await {
                Ok(o) => assert!(adopted && o.address == Some(addr.clone()), "{stack}: {o:?}"),
                Err(e) => assert!(
                    !adopted && e.kind == CloudErrorKind::Service("ResourceInUseException".into()),
                    "{stack}: {e}"
                ),
            }
        }
    }

    #[tokio::test]
    async fn an_endpoint_without_the_addon_api_is_named_as_such() {
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        let create_call = mock!(Client::create_addon).then_http_response(|| {
            Response::new(
                StatusCode::try_from(404).unwrap(),
                SdkBody::from("<!doctype html><title>404 Not Found</title>"),
            )
        });
        let eks = testing::client(RuleMode::MatchAny, &[&create_call]);
        let p = declared();
        let addr = address();
        let req = CreateRequest {
            address: &addr,
            stack: "s",
            props: &p,
            tags: ownership_tags("s", &addr, &p),
        };
        let err = create(&eks, &req).await.unwrap_err();
        assert!(
            err.message.contains("does not serve `CreateAddon`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_failed_create_reports_the_health_issues() {
        let create_call = mock!(Client::create_addon).then_output(|| {
            CreateAddonOutput::builder()
                .addon(live(AddonStatus::Creating, "", "s"))
                .build()
        });
        let describe_call = mock!(Client::describe_addon).then_output(|| {
            let failed = EksAddon::builder()
                .status(AddonStatus::CreateFailed)
                .health(
                    aws_sdk_eks::types::AddonHealth::builder()
                        .issues(
                            aws_sdk_eks::types::AddonIssue::builder()
                                .code(aws_sdk_eks::types::AddonIssueCode::ConfigurationConflict)
                                .message("Conflicts found when trying to apply")
                                .build(),
                        )
                        .build(),
                )
                .build();
            DescribeAddonOutput::builder().addon(failed).build()
        });
        let eks = testing::client(RuleMode::MatchAny, &[&create_call, &describe_call]);
        let p = declared();
        let addr = address();
        let req = CreateRequest {
            address: &addr,
            stack: "s",
            props: &p,
            tags: ownership_tags("s", &addr, &p),
        };
        let err = create(&eks, &req).await.unwrap_err();
        assert_eq!(err.kind, CloudErrorKind::Wait);
        assert!(
            err.message.contains("CREATE_FAILED") && err.message.contains("ConfigurationConflict"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn update_sends_the_configuration_with_the_declared_conflict_mode_and_waits() {
        let update_call = mock!(Client::update_addon)
            .match_requests(|r| {
                r.resolve_conflicts() == Some(&ResolveConflicts::Preserve)
                    && r.configuration_values() == Some(r#"{"enableNetworkPolicy":"false"}"#)
                    && r.addon_version().is_none()
            })
            .then_output(|| {
                UpdateAddonOutput::builder()
                    .update(
                        Update::builder()
                            .id("u-9")
                            .status(UpdateStatus::InProgress)
                            .build(),
                    )
                    .build()
            });
        let progress = mock!(Client::describe_update)
            .match_requests(|r| r.addon_name() == Some("vpc-cni") && r.update_id() == Some("u-9"))
            .then_output(|| {
                DescribeUpdateOutput::builder()
                    .update(
                        Update::builder()
                            .id("u-9")
                            .status(UpdateStatus::Successful)
                            .build(),
                    )
                    .build()
            });
        let describe_call = mock!(Client::describe_addon).then_output(|| {
            DescribeAddonOutput::builder()
                .addon(live(
                    AddonStatus::Active,
                    r#"{"enableNetworkPolicy":"false"}"#,
                    "s",
                ))
                .build()
        });
        let tag_call = mock!(Client::tag_resource)
            .match_requests(|r| {
                r.tags()
                    .and_then(|t| t.get(RESOLVE_TAG))
                    .map(String::as_str)
                    == Some("PRESERVE")
            })
            .then_output(|| {
                aws_sdk_eks::operation::tag_resource::TagResourceOutput::builder().build()
            });
        let eks = testing::client(
            RuleMode::MatchAny,
            &[&update_call, &progress, &describe_call, &tag_call],
        );
        let current = observe("s", &live(AddonStatus::Active, CNI_CONFIG, "s")).unwrap();
        let mut want = declared();
        want.insert(
            "configuration_values".into(),
            json!(r#"{"enableNetworkPolicy":"false"}"#),
        );
        want.insert("resolve_conflicts_on_update".into(), json!("PRESERVE"));
        let changed = vec![
            "configuration_values".to_string(),
            "resolve_conflicts_on_update".to_string(),
        ];
        let next = update(&eks, &current, &want, &changed).await.unwrap();
        assert_eq!(
            (
                update_call.num_calls(),
                progress.num_calls(),
                tag_call.num_calls()
            ),
            (1, 1, 1)
        );
        assert_eq!(next.props["resolve_conflicts_on_update"], json!("PRESERVE"));
    }

    #[tokio::test]
    async fn delete_waits_until_the_addon_is_gone() {
        let delete_call = mock!(Client::delete_addon)
            .match_requests(|r| {
                r.cluster_name() == Some("examplepay-prod") && r.addon_name() == Some("vpc-cni")
            })
            .then_output(|| DeleteAddonOutput::builder().build());
        let describe_call = mock!(Client::describe_addon)
            .sequence()
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(live(AddonStatus::Deleting, "", "s"))
                    .build()
            })
            .error(not_found)
            .build();
        let eks = testing::client(RuleMode::MatchAny, &[&delete_call, &describe_call]);
        let current = observe("s", &live(AddonStatus::Active, CNI_CONFIG, "s")).unwrap();
        delete(&eks, &current).await.unwrap();
        assert_eq!((delete_call.num_calls(), describe_call.num_calls()), (1, 2));
    }

    #[tokio::test]
    async fn read_lists_per_cluster_and_keeps_only_our_addons() {
        let list_call = mock!(Client::list_addons)
            .match_requests(|r| r.cluster_name() == Some("examplepay-prod"))
            .then_output(|| {
                ListAddonsOutput::builder()
                    .addons("vpc-cni")
                    .addons("coredns")
                    .addons("kube-proxy")
                    .build()
            });
        let ours = mock!(Client::describe_addon)
            .match_requests(|r| r.addon_name() == Some("vpc-cni"))
            .then_output(|| {
                DescribeAddonOutput::builder()
                    .addon(live(AddonStatus::Active, CNI_CONFIG, "s"))
                    .build()
            });
        let theirs = mock!(Client::describe_addon)
            .match_requests(|r| r.addon_name() == Some("coredns"))
            .then_output(|| {
                DescribeAddonOutput::builder()
                    .addon(live(AddonStatus::Active, "", "another"))
                    .build()
            });
        let eks = testing::client(RuleMode::MatchAny, &[&list_call, &ours, &theirs]);
        let hints = ReadHints {
            natural_keys: BTreeSet::from([
                "examplepay-prod/vpc-cni".to_string(),
                "examplepay-prod/coredns".to_string(),
            ]),
        };
        let found = read(&eks, "s", &hints).await.unwrap();
        assert_eq!(list_call.num_calls(), 1);
        assert_eq!(
            (ours.num_calls(), theirs.num_calls()),
            (1, 1),
            "kube-proxy is not expected: not described"
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].natural_key.as_deref(),
            Some("examplepay-prod/vpc-cni")
        );
    }

    #[tokio::test]
    async fn delete_of_an_addon_already_gone_succeeds() {
        let delete_call = mock!(Client::delete_addon).then_error(|| {
            aws_sdk_eks::operation::delete_addon::DeleteAddonError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("ResourceNotFoundException")
                            .build(),
                    )
                    .build(),
            )
        });
        let eks = testing::client(RuleMode::MatchAny, &[&delete_call]);
        let current = observe("s", &live(AddonStatus::Active, CNI_CONFIG, "s")).unwrap();
        delete(&eks, &current).await.unwrap();
    }
}
