//! KMS resource types: customer managed keys, found by their alias.

pub mod key;

use crate::adapter::{Retag, Tagger};
use crate::resource::Observed;
use crate::{Aws, CloudError, sdk};
use aws_sdk_kms::types::Tag;

/// KMS's tagger: TagResource and UntagResource on the key id.
pub struct KmsTags;

#[async_trait::async_trait]
impl Tagger for KmsTags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<(), CloudError> {
        let (set, remove) = (change.set, change.remove);
        let (kms, id) = (aws.kms(), on.id.as_str());
        if !set.is_empty() {
            let call = kms.tag_resource().key_id(id).set_tags(Some(kms_tags(set)));
            call.send().await.map_err(sdk("TagResource", id))?;
        }
        if !remove.is_empty() {
            let call = kms.untag_resource().key_id(id);
            let call = call.set_tag_keys(Some(remove.to_vec()));
            call.send().await.map_err(sdk("UntagResource", id))?;
        }
        Ok(())
    }
}

/// (key, value) pairs as KMS tags (both halves are set, so every tag builds).
fn kms_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().tag_key(k).tag_value(v).build().ok();
    pairs.iter().filter_map(tag).collect()
}
