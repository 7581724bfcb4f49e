//! `aws::secretsmanager::secret`: a secret's metadata (name, key, replicas, tags) — never its value.
//!
//! Read with one paginated ListSecrets filtered by the ownership tag (tags re-checked), then one
//! DescribeSecret per owned secret for its replication status, which ListSecrets does not always
//! carry. `recovery_window_in_days` only matters to delete; it rides along as an `eprun:` tag so a
//! read (and a delete after a lost state) knows it.

use crate::Result;
use crate::adapter::{
    Attr, Changes, Description, Identity, New, Tagger, found, resource, tagger, to_props,
};
use crate::address::Address;
use crate::invalid::Invalid;
use crate::props::schema;
use crate::resource::{DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::TAGS;
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, STACK_TAG, WaitState, sdk, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{
    Filter, FilterNameStringType, ReplicaRegionType, StatusType, Tag,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

resource! {
    /// A Secrets Manager secret, without its value.
    pub struct Secret: SECRET = "secretsmanager.secret",
        "A Secrets Manager secret: name, key, replicas and tags — never its value.";
    reads DescribeSecretOutput;
    terraform "aws_secretsmanager_secret";
    props SecretProps {
        name: String = required(Str, "the secret's name, e.g. `examplepay/prod/payments-db`"),
        description: Option<String> = optional(Str, "what the secret is for"),
        kms_key_id: Option<String> =
            optional(Str, "the key that encrypts the secret (an ARN, key id or alias)")
                .default("\"alias/aws/secretsmanager\""),
        replica: Option<Vec<Replica>> =
            optional(ObjectSet(REPLICA), "read-only replicas `[#{ region, kms_key_id }]` (for DR)"),
        recovery_window_in_days: Option<i64> =
            optional(Int, "days a deleted secret can be restored: 0 (at once) or 7–30")
                .default("30"),
    } + TAGS
}

/// The key Secrets Manager uses when none is named.
const DEFAULT_KEY: &str = "alias/aws/secretsmanager";

/// Where `recovery_window_in_days` is kept.
const RECOVERY_TAG: &str = "eprun:recovery_window_in_days";

/// Replication to another region takes a little while.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(600);

schema! {
    /// A read-only replica in another region.
    #[derive(Clone)]
    pub struct Replica: REPLICA {
        region: String = required(Str, "the region to keep a read-only replica in"),
        kms_key_id: Option<String> =
            optional(Str, "the key (in that region) that encrypts the replica")
                .default("\"alias/aws/secretsmanager\""),
    }
}

/// Checks what Secrets Manager would refuse, before any call.
fn check(props: &Props) -> Result<(), Invalid> {
    let name = props.get("name").filter(|v| !token::is_unknown(v));
    if let Some(name) = name.and_then(Value::as_str) {
        if name.is_empty() || name.len() > 512 {
            return Err(Invalid::form("name", "must be 1 to 512 characters"));
        }
        let bad = |c: &char| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c));
        if let Some(c) = name.chars().find(bad) {
            return Err(Invalid::value(
                "name",
                format!("`{name}` contains `{c}`; names use letters, digits and /_+=.@-"),
            ));
        }
    }
    let window = props.get("recovery_window_in_days").and_then(Value::as_i64);
    if let Some(w) = window.filter(|w| *w != 0 && !(7..=30).contains(w)) {
        return Err(Invalid::value(
            "recovery_window_in_days",
            format!("{w} is not 0 (delete at once) or 7–30"),
        ));
    }
    let replicas = props.get("replica").and_then(Value::as_array);
    let mut seen = std::collections::BTreeSet::new();
    for r in replicas
        .into_iter()
        .flatten()
        .filter_map(|r| r["region"].as_str())
    {
        if !seen.insert(r) {
            return Err(Invalid::value(
                "replica",
                format!("region `{r}` is named twice"),
            ));
        }
    }
    Ok(())
}

/// The replicas declared, by region, with their keys (the default filled in).
fn replicas(declared: &[Replica]) -> BTreeMap<String, String> {
    let key = |r: &Replica| r.kms_key_id.clone().unwrap_or_else(|| DEFAULT_KEY.into());
    declared
        .iter()
        .map(|r| (r.region.clone(), key(r)))
        .collect()
}

