//! `aws::kms::key`: a customer managed KMS key, found by its alias.
//!
//! KMS cannot list keys by tag, and reading every key of an account would take a call per key,
//! so the stack names each key by an alias (its natural key): one paginated ListAliases call, then
//! DescribeKey, ListResourceTags, GetKeyRotationStatus and GetKeyPolicy for the aliases the stack
//! expects only. Deleting a key schedules its deletion; a key pending deletion counts as gone.
//!
//! A run stopped between CreateKey and CreateAlias leaves a key with its ownership tags and no
//! alias. When an alias the stack expects is missing, the keys with no alias at all are read too
//! (ListKeys, then DescribeKey and ListResourceTags each), and this stack's is adopted and aliased.

use super::{KmsTags, kms_tags};
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, Tagger, found, resource};
use crate::all;
use crate::iam::policy_text;
use crate::invalid::Invalid;
use crate::props::check_range;
use crate::props::str_prop;
use crate::resource::{DeclaredProps, Props, ReadHints, gone_ok};
use crate::schema::TAGS;
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, sdk, tags};
use async_trait::async_trait;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType, Tag};
use serde_json::{Value, json};
use std::collections::BTreeSet;

resource! {
    /// A symmetric encryption key.
    pub struct Key: KEY = "kms.key",
        "A symmetric KMS key with an alias, by which it is found; deleting it schedules its deletion.";
    reads KeyItem;
    terraform "aws_kms_key", "aws_kms_alias";
    props KeyProps {
        alias: String =
            required(Str, "the key's alias (`alias/<name>`), by which the stack finds it")
                .updatable(),
        description: Option<String> = optional(Str, "what the key is for"),
        enable_key_rotation: Option<bool> =
            optional(Bool, "rotate the key material every year").default("true"),
        deletion_window_in_days: Option<i32> =
            optional(Int, "days (7 to 30) between deletion and the key being destroyed; 30 when left out"),
        policy: Option<Value> =
            optional(Json, "the key policy (KMS's default policy, which lets the account's IAM policies grant use, when left out)"),
    } + TAGS
}

/// Where `deletion_window_in_days` is kept: KMS only takes it when deletion is scheduled.
const WINDOW_TAG: &str = "eprun:deletion_window_in_days";

/// The name of the one key policy a key has.
const POLICY_NAME: &str = "default";

/// A key as read: its metadata, the alias it was found by, its tags, rotation and policy.
pub struct KeyItem {
    meta: KeyMetadata,
    alias: String,
    tags: Vec<Tag>,
    rotation: bool,
    policy: Option<Value>,
}

/// Checks an alias: `alias/` then letters, digits, `/`, `_` and `-`; not an AWS-managed `alias/aws/` one.
fn check_alias(alias: &str) -> Result<(), Invalid> {
    let valid = |r: &str| {
        r.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
    };
    let why = match alias.strip_prefix("alias/") {
        _ if token::is_unknown(&json!(alias)) => return Ok(()),
        None => "must start with `alias/`",
        Some(r) if r.is_empty() || alias.len() > 256 || !valid(r) => {
            "is not a valid alias (letters, digits, `/`, `_` and `-` after `alias/`)"
        }
        Some(r) if r.starts_with("aws/") => "is reserved for AWS managed keys",
        Some(_) => return Ok(()),
    };
    Err(Invalid::value("alias", format!("`{alias}` {why}")))
}

/// Whether a key is usable (not on its way to deletion, not AWS managed).
fn is_live(meta: &KeyMetadata) -> bool {
    !matches!(
        meta.key_state(),
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    ) && meta.key_manager() != Some(&KeyManagerType::Aws)
}

/// DescribeKey; `None` when there is no such key.
async fn describe(aws: &Aws, key_id: &str) -> Result<Option<KeyMetadata>> {
    let out = aws.kms().describe_key().key_id(key_id).send().await;
    Ok(found(out.map_err(sdk("DescribeKey", key_id)))?.and_then(|o| o.key_metadata))
}

/// A live customer managed key of `stack` that has no alias: one a stopped run created.
async fn unaliased(aws: &Aws, stack: &str, key_id: &str) -> Result<Option<KeyItem>> {
    if describe(aws, key_id).await?.filter(is_live).is_none() {
        return Ok(None);
    }
    let call = aws.kms().list_resource_tags().key_id(key_id);
    let tags: Vec<Tag> = all!(call, "ListResourceTags", key_id)?;
    let ours = |t: &Tag| t.tag_key() == tags::STACK_TAG && t.tag_value() == stack;
    match tags.iter().any(ours) {
        true => read(aws, String::new(), key_id).await,
        false => Ok(None),
    }
}

