//! `aws::secretsmanager::secret`: a secret's metadata (name, key, replicas, tags) — never its value.
//!
//! Read with one paginated ListSecrets filtered by the ownership tag (tags re-checked), then one
//! DescribeSecret per owned secret for its replication status, which ListSecrets does not always
//! carry. `recovery_window_in_days` only matters to delete; it rides along as an `eprun:` tag so a
//! read (and a delete after a lost state) knows it.

use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{self, Field, Kind, TAGS};
use crate::token;
use crate::{ADDRESS_TAG, Aws, CloudError, CloudErrorKind, STACK_TAG, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{
    Filter, FilterNameStringType, ReplicaRegionType, StatusType, Tag,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// A Secrets Manager secret, without its value.
pub struct Secret;

/// The key Secrets Manager uses when none is named.
const DEFAULT_KEY: &str = "alias/aws/secretsmanager";

/// Where `recovery_window_in_days` is kept.
const RECOVERY_TAG: &str = "eprun:recovery_window_in_days";

/// Replication to another region takes a little while.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(600);

const REPLICA: &[Field] = &[
    Field::required(
        "region",
        Kind::Str,
        "the region to keep a read-only replica in",
    ),
    Field::optional(
        "kms_key_id",
        Kind::Str,
        "the key (in that region) that encrypts the replica",
    )
    .default("\"alias/aws/secretsmanager\""),
];

const SCHEMA: &[Field] = &[
    Field::required(
        "name",
        Kind::Str,
        "the secret's name, e.g. `examplepay/prod/payments-db`",
    ),
    Field::optional("description", Kind::Str, "what the secret is for"),
    Field::optional(
        "kms_key_id",
        Kind::Str,
        "the key that encrypts the secret (an ARN, key id or alias)",
    )
    .default("\"alias/aws/secretsmanager\""),
    Field::optional(
        "replica",
        Kind::ObjectSet(REPLICA),
        "read-only replicas `[#{ region, kms_key_id }]` (for DR)",
    ),
    Field::optional(
        "recovery_window_in_days",
        Kind::Int,
        "days a deleted secret can be restored: 0 (at once) or 7–30",
    )
    .default("30"),
    TAGS,
];

/// Checks what Secrets Manager would refuse, before any call.
fn check(props: &Props) -> Result<(), String> {
    if let Some(name) = props
        .get("name")
        .filter(|v| !token::is_unknown(v))
        .and_then(Value::as_str)
    {
        if name.is_empty() || name.len() > 512 {
            return Err("property `name` must be 1 to 512 characters".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
        {
            return Err(format!(
                "property `name`: `{name}` contains `{c}`; names use letters, digits and /_+=.@-"
            ));
        }
    }
    let window = props.get("recovery_window_in_days").and_then(Value::as_i64);
    if let Some(w) = window.filter(|w| *w != 0 && !(7..=30).contains(w)) {
        return Err(format!(
            "property `recovery_window_in_days`: {w} is not 0 (delete at once) or 7–30"
        ));
    }
    if let Some(replicas) = props.get("replica").and_then(Value::as_array) {
        let mut seen = std::collections::BTreeSet::new();
        for r in replicas
            .iter()
            .filter_map(|r| r.get("region"))
            .filter_map(Value::as_str)
        {
            if !seen.insert(r) {
                return Err(format!("property `replica`: region `{r}` is named twice"));
            }
        }
    }
    Ok(())
}

/// The replicas a props map declares, by region, with their keys (defaults filled in).
fn replicas(p: &Props) -> BTreeMap<String, String> {
    let normalized = schema::normalize(
        &Kind::ObjectSet(REPLICA),
        p.get("replica").unwrap_or(&json!([])),
    );
    normalized
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|r| {
                    let region = r.get("region")?.as_str()?;
                    let key = r
                        .get("kms_key_id")
                        .and_then(Value::as_str)
                        .unwrap_or(DEFAULT_KEY);
                    Some((region.to_string(), key.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
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

fn sm_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The full create-time tag set: ownership and user tags, plus the recovery window when declared.
fn create_tags(req: &CreateRequest<'_>) -> Vec<(String, String)> {
    let mut t = req.tags.clone();
    if let Some(w) = req
        .props
        .get("recovery_window_in_days")
        .and_then(Value::as_i64)
    {
        t.push((RECOVERY_TAG.into(), w.to_string()));
    }
    t
}

/// A secret as read, in the declared shape; `None` when it is not this stack's.
fn observe(stack: &str, s: &DescribeSecretOutput) -> Option<Observed> {
    let all: Vec<(String, String)> = s
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let recovery = all
        .iter()
        .find(|(k, _)| k == RECOVERY_TAG)
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let (address, user_tags) = tags::split_owned(stack, all)?;
    let arn = s.arn().unwrap_or_default().to_string();
    let name = s.name().unwrap_or_default().to_string();
    let mut p = Props::new();
    p.insert("name".into(), json!(name));
    p.insert(
        "description".into(),
        json!(s.description().unwrap_or_default()),
    );
    if let Some(k) = s.kms_key_id() {
        p.insert("kms_key_id".into(), json!(k));
    }
    // A replication that failed left no replica behind: showing it as missing makes the plan
    // re-add it instead of reporting a healthy secret.
    let replica: Vec<Value> = s
        .replication_status()
        .iter()
        .filter(|r| r.status() != Some(&StatusType::Failed))
        .filter_map(|r| {
            let mut m = serde_json::Map::new();
            m.insert("region".into(), json!(r.region()?));
            if let Some(k) = r.kms_key_id() {
                m.insert("kms_key_id".into(), json!(k));
            }
            Some(Value::Object(m))
        })
        .collect();
    p.insert("replica".into(), Value::Array(replica));
    if let Some(w) = recovery {
        p.insert("recovery_window_in_days".into(), json!(w));
    }
    p.insert("tags".into(), user_tags);
    Some(Observed {
        address: Some(address),
        id: arn.clone(),
        natural_key: Some(name.clone()),
        props: p,
        attrs: [
            ("id", json!(arn)),
            ("arn", json!(arn)),
            ("name", json!(name)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    })
}

impl Secret {
    async fn describe(aws: &Aws, id: &str) -> Result<Option<DescribeSecretOutput>, CloudError> {
        match aws
            .secretsmanager()
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeSecret", id, e))
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until every replica is in sync; a failed replication is an error with its reason.
    async fn until_replicated(aws: &Aws, operation: &str, id: &str) -> Result<(), CloudError> {
        wait_until(operation, id, REPLICATION_TIMEOUT, || async move {
            let Some(s) = Self::describe(aws, id).await? else {
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

    async fn remove_replicas(aws: &Aws, id: &str, regions: Vec<String>) -> Result<(), CloudError> {
        if regions.is_empty() {
            return Ok(());
        }
        aws.secretsmanager()
            .remove_regions_from_replication()
            .secret_id(id)
            .set_remove_replica_regions(Some(regions))
            .send()
            .await
            .map_err(|e| crate::from_sdk("RemoveRegionsFromReplication", id, e))?;
        Ok(())
    }

    async fn add_replicas(aws: &Aws, id: &str, add: &[(String, String)]) -> Result<(), CloudError> {
        if add.is_empty() {
            return Ok(());
        }
        // A region whose replication failed is still listed, and must leave before it can be added.
        let failed: Vec<String> = Self::describe(aws, id)
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
        Self::remove_replicas(aws, id, failed).await?;
        aws.secretsmanager()
            .replicate_secret_to_regions()
            .secret_id(id)
            .set_add_replica_regions(Some(replica_types(add)))
            .send()
            .await
            .map_err(|e| crate::from_sdk("ReplicateSecretToRegions", id, e))?;
        Self::until_replicated(aws, "ReplicateSecretToRegions", id).await
    }

    /// A secret of the declared name that exists already: this stack's own (scheduled for deletion by
    /// an earlier destroy, or created just before a crash) is restored and adopted; anyone else's is an error.
    async fn adopt(
        &self,
        aws: &Aws,
        req: &CreateRequest<'_>,
        cause: CloudError,
    ) -> Result<Observed, CloudError> {
        let name = req
            .props
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(existing) = Self::describe(aws, name).await? else {
            return Err(cause);
        };
        let tag = |k: &str| {
            existing
                .tags()
                .iter()
                .find(|t| t.key() == Some(k))
                .and_then(|t| t.value())
        };
        if tag(STACK_TAG) != Some(req.stack)
            || tag(ADDRESS_TAG) != Some(req.address.to_string().as_str())
        {
            return Err(CloudError::new(
                "CreateSecret",
                req.address,
                cause.kind,
                format!(
                    "a secret named `{name}` already exists and is not this stack's `{}` ({})",
                    req.address, cause.message
                ),
            ));
        }
        if existing.deleted_date().is_some() {
            aws.secretsmanager()
                .restore_secret()
                .secret_id(name)
                .send()
                .await
                .map_err(|e| crate::from_sdk("RestoreSecret", req.address, e))?;
        }
        let restored = Self::describe(aws, name).await?.ok_or(cause)?;
        let current = observe(req.stack, &restored).ok_or_else(|| {
            CloudError::new(
                "CreateSecret",
                req.address,
                CloudErrorKind::Service("Tags".into()),
                "the restored secret lost its ownership tags",
            )
        })?;
        let changed: Vec<String> = crate::planner::diff(self, req.props, &current, &[])
            .into_iter()
            .map(|f| f.name)
            .collect();
        self.update(&aws.context(), &current, req.props, &changed)
            .await
    }
}

#[async_trait]
impl Resource for Secret {
    fn kind(&self) -> &'static str {
        "secretsmanager.secret"
    }

    fn doc(&self) -> &'static str {
        "A Secrets Manager secret: name, key, replicas and tags — never its value. Attributes: `id` (= `arn`), `arn`, `name`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "name"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check(props)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let by_tag = |key: FilterNameStringType, value: &str| {
            Filter::builder().key(key).values(value).build()
        };
        let mut pages = aws
            .secretsmanager()
            .list_secrets()
            .filters(by_tag(FilterNameStringType::TagKey, STACK_TAG))
            .filters(by_tag(FilterNameStringType::TagValue, stack))
            .into_paginator()
            .send();
        let mut owned = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("ListSecrets", stack, e))?;
            for s in page.secret_list() {
                let ours = s
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(STACK_TAG) && t.value() == Some(stack));
                // A replica of a secret whose primary lives elsewhere is that secret, not another.
                let replica = s.primary_region().is_some_and(|r| r != aws.region());
                if ours && !replica && s.deleted_date().is_none() {
                    owned.extend(s.arn().map(String::from));
                }
            }
        }
        let mut out = Vec::new();
        for arn in owned {
            // Deleted (scheduled) between the two calls: not there any more.
            let live = Self::describe(aws, &arn)
                .await?
                .filter(|s| s.deleted_date().is_none());
            out.extend(live.and_then(|s| observe(stack, &s)));
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let opt = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let add: Vec<(String, String)> = replicas(p).into_iter().collect();
        let created = aws
            .secretsmanager()
            .create_secret()
            .name(name)
            .set_description(opt("description"))
            .set_kms_key_id(opt("kms_key_id").filter(|k| k != DEFAULT_KEY))
            .set_add_replica_regions((!add.is_empty()).then(|| replica_types(&add)))
            .set_tags(Some(sm_tags(&create_tags(req))))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateSecret", req.address, e));
        let arn = match created {
            Ok(out) => out.arn().unwrap_or(name).to_string(),
            Err(e) if matches!(&e.kind, CloudErrorKind::Service(c) if c == "ResourceExistsException" || c == "InvalidRequestException") =>
            {
                return self.adopt(aws, req, e).await;
            }
            Err(e) => return Err(e),
        };
        if !add.is_empty() {
            Self::until_replicated(aws, "CreateSecret", &arn).await?;
        }
        Self::describe(aws, &arn)
            .await?
            .and_then(|s| observe(req.stack, &s))
            .ok_or_else(|| {
                CloudError::new(
                    "CreateSecret",
                    req.address,
                    CloudErrorKind::Service("Tags".into()),
                    "the new secret came back without its ownership tags",
                )
            })
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let id = current.id.as_str();
        let sm = aws.secretsmanager();
        if has("description") || has("kms_key_id") {
            let description = has("description").then(|| {
                desired
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            });
            let key = has("kms_key_id").then(|| {
                desired
                    .get("kms_key_id")
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_KEY)
                    .to_string()
            });
            sm.update_secret()
                .secret_id(id)
                .set_description(description)
                .set_kms_key_id(key)
                .send()
                .await
                .map_err(|e| crate::from_sdk("UpdateSecret", id, e))?;
        }
        if has("replica") {
            let (remove, add) = replica_changes(&replicas(&current.props), &replicas(desired));
            Self::remove_replicas(aws, id, remove).await?;
            Self::add_replicas(aws, id, &add).await?;
        }
        if has("tags") || has("recovery_window_in_days") {
            let (mut set, mut remove) = tags::tag_changes(&current.props, desired);
            if has("recovery_window_in_days") {
                match desired
                    .get("recovery_window_in_days")
                    .and_then(Value::as_i64)
                {
                    Some(w) => set.push((RECOVERY_TAG.into(), w.to_string())),
                    None => remove.push(RECOVERY_TAG.into()),
                }
            }
            if !set.is_empty() {
                sm.tag_resource()
                    .secret_id(id)
                    .set_tags(Some(sm_tags(&set)))
                    .send()
                    .await
                    .map_err(|e| crate::from_sdk("TagResource", id, e))?;
            }
            if !remove.is_empty() {
                sm.untag_resource()
                    .secret_id(id)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| crate::from_sdk("UntagResource", id, e))?;
            }
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let id = current.id.as_str();
        let Some(live) = Self::describe(aws, id).await? else {
            return Ok(());
        };
        if live.deleted_date().is_some() {
            return Ok(());
        }
        // A secret with replicas cannot be deleted: the replicas go first.
        let regions: Vec<String> = live
            .replication_status()
            .iter()
            .filter_map(|r| r.region().map(String::from))
            .collect();
        Self::remove_replicas(aws, id, regions).await?;
        let window = current
            .props
            .get("recovery_window_in_days")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        let call = aws.secretsmanager().delete_secret().secret_id(id);
        let call = if window == 0 {
            call.force_delete_without_recovery(true)
        } else {
            call.recovery_window_in_days(window)
        };
        match call
            .send()
            .await
            .map_err(|e| crate::from_sdk("DeleteSecret", id, e))
        {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::types::ReplicationStatusType;

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn refuses_bad_names_windows_and_duplicate_replicas() {
        assert!(check(&obj(json!({"name": "examplepay/prod/payments-db"}))).is_ok());
        assert!(
            check(&obj(json!({"name": "bad name"})))
                .unwrap_err()
                .contains("contains ` `")
        );
        assert!(
            check(&obj(json!({"name": "a", "recovery_window_in_days": 3})))
                .unwrap_err()
                .contains("7–30")
        );
        assert!(check(&obj(json!({"name": "a", "recovery_window_in_days": 0}))).is_ok());
        let twice = obj(
            json!({"name": "a", "replica": [{"region": "eu-west-1"}, {"region": "eu-west-1", "kms_key_id": "k"}]}),
        );
        assert!(check(&twice).unwrap_err().contains("named twice"));
    }

    #[test]
    fn replica_changes_remove_and_re_add_on_key_change() {
        let cur = replicas(&obj(
            json!({"replica": [{"region": "eu-west-1"}, {"region": "us-west-2", "kms_key_id": "k1"}]}),
        ));
        let want = replicas(&obj(
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
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let s = DescribeSecretOutput::builder()
            .arn("arn:aws:secretsmanager:us-east-1:1:secret:examplepay/prod/payments-db-AbCdEf")
            .name("examplepay/prod/payments-db")
            .tags(tag(STACK_TAG, "prod/us-east-1"))
            .tags(tag(ADDRESS_TAG, "secretsmanager.secret.payments-db"))
            .tags(tag(RECOVERY_TAG, "7"))
            .tags(tag("Project", "examplepay"))
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
        assert!(crate::planner::diff(&Secret, &declared, &o, &[]).is_empty());
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
        let changed: Vec<String> = crate::planner::diff(&Secret, &declared, &o, &[])
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(changed, ["replica"], "the plan re-adds the failed replica");
    }
}
