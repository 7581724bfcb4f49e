//! `aws::kms::key`: a customer managed KMS key, found by its alias.
//!
//! KMS cannot list keys by tag, and reading every key of an account would take a call per key,
//! so the stack names each key by an alias (its natural key): one paginated ListAliases call, then
//! DescribeKey, ListResourceTags, GetKeyRotationStatus and GetKeyPolicy for the aliases the stack
//! expects only. Deleting a key schedules its deletion; a key pending deletion counts as gone.

use super::{KmsTags, kms_tags, retag};
use crate::address::Address;
use crate::aws::adapter::{Adapter, Attr, Description, Identity, found};
use crate::aws::ec2::str_prop;
use crate::aws::eks::int_prop;
use crate::aws::iam::policy_text;
use crate::aws::{Aws, CloudError, CloudErrorKind};
use crate::resource::{DeclaredProps, Props, ReadHints, gone_ok};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use async_trait::async_trait;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A symmetric encryption key.
pub struct Key;

/// The `kms.key` resource type.
pub static KEY: Adapter<Key> = Adapter::new(Key);

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

/// The props of a key.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyProps {
    alias: String,
    description: Option<String>,
    enable_key_rotation: Option<bool>,
    deletion_window_in_days: Option<i32>,
    policy: Option<Value>,
}

/// A key as read: its metadata, the alias it was found by, its tags, rotation and policy.
pub struct KeyItem {
    meta: KeyMetadata,
    alias: String,
    tags: Vec<(String, String)>,
    rotation: bool,
    policy: Option<Value>,
}

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

/// The tags of a create call, with the deletion window kept as a tag.
fn create_tags(tags: &[(String, String)], window: Option<i32>) -> Result<Vec<Tag>, CloudError> {
    let mut all: Vec<(String, String)> = tags
        .iter()
        .filter(|(k, _)| k != WINDOW_TAG)
        .cloned()
        .collect();
    all.extend(window.map(|days| (WINDOW_TAG.to_string(), days.to_string())));
    kms_tags("CreateKey", "tags", &all)
}

/// Whether a key is usable (not on its way to deletion, not AWS managed).
fn is_live(meta: &KeyMetadata) -> bool {
    !matches!(
        meta.key_state(),
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    ) && meta.key_manager() != Some(&KeyManagerType::Aws)
}

/// DescribeKey; `None` when there is no such key.
async fn describe(aws: &Aws, key_id: &str) -> Result<Option<KeyMetadata>, CloudError> {
    let out = aws.kms().describe_key().key_id(key_id).send().await;
    let out = found(out.map_err(|e| CloudError::from_sdk("DescribeKey", key_id, e)))?;
    Ok(out.and_then(|o| o.key_metadata().cloned()))
}

/// Reads the live key behind an alias, with its tags, rotation and policy.
async fn read(aws: &Aws, alias: String, key_id: &str) -> Result<Option<KeyItem>, CloudError> {
    let kms = aws.kms();
    let Some(meta) = describe(aws, key_id).await?.filter(is_live) else {
        return Ok(None);
    };
    let mut tags = Vec::new();
    let mut pages = kms
        .list_resource_tags()
        .key_id(key_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CloudError::from_sdk("ListResourceTags", key_id, e))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|t| (t.tag_key().to_string(), t.tag_value().to_string())),
        );
    }
    let rotation = kms
        .get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| CloudError::from_sdk("GetKeyRotationStatus", key_id, e))?
        .key_rotation_enabled();
    let policy = kms
        .get_key_policy()
        .key_id(key_id)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .map_err(|e| CloudError::from_sdk("GetKeyPolicy", key_id, e))?
        .policy()
        .map(|p| json!(p));
    Ok(Some(KeyItem {
        meta,
        alias,
        tags,
        rotation,
        policy,
    }))
}

/// Turns yearly rotation of the key material on or off.
async fn set_rotation(aws: &Aws, key_id: &str, on: bool) -> Result<(), CloudError> {
    let kms = aws.kms();
    if on {
        kms.enable_key_rotation()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("EnableKeyRotation", key_id, e))?;
    } else {
        kms.disable_key_rotation()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("DisableKeyRotation", key_id, e))?;
    }
    Ok(())
}

/// DeleteAlias; an alias already gone is what was asked.
async fn delete_alias(aws: &Aws, alias: &str) -> Result<(), CloudError> {
    let r = aws.kms().delete_alias().alias_name(alias).send().await;
    gone_ok(
        r.map(drop)
            .map_err(|e| CloudError::from_sdk("DeleteAlias", alias, e)),
    )
}

#[async_trait]
impl Description for Key {
    type Props = KeyProps;
    type Item = KeyItem;

