//! `aws::s3::bucket`: an S3 bucket with versioning, default encryption and public access blocked.

use crate::Result;
use crate::adapter::{Attr, Change, Description, Identity, New, Retag, Tagger, found, resource};
use crate::invalid::Invalid;
use crate::resource::{DeclaredProps, Observed, Props, ReadHints, gone_ok};
use crate::schema::TAGS;
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind, sdk, tags};
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use serde_json::{Value, json};

resource! {
    /// An S3 bucket; found by name, since a bucket's tags are set only after it exists.
    pub struct Bucket: BUCKET = "s3.bucket",
        "An S3 bucket with versioning, default encryption and public access blocked by default.";
    reads BucketItem;
    terraform "aws_s3_bucket", "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block", "aws_s3_bucket_versioning", "aws_s3_bucket_policy";
    #[derive(Clone)]
    props BucketProps {
        bucket: String = required(Str, "the bucket name, unique across all of AWS"),
        force_destroy: Option<bool> =
            optional(Bool, "empty the bucket (every object version) when deleting it")
                .default("false"),
        versioning: Option<bool> =
            optional(Bool, "keep every version of every object").default("false"),
        sse_algorithm: Option<String> =
            optional(Enum(&["AES256", "aws:kms"]), "default encryption of new objects")
                .default("\"AES256\""),
        block_public_access: Option<bool> =
            optional(Bool, "turn on all four public access blocks").default("true"),
    } + TAGS
}

/// Where `force_destroy` is kept, so a read (and a delete after a lost state) knows it.
const FORCE_DESTROY_TAG: &str = "eprun:force_destroy";

/// DeleteObjects takes at most this many keys.
const DELETE_BATCH: usize = 1000;

/// A bucket as read: its configuration as props, and every tag.
type BucketItem = (BucketProps, Vec<(String, String)>);

/// A client-side build error (a required field missing), as an AWS error for `target`.
fn build_error(operation: &str, target: &str, e: impl std::fmt::Display) -> CloudError {
    let client = CloudErrorKind::Service("Client".into());
    CloudError::new(operation, target, client, e.to_string())
}

/// Checks S3's naming rules: 3 to 63 lowercase letters, digits, `.` and `-`, starting and ending
/// with a letter or digit.
fn check_name(name: &str) -> Result<(), Invalid> {
    let alnum = |c: &char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ends = [name.chars().next(), name.chars().last()];
    if token::is_unknown(&json!(name))
        || (3..=63).contains(&name.len())
            && name.chars().all(|c| alnum(&c) || c == '.' || c == '-')
            && ends.iter().all(|c| c.as_ref().is_some_and(alnum))
            && !name.contains("..")
    {
        return Ok(());
    }
    Err(Invalid::value(
        "bucket",
        format!(
            "`{name}` is not a valid bucket name (3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit)"
        ),
    ))
}

/// `tags` with the `force_destroy` marker when it is on.
fn with_force_destroy(tags: &[(String, String)], on: Option<bool>) -> Vec<(String, String)> {
    tags::keep(
        tags,
        FORCE_DESTROY_TAG,
        (on == Some(true)).then_some("true"),
    )
}

/// Every tag of a bucket; none when it has no tag set.
async fn get_tags(aws: &Aws, name: &str) -> Result<Vec<(String, String)>> {
    let out = aws.s3().get_bucket_tagging().bucket(name).send().await;
    let out = found(out.map_err(sdk("GetBucketTagging", name)))?;
    let pair = |t: &Tag| (t.key().to_string(), t.value().to_string());
    Ok(out
        .map(|o| o.tag_set().iter().map(pair).collect())
        .unwrap_or_default())
}

