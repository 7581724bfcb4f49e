//! `aws::kms::key`: a customer managed KMS key, found by its alias.
//!
//! KMS cannot list keys by tag, and reading every key of an account would take a call per key,
//! so the stack names each key by an alias (its natural key): one paginated ListAliases call, then
//! DescribeKey, GetKeyRotationStatus, GetKeyPolicy and ListResourceTags for the aliases the stack
//! expects only. Deleting a key schedules its deletion; a key pending deletion counts as gone.

use crate::context::Context;
use crate::ec2::{bool_prop, props, str_prop};
use crate::eks::{int_prop, json_text, opt_str, owner};
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind};
use async_trait::async_trait;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType, Tag};
use serde_json::{Value, json};

/// A symmetric encryption key.
pub struct Key;

/// Where `deletion_window_in_days` is kept: KMS only takes it when deletion is scheduled.
const WINDOW_TAG: &str = "eprun:deletion_window_in_days";

/// The window KMS uses when none is given.
const DEFAULT_WINDOW: i32 = 30;

const SCHEMA: &[Field] = &[
    Field::required(
        "alias",
        Kind::Str,
        "the key's alias (`alias/<name>`), by which the stack finds it",
    )
    .updatable(),
    Field::optional("description", Kind::Str, "what the key is for"),
    Field::optional(
        "enable_key_rotation",
        Kind::Bool,
        "rotate the key material every year",
    )
    .default("true"),
    Field::optional(
        "deletion_window_in_days",
        Kind::Int,
        "days (7 to 30) between deletion and the key being destroyed; 30 when left out",
    ),
    Field::optional(
        "policy",
        Kind::Json,
        "the key policy (KMS's default policy, which lets the account's IAM policies grant use, when left out)",
    ),
    TAGS,
];

/// The name of the one key policy a key has.
const POLICY_NAME: &str = "default";

/// Checks an alias: `alias/` then letters, digits, `/`, `_` and `-`; not an AWS-managed `alias/aws/` one.
fn check_alias(alias: &str) -> Result<(), String> {
    if token::is_unknown(&json!(alias)) {
        return Ok(());
    }
    let Some(rest) = alias.strip_prefix("alias/") else {
        return Err(format!(
            "property `alias`: `{alias}` must start with `alias/`"
        ));
    };
    if rest.is_empty()
        || alias.len() > 256
        || !rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
    {
        return Err(format!(
            "property `alias`: `{alias}` is not a valid alias (letters, digits, `/`, `_` and `-` after `alias/`)"
        ));
    }
    if rest.starts_with("aws/") {
        return Err(format!(
            "property `alias`: `{alias}` is reserved for AWS managed keys"
        ));
    }
    Ok(())
}

/// A KMS error as an eprun error; `KMSInvalidStateException` says a key is pending deletion.
fn sdk<E, R>(
    operation: &str,
    target: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> CloudError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    crate::from_sdk(operation, target, e)
}

/// The tags of a create call, with the deletion window kept as a tag.
fn create_tags(tags: &[(String, String)], props: &Props) -> Result<Vec<Tag>, CloudError> {
    let mut all: Vec<(String, String)> = tags
        .iter()
        .filter(|(k, _)| k != WINDOW_TAG)
        .cloned()
        .collect();
    if let Some(days) = int_prop(props, "deletion_window_in_days") {
        all.push((WINDOW_TAG.into(), days.to_string()));
    }
    all.into_iter()
        .map(|(k, v)| {
            Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| {
                CloudError::new(
                    "CreateKey",
                    "tags",
                    CloudErrorKind::Service("Client".into()),
                    e.to_string(),
                )
            })
        })
        .collect()
}

/// The attributes of a key.
fn attrs(meta: &KeyMetadata, alias: &str) -> Props {
    props([
        ("id", json!(meta.key_id())),
        ("arn", json!(meta.arn().unwrap_or_default())),
        ("alias", json!(alias)),
    ])
}

/// Whether a key is usable (not on its way to deletion, not AWS managed).
fn is_live(meta: &KeyMetadata) -> bool {
    !matches!(
        meta.key_state(),
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    ) && meta.key_manager() != Some(&KeyManagerType::Aws)
}