    const KIND: &'static str = "kms.key";
    const SUMMARY: &'static str = "A symmetric KMS key with an alias, by which it is found; deleting it schedules its deletion.";
    const SCHEMA: &'static [Field] = SCHEMA;
    const ATTRIBUTES: &'static [Attr<KeyItem>] = &[
        Attr::new("id", |_, k: &KeyItem| json!(k.meta.key_id())).note("the key id"),
        Attr::new("arn", |_, k| json!(k.meta.arn().unwrap_or_default())),
        Attr::new("alias", |_, k: &KeyItem| json!(k.alias)).follows_prop(),
    ];
    // Tagged, but found by alias: KMS cannot list keys by tag.
    const IDENTITY: Identity = Identity::Named(&KmsTags, |p| {
        let alias = p.get("alias").filter(|a| !token::is_unknown(a))?;
        alias.as_str().map(String::from)
    });

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

    fn id(&self, key: &KeyItem) -> String {
        key.meta.key_id().to_string()
    }

    fn tags(&self, key: &KeyItem) -> Vec<(String, String)> {
        key.tags.clone()
    }

    /// One paginated ListAliases, then a read of the key behind each alias the stack expects.
    async fn list(
        &self,
        aws: &Aws,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<KeyItem>, CloudError> {
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted = Vec::new();
        let mut pages = aws.kms().list_aliases().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CloudError::from_sdk("ListAliases", stack, e))?;
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
            out.extend(read(aws, alias, &key).await?);
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, key: &KeyItem) -> Result<KeyProps, CloudError> {
        let window = key
            .tags
            .iter()
            .find(|(k, _)| k == WINDOW_TAG)
            .and_then(|(_, v)| v.parse().ok());
        Ok(KeyProps {
            alias: key.alias.clone(),
            description: Some(key.meta.description().unwrap_or_default().to_string()),
            enable_key_rotation: Some(key.rotation),
            deletion_window_in_days: window,
            policy: key.policy.clone(),
        })
    }

    /// CreateKey with the ownership tags, then its alias right away (the alias is how it is found), then rotation.
    async fn create(
        &self,
        aws: &Aws,
        address: &Address,
        p: &KeyProps,
        tags: &[(String, String)],
    ) -> Result<KeyItem, CloudError> {
        let kms = aws.kms();
        let out = kms
            .create_key()
            .set_description(p.description.clone().filter(|d| !d.is_empty()))
            .set_policy(p.policy.as_ref().map(policy_text))
            .key_usage(KeyUsageType::EncryptDecrypt)
            .key_spec(KeySpec::SymmetricDefault)
            .set_tags(Some(create_tags(tags, p.deletion_window_in_days)?))
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("CreateKey", address, e))?;
        let meta = out.key_metadata().cloned().ok_or_else(|| {
            CloudError::new(
                "CreateKey",
                address,
                CloudErrorKind::Service("Empty".into()),
                "KMS answered without the new key",
            )
        })?;
        kms.create_alias()
            .alias_name(&p.alias)
            .target_key_id(meta.key_id())
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("CreateAlias", &p.alias, e))?;
        let rotation = p.enable_key_rotation.unwrap_or(true);
        if rotation {
            set_rotation(aws, meta.key_id(), true).await?;
        }
        let mut tags = tags.to_vec();
        tags.extend(
            p.deletion_window_in_days
                .map(|days| (WINDOW_TAG.to_string(), days.to_string())),
        );
        Ok(KeyItem {
            meta,
            alias: p.alias.clone(),
            tags,
            rotation,
            policy: p.policy.clone(),
        })
    }

    /// Renames the alias, changes description, rotation, policy and the kept deletion window.
    async fn update(
        &self,
        aws: &Aws,
        key_id: &str,
        field: &str,
        current: &KeyProps,
        desired: &KeyProps,
    ) -> Result<(), CloudError> {
        let kms = aws.kms();
        match field {
            "alias" => {
                kms.create_alias()
                    .alias_name(&desired.alias)
                    .target_key_id(key_id)
                    .send()
                    .await
                    .map_err(|e| CloudError::from_sdk("CreateAlias", &desired.alias, e))?;
                delete_alias(aws, &current.alias).await
            }
            "description" => {
                kms.update_key_description()
                    .key_id(key_id)
                    .description(desired.description.as_deref().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| CloudError::from_sdk("UpdateKeyDescription", key_id, e))?;
                Ok(())
            }
            "enable_key_rotation" => {
                set_rotation(aws, key_id, desired.enable_key_rotation.unwrap_or(true)).await
            }
            "policy" => {
                if let Some(policy) = &desired.policy {
                    kms.put_key_policy()
                        .key_id(key_id)
                        .policy_name(POLICY_NAME)
                        .policy(policy_text(policy))
                        .send()
                        .await
                        .map_err(|e| CloudError::from_sdk("PutKeyPolicy", key_id, e))?;
                }
                Ok(())
            }
            "deletion_window_in_days" => match desired.deletion_window_in_days {
                Some(days) => {
                    retag(aws, key_id, &[(WINDOW_TAG.into(), days.to_string())], &[]).await
                }
                None => retag(aws, key_id, &[], &[WINDOW_TAG.into()]).await,
            },
            _ => Ok(()),
        }
    }

    /// Deletes the alias and schedules the key's deletion (after the kept window, 30 days by default).
    async fn delete(&self, aws: &Aws, key_id: &str, current: &KeyProps) -> Result<(), CloudError> {
        delete_alias(aws, &current.alias).await?;
        let window = current.deletion_window_in_days.unwrap_or(DEFAULT_WINDOW);
        let scheduled = aws
            .kms()
            .schedule_key_deletion()
            .key_id(key_id)
            .pending_window_in_days(window)
            .send()
            .await;
        match scheduled.map_err(|e| CloudError::from_sdk("ScheduleKeyDeletion", key_id, e)) {
            Ok(_) => Ok(()),
            // Already scheduled (a retried destroy): that is what was asked.
            Err(e) if e.kind == CloudErrorKind::Service("KMSInvalidStateException".into()) => {
                match describe(aws, key_id).await? {
                    Some(meta) if meta.key_state() == Some(&KeyState::PendingDeletion) => Ok(()),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::adapter::testing::round_trip;
    use crate::aws::{ADDRESS_TAG, STACK_TAG};
    use crate::resource::{Observed, Resource};
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
            KEY.validate(&p, &others)
                .unwrap_err()
                .contains("between 7 and 30")
        );
    }

    #[test]
    fn the_deletion_window_travels_as_a_tag() {
        let tags = create_tags(&[("Name".into(), "k".into())], Some(7)).unwrap();
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
        let aws = Aws::mocked(&[&aliases, &describe, &tags, &rotation, &policy]);
        let hints = ReadHints {
            natural_keys: BTreeSet::from([
                "alias/ours".to_string(),
                "alias/theirs".to_string(),
                "alias/going".to_string(),
            ]),
        };
        let found = KEY.read_all(&aws, "s", &hints).await.unwrap();
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
            crate::planner::diff(&KEY, &declared, o, &[]).is_empty(),
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
        let aws = Aws::mocked(&[&alias, &schedule, &describe]);
        let current = Observed {
            id: "k-1".into(),
            props: obj(json!({"alias": "alias/ours", "deletion_window_in_days": 7})),
            ..Observed::default()
        };
        KEY.delete(&aws, &current).await.unwrap();
        assert_eq!(
            (
                alias.num_calls(),
                schedule.num_calls(),
                describe.num_calls()
            ),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn a_created_key_reads_back_as_declared() {
        let create = mock!(Client::create_key)
            .match_requests(|r| {
                r.tags()
                    .iter()
                    .any(|t| t.tag_key() == WINDOW_TAG && t.tag_value() == "7")
            })
            .then_compute_output(|r| {
                let mut m = meta("k-1", KeyState::Enabled);
                m.description = r.description().map(String::from);
                aws_sdk_kms::operation::create_key::CreateKeyOutput::builder()
                    .key_metadata(m)
                    .build()
            });
        let alias = mock!(Client::create_alias).then_output(|| {
            aws_sdk_kms::operation::create_alias::CreateAliasOutput::builder().build()
        });
        let rotation = mock!(Client::enable_key_rotation).then_output(|| {
            aws_sdk_kms::operation::enable_key_rotation::EnableKeyRotationOutput::builder().build()
        });
        let aws = Aws::mocked(&[&create, &alias, &rotation]);
        let (observed, changes) = round_trip(
            &KEY,
            &aws,
            "kms.key.eks",
            json!({
                "alias": "alias/eks",
                "description": "EKS secrets",
                "deletion_window_in_days": 7,
                "policy": {"Version": "2012-10-17"},
                "tags": {"team": "platform"},
            }),
        )
        .await;
        assert_eq!(changes, vec![]);
        assert_eq!(observed.id, "k-1");
        assert_eq!(observed.natural_key.as_deref(), Some("alias/eks"));
        assert_eq!(observed.attrs["alias"], "alias/eks");
        assert_eq!(
            rotation.num_calls(),
            1,
            "rotation is on unless declared off"
        );
        assert_eq!(
            KEY.doc(),
            "A symmetric KMS key with an alias, by which it is found; deleting it schedules its deletion. Attributes: `id` (the key id), `arn`, `alias`."
        );
    }

    #[tokio::test]
    async fn a_renamed_alias_is_the_new_natural_key_and_attribute() {
        let create = mock!(Client::create_alias)
            .match_requests(|r| r.alias_name() == Some("alias/new"))
            .then_output(|| {
                aws_sdk_kms::operation::create_alias::CreateAliasOutput::builder().build()
            });
        let delete = mock!(Client::delete_alias)
            .match_requests(|r| r.alias_name() == Some("alias/old"))
            .then_output(|| {
                aws_sdk_kms::operation::delete_alias::DeleteAliasOutput::builder().build()
            });
        let aws = Aws::mocked(&[&create, &delete]);
        let current = Observed {
            id: "k-1".into(),
            natural_key: Some("alias/old".into()),
            props: obj(json!({"alias": "alias/old"})),
            attrs: obj(json!({"id": "k-1", "alias": "alias/old"})),
            ..Observed::default()
        };
        let next = KEY
            .update(
                &aws,
                &current,
                &obj(json!({"alias": "alias/new"})),
                &["alias".into()],
            )
            .await
            .unwrap();
        assert_eq!((create.num_calls(), delete.num_calls()), (1, 1));
        assert_eq!(next.natural_key.as_deref(), Some("alias/new"));
        assert_eq!(next.attrs["alias"], "alias/new");
    }
}
