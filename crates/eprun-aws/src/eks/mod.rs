//! EKS resource types (cluster, managed node group, add-on), one file each, and the helpers they share.
//!
//! EKS resources are found by natural key (the cluster name, `<cluster>/<node group>`,
//! `<cluster>/<add-on>`) and carry the ownership tags, which the read re-checks: a resource tagged
//! for another stack is not ours, an untagged one is adopted by its key. Each type is described
//! for the adapter; their reads, waits, create collisions and tags are shared here.

mod access;
pub mod addon;
pub mod cluster;
pub mod node_group;
mod token;

use crate::Result;
use crate::adapter::{found, tagger};
use crate::address::Address;
use crate::invalid::Invalid;
use crate::resource::{Props, ReadHints};
use crate::{CloudError, CloudErrorKind, STACK_TAG, WaitState, wait_until};
pub(crate) use crate::{Owner, owner};
use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::operation::describe_update::builders::DescribeUpdateFluentBuilder;
use aws_sdk_eks::types::{Update, UpdateStatus};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

/// The error of EKS call `operation` on `target`, for `.map_err(sdk("CreateAddon", target))`. An
/// endpoint that does not serve the operation at all (a 404 without an error code, as emulators
/// answer for the add-on and version-update APIs) is said so, instead of "Unknown".
pub(crate) fn sdk<E>(
    operation: &'static str,
    target: impl std::fmt::Display,
) -> impl FnOnce(SdkError<E, Response>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| {
        let unserved = matches!(&err, SdkError::ServiceError(se)
            if se.raw().status().as_u16() == 404 && se.err().code().is_none());
        let mut e = crate::from_sdk(operation, target, err);
        if unserved {
            e.message = format!(
                "the endpoint answered 404 Not Found: it does not serve `{operation}` (emulators such as moto lack some EKS APIs)"
            );
        }
        e
    }
}

/// The tags of a create call as the map EKS takes.
pub(crate) fn tag_map(tags: &[(String, String)]) -> HashMap<String, String> {
    tags.iter().cloned().collect()
}

/// EKS tags as (key, value) pairs.
pub(crate) fn pairs(tags: Option<&HashMap<String, String>>) -> Vec<(String, String)> {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

tagger! {
    /// EKS tags, changed on the resource's `arn` with TagResource and UntagResource.
    pub struct EksTags: |aws, on, set, remove| eks = aws.eks(), arn = on.attr("arn");
    eks.tag_resource().resource_arn(arn).set_tags(Some(tag_map(set))), "TagResource";
    eks.untag_resource().resource_arn(arn).set_tag_keys(Some(remove.to_vec())), "UntagResource"
}

/// The `EksItem` methods the SDK's cluster, node group and add-on types spell alike: `status`
/// and `tag_map`, and with `issues` the health issues node groups and add-ons report.
macro_rules! spelled_alike {
    () => {
        fn status(&self) -> Option<&str> {
            self.status().map(|s| s.as_str())
        }

        fn tag_map(&self) -> Option<&std::collections::HashMap<String, String>> {
            self.tags()
        }
    };
    (issues) => {
        $crate::eks::spelled_alike!();

        fn issues(&self) -> String {
            let list = self.health().map(|h| h.issues()).unwrap_or_default();
            let codes = list
                .iter()
                .map(|i| (i.code().map(|c| c.as_str()), i.message()));
            $crate::eks::issue_list(codes)
        }
    };
}
pub(crate) use spelled_alike;

/// A described cluster, node group or add-on, as the shared reads and waits see it.
#[async_trait]
pub(crate) trait EksItem: Sized + Send + Sync + 'static {
    /// What it is called in messages: `cluster`, `node group`, `add-on`.
    const WHAT: &'static str;
    /// Its status, e.g. `ACTIVE`.
    fn status(&self) -> Option<&str>;
    /// Its tags, ownership tags included.
    fn tag_map(&self) -> Option<&HashMap<String, String>>;
    /// Its health issues, for messages: ` (CODE: message; …)`, or empty.
    fn issues(&self) -> String {
        String::new()
    }
    /// DescribeUpdate for one of its updates (named `name` in its cluster).
    fn of_update(call: DescribeUpdateFluentBuilder, _name: &str) -> DescribeUpdateFluentBuilder {
        call
    }
    /// The one with natural key `key`; `None` when there is none (or no cluster).
    async fn describe(eks: &Client, key: &str) -> Result<Option<Self>>;
}