/// DescribeKey; `None` when there is no such key.
async fn describe(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
) -> Result<Option<KeyMetadata>, CloudError> {
    match kms.describe_key().key_id(key_id).send().await {
        Ok(out) => Ok(out.key_metadata().cloned()),
        Err(e) => {
            let e = sdk("DescribeKey", key_id, e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Reads one key behind an alias; `None` when it is not ours or on its way out.
async fn observe(
    kms: &aws_sdk_kms::Client,
    stack: &str,
    alias: &str,
    key_id: &str,
) -> Result<Option<Observed>, CloudError> {
    let Some(meta) = describe(kms, key_id).await? else {
        return Ok(None);
    };
    if !is_live(&meta) {
        return Ok(None);
    }
    let mut all = Vec::new();
    let mut pages = kms
        .list_resource_tags()
        .key_id(key_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("ListResourceTags", key_id, e))?;
        all.extend(
            page.tags()
                .iter()
                .map(|t| (t.tag_key().to_string(), t.tag_value().to_string())),
        );
    }
    let window = all
        .iter()
        .find(|(k, _)| k == WINDOW_TAG)
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let Some((address, user_tags)) = owner(stack, all).split() else {
        return Ok(None);
    };
    let rotation = kms
        .get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| sdk("GetKeyRotationStatus", key_id, e))?
        .key_rotation_enabled();
    let policy = kms
        .get_key_policy()
        .key_id(key_id)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .map_err(|e| sdk("GetKeyPolicy", key_id, e))?
        .policy()
        .map(String::from);
    let mut p = props([
        ("alias", json!(alias)),
        ("description", json!(meta.description().unwrap_or_default())),
        ("enable_key_rotation", json!(rotation)),
        ("tags", user_tags),
    ]);
    if let Some(days) = window {
        p.insert("deletion_window_in_days".into(), json!(days));
    }
    if let Some(policy) = policy {
        p.insert("policy".into(), json!(policy));
    }
    Ok(Some(Observed {
        address,
        id: meta.key_id().to_string(),
        natural_key: Some(alias.to_string()),
        props: p,
        attrs: attrs(&meta, alias),
    }))
}

/// One paginated ListAliases, then a read of the key behind each alias the stack expects.
pub(crate) async fn read(
    kms: &aws_sdk_kms::Client,
    stack: &str,
    hints: &ReadHints,
) -> Result<Vec<Observed>, CloudError> {
    if hints.natural_keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut wanted = Vec::new();
    let mut pages = kms.list_aliases().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("ListAliases", stack, e))?;
        for a in page.aliases() {
            if let (Some(name), Some(key)) = (a.alias_name(), a.target_key_id()) {
                if hints.natural_keys.contains(name) {
                    wanted.push((name.to_string(), key.to_string()));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (alias, key) in wanted {
        out.extend(observe(kms, stack, &alias, &key).await?);
    }
    Ok(out)
}

async fn set_rotation(kms: &aws_sdk_kms::Client, key_id: &str, on: bool) -> Result<(), CloudError> {
    if on {
        kms.enable_key_rotation()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk("EnableKeyRotation", key_id, e))?;
    } else {
        kms.disable_key_rotation()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk("DisableKeyRotation", key_id, e))?;
    }
    Ok(())
}

/// CreateKey with the ownership tags, then its alias right away (the alias is how it is found), then rotation.
pub(crate) async fn create(
    kms: &aws_sdk_kms::Client,
    req: &CreateRequest<'_>,
) -> Result<Observed, CloudError> {
    let p = req.props;
    let alias = str_prop(p, "alias");
    let out = kms
        .create_key()
        .set_description(opt_str(p, "description").map(String::from))
        .set_policy(json_text(p, "policy"))
        .key_usage(KeyUsageType::EncryptDecrypt)
        .key_spec(KeySpec::SymmetricDefault)
        .set_tags(Some(create_tags(&req.tags, p)?))
        .send()
        .await
        .map_err(|e| sdk("CreateKey", &req.address.to_string(), e))?;
    let meta = out.key_metadata().cloned().ok_or_else(|| {
        CloudError::new(
            "CreateKey",
            req.address,
            CloudErrorKind::Service("Empty".into()),
            "KMS answered without the new key",
        )
    })?;
    let key_id = meta.key_id().to_string();
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(&key_id)
        .send()
        .await
        .map_err(|e| sdk("CreateAlias", alias, e))?;
    let rotation = bool_prop(p, "enable_key_rotation").unwrap_or(true);
    if rotation {
        set_rotation(kms, &key_id, true).await?;
    }
    let mut props = props([
        ("alias", json!(alias)),
        ("description", json!(meta.description().unwrap_or_default())),
        ("enable_key_rotation", json!(rotation)),
        (
            "tags",
            Value::Object(
                crate::tags::user_tags(p)
                    .into_iter()
                    .map(|(k, v)| (k, json!(v)))
                    .collect(),
            ),
        ),
    ]);
    for key in ["deletion_window_in_days", "policy"] {
        if let Some(v) = p.get(key) {
            props.insert(key.into(), v.clone());
        }
    }
    Ok(Observed {
        address: Some(req.address.clone()),
        id: key_id,
        natural_key: Some(alias.to_string()),
        props,
        attrs: attrs(&meta, alias),
    })
}

/// Brings tags (user tags and the deletion-window tag) from `current` to `desired`.
async fn update_tags(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    current: &Props,
    desired: &Props,
    window: bool,
) -> Result<(), CloudError> {
    let (mut set, mut remove) = crate::tags::tag_changes(current, desired);
    if window {
        match int_prop(desired, "deletion_window_in_days") {
            Some(days) => set.push((WINDOW_TAG.into(), days.to_string())),
            None => remove.push(WINDOW_TAG.into()),
        }
    }
    if !set.is_empty() {
        let tags = set
            .into_iter()
            .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                CloudError::new(
                    "TagResource",
                    key_id,
                    CloudErrorKind::Service("Client".into()),
                    e.to_string(),
                )
            })?;
        kms.tag_resource()
            .key_id(key_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| sdk("TagResource", key_id, e))?;
    }
    if !remove.is_empty() {
        kms.untag_resource()
            .key_id(key_id)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| sdk("UntagResource", key_id, e))?;
    }
    Ok(())
}