/// Reads the live key behind an alias, with its tags, rotation and policy.
async fn read(aws: &Aws, alias: String, key_id: &str) -> Result<Option<KeyItem>> {
    let kms = aws.kms();
    let Some(meta) = describe(aws, key_id).await?.filter(is_live) else {
        return Ok(None);
    };
    let tags = all!(
        kms.list_resource_tags().key_id(key_id),
        "ListResourceTags",
        key_id
    )?;
    let rotation = kms.get_key_rotation_status().key_id(key_id).send().await;
    let policy = kms.get_key_policy().key_id(key_id).policy_name(POLICY_NAME);
    let policy = policy.send().await.map_err(sdk("GetKeyPolicy", key_id))?;
    Ok(Some(KeyItem {
        meta,
        alias,
        tags,
        rotation: rotation
            .map_err(sdk("GetKeyRotationStatus", key_id))?
            .key_rotation_enabled(),
        policy: policy.policy().map(|p| json!(p)),
    }))
}

/// Turns yearly rotation of the key material on or off.
async fn set_rotation(aws: &Aws, key_id: &str, on: bool) -> Result<()> {
    let kms = aws.kms();
    if on {
        let r = kms.enable_key_rotation().key_id(key_id).send().await;
        r.map_err(sdk("EnableKeyRotation", key_id))?;
    } else {
        let r = kms.disable_key_rotation().key_id(key_id).send().await;
        r.map_err(sdk("DisableKeyRotation", key_id))?;
    }
    Ok(())
}

/// CreateAlias: points `alias` at the key.
async fn create_alias(aws: &Aws, alias: &str, key_id: &str) -> Result<()> {
    let call = aws
        .kms()
        .create_alias()
        .alias_name(alias)
        .target_key_id(key_id);
    call.send()
        .await
        .map(drop)
        .map_err(sdk("CreateAlias", alias))
}

/// DeleteAlias; an alias already gone is what was asked.
async fn delete_alias(aws: &Aws, alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Ok(());
    }
    let r = aws.kms().delete_alias().alias_name(alias).send().await;
    gone_ok(r.map(drop).map_err(sdk("DeleteAlias", alias)))
}

