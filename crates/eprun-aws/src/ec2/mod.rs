//! EC2 resource types, one file each, and the helpers they share.

pub mod eip;
pub mod flow_log;
pub mod internet_gateway;
pub mod nat_gateway;
pub mod route;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod subnet;
pub mod transit_gateway;
pub mod transit_gateway_peering_attachment;
pub mod transit_gateway_peering_attachment_accepter;
pub mod transit_gateway_route;
pub mod transit_gateway_vpc_attachment;
pub mod vpc;
pub mod vpc_endpoint;

/// What every EC2 type's file uses.
pub(crate) mod prelude {
    pub(crate) use super::{
        Ec2Tags, Wait, arn, by_ids, describe, describe_one, fetch, first, owned_route_tables,
        pairs, retry_dependency, settle, settle_deleted, stack_filter, str_prop, table_parts,
        tags_at_create, untagged, visible,
    };
    pub(crate) use crate::adapter::{
        Attr, Change, Changes, Description, Fetch, Identity, New, ResourceType as _, known,
        resource,
    };
    pub(crate) use crate::address::Address;
    pub(crate) use crate::invalid::Invalid;
    pub(crate) use crate::props::schema;
    pub(crate) use crate::resource::{DeclaredProps, Props, ReadHints};
    pub(crate) use crate::schema::{Kind, TAGS};
    pub(crate) use crate::{Aws, CloudError, WaitState, sdk};
    pub(crate) use async_trait::async_trait;
    pub(crate) use aws_sdk_ec2::types::ResourceType;
    pub(crate) use serde_json::{Value, json};
    pub(crate) use std::time::Duration;

    pub(crate) use super::{kept_ownership, only};
}

use crate::Result;
use crate::adapter::{found, tagger};
use crate::address::Address;
use crate::{Aws, CloudError, CloudErrorKind, WaitState, tags, wait_until};
use aws_sdk_ec2::types::{
    Filter, ResourceType, RouteTable, Tag, TagSpecification, UnsuccessfulItem,
};
use serde_json::Value;

/// The filter that narrows a Describe call to the stack's resources (re-checked client-side).
pub fn stack_filter(stack: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{}", tags::STACK_TAG))
        .values(stack)
        .build()
}

/// Every item a paginated EC2 Describe call answers, e.g.
/// `describe!(aws.describe_subnets().filters(f), stack)`; an error names the call and `target`.
macro_rules! describe {
    ($aws:ident.$call:ident() $(.$more:ident($($arg:tt)*))*, $target:expr) => {
        $crate::all!(
            $aws.ec2().$call()$(.$more($($arg)*))*,
            $crate::ec2::operation(stringify!($call)),
            $target
        )
    };
}
pub(crate) use describe;

/// Declares the file's `describe_one(aws, id)`: its `Item` whose id is `id`, found by the
/// Describe call `$call` narrowed by the id filter `$ids`; `None` while Describe does not see it.
macro_rules! describe_one {
    ($call:ident, $ids:ident) => {
        /// The item `id`, if Describe sees it.
        async fn describe_one(aws: &Aws, id: &str) -> Result<Option<Item>> {
            first(describe!(aws.$call().$ids(id), id))
        }
    };
}
pub(crate) use describe_one;

/// The `FETCH` of an EC2 type: one call of its Describe `$call` narrowed to the ids by `$ids`
/// (`by_ids` reads them one by one when one is gone), e.g.
/// `const FETCH: Option<Fetch<Item>> = fetch!(describe_subnets, set_subnet_ids);`.
macro_rules! fetch {
    ($call:ident, $ids:ident) => {{
        let fetch: $crate::adapter::Fetch<Self::Item> = |aws, ids| {
            Box::pin($crate::ec2::by_ids(ids, move |ids| async move {
                $crate::ec2::describe!(aws.$call().$ids(Some(ids)), Self::KIND)
            }))
        };
        Some(fetch)
    }};
}
pub(crate) use fetch;

/// The operation an SDK method calls: `DescribeSubnets` for `describe_subnets`.
pub fn operation(method: &str) -> String {
    let word = |w: &str| w[..1].to_uppercase() + &w[1..];
    method.split('_').map(word).collect()
}

/// The one item a Describe by id answers; "not found" (not visible yet, or gone) is `None`.
pub fn first<T>(items: Result<Vec<T>>) -> Result<Option<T>> {
    Ok(found(items)?.and_then(|v| v.into_iter().next()))
}