/// Replaces the whole tag set of a bucket (PutBucketTagging, or DeleteBucketTagging for none).
async fn put_tags(aws: &Aws, name: &str, tags: &[(String, String)]) -> Result<()> {
    let s3 = aws.s3();
    if tags.is_empty() {
        let r = s3.delete_bucket_tagging().bucket(name).send().await;
        return r.map(drop).map_err(sdk("DeleteBucketTagging", name));
    }
    let set = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| build_error("PutBucketTagging", name, e))?;
    let tagging = Tagging::builder().set_tag_set(Some(set)).build();
    let tagging = tagging.map_err(|e| build_error("PutBucketTagging", name, e))?;
    let r = s3
        .put_bucket_tagging()
        .bucket(name)
        .tagging(tagging)
        .send()
        .await;
    r.map(drop).map_err(sdk("PutBucketTagging", name))
}

/// S3's tagger: PutBucketTagging replaces the whole set, so the bucket's tags are read, changed and
/// put back (the ownership tags and the `force_destroy` marker stay).
pub struct S3Tags;

#[async_trait]
impl Tagger for S3Tags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<()> {
        let (set, remove) = (change.set, change.remove);
        let mut all: tags::Tags = get_tags(aws, &on.id).await?.into_iter().collect();
        all.retain(|k, _| !remove.contains(k));
        all.extend(set.iter().cloned());
        put_tags(aws, &on.id, &all.into_iter().collect::<Vec<_>>()).await
    }
}

async fn set_versioning(aws: &Aws, name: &str, on: bool) -> Result<()> {
    let status = if on {
        BucketVersioningStatus::Enabled
    } else {
        BucketVersioningStatus::Suspended
    };
    let config = VersioningConfiguration::builder().status(status).build();
    let call = aws.s3().put_bucket_versioning().bucket(name);
    let r = call.versioning_configuration(config).send().await;
    r.map(drop).map_err(sdk("PutBucketVersioning", name))
}

async fn set_encryption(aws: &Aws, name: &str, algorithm: &str) -> Result<()> {
    let failed = |e| build_error("PutBucketEncryption", name, e);
    let default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::from(algorithm))
        .build()
        .map_err(failed)?;
    let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(default);
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(rule.build())
        .build();
    let call = aws.s3().put_bucket_encryption().bucket(name);
    let r = call
        .server_side_encryption_configuration(config.map_err(failed)?)
        .send()
        .await;
    r.map(drop).map_err(sdk("PutBucketEncryption", name))
}

/// All four public access blocks on.
fn all_blocked() -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build()
}

async fn set_public_access_block(aws: &Aws, name: &str, on: bool) -> Result<()> {
    let s3 = aws.s3();
    if !on {
        let r = s3.delete_public_access_block().bucket(name).send().await;
        return gone_ok(r.map(drop).map_err(sdk("DeletePublicAccessBlock", name)));
    }
    let call = s3.put_public_access_block().bucket(name);
    let r = call
        .public_access_block_configuration(all_blocked())
        .send()
        .await;
    r.map(drop).map_err(sdk("PutPublicAccessBlock", name))
}

