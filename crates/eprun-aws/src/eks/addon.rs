//! `aws::eks::addon`: an EKS add-on (VPC CNI, CoreDNS, kube-proxy, …).
//!
//! Found by `<cluster>/<add-on>`: ListAddons for each cluster the stack expects add-ons in, then
//! DescribeAddon for the expected ones. `resolve_conflicts_on_update` is not something EKS keeps:
//! it is kept in an `eprun:` tag, so a read reports what was declared and a plan shows no change.

use super::{EksItem, EksTags, created, pair_key, pairs, read, sdk, settle, split_key, wait_gone};
use crate::Aws;
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, found, resource};
use crate::all;
use crate::invalid::Invalid;
use crate::props::str_prop;
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::operation::describe_update::builders::DescribeUpdateFluentBuilder;
use aws_sdk_eks::types::{Addon as EksAddon, ResolveConflicts};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

resource! {
    /// An EKS add-on.
    pub struct Addon: ADDON = "eks.addon",
        "An EKS add-on; found by `<cluster>/<add-on>`.";
    reads EksAddon, tagged by pairs;
    terraform "aws_eks_addon";
    props AddonProps {
        cluster_name: String = required(Str, "the cluster the add-on runs in"),
        addon_name: String = required(Str, "the add-on, e.g. `vpc-cni`, `coredns`, `kube-proxy`"),
        addon_version: Option<String> =
            optional(Str, "the add-on version (EKS's default for the cluster version when left out)"),
        configuration_values: Option<Value> =
            optional(Json, "the add-on's configuration (a map or JSON text)"),
        resolve_conflicts_on_update: Option<String> =
            optional(Enum(&["OVERWRITE", "PRESERVE", "NONE"]), "what an update does with fields changed in the cluster (`OVERWRITE` when left out)"),
        service_account_role_arn: Option<String> =
            optional(Str, "the IAM role (IRSA) of the add-on's service account"),
    } + TAGS
}

/// Where `resolve_conflicts_on_update` is kept.
const RESOLVE_TAG: &str = "eprun:resolve_conflicts_on_update";

const CREATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const UPDATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

impl AddonProps {
    /// `<cluster>/<add-on>`.
    fn key(&self) -> String {
        format!("{}/{}", self.cluster_name, self.addon_name)
    }
}