/// A wait: the operation it is part of, and how long it may take.
pub struct Wait(pub &'static str, pub std::time::Duration);

/// Polls `describe` of `id` until `state` of its answer (`None`: not visible, or gone) is ready,
/// and answers what it saw last.
pub async fn settle<'a, T: Send, Fut>(
    aws: &'a Aws,
    id: &'a str,
    Wait(operation, timeout): Wait,
    describe: fn(&'a Aws, &'a str) -> Fut,
    state: impl Fn(Option<&T>) -> WaitState,
) -> Result<Option<T>>
where
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let (last, state) = (std::sync::Mutex::new(None), &state);
    wait_until(operation, id, timeout, || {
        let (next, last) = (describe(aws, id), &last);
        async move {
            let item = found(next.await)?.flatten();
            let now = state(item.as_ref());
            *last.lock().unwrap_or_else(|p| p.into_inner()) = item;
            Ok(now)
        }
    })
    .await?;
    Ok(last.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Polls `describe` of `id` until Describe no longer sees it or its `state` is `deleted`.
pub async fn settle_deleted<'a, T: Send, S: AsRef<str>, Fut>(
    aws: &'a Aws,
    id: &'a str,
    wait: Wait,
    describe: fn(&'a Aws, &'a str) -> Fut,
    state: fn(&T) -> Option<&S>,
) -> Result<()>
where
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let gone = settle(aws, id, wait, describe, |t| deleted(t.and_then(state)));
    gone.await.map(drop)
}

/// Ready once Describe no longer sees it or its `state` is `deleted`.
pub fn deleted<S: AsRef<str>>(state: Option<&S>) -> WaitState {
    match state.map(AsRef::as_ref) {
        None | Some("deleted") => WaitState::Ready,
        Some(s) => WaitState::Pending(s.to_string()),
    }
}

/// Ready once Describe sees it.
pub fn visible<T>(item: Option<&T>) -> WaitState {
    item.map_or(WaitState::Pending("not visible yet".into()), |_| {
        WaitState::Ready
    })
}

/// The ARN of an EC2 resource of `kind` (e.g. `subnet`) that AWS does not report.
pub fn arn(aws: &Aws, owner: Option<&str>, kind: &str, id: Option<&str>) -> serde_json::Value {
    let (owner, id) = (owner.unwrap_or_default(), id.unwrap_or_default());
    serde_json::json!(format!("arn:aws:ec2:{}:{owner}:{kind}/{id}", aws.region()))
}

