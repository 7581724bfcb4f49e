//! `aws::s3::bucket`: an S3 bucket with versioning, default encryption and public access blocked.

use crate::address::Address;
use crate::context::Context;
use crate::resource::{
    CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource, gone_ok,
};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, STACK_TAG, tags};
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An S3 bucket; found by name, since a bucket's tags are set only after it exists.
pub struct Bucket;

const SCHEMA: &[Field] = &[
    Field::required(
        "bucket",
        Kind::Str,
        "the bucket name, unique across all of AWS",
    ),
    Field::optional(
        "force_destroy",
        Kind::Bool,
        "empty the bucket (every object version) when deleting it",
    )
    .default("false"),
    Field::optional(
        "versioning",
        Kind::Bool,
        "keep every version of every object",
    )
    .default("false"),
    Field::optional(
        "sse_algorithm",
        Kind::Enum(&["AES256", "aws:kms"]),
        "default encryption of new objects",
    )
    .default("\"AES256\""),
    Field::optional(
        "block_public_access",
        Kind::Bool,
        "turn on all four public access blocks",
    )
    .default("true"),
    TAGS,
];

/// Where `force_destroy` is kept, so a read (and a delete after a lost state) knows it.
const FORCE_DESTROY_TAG: &str = "eprun:force_destroy";

/// DeleteObjects takes at most this many keys.
const DELETE_BATCH: usize = 1000;

/// A client-side build error (a required field missing), as an AWS error for `target`.
fn build_error(operation: &str, target: &str, e: impl std::fmt::Display) -> CloudError {
    CloudError::new(
        operation,
        target,
        CloudErrorKind::Service("Client".into()),
        e.to_string(),
    )
}

/// `Ok(None)` for the "not there" answers S3 gives for unset configuration.
fn absent_ok<T>(result: Result<T, CloudError>) -> Result<Option<T>, CloudError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks S3's naming rules: 3 to 63 lowercase letters, digits, `.` and `-`, starting and ending
/// with a letter or digit.
fn check_name(name: &str) -> Result<(), String> {
    if token::is_unknown(&json!(name)) {
        return Ok(());
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && alnum(name.chars().next())
        && alnum(name.chars().last())
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "property `bucket`: `{name}` is not a valid bucket name (3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit)"
        ))
    }
}

/// What the tags of a bucket say about who owns it.
#[derive(Debug, PartialEq)]
enum Owner {
    /// Tagged for this stack.
    Ours(Address, Value),
    /// No ownership tags: created by this stack just before a crash, or by hand.
    Untagged(Value),
    /// Tagged for another stack.
    Other,
}

fn owner(stack: &str, all: &BTreeMap<String, String>) -> Owner {
    match all.get(STACK_TAG) {
        Some(s) if s != stack => Owner::Other,
        _ => match tags::split_owned(stack, all.clone()) {
            Some((address, user_tags)) => Owner::Ours(address, user_tags),
            None => Owner::Untagged(Value::Object(
                all.iter()
                    .filter(|(k, _)| !k.starts_with("eprun:") && !k.starts_with("aws:"))
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect(),
            )),
        },
    }
}

/// The full tag set for a bucket: ownership and user tags, plus the `force_destroy` marker.
fn with_force_destroy(mut tags: Vec<(String, String)>, props: &Props) -> Vec<(String, String)> {
    tags.retain(|(k, _)| k != FORCE_DESTROY_TAG);
    if props.get("force_destroy").and_then(Value::as_bool) == Some(true) {
        tags.push((FORCE_DESTROY_TAG.into(), "true".into()));
    }
    tags
}

