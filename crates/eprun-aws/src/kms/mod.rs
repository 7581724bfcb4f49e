//! KMS resource types: customer managed keys, found by their alias.

pub mod key;

use crate::adapter::tagger;
use aws_sdk_kms::types::Tag;

tagger! {
    /// KMS's tagger: TagResource and UntagResource on the key id.
    pub struct KmsTags: |aws, on, set, remove| kms = aws.kms(), id = on.id.as_str();
    kms.tag_resource().key_id(id).set_tags(Some(kms_tags(set))), "TagResource";
    kms.untag_resource().key_id(id).set_tag_keys(Some(remove.to_vec())), "UntagResource"
}

/// (key, value) pairs as KMS tags (both halves are set, so every tag builds).
fn kms_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().tag_key(k).tag_value(v).build().ok();
    pairs.iter().filter_map(tag).collect()
}