/// Replica regions to remove and replicas to add to go from `current` to `desired`; a replica whose
/// key changes is removed and added again.
fn replica_changes(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<(String, String)>) {
    let remove = current
        .iter()
        .filter(|(r, k)| desired.get(*r) != Some(*k))
        .map(|(r, _)| r.clone())
        .collect();
    let add = desired
        .iter()
        .filter(|(r, k)| current.get(*r) != Some(*k))
        .map(|(r, k)| (r.clone(), k.clone()))
        .collect();
    (remove, add)
}

fn replica_types(add: &[(String, String)]) -> Vec<ReplicaRegionType> {
    add.iter()
        .map(|(region, key)| {
            let key = (key != DEFAULT_KEY).then(|| key.clone());
            ReplicaRegionType::builder()
                .region(region)
                .set_kms_key_id(key)
                .build()
        })
        .collect()
}

/// (key, value) pairs as Secrets Manager tags.
fn sm_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().key(k).value(v).build();
    pairs.iter().map(tag).collect()
}

/// The tags of a secret as (key, value) pairs.
fn pairs(s: &DescribeSecretOutput) -> Vec<(String, String)> {
    let pair = |t: &Tag| {
        (
            t.key().unwrap_or_default().into(),
            t.value().unwrap_or_default().into(),
        )
    };
    s.tags().iter().map(pair).collect()
}

tagger! {
    /// Secrets Manager's tagger: TagResource and UntagResource on the secret's ARN.
    pub struct SmTags: |aws, on, set, remove| sm = aws.secretsmanager(), id = on.id.as_str();
    sm.tag_resource().secret_id(id).set_tags(Some(sm_tags(set))), "TagResource";
    sm.untag_resource().secret_id(id).set_tag_keys(Some(remove.to_vec())), "UntagResource"
}

/// DescribeSecret; `None` when there is no such secret.
async fn describe(aws: &Aws, id: &str) -> Result<Option<DescribeSecretOutput>> {
    let out = aws
        .secretsmanager()
        .describe_secret()
        .secret_id(id)
        .send()
        .await;
    found(out.map_err(sdk("DescribeSecret", id)))
}

/// The secret `id` unless it is gone or scheduled for deletion.
async fn live(aws: &Aws, id: &str) -> Result<Option<DescribeSecretOutput>> {
    Ok(describe(aws, id)
        .await?
        .filter(|s| s.deleted_date().is_none()))
}

/// Waits until every replica is in sync; a failed replication is an error with its reason.
async fn until_replicated(aws: &Aws, operation: &str, id: &str) -> Result<()> {
    wait_until(operation, id, REPLICATION_TIMEOUT, || async move {
        let Some(s) = describe(aws, id).await? else {
            return Ok(WaitState::Failed("the secret is gone".into()));
        };
        for r in s.replication_status() {
            match r.status() {
                Some(StatusType::Failed) => {
                    return Ok(WaitState::Failed(format!(
                        "replication to {} failed: {}",
                        r.region().unwrap_or("?"),
                        r.status_message().unwrap_or("no reason given")
                    )));
                }
                Some(StatusType::InSync) | None => {}
                Some(other) => {
                    return Ok(WaitState::Pending(format!(
                        "replica in {} is {}",
                        r.region().unwrap_or("?"),
                        other.as_str()
                    )));
                }
            }
        }
        Ok(WaitState::Ready)
    })
    .await
}

async fn remove_replicas(aws: &Aws, id: &str, regions: Vec<String>) -> Result<()> {
    if regions.is_empty() {
        return Ok(());
    }
    let call = aws
        .secretsmanager()
        .remove_regions_from_replication()
        .secret_id(id);
    let r = call.set_remove_replica_regions(Some(regions)).send().await;
    r.map(drop).map_err(sdk("RemoveRegionsFromReplication", id))
}