/// Health issues as ` (CODE: message; …)`, or empty.
pub(crate) fn issue_list<'a>(
    issues: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> String {
    let list = issues.into_iter();
    let list: Vec<String> = list
        .map(|(c, m)| format!("{}: {}", c.unwrap_or("Unknown"), m.unwrap_or_default()))
        .collect();
    parenthesized(&list)
}

/// ` (a; b)`, or empty when there is nothing to say.
fn parenthesized(list: &[String]) -> String {
    match list.is_empty() {
        true => String::new(),
        false => format!(" ({})", list.join("; ")),
    }
}

/// The id of a node group or add-on: `<cluster>:<name>`.
pub(crate) fn pair_id(cluster: Option<&str>, name: Option<&str>) -> String {
    format!(
        "{}:{}",
        cluster.unwrap_or_default(),
        name.unwrap_or_default()
    )
}

/// `<cluster>/<name>` as its two parts; a cluster's own key is its name.
pub(crate) fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or((key, ""))
}

/// The resources the stack expects that exist: per cluster, the names `list` answers that a
/// natural key expects, each described. One on its way out counts as gone, and so does
/// everything in a cluster that is not there.
pub(crate) async fn read<T: EksItem, F, Fut>(
    eks: &Client,
    hints: &ReadHints,
    list: F,
) -> Result<Vec<T>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Vec<String>>>,
{
    let mut out = Vec::new();
    for (cluster, wanted) in keys_by_cluster(&hints.natural_keys) {
        let present = found(list(cluster.clone()).await)?.unwrap_or_default();
        for name in present.into_iter().filter(|n| wanted.contains(n)) {
            let key = match cluster.as_str() {
                "" => name,
                c => format!("{c}/{name}"),
            };
            let it = T::describe(eks, &key).await?;
            out.extend(it.filter(|t| t.status() != Some("DELETING")));
        }
    }
    Ok(out)
}

/// Waits until `key` is ACTIVE, and answers it as it is then.
pub(crate) async fn wait_active<T: EksItem>(
    eks: &Client,
    operation: &str,
    key: &str,
    timeout: Duration,
) -> Result<T> {
    wait_until(operation, key, timeout, || async move {
        Ok(match T::describe(eks, key).await? {
            None => WaitState::Pending("not visible yet".into()),
            Some(t) => match t.status() {
                Some("ACTIVE") => WaitState::Ready,
                Some(s) if s.ends_with("FAILED") => WaitState::Failed(format!(
                    "the {} ended in state `{s}`{}",
                    T::WHAT,
                    t.issues()
                )),
                Some(s) => WaitState::Pending(format!("{s}{}", t.issues())),
                None => WaitState::Pending("status unknown".into()),
            },
        })
    })
    .await?;
    T::describe(eks, key).await?.ok_or_else(|| {
        let why = format!("the {} disappeared while it was being made ready", T::WHAT);
        CloudError::new(operation, key, CloudErrorKind::NotFound, why)
    })
}