#[async_trait]
impl Description for Key {
    const ATTRIBUTES: &'static [Attr<KeyItem>] = &[
        Attr::new("id", |_, k: &KeyItem| json!(k.meta.key_id())).note("the key id"),
        Attr::new("arn", |_, k| json!(k.meta.arn().unwrap_or_default())),
        Attr::new("alias", |_, k: &KeyItem| json!(k.alias)).follows_prop(),
    ];
    const IDENTITY: Identity = Identity::Named(&KmsTags, |p| {
        let alias = p.get("alias").filter(|a| !token::is_unknown(a))?;
        alias.as_str().map(String::from)
    });

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_alias(str_prop(props, "alias"))?;
        check_range(props, "deletion_window_in_days", 7..=30, "")?;
        if matches!(props.get("policy"), Some(Value::Array(_))) {
            return Err(Invalid::form(
                "policy",
                "must be a policy document (a map), not an array",
            ));
        }
        Ok(())
    }

    fn tags(&self, key: &KeyItem) -> Vec<(String, String)> {
        let pair = |t: &Tag| (t.tag_key().to_string(), t.tag_value().to_string());
        key.tags.iter().map(pair).collect()
    }

    fn terraform_id(&self, tf_type: &str, attributes: &Value) -> Option<String> {
        // An alias names its key by the alias, the key's natural key.
        let name = attributes.get("name").and_then(Value::as_str);
        name.filter(|_| tf_type == "aws_kms_alias")
            .map(String::from)
    }

    async fn fetch(&self, aws: &Aws, ids: &[String]) -> Option<Result<Vec<KeyItem>>> {
        let read_all = async {
            let aliases: Vec<_> = all!(aws.kms().list_aliases(), "ListAliases", "aliases")?;
            let mut out = Vec::new();
            for id in ids {
                let named = aliases
                    .iter()
                    .find(|a| a.target_key_id() == Some(id.as_str()));
                let alias = named.and_then(|a| a.alias_name()).unwrap_or_default();
                out.extend(read(aws, alias.to_string(), id).await?);
            }
            Ok(out)
        };
        Some(read_all.await)
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<KeyItem>> {
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        let aliases: Vec<_> = all!(aws.kms().list_aliases(), "ListAliases", stack)?;
        let mut out = Vec::new();
        for a in &aliases {
            if let (Some(name), Some(key)) = (a.alias_name(), a.target_key_id())
                && hints.natural_keys.contains(name)
            {
                out.extend(read(aws, name.to_string(), key).await?);
            }
        }
        let listed = |k: &String| aliases.iter().any(|a| a.alias_name() == Some(k.as_str()));
        if !hints.natural_keys.iter().all(listed) {
            let aliased: BTreeSet<&str> =
                aliases.iter().filter_map(|a| a.target_key_id()).collect();
            let keys: Vec<_> = all!(aws.kms().list_keys(), "ListKeys", stack)?;
            let ids = keys.iter().filter_map(|k| k.key_id());
            for id in ids.filter(|id| !aliased.contains(id)) {
                out.extend(unaliased(aws, stack, id).await?);
            }
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, key: &KeyItem) -> Result<KeyProps> {
        Ok(KeyProps {
            alias: key.alias.clone(),
            description: Some(key.meta.description().unwrap_or_default().to_string()),
            enable_key_rotation: Some(key.rotation),
            deletion_window_in_days: tags::kept(&self.tags(key), WINDOW_TAG),
            policy: key.policy.clone(),
        })
    }

    /// CreateKey with the ownership tags, then its alias right away (the alias is how it is found), then rotation.
    async fn create(&self, aws: &Aws, new: New<'_, KeyProps>) -> Result<KeyItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let tags = kms_tags(&tags::keep(tags, WINDOW_TAG, p.deletion_window_in_days));
        let out = aws
            .kms()
            .create_key()
            .set_description(p.description.clone().filter(|d| !d.is_empty()))
            .set_policy(p.policy.as_ref().map(policy_text))
            .key_usage(KeyUsageType::EncryptDecrypt)
            .key_spec(KeySpec::SymmetricDefault)
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(sdk("CreateKey", address))?;
        let meta = out.key_metadata.ok_or_else(|| {
            let empty = CloudErrorKind::Service("Empty".into());
            CloudError::new(
                "CreateKey",
                address,
                empty,
                "KMS answered without the new key",
            )
        })?;
        create_alias(aws, &p.alias, meta.key_id()).await?;
        let rotation = p.enable_key_rotation.unwrap_or(true);
        if rotation {
            set_rotation(aws, meta.key_id(), true).await?;
        }
        Ok(KeyItem {
            meta,
            alias: p.alias.clone(),
            tags,
            rotation,
            policy: p.policy.clone(),
        })
    }

    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, KeyProps>,
    ) -> Result<Option<KeyItem>> {
        let (on, changed, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        let (kms, id) = (aws.kms(), on.id.as_str());
        for field in changed {
            match field.as_str() {
                "alias" => {
                    create_alias(aws, &desired.alias, id).await?;
                    delete_alias(aws, &current.alias).await?;
                }
                "description" => {
                    let text = desired.description.as_deref().unwrap_or_default();
                    let call = kms.update_key_description().key_id(id).description(text);
                    call.send().await.map_err(sdk("UpdateKeyDescription", id))?;
                }
                "enable_key_rotation" => {
                    set_rotation(aws, id, desired.enable_key_rotation.unwrap_or(true)).await?
                }
                "policy" => {
                    if let Some(policy) = &desired.policy {
                        let call = kms.put_key_policy().key_id(id).policy_name(POLICY_NAME);
                        let call = call.policy(policy_text(policy));
                        call.send().await.map_err(sdk("PutKeyPolicy", id))?;
                    }
                }
                "deletion_window_in_days" => {
                    let days = desired.deletion_window_in_days;
                    (&KmsTags as &dyn Tagger)
                        .keep(aws, on, WINDOW_TAG, days)
                        .await?
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Deletes the alias and schedules the key's deletion after the kept window.
    async fn delete(&self, aws: &Aws, key_id: &str, current: &KeyProps) -> Result<()> {
        delete_alias(aws, &current.alias).await?;
        let call = aws.kms().schedule_key_deletion().key_id(key_id);
        let call = call.pending_window_in_days(current.deletion_window_in_days.unwrap_or(30));
        match call
            .send()
            .await
            .map_err(sdk("ScheduleKeyDeletion", key_id))
        {
            // Already scheduled (a retried destroy): that is what was asked.
            Err(e) if e.is("KMSInvalidStateException") => {
                let meta = describe(aws, key_id).await?;
                let pending =
                    meta.is_some_and(|m| m.key_state() == Some(&KeyState::PendingDeletion));
                if pending { Ok(()) } else { Err(e) }
            }
            r => r.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{obj, round_trip};
    use crate::resource::{Observed, Resource};
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

    /// ListResourceTags answering the tags of `kms.key.eks`: owned by this stack (`s`) on the key
    /// `ours` and by another on every other key, each with the tags `more`.
    fn owned_tags(ours: &'static str, more: &'static [(&str, &str)]) -> aws_smithy_mocks::Rule {
        mock!(Client::list_resource_tags).then_compute_output(move |r| {
            let stack = if r.key_id() == Some(ours) {
                "s"
            } else {
                "other"
            };
            let out = ListResourceTagsOutput::builder()
                .tags(tag(STACK_TAG, stack))
                .tags(tag(ADDRESS_TAG, "kms.key.eks"));
            more.iter()
                .fold(out, |out, (k, v)| out.tags(tag(k, v)))
                .build()
        })
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
                .to_string()
                .contains("must start with `alias/`")
        );
        assert!(
            check_alias("alias/aws/eks")
                .unwrap_err()
                .to_string()
                .contains("reserved")
        );
        assert!(check_alias("alias/has space").is_err());
        let others = crate::declaration::Declarations::default();
        let p = obj(json!({"alias": "alias/x", "deletion_window_in_days": 3}));
        assert!(
            KEY.validate(&p, &others)
                .unwrap_err()
                .to_string()
                .contains("between 7 and 30")
        );
    }

    #[test]
    fn the_deletion_window_travels_as_a_tag() {
        let tags = super::super::kms_tags(&tags::keep(
            &[("Name".into(), "k".into())],
            WINDOW_TAG,
            Some(7),
        ));
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
        let tags = owned_tags("k-1", &[(WINDOW_TAG, "7"), ("Project", "examplepay")]);
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
            ..Default::default()
        };
        let found = KEY.read_all(&aws.context(), "s", &hints).await.unwrap();
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
    async fn a_key_a_stopped_run_left_without_its_alias_is_found_by_its_tags() {
        let aliases = mock!(Client::list_aliases).then_output(|| {
            let other = AliasListEntry::builder()
                .alias_name("alias/other")
                .target_key_id("k-4");
            ListAliasesOutput::builder().aliases(other.build()).build()
        });
        let keys = mock!(Client::list_keys).then_output(|| {
            let entry = |id: &str| {
                aws_sdk_kms::types::KeyListEntry::builder()
                    .key_id(id)
                    .build()
            };
            let out = aws_sdk_kms::operation::list_keys::ListKeysOutput::builder();
            out.keys(entry("k-4"))
                .keys(entry("k-5"))
                .keys(entry("k-6"))
                .build()
        });
        let describe = mock!(Client::describe_key).then_compute_output(|r| {
            let id = r.key_id().unwrap();
            DescribeKeyOutput::builder()
                .key_metadata(meta(id, KeyState::Enabled))
                .build()
        });
        let tags = owned_tags("k-5", &[]);
        let rotation = mock!(Client::get_key_rotation_status)
            .then_output(|| GetKeyRotationStatusOutput::builder().build());
        let policy =
            mock!(Client::get_key_policy).then_output(|| GetKeyPolicyOutput::builder().build());
        let aws = Aws::mocked(&[&aliases, &keys, &describe, &tags, &rotation, &policy]);
        let hints = ReadHints {
            natural_keys: BTreeSet::from(["alias/eks".to_string()]),
            ..Default::default()
        };
        let found = KEY.read_all(&aws.context(), "s", &hints).await.unwrap();
        assert_eq!(keys.num_calls(), 1);
        let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["k-5"], "only this stack's key without an alias");
        let address = found[0].address.as_ref().map(ToString::to_string);
        assert_eq!(address.as_deref(), Some("kms.key.eks"));
        assert_eq!(
            found[0].props["alias"],
            json!(""),
            "the alias is made by the next apply"
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
        KEY.delete(&aws.context(), &current).await.unwrap();
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
    async fn a_created_key_round_trip_as_declared() {
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
        let observed = round_trip(
            &KEY,
            &Aws::mocked(&[&create, &alias, &rotation]),
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
        assert_eq!(observed.id, "k-1");
        assert_eq!(observed.natural_key.as_deref(), Some("alias/eks"));
        assert_eq!(observed.attrs["alias"], "alias/eks");
        assert_eq!(
            rotation.num_calls(),
            1,
            "rotation is on unless declared off"
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
                &aws.context(),
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