/// A string prop, if set and not empty.
fn set(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// The configuration as the JSON text the API takes.
fn config_text(p: &AddonProps) -> Option<String> {
    p.configuration_values.as_ref().map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The full tag set of an add-on: ownership and user tags, plus the `resolve_conflicts_on_update` marker.
fn with_resolve(tags: &[(String, String)], p: &AddonProps) -> HashMap<String, String> {
    let all = tags.iter().filter(|(k, _)| k != RESOLVE_TAG).cloned();
    let resolve = set(&p.resolve_conflicts_on_update).map(|r| (RESOLVE_TAG.to_string(), r));
    all.chain(resolve).collect()
}

#[async_trait]
impl EksItem for EksAddon {
    const WHAT: &'static str = "add-on";

    super::spelled_alike!(issues);

    fn of_update(call: DescribeUpdateFluentBuilder, name: &str) -> DescribeUpdateFluentBuilder {
        call.addon_name(name)
    }

    async fn describe(eks: &Client, key: &str) -> Result<Option<Self>> {
        let (cluster, name) = split_key(key);
        let out = eks
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send();
        Ok(found(out.await.map_err(sdk("DescribeAddon", key)))?.and_then(|o| o.addon))
    }
}

#[async_trait]
impl Description for Addon {
    const ATTRIBUTES: &'static [Attr<EksAddon>] = &[
        Attr::new("id", |_, a: &EksAddon| {
            json!(super::pair_id(a.cluster_name(), a.addon_name()))
        })
        .note("`cluster:addon`"),
        Attr::new("arn", |_, a| json!(a.addon_arn().unwrap_or_default())),
        Attr::new("addon_version", |_, a| {
            json!(a.addon_version().unwrap_or_default())
        }),
    ];
    const IDENTITY: Identity =
        Identity::Named(&EksTags, |p| pair_key(p, "cluster_name", "addon_name"));

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        if str_prop(props, "addon_name").is_empty() {
            return Err(Invalid::form("addon_name", "cannot be empty"));
        }
        if let Some(Value::Array(_)) = props.get("configuration_values") {
            let why = "must be a map (or JSON text of one), not an array";
            return Err(Invalid::form("configuration_values", why));
        }
        Ok(())
    }

    async fn list(&self, aws: &Aws, _: &str, hints: &ReadHints) -> Result<Vec<EksAddon>> {
        let eks = aws.eks();
        read(&eks, hints, |cluster| async {
            all!(
                eks.list_addons().cluster_name(&cluster),
                "ListAddons",
                cluster
            )
        })
        .await
    }

    async fn props(&self, _aws: &Aws, a: &EksAddon) -> Result<AddonProps> {
        let resolve = a.tags().and_then(|t| t.get(RESOLVE_TAG)).cloned();
        let config = a.configuration_values().filter(|c| !c.trim().is_empty());
        let role = a.service_account_role_arn().filter(|r| !r.is_empty());
        Ok(AddonProps {
            cluster_name: a.cluster_name().unwrap_or_default().to_string(),
            addon_name: a.addon_name().unwrap_or_default().to_string(),
            addon_version: Some(a.addon_version().unwrap_or_default().to_string()),
            configuration_values: config.map(|c| json!(c)),
            resolve_conflicts_on_update: resolve,
            service_account_role_arn: role.map(String::from),
        })
    }

    /// CreateAddon with the ownership tags (taking over what EKS installed by itself), then waits until ACTIVE.
    async fn create(&self, aws: &Aws, new: New<'_, AddonProps>) -> Result<EksAddon> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let eks = aws.eks();
        let sent = eks
            .create_addon()
            .cluster_name(&p.cluster_name)
            .addon_name(&p.addon_name)
            .set_addon_version(set(&p.addon_version))
            .set_configuration_values(config_text(p))
            .set_service_account_role_arn(set(&p.service_account_role_arn))
            // The default add-ons EKS installs itself are taken over, not refused.
            .resolve_conflicts(ResolveConflicts::Overwrite)
            .set_tags(Some(with_resolve(tags, p)))
            .send()
            .await;
        let sent = sent.map(drop).map_err(sdk("CreateAddon", address));
        created(
            &eks,
            sent,
            "CreateAddon",
            &p.key(),
            address,
            tags,
            CREATE_TIMEOUT,
        )
        .await
    }

    /// UpdateAddon for version, configuration and role (waiting for it), and the conflict mode's tag.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, AddonProps>,
    ) -> Result<Option<EksAddon>> {
        let (on, changed, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        let has = |f: &str| changed.iter().any(|c| c == f);
        let (eks, key) = (aws.eks(), current.key());
        let mut now = None;
        if has("addon_version") || has("configuration_values") || has("service_account_role_arn") {
            let resolve = set(&desired.resolve_conflicts_on_update);
            let mut call = eks
                .update_addon()
                .cluster_name(&current.cluster_name)
                .addon_name(&current.addon_name)
                .resolve_conflicts(ResolveConflicts::from(
                    resolve.as_deref().unwrap_or("OVERWRITE"),
                ));
            if has("addon_version") {
                call = call.set_addon_version(set(&desired.addon_version));
            }
            if has("configuration_values") {
                // An empty configuration removes the one set before.
                call = call.configuration_values(config_text(desired).unwrap_or_default());
            }
            if has("service_account_role_arn") {
                call = call.service_account_role_arn(
                    set(&desired.service_account_role_arn).unwrap_or_default(),
                );
            }
            let out = call.send().await.map_err(sdk("UpdateAddon", &key))?;
            let a = settle::<EksAddon>(&eks, "UpdateAddon", &key, out.update(), UPDATE_TIMEOUT);
            now = Some(a.await?).filter(|_| has("addon_version"));
        }
        if has("resolve_conflicts_on_update") {
            match set(&desired.resolve_conflicts_on_update) {
                Some(r) => {
                    let call = eks
                        .tag_resource()
                        .resource_arn(on.attr("arn"))
                        .tags(RESOLVE_TAG, r);
                    call.send().await.map_err(sdk("TagResource", &key))?;
                }
                None => {
                    let call = eks.untag_resource().resource_arn(on.attr("arn"));
                    let call = call.tag_keys(RESOLVE_TAG).send().await;
                    call.map_err(sdk("UntagResource", &key))?;
                }
            }
        }
        Ok(now)
    }

    /// DeleteAddon (removing what it runs in the cluster), then waits until it is gone.
    async fn delete(&self, aws: &Aws, _id: &str, p: &AddonProps) -> Result<()> {
        let (eks, key) = (aws.eks(), p.key());
        let call = eks
            .delete_addon()
            .cluster_name(&p.cluster_name)
            .addon_name(&p.addon_name);
        call.send().await.map_err(sdk("DeleteAddon", &key))?;
        wait_gone::<EksAddon>(&eks, "DeleteAddon", &key, DELETE_TIMEOUT).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloudErrorKind;
    use crate::adapter::testing::{obj, round_trip};
    use crate::address::Address;
    use crate::eks::testing::{described_update, update};
    use crate::resource::Observed;
    use crate::resource::{CreateRequest, Resource};
    use crate::schema::normalize_props;
    use crate::{ADDRESS_TAG, STACK_TAG, ownership_tags};
    use aws_sdk_eks::Client;
    use aws_sdk_eks::error::ErrorMetadata;
    use aws_sdk_eks::operation::create_addon::CreateAddonOutput;
    use aws_sdk_eks::operation::delete_addon::DeleteAddonOutput;
    use aws_sdk_eks::operation::describe_addon::{DescribeAddonError, DescribeAddonOutput};
    use aws_sdk_eks::operation::list_addons::ListAddonsOutput;
    use aws_sdk_eks::operation::update_addon::UpdateAddonOutput;
    use aws_sdk_eks::types::AddonStatus;
    use aws_sdk_eks::types::UpdateStatus;
    use aws_sdk_eks::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::mock;
    use std::collections::BTreeSet;

    const CNI_CONFIG: &str =
        r#"{"enableNetworkPolicy":"true","env":{"ENABLE_PREFIX_DELEGATION":"true"}}"#;

    async fn observe(stack: &str, a: &EksAddon) -> Option<Observed> {
        crate::adapter::testing::observe(&ADDON, &Aws::mocked(&[]), stack, a).await
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

    /// Creates the declared add-on for `stack` on `aws` (mocked).
    async fn create(aws: &Aws, stack: &str) -> Result<Observed> {
        let (addr, p) = (address(), declared());
        let req = CreateRequest {
            address: &addr,
            stack,
            props: &p,
            tags: ownership_tags(stack, &addr, &p),
        };
        ADDON.create(&aws.context(), &req).await
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

    #[tokio::test]
    async fn a_described_addon_round_trip_as_declared() {
        let o = observe(
            "prod/us-east-1",
            &live(AddonStatus::Active, CNI_CONFIG, "prod/us-east-1"),
        )
        .await
        .unwrap();
        assert_eq!(o.natural_key.as_deref(), Some("examplepay-prod/vpc-cni"));
        assert!(
            crate::planner::diff(&ADDON, &declared(), &o, &[]).is_empty(),
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
        let aws = Aws::mocked(&[&create_call, &describe_call]);
        let o = create(&aws, "prod/us-east-1").await.unwrap();
        assert_eq!(create_call.num_calls(), 1);
        assert_eq!(
            describe_call.num_calls(),
            3,
            "polled until ACTIVE, then read"
        );
        assert_eq!(o.address, Some(address()));
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
        for (stack, adopted) in [("prod/us-east-1", true), ("prod/eu-west-1", false)] {
            let create_call = mock!(Client::create_addon).then_error(in_use);
            let describe_call = mock!(Client::describe_addon).then_output(|| {
                DescribeAddonOutput::builder()
                    .addon(live(AddonStatus::Active, CNI_CONFIG, "prod/us-east-1"))
                    .build()
            });
            let aws = Aws::mocked(&[&create_call, &describe_call]);
            match create(&aws, stack).await {
                Ok(o) => assert!(adopted && o.address == Some(address()), "{stack}: {o:?}"),
                Err(e) => assert!(!adopted && e.is("ResourceInUseException"), "{stack}: {e}"),
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
        let aws = Aws::mocked(&[&create_call]);
        let err = create(&aws, "s").await.unwrap_err();
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
        let aws = Aws::mocked(&[&create_call, &describe_call]);
        let err = create(&aws, "s").await.unwrap_err();
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
                    .update(update("u-9", UpdateStatus::InProgress))
                    .build()
            });
        let progress = mock!(Client::describe_update)
            .match_requests(|r| r.addon_name() == Some("vpc-cni") && r.update_id() == Some("u-9"))
            .then_output(|| described_update("u-9", UpdateStatus::Successful));
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
        let aws = Aws::mocked(&[&update_call, &progress, &describe_call, &tag_call]);
        let current = observe("s", &live(AddonStatus::Active, CNI_CONFIG, "s"))
            .await
            .unwrap();
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
        let next = ADDON
            .update(&aws.context(), &current, &want, &changed)
            .await
            .unwrap();
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
        let aws = Aws::mocked(&[&delete_call, &describe_call]);
        let current = observe("s", &live(AddonStatus::Active, CNI_CONFIG, "s"))
            .await
            .unwrap();
        ADDON.delete(&aws.context(), &current).await.unwrap();
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
        let aws = Aws::mocked(&[&list_call, &ours, &theirs]);
        let hints = ReadHints {
            natural_keys: BTreeSet::from([
                "examplepay-prod/vpc-cni".to_string(),
                "examplepay-prod/coredns".to_string(),
            ]),
            ..Default::default()
        };
        let found = ADDON.read_all(&aws.context(), "s", &hints).await.unwrap();
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
        let aws = Aws::mocked(&[&delete_call]);
        let current = observe("s", &live(AddonStatus::Active, CNI_CONFIG, "s"))
            .await
            .unwrap();
        ADDON.delete(&aws.context(), &current).await.unwrap();
    }

    #[tokio::test]
    async fn a_created_addon_round_trip_as_declared() {
        let create =
            mock!(Client::create_addon).then_output(|| CreateAddonOutput::builder().build());
        let read = mock!(Client::describe_addon).then_output(|| {
            DescribeAddonOutput::builder()
                .addon(live(AddonStatus::Active, CNI_CONFIG, "test"))
                .build()
        });
        let observed = round_trip(
            &ADDON,
            &Aws::mocked(&[&create, &read]),
            "eks.addon.examplepay-prod-vpc-cni",
            Value::Object(declared()),
        )
        .await;
        assert_eq!(observed.id, "examplepay-prod:vpc-cni");
    }
}