async fn add_replicas(aws: &Aws, id: &str, add: &[(String, String)]) -> Result<()> {
    if add.is_empty() {
        return Ok(());
    }
    // A region whose replication failed is still listed, and must leave before it can be added.
    let failed: Vec<String> = describe(aws, id)
        .await?
        .map(|s| {
            s.replication_status()
                .iter()
                .filter(|r| r.status() == Some(&StatusType::Failed))
                .filter_map(|r| r.region().map(String::from))
                .filter(|r| add.iter().any(|(a, _)| a == r))
                .collect()
        })
        .unwrap_or_default();
    remove_replicas(aws, id, failed).await?;
    let call = aws
        .secretsmanager()
        .replicate_secret_to_regions()
        .secret_id(id);
    let r = call
        .set_add_replica_regions(Some(replica_types(add)))
        .send()
        .await;
    r.map_err(sdk("ReplicateSecretToRegions", id))?;
    until_replicated(aws, "ReplicateSecretToRegions", id).await
}

/// A secret of the declared name that exists already: this stack's own (scheduled for deletion by
/// an earlier destroy, or created just before a crash) is restored and adopted; anyone else's is an error.
async fn adopt(
    aws: &Aws,
    address: &Address,
    p: &SecretProps,
    tags: &[(String, String)],
    cause: CloudError,
) -> Result<DescribeSecretOutput> {
    let name = &p.name;
    let Some(existing) = describe(aws, name).await? else {
        return Err(cause);
    };
    let stack: String = tags::kept(tags, STACK_TAG).unwrap_or_default();
    if !tags::split_owned(&stack, pairs(&existing)).is_some_and(|(a, _)| a == *address) {
        return Err(CloudError::new(
            "CreateSecret",
            address,
            cause.kind,
            format!(
                "a secret named `{name}` already exists and is not this stack's `{address}` ({})",
                cause.message
            ),
        ));
    }
    if existing.deleted_date().is_some() {
        let sm = aws.secretsmanager();
        let r = sm.restore_secret().secret_id(name).send().await;
        r.map_err(sdk("RestoreSecret", address))?;
    }
    let restored = describe(aws, name).await?.ok_or(cause)?;
    let lost = || {
        let kind = CloudErrorKind::Service("Tags".into());
        let why = "the restored secret lost its ownership tags";
        CloudError::new("CreateSecret", address, kind, why)
    };
    let (_, user_tags) = tags::split_owned(&stack, pairs(&restored)).ok_or_else(lost)?;
    let mut current = Observed {
        id: restored.arn().unwrap_or(name).to_string(),
        props: to_props(&Secret.props(aws, &restored).await?),
        ..Observed::default()
    };
    current.props.insert("tags".into(), user_tags);
    let mut desired = to_props(p);
    let declared = tags::split_owned(&stack, tags.iter().cloned()).map(|(_, t)| t);
    desired.insert("tags".into(), declared.unwrap_or_else(|| json!({})));
    let changed: Vec<String> = crate::planner::diff(&SECRET, &desired, &current, &[])
        .into_iter()
        .map(|f| f.name)
        .collect();
    SECRET
        .update(&aws.context(), &current, &desired, &changed)
        .await?;
    describe(aws, &current.id).await?.ok_or_else(lost)
}