/// Renames the alias, changes description, rotation, policy, tags and the kept deletion window.
pub(crate) async fn update(
    kms: &aws_sdk_kms::Client,
    current: &Observed,
    desired: &Props,
    changed: &[String],
) -> Result<Observed, CloudError> {
    let key_id = current.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    let mut next = current.updated(desired, changed);
    if has("alias") {
        let new = str_prop(desired, "alias");
        let old = str_prop(&current.props, "alias");
        kms.create_alias()
            .alias_name(new)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk("CreateAlias", new, e))?;
        let r = kms
            .delete_alias()
            .alias_name(old)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk("DeleteAlias", old, e));
        crate::resource::gone_ok(r)?;
        next.natural_key = Some(new.to_string());
        next.attrs.insert("alias".into(), json!(new));
    }
    if has("description") {
        kms.update_key_description()
            .key_id(key_id)
            .description(str_prop(desired, "description"))
            .send()
            .await
            .map_err(|e| sdk("UpdateKeyDescription", key_id, e))?;
    }
    if has("enable_key_rotation") {
        set_rotation(
            kms,
            key_id,
            bool_prop(desired, "enable_key_rotation").unwrap_or(true),
        )
        .await?;
    }
    if has("policy") {
        if let Some(policy) = json_text(desired, "policy") {
            kms.put_key_policy()
                .key_id(key_id)
                .policy_name(POLICY_NAME)
                .policy(policy)
                .send()
                .await
                .map_err(|e| sdk("PutKeyPolicy", key_id, e))?;
        }
    }
    if has("tags") || has("deletion_window_in_days") {
        update_tags(
            kms,
            key_id,
            &current.props,
            desired,
            has("deletion_window_in_days"),
        )
        .await?;
    }
    Ok(next)
}

