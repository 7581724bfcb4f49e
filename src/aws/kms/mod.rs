//! KMS resource types: customer managed keys, found by their alias.

pub mod key;

use crate::aws::adapter::Tagger;
use crate::aws::{Aws, CloudError, CloudErrorKind};
use crate::resource::Observed;
use aws_sdk_kms::types::Tag;

/// KMS's tagger: TagResource and UntagResource on the key id.
pub struct KmsTags;

#[async_trait::async_trait]
impl Tagger for KmsTags {
    async fn retag(
        &self,
        aws: &Aws,
        on: &Observed,
        set: &[(String, String)],
        remove: &[String],
    ) -> Result<(), CloudError> {
        retag(aws, &on.id, set, remove).await
    }
}

/// (key, value) pairs as KMS tags; `operation` names the call they are for.
pub(crate) fn kms_tags(
    operation: &str,
    target: &str,
    pairs: &[(String, String)],
) -> Result<Vec<Tag>, CloudError> {
    pairs
        .iter()
        .map(|(k, v)| {
            Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| {
                CloudError::new(
                    operation,
                    target,
                    CloudErrorKind::Service("Client".into()),
                    e.to_string(),
                )
            })
        })
        .collect()
}

/// Sets `set` and removes `remove` on the key `key_id`.
pub(crate) async fn retag(
    aws: &Aws,
    key_id: &str,
    set: &[(String, String)],
    remove: &[String],
) -> Result<(), CloudError> {
    let kms = aws.kms();
    if !set.is_empty() {
        kms.tag_resource()
            .key_id(key_id)
            .set_tags(Some(kms_tags("TagResource", key_id, set)?))
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("TagResource", key_id, e))?;
    }
    if !remove.is_empty() {
        kms.untag_resource()
            .key_id(key_id)
            .set_tag_keys(Some(remove.to_vec()))
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("UntagResource", key_id, e))?;
    }
    Ok(())
}