#[async_trait]
impl Description for Secret {
    const ATTRIBUTES: &'static [Attr<DescribeSecretOutput>] = &[
        Attr::new("id", |_, s: &DescribeSecretOutput| {
            json!(s.arn().unwrap_or_default())
        })
        .note("= `arn`"),
        Attr::new("arn", |_, s| json!(s.arn().unwrap_or_default())),
        Attr::new("name", |_, s| json!(s.name().unwrap_or_default())),
    ];
    const IDENTITY: Identity = Identity::Tags(&SmTags);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check(props)
    }

    fn tags(&self, s: &DescribeSecretOutput) -> Vec<(String, String)> {
        pairs(s)
    }

    async fn fetch(&self, aws: &Aws, ids: &[String]) -> Option<Result<Vec<DescribeSecretOutput>>> {
        let read = async {
            let mut out = Vec::new();
            for id in ids {
                out.extend(live(aws, id).await?);
            }
            Ok(out)
        };
        Some(read.await)
    }

    async fn list(
        &self,
        aws: &Aws,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<DescribeSecretOutput>> {
        let by_tag = |key, value: &str| Filter::builder().key(key).values(value).build();
        let pages: Vec<_> = aws
            .secretsmanager()
            .list_secrets()
            .filters(by_tag(FilterNameStringType::TagKey, STACK_TAG))
            .filters(by_tag(FilterNameStringType::TagValue, stack))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(sdk("ListSecrets", stack))?;
        let mut out = Vec::new();
        for s in pages.iter().flat_map(|p| p.secret_list()) {
            let ours =
                (s.tags().iter()).any(|t| t.key() == Some(STACK_TAG) && t.value() == Some(stack));
            // A replica of a secret whose primary lives elsewhere is that secret, not another.
            let replica = s.primary_region().is_some_and(|r| r != aws.region());
            if let Some(arn) = s.arn()
                && ours
                && !replica
                && s.deleted_date().is_none()
            {
                // Deleted (scheduled) between the two calls: not there any more.
                out.extend(live(aws, arn).await?);
            }
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, s: &DescribeSecretOutput) -> Result<SecretProps> {
        // A replication that failed left no replica behind: showing it as missing makes the plan
        // re-add it instead of reporting a healthy secret.
        let replica = (s.replication_status().iter())
            .filter(|r| r.status() != Some(&StatusType::Failed))
            .filter_map(|r| {
                let kms_key_id = r.kms_key_id().map(String::from);
                Some(Replica {
                    region: r.region()?.to_string(),
                    kms_key_id,
                })
            });
        Ok(SecretProps {
            name: s.name().unwrap_or_default().to_string(),
            description: Some(s.description().unwrap_or_default().to_string()),
            kms_key_id: s.kms_key_id().map(String::from),
            replica: Some(replica.collect()),
            recovery_window_in_days: tags::kept(&pairs(s), RECOVERY_TAG),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, SecretProps>) -> Result<DescribeSecretOutput> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let add: Vec<(String, String)> = replicas(p.replica.as_deref().unwrap_or_default())
            .into_iter()
            .collect();
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let created = aws
            .secretsmanager()
            .create_secret()
            .name(&p.name)
            .set_description(nonempty(&p.description))
            .set_kms_key_id(nonempty(&p.kms_key_id).filter(|k| k != DEFAULT_KEY))
            .set_add_replica_regions((!add.is_empty()).then(|| replica_types(&add)))
            .set_tags(Some(sm_tags(&tags::keep(
                tags,
                RECOVERY_TAG,
                p.recovery_window_in_days,
            ))))
            .send()
            .await
            .map_err(sdk("CreateSecret", address));
        let arn = match created {
            Ok(out) => out.arn().unwrap_or(&p.name).to_string(),
            Err(e) if e.is("ResourceExistsException") || e.is("InvalidRequestException") => {
                return adopt(aws, address, p, tags, e).await;
            }
            Err(e) => return Err(e),
        };
        if !add.is_empty() {
            until_replicated(aws, "CreateSecret", &arn).await?;
        }
        describe(aws, &arn).await?.ok_or_else(|| {
            CloudError::new(
                "CreateSecret",
                address,
                CloudErrorKind::Service("Tags".into()),
                "the new secret came back without its ownership tags",
            )
        })
    }

    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, SecretProps>,
    ) -> Result<Option<DescribeSecretOutput>> {
        let (on, changed, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        let has = |f: &str| changed.iter().any(|c| c == f);
        let id = on.id.as_str();
        if has("description") || has("kms_key_id") {
            let description = desired.description.clone().unwrap_or_default();
            let key = desired
                .kms_key_id
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY.into());
            (aws.secretsmanager().update_secret().secret_id(id))
                .set_description(has("description").then_some(description))
                .set_kms_key_id(has("kms_key_id").then_some(key))
                .send()
                .await
                .map_err(sdk("UpdateSecret", id))?;
        }
        if has("replica") {
            let declared = |p: &SecretProps| replicas(p.replica.as_deref().unwrap_or_default());
            let (remove, add) = replica_changes(&declared(current), &declared(desired));
            remove_replicas(aws, id, remove).await?;
            add_replicas(aws, id, &add).await?;
        }
        if has("recovery_window_in_days") {
            let window = desired.recovery_window_in_days;
            (&SmTags as &dyn Tagger)
                .keep(aws, on, RECOVERY_TAG, window)
                .await?;
        }
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, id: &str, current: &SecretProps) -> Result<()> {
        let Some(live) = live(aws, id).await? else {
            return Ok(());
        };
        // A secret with replicas cannot be deleted: the replicas go first.
        let regions = live
            .replication_status()
            .iter()
            .filter_map(|r| r.region().map(String::from));
        remove_replicas(aws, id, regions.collect()).await?;
        let call = aws.secretsmanager().delete_secret().secret_id(id);
        let call = match current.recovery_window_in_days.unwrap_or(30) {
            0 => call.force_delete_without_recovery(true),
            window => call.recovery_window_in_days(window),
        };
        call.send().await.map(drop).map_err(sdk("DeleteSecret", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ADDRESS_TAG;
    use crate::adapter::testing::{obj, round_trip};
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
    use aws_sdk_secretsmanager::types::{ReplicationStatusType, SecretListEntry};
    use aws_smithy_mocks::mock;

    /// The declared replicas of a props map.
    fn declared(v: Value) -> Vec<Replica> {
        serde_json::from_value(v["replica"].clone()).unwrap()
    }

    /// What a read of `stack` makes of the one secret `s` (listed, then described).
    fn observe(stack: &str, s: &DescribeSecretOutput) -> Option<Observed> {
        let (listed, described) = (s.clone(), s.clone());
        let list = mock!(Client::list_secrets).then_output(move || {
            let entry = SecretListEntry::builder()
                .set_arn(listed.arn.clone())
                .set_tags(listed.tags.clone())
                .build();
            ListSecretsOutput::builder().secret_list(entry).build()
        });
        let describe = mock!(Client::describe_secret).then_output(move || described.clone());
        let aws = Aws::mocked(&[&list, &describe]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let found = runtime.block_on(SECRET.read_all(&aws.context(), stack, &ReadHints::default()));
        found.unwrap().into_iter().next()
    }

    /// The payments database's secret `arn` as DescribeSecret answers it: owned by the stack and
    /// address `owner`, with a 7-day recovery window and the user tag `user`.
    fn payments_db(
        arn: &str,
        (stack, address): (&str, &str),
        (key, value): (&str, &str),
    ) -> aws_sdk_secretsmanager::operation::describe_secret::builders::DescribeSecretOutputBuilder
    {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        DescribeSecretOutput::builder()
            .arn(arn)
            .name("examplepay/prod/payments-db")
            .tags(tag(STACK_TAG, stack))
            .tags(tag(ADDRESS_TAG, address))
            .tags(tag(RECOVERY_TAG, "7"))
            .tags(tag(key, value))
    }

    #[test]
    fn refuses_bad_names_windows_and_duplicate_replicas() {
        assert!(check(&obj(json!({"name": "examplepay/prod/payments-db"}))).is_ok());
        assert!(
            check(&obj(json!({"name": "bad name"})))
                .unwrap_err()
                .to_string()
                .contains("contains ` `")
        );
        assert!(
            check(&obj(json!({"name": "a", "recovery_window_in_days": 3})))
                .unwrap_err()
                .to_string()
                .contains("7–30")
        );
        assert!(check(&obj(json!({"name": "a", "recovery_window_in_days": 0}))).is_ok());
        let twice = obj(
            json!({"name": "a", "replica": [{"region": "eu-west-1"}, {"region": "eu-west-1", "kms_key_id": "k"}]}),
        );
        assert!(
            check(&twice)
                .unwrap_err()
                .to_string()
                .contains("named twice")
        );
    }

    #[test]
    fn replica_changes_remove_and_re_add_on_key_change() {
        let cur = replicas(&declared(
            json!({"replica": [{"region": "eu-west-1"}, {"region": "us-west-2", "kms_key_id": "k1"}]}),
        ));
        let want = replicas(&declared(
            json!({"replica": [{"region": "us-west-2", "kms_key_id": "k2"}, {"region": "ap-southeast-1"}]}),
        ));
        let (remove, add) = replica_changes(&cur, &want);
        assert_eq!(
            remove,
            vec!["eu-west-1".to_string(), "us-west-2".to_string()]
        );
        assert_eq!(
            add,
            vec![
                ("ap-southeast-1".to_string(), DEFAULT_KEY.to_string()),
                ("us-west-2".to_string(), "k2".to_string())
            ]
        );
        let (remove, add) = replica_changes(&cur, &cur);
        assert!(remove.is_empty() && add.is_empty());
    }

    #[test]
    fn observes_metadata_and_the_recovery_window() {
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:examplepay/prod/payments-db-AbCdEf";
        let owner = ("prod/us-east-1", "secretsmanager.secret.payments-db");
        let s = payments_db(arn, owner, ("Project", "examplepay"))
            .replication_status(
                ReplicationStatusType::builder()
                    .region("eu-west-1")
                    .kms_key_id(DEFAULT_KEY)
                    .status(StatusType::InSync)
                    .build(),
            )
            .build();
        let o = observe("prod/us-east-1", &s).unwrap();
        assert_eq!(o.props["recovery_window_in_days"], 7);
        assert_eq!(o.props["tags"], json!({"Project": "examplepay"}));
        assert_eq!(
            o.props["replica"],
            json!([{"region": "eu-west-1", "kms_key_id": DEFAULT_KEY}])
        );
        assert!(
            !o.props.contains_key("kms_key_id"),
            "the default key is not reported"
        );
        // What a declaration with defaults compares equal to.
        let declared = obj(
            json!({"name": "examplepay/prod/payments-db", "replica": [{"region": "eu-west-1"}], "recovery_window_in_days": 7, "tags": {"Project": "examplepay"}}),
        );
        assert!(crate::planner::diff(&SECRET, &declared, &o, &[]).is_empty());
        assert!(observe("prod/eu-west-1", &s).is_none());
    }

    #[test]
    fn a_failed_replica_is_observed_as_missing() {
        let replica = |region: &str, status: StatusType| {
            ReplicationStatusType::builder()
                .region(region)
                .kms_key_id(DEFAULT_KEY)
                .status(status)
                .build()
        };
        let s = DescribeSecretOutput::builder()
            .arn("arn:aws:secretsmanager:us-east-1:1:secret:examplepay/prod/payments-db-AbCdEf")
            .name("examplepay/prod/payments-db")
            .tags(
                Tag::builder()
                    .key(STACK_TAG)
                    .value("prod/us-east-1")
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key(ADDRESS_TAG)
                    .value("secretsmanager.secret.db")
                    .build(),
            )
            .replication_status(replica("eu-west-1", StatusType::Failed))
            .replication_status(replica("us-west-2", StatusType::InSync))
            .build();
        let o = observe("prod/us-east-1", &s).unwrap();
        assert_eq!(
            o.props["replica"],
            json!([{"region": "us-west-2", "kms_key_id": DEFAULT_KEY}])
        );
        let declared = obj(
            json!({"name": "examplepay/prod/payments-db", "replica": [{"region": "eu-west-1"}, {"region": "us-west-2"}]}),
        );
        let changed: Vec<String> = crate::planner::diff(&SECRET, &declared, &o, &[])
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(changed, ["replica"], "the plan re-adds the failed replica");
    }

    #[tokio::test]
    async fn a_created_secret_round_trip_as_declared() {
        use aws_sdk_secretsmanager::operation as op;
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:examplepay/prod/payments-db-AbCdEf";
        let create = mock!(Client::create_secret)
            .match_requests(|r| {
                r.secret_string().is_none()
                    && r.secret_binary().is_none()
                    && r.tags()
                        .iter()
                        .any(|t| t.key() == Some(RECOVERY_TAG) && t.value() == Some("7"))
            })
            .then_output(move || {
                op::create_secret::CreateSecretOutput::builder()
                    .arn(arn)
                    .build()
            });
        let describe = mock!(Client::describe_secret).then_output(move || {
            let owner = ("test", "secretsmanager.secret.db");
            payments_db(arn, owner, ("team", "payments"))
                .description("the payments database")
                .build()
        });
        let observed = round_trip(&SECRET, &Aws::mocked(&[&create, &describe]), "secretsmanager.secret.db",
            json!({"name": "examplepay/prod/payments-db", "description": "the payments database", "recovery_window_in_days": 7, "tags": {"team": "payments"}}),
        )
        .await;
        assert_eq!(
            (observed.id.as_str(), &observed.attrs["arn"]),
            (arn, &json!(arn))
        );
        assert!(
            observed
                .props
                .keys()
                .all(|k| SCHEMA.iter().any(|f| f.name == k)),
            "only metadata is read and kept, never a value: {:?}",
            observed.props
        );
    }
}
