//! KMS resource types: customer managed keys, found by their alias.

pub mod key;

use crate::adapter::{Retag, Tagger, retag};
use crate::resource::Observed;
use crate::{Aws, CloudError};
use aws_sdk_kms::types::Tag;

/// KMS's tagger: TagResource and UntagResource on the key id.
pub struct KmsTags;

#[async_trait::async_trait]
impl Tagger for KmsTags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<(), CloudError> {
        let (set, remove) = (change.set, change.remove);
        let (kms, id) = (aws.kms(), on.id.as_str());
        retag!(set, remove, id;
            kms.tag_resource().key_id(id).set_tags(Some(kms_tags(set))), "TagResource";
            kms.untag_resource().key_id(id).set_tag_keys(Some(remove.to_vec())), "UntagResource");
        Ok(())
    }
}

/// (key, value) pairs as KMS tags (both halves are set, so every tag builds).
fn kms_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().tag_key(k).tag_value(v).build().ok();
    pairs.iter().filter_map(tag).collect()
}