/// Waits until `key` is gone (after its delete call).
pub(crate) async fn wait_gone<T: EksItem>(
    eks: &Client,
    operation: &str,
    key: &str,
    timeout: Duration,
) -> Result<()> {
    wait_until(operation, key, timeout, || async move {
        let Some(t) = T::describe(eks, key).await? else {
            return Ok(WaitState::Ready);
        };
        Ok(match t.status() {
            Some(s @ ("FAILED" | "DELETE_FAILED")) => {
                let during = (s == "FAILED").then_some(" while being deleted");
                let (what, during) = (T::WHAT, during.unwrap_or_default());
                let why = format!("the {what} ended in state `{s}`{}{during}", t.issues());
                WaitState::Failed(why)
            }
            s => WaitState::Pending(s.unwrap_or("deleting").to_string()),
        })
    })
    .await
}

/// A create's outcome, then the resource once ACTIVE. EKS's refusal because the resource exists
/// is forgiven when it is this very resource, made by this stack before its state was lost
/// (tagged for the stack and the address in `tags`); anything else (another stack's, untagged,
/// on its way out) keeps the error.
pub(crate) async fn created<T: EksItem>(
    eks: &Client,
    created: Result<()>,
    operation: &str,
    key: &str,
    address: &Address,
    tags: &[(String, String)],
    timeout: Duration,
) -> Result<T> {
    if let Err(e) = created {
        let stack = tags.iter().find(|(k, _)| k == STACK_TAG);
        let stack = stack.map_or("", |(_, v)| v);
        let in_use = e.is("ResourceInUseException");
        let existing = if in_use {
            T::describe(eks, key).await?
        } else {
            None
        };
        let ours = existing.is_some_and(|t| {
            t.status() != Some("DELETING")
                && matches!(owner(stack, pairs(t.tag_map())), Owner::Ours(a, _) if &a == address)
        });
        if !ours {
            return Err(e);
        }
    }
    wait_active(eks, operation, key, timeout).await
}

/// The wait state of an EKS update.
fn update_state(update: &Update) -> WaitState {
    match update.status() {
        Some(UpdateStatus::Successful) => WaitState::Ready,
        Some(s @ (UpdateStatus::Failed | UpdateStatus::Cancelled)) => {
            let errors = update.errors().iter().map(|e| {
                let code = e.error_code().map_or("", |c| c.as_str());
                format!("{code}: {}", e.error_message().unwrap_or_default())
            });
            let detail = parenthesized(&errors.collect::<Vec<_>>());
            WaitState::Failed(format!("the update ended `{}`{detail}", s.as_str()))
        }
        Some(s) => WaitState::Pending(format!("update {}", s.as_str())),
        None => WaitState::Pending("update status unknown".into()),
    }
}

/// Waits until an update that EKS started on `key` (UpdateClusterVersion, UpdateNodegroupConfig,
/// UpdateAddon, …) has finished, polling DescribeUpdate, then until the resource is ACTIVE again,
/// and answers it. An answer that carries no update, or one already successful, needs no polling.
pub(crate) async fn settle<T: EksItem>(
    eks: &Client,
    operation: &str,
    key: &str,
    update: Option<&Update>,
    timeout: Duration,
) -> Result<T> {
    let (cluster, name) = split_key(key);
    let state = update.map_or(WaitState::Ready, update_state);
    if let WaitState::Failed(why) = state {
        return Err(CloudError::new(
            operation,
            cluster,
            CloudErrorKind::Wait,
            why,
        ));
    }
    if let (WaitState::Pending(_), Some(id)) = (state, update.and_then(Update::id)) {
        wait_until(operation, cluster, timeout, || async move {
            let call = eks.describe_update().name(cluster).update_id(id);
            let out = T::of_update(call, name).send().await;
            let update = out.map_err(sdk("DescribeUpdate", cluster))?.update;
            let unseen = || WaitState::Pending("update not visible yet".into());
            Ok(update.as_ref().map_or_else(unseen, update_state))
        })
        .await?;
    }
    wait_active(eks, operation, key, timeout).await
}

/// Runs a create call, retrying while EKS cannot assume a role that IAM has not propagated yet
/// (`InvalidParameterException: Role with arn … could not be assumed`), as happens right after
/// the role is made.
pub(crate) async fn retry_new_role<T, F, Fut>(call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    // IAM propagates a new role within about two minutes.
    crate::retry_while(Duration::from_secs(120), is_role_propagation, call).await
}