/// Deletes the alias and schedules the key's deletion (after the kept window, 30 days by default).
pub(crate) async fn delete(
    kms: &aws_sdk_kms::Client,
    current: &Observed,
) -> Result<(), CloudError> {
    let key_id = current.id.as_str();
    if let Some(alias) = opt_str(&current.props, "alias") {
        let r = kms
            .delete_alias()
            .alias_name(alias)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk("DeleteAlias", alias, e));
        crate::resource::gone_ok(r)?;
    }
    let window = int_prop(&current.props, "deletion_window_in_days")
        .map(|d| d as i32)
        .unwrap_or(DEFAULT_WINDOW);
    match kms
        .schedule_key_deletion()
        .key_id(key_id)
        .pending_window_in_days(window)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = sdk("ScheduleKeyDeletion", key_id, e);
            if e.is_not_found() {
                return Ok(());
            }
            // Already scheduled (a retried destroy): that is what was asked.
            if e.kind == CloudErrorKind::Service("KMSInvalidStateException".into()) {
                if let Some(meta) = describe(kms, key_id).await? {
                    if meta.key_state() == Some(&KeyState::PendingDeletion) {
                        return Ok(());
                    }
                }
            }
            Err(e)
        }
    }
}

#[async_trait]
impl Resource for Key {
    fn kind(&self) -> &'static str {
        "kms.key"
    }

    fn doc(&self) -> &'static str {
        "A symmetric KMS key with an alias, by which it is found; deleting it schedules its deletion. Attributes: `id` (the key id), `arn`, `alias`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "alias"]
    }

    fn taggable(&self) -> bool {
        // Tagged, but found by alias: KMS cannot list keys by tag.
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let alias = props.get("alias")?;
        if token::is_unknown(alias) {
            return None;
        }
        alias.as_str().map(String::from)
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_alias(str_prop(props, "alias"))?;
        if let Some(days) = int_prop(props, "deletion_window_in_days") {
            if !(7..=30).contains(&days) {
                return Err(format!(
                    "property `deletion_window_in_days`: {days} is not between 7 and 30"
                ));
            }
        }
        if matches!(props.get("policy"), Some(Value::Array(_))) {
            return Err("property `policy` must be a policy document (a map), not an array".into());
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
        read(&aws.kms(), stack, hints).await
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        create(&aws.kms(), req).await
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        update(&aws.kms(), current, desired, changed).await
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        delete(&aws.kms(), current).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::testing;
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_kms::Client;
    use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
    use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
    use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput;
    use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
    use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
    use aws_sdk_kms::types::AliasListEntry;
    use aws_smithy_mocks::mock;
    use std::collections::BTreeSet;

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn meta(id: &str, state: KeyState) -> KeyMetadata {
        KeyMetadata::builder()
            .key_id(id)
            .arn(format!("arn:aws:kms:us-east-1:123456789012:key/{id}"))
            .description("EKS secrets")
            .key_state(state)
            .key_manager(KeyManagerType::Customer)
            .build()
            .unwrap()
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag::builder().tag_key(k).tag_value(v).build().unwrap()
    }

    #[test]
    fn aliases_are_checked() {
        assert!(check_alias("alias/examplepay-prod-eks-secrets").is_ok());
        assert!(
            check_alias("examplepay")
                .unwrap_err()
                .contains("must start with `alias/`")
        );
        assert!(
            check_alias("alias/aws/eks")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(check_alias("alias/has space").is_err());
        let others = crate::declaration::Declarations::default();
        let p = obj(json!({"alias": "alias/x", "deletion_window_in_days": 3}));
        assert!(
            Key.validate(&p, &others)
                .unwrap_err()
                .contains("between 7 and 30")
        );
    }

    #[test]
    fn the_deletion_window_travels_as_a_tag() {
        let tags = create_tags(
            &[("Name".into(), "k".into())],
            &obj(json!({"deletion_window_in_days": 7})),
        )
        .unwrap();
        assert!(
            tags.iter()
                .any(|t| t.tag_key() == WINDOW_TAG && t.tag_value() == "7")
        );
    }

    /// Three aliases: ours (expected), another stack's (expected, but tagged for it), one pending
    /// deletion (expected), and one not expected at all (never described).
    #[tokio::test]
    async fn read_describes_only_expected_live_keys_of_this_stack() {
        let aliases = mock!(Client::list_aliases).then_output(|| {
            let e = |a: &str, k: &str| {
                AliasListEntry::builder()
                    .alias_name(a)
                    .target_key_id(k)
                    .build()
            };
            ListAliasesOutput::builder()
                .aliases(e("alias/ours", "k-1"))
                .aliases(e("alias/theirs", "k-2"))
                .aliases(e("alias/going", "k-3"))
                .aliases(e("alias/unrelated", "k-4"))
                .build()
        });
        let describe = mock!(Client::describe_key).then_compute_output(|r| {
            let id = r.key_id().unwrap();
            let state = if id == "k-3" {
                KeyState::PendingDeletion
            } else {
                KeyState::Enabled
            };
            DescribeKeyOutput::builder()
                .key_metadata(meta(id, state))
                .build()
        });
        let tags = mock!(Client::list_resource_tags).then_compute_output(|r| {
            let stack = if r.key_id() == Some("k-1") {
                "s"
            } else {
                "other"
            };
            ListResourceTagsOutput::builder()
                .tags(tag(STACK_TAG, stack))
                .tags(tag(ADDRESS_TAG, "kms.key.eks"))
                .tags(tag(WINDOW_TAG, "7"))
                .tags(tag("Project", "examplepay"))
                .build()
        });
        let rotation = mock!(Client::get_key_rotation_status).then_output(|| {
            GetKeyRotationStatusOutput::builder()
                .key_rotation_enabled(true)
                .build()
        });
        let policy = mock!(Client::get_key_policy).then_output(|| {
            GetKeyPolicyOutput::builder()
                .policy(r#"{"Version":"2012-10-17"}"#)
                .build()
        });
        let kms = testing::client(&[&aliases, &describe, &tags, &rotation, &policy]);
        let hints = ReadHints {
            natural_keys: BTreeSet::from([
                "alias/ours".to_string(),
                "alias/theirs".to_string(),
                "alias/going".to_string(),
            ]),
        };
        let found = read(&kms, "s", &hints).await.unwrap();
        assert_eq!(aliases.num_calls(), 1);
        assert_eq!(
            describe.num_calls(),
            3,
            "the unexpected alias is not described"
        );
        assert_eq!(
            tags.num_calls(),
            2,
            "the key pending deletion is gone, its tags are not read"
        );
        assert_eq!(found.len(), 1);
        let o = &found[0];
        assert_eq!(
            (o.id.as_str(), o.natural_key.as_deref()),
            ("k-1", Some("alias/ours"))
        );
        let declared = obj(json!({
            "alias": "alias/ours",
            "description": "EKS secrets",
            "deletion_window_in_days": 7,
            "policy": {"Version": "2012-10-17"},
            "tags": {"Project": "examplepay"},
        }));
        assert!(
            crate::planner::diff(&Key, &declared, o, &[]).is_empty(),
            "{:?}",
            o.props
        );
    }

    #[tokio::test]
    async fn delete_schedules_with_the_kept_window_and_tolerates_a_second_run() {
        let alias = mock!(Client::delete_alias).then_output(|| {
            aws_sdk_kms::operation::delete_alias::DeleteAliasOutput::builder().build()
        });
        let schedule = mock!(Client::schedule_key_deletion)
            .match_requests(|r| r.pending_window_in_days() == Some(7))
            .then_error(|| {
                aws_sdk_kms::operation::schedule_key_deletion::ScheduleKeyDeletionError::KmsInvalidStateException(
                    aws_sdk_kms::types::error::KmsInvalidStateException::builder()
                        .meta(aws_sdk_kms::error::ErrorMetadata::builder().code("KMSInvalidStateException").build())
                        .build(),
                )
            });
        let describe = mock!(Client::describe_key).then_output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(meta("k-1", KeyState::PendingDeletion))
                .build()
        });
        let kms = testing::client(&[&alias, &schedule, &describe]);
        let current = Observed {
            id: "k-1".into(),
            props: obj(json!({"alias": "alias/ours", "deletion_window_in_days": 7})),
            ..Observed::default()
        };
        delete(&kms, &current).await.unwrap();
        assert_eq!(
            (
                alias.num_calls(),
                schedule.num_calls(),
                describe.num_calls()
            ),
            (1, 1, 1)
        );
    }
}