/// The `TagSpecifications` entry that sets `tags` on a resource in its create call.
pub fn tags_at_create(resource_type: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

/// The (key, value) pairs of EC2 tags.
pub fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

tagger! {
    /// EC2's tagger: CreateTags and DeleteTags on the resource id.
    pub struct Ec2Tags: |aws, on, set, remove| ec2 = aws.ec2(), id = &on.id;
    ec2.create_tags().resources(id).set_tags(Some(ec2_tags(set))), "CreateTags";
    ec2.delete_tags().resources(id).set_tags(Some(tag_keys(remove))), "DeleteTags"
}

/// Tag keys as EC2 tags without values, for DeleteTags.
fn tag_keys(keys: &[String]) -> Vec<Tag> {
    keys.iter().map(|k| Tag::builder().key(k).build()).collect()
}

/// (key, value) pairs as EC2 tags.
fn ec2_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub use crate::props::{list_prop, str_prop};

/// The error for a new resource that came back without its ownership tags.
pub fn untagged(operation: &str, address: &Address, what: &str) -> CloudError {
    CloudError::new(
        operation,
        address,
        CloudErrorKind::Service("Tags".into()),
        format!("the new {what} came back without its ownership tags"),
    )
}

/// The route tables the stack owns (tags re-checked): routes and associations carry no tags of
/// their own, so they are the stack's through their table and are read from the same answer.
pub async fn owned_route_tables(aws: &Aws, stack: &str) -> Result<Vec<RouteTable>> {
    let f = stack_filter(stack);
    let mut tables = describe!(aws.describe_route_tables().filters(f), stack)?;
    tables.retain(|t| tags::split_owned(stack, pairs(t.tags())).is_some());
    Ok(tables)
}

/// The items whose ids are `ids`, from one Describe call by id; when AWS answers that one of them
/// is gone, from one call per id, leaving out the gone ones.
pub async fn by_ids<T, Fut>(ids: &[String], describe: impl Fn(Vec<String>) -> Fut) -> Result<Vec<T>>
where
    Fut: std::future::Future<Output = Result<Vec<T>>>,
{
    match describe(ids.to_vec()).await {
        Err(e) if e.is_not_found() && ids.len() > 1 => {
            let mut out = Vec::new();
            for id in ids {
                out.extend(found(describe(vec![id.clone()]).await)?.unwrap_or_default());
            }
            Ok(out)
        }
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        other => other,
    }
}

/// Every part (route, association) of the stack's route tables that `keep` takes, each with its
/// table's id: the parts are untaggable and belong to the stack through their table, or through
/// the table a recorded part's key names (`rtb-…|…`, a table imported without tags).
pub async fn table_parts<T: Clone>(
    aws: &Aws,
    stack: &str,
    hints: &crate::resource::ReadHints,
    parts: fn(&RouteTable) -> &[T],
    keep: fn(&T) -> bool,
) -> Result<Vec<(String, T)>> {
    let mut tables = owned_route_tables(aws, stack).await?;
    let known = |id: &&str| tables.iter().any(|t| t.route_table_id() == Some(*id));
    let named: std::collections::BTreeSet<String> = (hints.natural_keys.iter())
        .filter_map(|k| k.split('|').next())
        .filter(|id| id.starts_with("rtb-") && !known(id))
        .map(String::from)
        .collect();
    if !named.is_empty() {
        let named: Vec<String> = named.into_iter().collect();
        let call = |ids| async move {
            describe!(
                aws.describe_route_tables().set_route_table_ids(Some(ids)),
                stack
            )
        };
        tables.extend(by_ids(&named, call).await?);
    }
    let of = |t: &RouteTable| {
        let id = t.route_table_id().unwrap_or_default().to_string();
        parts(t)
            .iter()
            .filter(|p| keep(p))
            .map(move |p| (id.clone(), p.clone()))
            .collect::<Vec<_>>()
    };
    Ok(tables.iter().flat_map(of).collect())
}

/// How long a delete keeps retrying while AWS still sees dependents that are on their way out.
const DEPENDENCY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs a delete-like call, retrying while it fails with `DependencyViolation`: dependents deleted just
/// before (NAT gateway addresses, endpoint network interfaces) take a while to let go. Not-found is success.
pub async fn retry_dependency<F, Fut>(operation: &str, target: &str, mut call: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    wait_until(operation, target, DEPENDENCY_TIMEOUT, || {
        let attempt = call();
        async move {
            match attempt.await {
                Ok(()) => Ok(WaitState::Ready),
                Err(e) if e.is_not_found() => Ok(WaitState::Ready),
                Err(e) if e.is("DependencyViolation") => Ok(WaitState::Pending(format!(
                    "blocked by dependents ({})",
                    e.message
                ))),
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// The (to add, to remove) ids that turn the set `have` into `want`.
pub fn set_changes(
    have: &Option<Vec<String>>,
    want: &Option<Vec<String>>,
) -> (Vec<String>, Vec<String>) {
    let (have, want) = (
        have.as_deref().unwrap_or_default(),
        want.as_deref().unwrap_or_default(),
    );
    let missing = |from: &[String], to: &[String]| {
        from.iter().filter(|id| !to.contains(id)).cloned().collect()
    };
    (missing(want, have), missing(have, want))
}

/// The first per-item failure of a batch call (DeleteVpcEndpoints, CreateFlowLogs, …), which AWS
/// reports in the answer instead of as an error.
pub fn unsuccessful(operation: &str, target: &str, items: &[UnsuccessfulItem]) -> Result<()> {
    let Some(err) = items.iter().find_map(|u| u.error()) else {
        return Ok(());
    };
    let code = err.code().unwrap_or("Unknown");
    let kind = if code.contains("NotFound") {
        CloudErrorKind::NotFound
    } else {
        CloudErrorKind::Service(code.into())
    };
    Err(CloudError::new(
        operation,
        target,
        kind,
        format!("{code}: {}", err.message().unwrap_or_default()),
    ))
}

pub mod attachment;

/// Whether an item still carries the ownership tags its create call set in `tags` (some emulators
/// drop a create call's tags, and a read would not recognise it).
pub fn kept_ownership(item: &[Tag], tags: &[(String, String)]) -> bool {
    let have = pairs(item);
    let ownership = |(k, _): &&(String, String)| k == tags::STACK_TAG || k == tags::ADDRESS_TAG;
    tags.iter().filter(ownership).all(|t| have.contains(t))
}

/// Typed props with only `fields` kept (the others `None`): what a modify call that sends only the
/// changed fields sends.
pub fn only<P: serde::Serialize + serde::de::DeserializeOwned + Default>(
    p: &P,
    fields: &[String],
) -> P {
    let mut kept = crate::adapter::to_props(p);
    kept.retain(|k, _| fields.contains(k));
    serde_json::from_value(Value::Object(kept)).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the EC2 types' tests share.

    use crate::tags::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_ec2::types::Tag;

    pub(crate) use crate::adapter::testing::{NoOthers, obj, round_trip};

    /// An EC2 tag.
    pub(crate) fn tag(key: &str, value: &str) -> Tag {
        Tag::builder().key(key).value(value).build()
    }

    /// The EC2 tags `stack` owns the resource at `address` by.
    pub(crate) fn owned(stack: &str, address: &str) -> Vec<Tag> {
        vec![tag(STACK_TAG, stack), tag(ADDRESS_TAG, address)]
    }
}