/// Whether an error says that EKS cannot use a role yet; EKS says so only in the message of its
/// `InvalidParameterException`.
fn is_role_propagation(e: &CloudError) -> bool {
    e.is("InvalidParameterException") && e.message.to_ascii_lowercase().contains("role")
}

/// A natural key made of two names, `<cluster>/<name>`; `None` while either is still a token.
pub(crate) fn pair_key(props: &Props, cluster_field: &str, name_field: &str) -> Option<String> {
    let cluster = props.get(cluster_field)?;
    let name = props.get(name_field)?;
    if crate::token::is_unknown(cluster) || crate::token::is_unknown(name) {
        return None;
    }
    Some(format!("{}/{}", cluster.as_str()?, name.as_str()?))
}

/// The clusters named in `<cluster>/<name>` natural keys, each with the names wanted in it; a
/// cluster's own key (its name) is wanted in `""`.
pub(crate) fn keys_by_cluster<'a>(
    keys: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (cluster, name) in keys
        .into_iter()
        .map(|k| k.split_once('/').unwrap_or(("", k)))
    {
        out.entry(cluster.into()).or_default().push(name.into());
    }
    out
}

/// How long a name may be; EKS names are 1 to 100 letters, digits, `-` and `_`, starting alphanumeric.
pub(crate) fn check_eks_name(field: &str, name: &str, max: usize) -> Result<(), Invalid> {
    let first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if crate::token::is_unknown(&json!(name)) || (first && rest && name.len() <= max) {
        return Ok(());
    }
    Err(Invalid::value(
        field,
        format!(
            "`{name}` is not a valid name (1 to {max} letters, digits, `-` and `_`, starting with a letter or digit)"
        ),
    ))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A mocked EKS client for unit tests (`aws-smithy-mocks`).

    use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
    use aws_sdk_eks::types::{Update, UpdateStatus};
    use aws_smithy_mocks::{Rule, RuleMode};

    /// An EKS client whose calls are answered by `rules`, matched as `mode` says.
    pub(crate) fn client(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_eks::Client {
        crate::Aws::mocked_in(mode, rules).eks()
    }

    /// The update `id` in `status`, as an update call or DescribeUpdate answers it.
    pub(crate) fn update(id: &str, status: UpdateStatus) -> Update {
        Update::builder().id(id).status(status).build()
    }

    /// What DescribeUpdate answers for the update `id` in `status`.
    pub(crate) fn described_update(id: &str, status: UpdateStatus) -> DescribeUpdateOutput {
        DescribeUpdateOutput::builder()
            .update(update(id, status))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_keys_wait_for_tokens_and_group_by_cluster() {
        let p = serde_json::json!({"cluster_name": "c", "addon_name": "coredns"});
        assert_eq!(
            pair_key(p.as_object().unwrap(), "cluster_name", "addon_name").as_deref(),
            Some("c/coredns")
        );
        let marker = crate::token::marker(&"eks.cluster.c".parse().unwrap(), "id");
        let p = serde_json::json!({"cluster_name": marker, "addon_name": "coredns"});
        assert_eq!(
            pair_key(p.as_object().unwrap(), "cluster_name", "addon_name"),
            None
        );
        let keys = ["a/x".to_string(), "a/y".to_string(), "b/z".to_string()];
        let grouped = keys_by_cluster(keys.iter());
        assert_eq!(grouped["a"], vec!["x", "y"]);
        assert_eq!(grouped["b"], vec!["z"]);
    }

    #[test]
    fn eks_names_are_checked() {
        assert!(check_eks_name("name", "examplepay-prod", 100).is_ok());
        assert!(check_eks_name("name", "-bad", 100).is_err());
        assert!(check_eks_name("name", "has space", 100).is_err());
    }
}