/// Whether versioning is on. Some emulators answer with an XML root the SDK refuses to parse
/// (`GetBucketVersioningResponse`); the status is then read from the raw answer.
async fn versioning(aws: &Aws, name: &str) -> Result<bool> {
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

/// Reads one bucket's tags and configuration.
async fn read(aws: &Aws, name: &str) -> Result<BucketItem> {
    let s3 = aws.s3();
    let tags = get_tags(aws, name).await?;
    let versioning = versioning(aws, name).await?;
    let encryption = s3.get_bucket_encryption().bucket(name).send().await;
    let encryption = found(encryption.map_err(sdk("GetBucketEncryption", name)))?;
    let sse_algorithm = encryption.as_ref().and_then(|o| {
        let rule = o.server_side_encryption_configuration()?.rules().first()?;
        Some(
            rule.apply_server_side_encryption_by_default()?
                .sse_algorithm()
                .to_string(),
        )
    });
    let pab = s3.get_public_access_block().bucket(name).send().await;
    let pab = found(pab.map_err(sdk("GetPublicAccessBlock", name)))?;
    let blocked = pab.and_then(|o| o.public_access_block_configuration) == Some(all_blocked());
    let props = BucketProps {
        bucket: name.to_string(),
        force_destroy: Some(tags::kept(&tags, FORCE_DESTROY_TAG) == Some(true)),
        versioning: Some(versioning),
        sse_algorithm,
        block_public_access: Some(blocked),
    };
    Ok((props, tags))
}

/// Deletes every object version and delete marker, a page at a time.
async fn empty(aws: &Aws, name: &str) -> Result<()> {
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

#[async_trait]
impl Description for Bucket {
    const ATTRIBUTES: &'static [Attr<BucketItem>] = &[
        Attr::new("id", |_, b| json!(b.0.bucket)),
        Attr::new("arn", |_, b| json!(format!("arn:aws:s3:::{}", b.0.bucket))),
        Attr::new("bucket", |_, b| json!(b.0.bucket)),
    ];
    const IDENTITY: Identity = Identity::Named(&S3Tags, |p| {
        let name = p.get("bucket").filter(|n| !token::is_unknown(n))?;
        name.as_str().map(String::from)
    });

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        props
            .get("bucket")
            .and_then(Value::as_str)
            .map_or(Ok(()), check_name)
    }

    fn tags(&self, b: &BucketItem) -> Vec<(String, String)> {
        b.1.clone()
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<BucketItem>> {
        // Buckets are only found by name; with no names to look for there is nothing to read.
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        let out = aws.s3().list_buckets().send().await;
        let out = out.map_err(sdk("ListBuckets", stack))?;
        let mut found_ = Vec::new();
        for b in out.buckets() {
            // A bucket of another region answers every configuration read with a redirect.
            if let Some(name) = b.name()
                && hints.natural_keys.contains(name)
                && b.bucket_region().is_none_or(|r| r == aws.region())
            {
                // Not found: listed a moment ago and deleted since.
                found_.extend(found(read(aws, name).await)?);
            }
        }
        Ok(found_)
    }

    async fn props(&self, _aws: &Aws, b: &BucketItem) -> Result<BucketProps> {
        Ok(b.0.clone())
    }

    async fn create(&self, aws: &Aws, new: New<'_, BucketProps>) -> Result<BucketItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        // us-east-1 is the one region that must not be named as a location.
        let location = (aws.region() != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region()))
                .build()
        });
        let call = aws.s3().create_bucket().bucket(&p.bucket);
        let created = call.set_create_bucket_configuration(location).send().await;
        match created.map_err(sdk("CreateBucket", address)) {
            // Ours already, from a create interrupted before its tags were set: finish it.
            Err(e) if !e.is("BucketAlreadyOwnedByYou") => return Err(e),
            _ => {}
        }
        // Tag first, so a crash from here on leaves a bucket that the next read recognises as ours.
        let tags = with_force_destroy(tags, p.force_destroy);
        put_tags(aws, &p.bucket, &tags).await?;
        let blocked = p.block_public_access.unwrap_or(true);
        set_public_access_block(aws, &p.bucket, blocked).await?;
        let algorithm = p.sse_algorithm.clone().unwrap_or_else(|| "AES256".into());
        set_encryption(aws, &p.bucket, &algorithm).await?;
        let versioning = p.versioning.unwrap_or(false);
        if versioning {
            set_versioning(aws, &p.bucket, true).await?;
        }
        let props = BucketProps {
            bucket: p.bucket.clone(),
            force_destroy: Some(p.force_destroy == Some(true)),
            versioning: Some(versioning),
            sse_algorithm: Some(algorithm),
            block_public_access: Some(blocked),
        };
        Ok((props, tags))
    }

    async fn update(&self, aws: &Aws, change: Change<'_, BucketProps>) -> Result<()> {
        let (name, field, desired) = (change.id, change.field, change.desired);
        match field {
            "versioning" => set_versioning(aws, name, desired.versioning.unwrap_or(false)).await,
            "sse_algorithm" => {
                let algorithm = desired.sse_algorithm.as_deref().unwrap_or("AES256");
                set_encryption(aws, name, algorithm).await
            }
            "block_public_access" => {
                set_public_access_block(aws, name, desired.block_public_access.unwrap_or(true))
                    .await
            }
            "force_destroy" => {
                let all = with_force_destroy(&get_tags(aws, name).await?, desired.force_destroy);
                put_tags(aws, name, &all).await
            }
            _ => Ok(()),
        }
    }

    async fn delete(&self, aws: &Aws, name: &str, current: &BucketProps) -> Result<()> {
        if current.force_destroy == Some(true) {
            gone_ok(empty(aws, name).await)?;
        }
        let deleted = aws.s3().delete_bucket().bucket(name).send().await;
        match deleted.map(drop).map_err(sdk("DeleteBucket", name)) {
            Err(e) if e.is("BucketNotEmpty") => Err(CloudError::new(
                "DeleteBucket",
                name,
                e.kind,
                "the bucket is not empty; set `force_destroy: true` (and apply) to have eprun empty it first",
            )),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::round_trip;
    use crate::resource::Resource;
    use crate::tags::{Owner, owner};
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_s3::Client;
    use aws_smithy_mocks::mock;
    use std::collections::BTreeMap;

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
            BUCKET.natural_key(&p).as_deref(),
            Some("examplepay-flow-logs")
        );
        let account = token::marker(&"sts.caller.me".parse().unwrap(), "account_id");
        let p = json!({"bucket": format!("logs-{account}")})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(BUCKET.natural_key(&p), None);
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
                    .to_string()
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
            owner("s", ours),
            Owner::Ours("s3.bucket.logs".parse().unwrap(), json!({"team": "x"}))
        );
        assert_eq!(owner("s", map(&[])), Owner::Untagged(json!({})));
        assert_eq!(
            owner(
                "s",
                map(&[(STACK_TAG, "other"), (ADDRESS_TAG, "s3.bucket.logs")])
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
            with_force_destroy(&base, on.get("force_destroy").and_then(Value::as_bool))
                .contains(&(FORCE_DESTROY_TAG.into(), "true".into()))
        );
        assert!(
            !with_force_destroy(&base, off.get("force_destroy").and_then(Value::as_bool))
                .iter()
                .any(|(k, _)| k == FORCE_DESTROY_TAG)
        );
    }

    #[tokio::test]
    async fn a_created_bucket_round_trip_as_declared() {
        use aws_sdk_s3::operation as op;
        let create = mock!(Client::create_bucket)
            .then_output(|| op::create_bucket::CreateBucketOutput::builder().build());
        let tagging = mock!(Client::put_bucket_tagging)
            .match_requests(|r| {
                let set = r.tagging().map(|t| t.tag_set()).unwrap_or_default();
                set.iter()
                    .any(|t| t.key() == FORCE_DESTROY_TAG && t.value() == "true")
                    && set
                        .iter()
                        .any(|t| t.key() == STACK_TAG && t.value() == "test")
            })
            .then_output(|| op::put_bucket_tagging::PutBucketTaggingOutput::builder().build());
        let pab = mock!(Client::put_public_access_block).then_output(|| {
            op::put_public_access_block::PutPublicAccessBlockOutput::builder().build()
        });
        let sse = mock!(Client::put_bucket_encryption).then_output(|| {
            op::put_bucket_encryption::PutBucketEncryptionOutput::builder().build()
        });
        let versioning = mock!(Client::put_bucket_versioning).then_output(|| {
            op::put_bucket_versioning::PutBucketVersioningOutput::builder().build()
        });
        let observed = round_trip(&BUCKET, &Aws::mocked(&[&create, &tagging, &pab, &sse, &versioning]), "s3.bucket.logs",
            json!({"bucket": "examplepay-logs", "force_destroy": true, "versioning": true, "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "examplepay-logs");
        assert_eq!(observed.natural_key.as_deref(), Some("examplepay-logs"));
        assert_eq!(observed.attrs["arn"], "arn:aws:s3:::examplepay-logs");
        assert_eq!((tagging.num_calls(), versioning.num_calls()), (1, 1));
    }
}