impl Bucket {
    async fn get_tags(aws: &Aws, name: &str) -> Result<BTreeMap<String, String>, CloudError> {
        let out = aws.s3().get_bucket_tagging().bucket(name).send().await;
        let out = absent_ok(out.map_err(|e| crate::from_sdk("GetBucketTagging", name, e)))?;
        Ok(out
            .map(|o| {
                o.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn put_tags(aws: &Aws, name: &str, tags: &[(String, String)]) -> Result<(), CloudError> {
        let s3 = aws.s3();
        if tags.is_empty() {
            s3.delete_bucket_tagging()
                .bucket(name)
                .send()
                .await
                .map_err(|e| crate::from_sdk("DeleteBucketTagging", name, e))?;
            return Ok(());
        }
        let set = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_error("PutBucketTagging", name, e))?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(set))
            .build()
            .map_err(|e| build_error("PutBucketTagging", name, e))?;
        s3.put_bucket_tagging()
            .bucket(name)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| crate::from_sdk("PutBucketTagging", name, e))?;
        Ok(())
    }

    async fn set_versioning(aws: &Aws, name: &str, on: bool) -> Result<(), CloudError> {
        let status = if on {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        aws.s3()
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| crate::from_sdk("PutBucketVersioning", name, e))?;
        Ok(())
    }

    async fn set_encryption(aws: &Aws, name: &str, algorithm: &str) -> Result<(), CloudError> {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(algorithm))
            .build()
            .map_err(|e| build_error("PutBucketEncryption", name, e))?;
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .build(),
            )
            .build()
            .map_err(|e| build_error("PutBucketEncryption", name, e))?;
        aws.s3()
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(|e| crate::from_sdk("PutBucketEncryption", name, e))?;
        Ok(())
    }

    async fn set_public_access_block(aws: &Aws, name: &str, on: bool) -> Result<(), CloudError> {
        let s3 = aws.s3();
        if !on {
            let r = s3.delete_public_access_block().bucket(name).send().await;
            return gone_ok(
                r.map(drop)
                    .map_err(|e| crate::from_sdk("DeletePublicAccessBlock", name, e)),
            );
        }
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| crate::from_sdk("PutPublicAccessBlock", name, e))?;
        Ok(())
    }

    /// Whether versioning is on. Some emulators answer with an XML root the SDK refuses to parse
    /// (`GetBucketVersioningResponse`); the status is then read from the raw answer.
    async fn versioning(aws: &Aws, name: &str) -> Result<bool, CloudError> {
        match aws.s3().get_bucket_versioning().bucket(name).send().await {
            Ok(out) => Ok(out.status() == Some(&BucketVersioningStatus::Enabled)),
            Err(SdkError::ServiceError(se))
                if se.err().code().is_none() && se.raw().status().is_success() =>
            {
                let body = se
                    .raw()
                    .body()
                    .bytes()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                Ok(body.contains("<Status>Enabled</Status>"))
            }
            Err(e) => Err(crate::from_sdk("GetBucketVersioning", name, e)),
        }
    }

    /// Reads one bucket's configuration; `None` when it is another stack's.
    async fn observe(aws: &Aws, stack: &str, name: &str) -> Result<Option<Observed>, CloudError> {
        let all = Self::get_tags(aws, name).await?;
        let (address, user_tags) = match owner(stack, &all) {
            Owner::Ours(address, user_tags) => (Some(address), user_tags),
            Owner::Untagged(user_tags) => (None, user_tags),
            Owner::Other => return Ok(None),
        };
        let s3 = aws.s3();
        let versioning = Self::versioning(aws, name).await?;
        let encryption = s3.get_bucket_encryption().bucket(name).send().await;
        let encryption =
            absent_ok(encryption.map_err(|e| crate::from_sdk("GetBucketEncryption", name, e)))?;
        let algorithm = encryption.as_ref().and_then(|o| {
            let rule = o.server_side_encryption_configuration()?.rules().first()?;
            Some(
                rule.apply_server_side_encryption_by_default()?
                    .sse_algorithm()
                    .as_str()
                    .to_string(),
            )
        });
        let pab = s3.get_public_access_block().bucket(name).send().await;
        let pab = absent_ok(pab.map_err(|e| crate::from_sdk("GetPublicAccessBlock", name, e)))?;
        let blocked = pab
            .as_ref()
            .and_then(|o| o.public_access_block_configuration())
            .is_some_and(|c| {
                [
                    c.block_public_acls(),
                    c.ignore_public_acls(),
                    c.block_public_policy(),
                    c.restrict_public_buckets(),
                ]
                .iter()
                .all(|f| *f == Some(true))
            });
        let mut p = Props::new();
        p.insert("bucket".into(), json!(name));
        p.insert(
            "force_destroy".into(),
            json!(all.get(FORCE_DESTROY_TAG).is_some_and(|v| v == "true")),
        );
        p.insert("versioning".into(), json!(versioning));
        if let Some(a) = algorithm {
            p.insert("sse_algorithm".into(), json!(a));
        }
        p.insert("block_public_access".into(), json!(blocked));
        p.insert("tags".into(), user_tags);
        Ok(Some(Observed {
            address,
            id: name.to_string(),
            natural_key: Some(name.to_string()),
            props: p,
            attrs: Self::attrs(name),
        }))
    }

    fn attrs(name: &str) -> Props {
        [
            ("id", json!(name)),
            ("arn", json!(format!("arn:aws:s3:::{name}"))),
            ("bucket", json!(name)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Deletes every object version and delete marker, a page at a time.
    async fn empty(aws: &Aws, name: &str) -> Result<(), CloudError> {
        let s3 = aws.s3();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = s3
                .list_object_versions()
                .bucket(name)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .map_err(|e| crate::from_sdk("ListObjectVersions", name, e))?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id()));
            let ids = versions
                .chain(markers)
                .filter_map(|(k, v)| {
                    Some(
                        ObjectIdentifier::builder()
                            .key(k?)
                            .set_version_id(v.map(String::from))
                            .build(),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| build_error("DeleteObjects", name, e))?;
            for chunk in ids.chunks(DELETE_BATCH) {
                let delete = Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(|e| build_error("DeleteObjects", name, e))?;
                let out = s3
                    .delete_objects()
                    .bucket(name)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| crate::from_sdk("DeleteObjects", name, e))?;
                if let Some(err) = out.errors().first() {
                    let code = err.code().unwrap_or("Unknown");
                    return Err(CloudError::new(
                        "DeleteObjects",
                        name,
                        CloudErrorKind::Service(code.into()),
                        format!(
                            "{code}: could not delete `{}`: {}",
                            err.key().unwrap_or_default(),
                            err.message().unwrap_or_default()
                        ),
                    ));
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(String::from);
            version_marker = page.next_version_id_marker().map(String::from);
        }
    }
}

#[async_trait]
impl Resource for Bucket {
    fn kind(&self) -> &'static str {
        "s3.bucket"
    }

    fn doc(&self) -> &'static str {
        "An S3 bucket with versioning, default encryption and public access blocked by default. Attributes: `id`, `arn`, `bucket`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "bucket"]
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let name = props.get("bucket")?;
        if token::is_unknown(name) {
            return None;
        }
        name.as_str().map(String::from)
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        props
            .get("bucket")
            .and_then(Value::as_str)
            .map_or(Ok(()), check_name)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        // Buckets are only found by name; with no names to look for there is nothing to read.
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        let out = aws
            .s3()
            .list_buckets()
            .send()
            .await
            .map_err(|e| crate::from_sdk("ListBuckets", stack, e))?;
        let mut found = Vec::new();
        for b in out.buckets() {
            let Some(name) = b.name() else { continue };
            // A bucket of another region answers every configuration read with a redirect.
            if !hints.natural_keys.contains(name)
                || b.bucket_region().is_some_and(|r| r != aws.region())
            {
                continue;
            }
            match Self::observe(aws, stack, name).await {
                Ok(Some(o)) => found.push(o),
                Ok(None) => {}
                // Listed a moment ago and deleted since: it is not there.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let name = p.get("bucket").and_then(Value::as_str).unwrap_or_default();
        let s3 = aws.s3();
        // us-east-1 is the one region that must not be named as a location.
        let location = (aws.region() != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region()))
                .build()
        });
        let created = s3
            .create_bucket()
            .bucket(name)
            .set_create_bucket_configuration(location)
            .send()
            .await;
        match created.map_err(|e| crate::from_sdk("CreateBucket", req.address, e)) {
            Ok(_) => {}
            // Ours already, from a create interrupted before its tags were set: finish it.
            Err(e) if e.kind == CloudErrorKind::Service("BucketAlreadyOwnedByYou".into()) => {}
            Err(e) => return Err(e),
        }
        // Tag first, so a crash from here on leaves a bucket that the next read recognises as ours.
        Self::put_tags(aws, name, &with_force_destroy(req.tags.clone(), p)).await?;
        let flag = |k: &str, default: bool| p.get(k).and_then(Value::as_bool).unwrap_or(default);
        Self::set_public_access_block(aws, name, flag("block_public_access", true)).await?;
        let algorithm = p
            .get("sse_algorithm")
            .and_then(Value::as_str)
            .unwrap_or("AES256");
        Self::set_encryption(aws, name, algorithm).await?;
        if flag("versioning", false) {
            Self::set_versioning(aws, name, true).await?;
        }
        let mut props = Props::new();
        props.insert("bucket".into(), json!(name));
        props.insert("force_destroy".into(), json!(flag("force_destroy", false)));
        props.insert("versioning".into(), json!(flag("versioning", false)));
        props.insert("sse_algorithm".into(), json!(algorithm));
        props.insert(
            "block_public_access".into(),
            json!(flag("block_public_access", true)),
        );
        props.insert(
            "tags".into(),
            Value::Object(
                tags::user_tags(p)
                    .into_iter()
                    .map(|(k, v)| (k, json!(v)))
                    .collect(),
            ),
        );
        Ok(Observed {
            address: Some(req.address.clone()),
            id: name.to_string(),
            natural_key: Some(name.to_string()),
            props,
            attrs: Self::attrs(name),
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
        let name = current.id.as_str();
        let flag =
            |k: &str, default: bool| desired.get(k).and_then(Value::as_bool).unwrap_or(default);
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("versioning") {
            Self::set_versioning(aws, name, flag("versioning", false)).await?;
        }
        if has("sse_algorithm") {
            Self::set_encryption(
                aws,
                name,
                desired
                    .get("sse_algorithm")
                    .and_then(Value::as_str)
                    .unwrap_or("AES256"),
            )
            .await?;
        }
        if has("block_public_access") {
            Self::set_public_access_block(aws, name, flag("block_public_access", true)).await?;
        }
        if has("tags") || has("force_destroy") {
            // PutBucketTagging replaces the whole set; the applier's desired tags carry the ownership tags.
            let full: Vec<(String, String)> = tags::user_tags(desired).into_iter().collect();
            Self::put_tags(aws, name, &with_force_destroy(full, desired)).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let name = current.id.as_str();
        if current.props.get("force_destroy").and_then(Value::as_bool) == Some(true) {
            gone_ok(Self::empty(aws, name).await)?;
        }
        let deleted = aws.s3().delete_bucket().bucket(name).send().await;
        match gone_ok(
            deleted
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteBucket", name, e)),
        ) {
            Err(e) if e.kind == CloudErrorKind::Service("BucketNotEmpty".into()) => {
                Err(CloudError::new(
                    "DeleteBucket",
                    name,
                    e.kind,
                    "the bucket is not empty; set `force_destroy: true` (and apply) to have eprun empty it first",
                ))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ADDRESS_TAG;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn natural_key_is_the_name_once_known() {
        let p = json!({"bucket": "examplepay-flow-logs"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            Bucket.natural_key(&p).as_deref(),
            Some("examplepay-flow-logs")
        );
        let account = token::marker(&"sts.caller.me".parse().unwrap(), "account_id");
        let p = json!({"bucket": format!("logs-{account}")})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(Bucket.natural_key(&p), None);
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(check_name("examplepay-prod-flow-logs").is_ok());
        assert!(check_name("a.b-c1").is_ok());
        for bad in [
            "ab",
            "Upper-case",
            "ends-with-",
            "-starts",
            "has..dots",
            "under_score",
            &"x".repeat(64),
        ] {
            assert!(
                check_name(bad)
                    .unwrap_err()
                    .contains("is not a valid bucket name"),
                "{bad}"
            );
        }
    }

    #[test]
    fn ownership_comes_from_the_tags() {
        let ours = map(&[
            (STACK_TAG, "s"),
            (ADDRESS_TAG, "s3.bucket.logs"),
            ("team", "x"),
            (FORCE_DESTROY_TAG, "true"),
        ]);
        assert_eq!(
            owner("s", &ours),
            Owner::Ours("s3.bucket.logs".parse().unwrap(), json!({"team": "x"}))
        );
        assert_eq!(owner("s", &map(&[])), Owner::Untagged(json!({})));
        assert_eq!(
            owner(
                "s",
                &map(&[(STACK_TAG, "other"), (ADDRESS_TAG, "s3.bucket.logs")])
            ),
            Owner::Other
        );
    }

    #[test]
    fn force_destroy_rides_along_as_a_tag() {
        let on = json!({"force_destroy": true}).as_object().unwrap().clone();
        let off = json!({}).as_object().unwrap().clone();
        let base = vec![
            (STACK_TAG.to_string(), "s".to_string()),
            (FORCE_DESTROY_TAG.to_string(), "true".to_string()),
        ];
        assert!(
            with_force_destroy(base.clone(), &on)
                .contains(&(FORCE_DESTROY_TAG.into(), "true".into()))
        );
        assert!(
            !with_force_destroy(base, &off)
                .iter()
                .any(|(k, _)| k == FORCE_DESTROY_TAG)
        );
    }
}
