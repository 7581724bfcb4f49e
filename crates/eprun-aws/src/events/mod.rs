//! EventBridge resource types: rules on the default event bus, with their targets.

pub mod rule;

use crate::adapter::tagger;
use aws_sdk_eventbridge::types::Tag;

tagger! {
    /// EventBridge's tagger: TagResource and UntagResource, on the rule's ARN (its id is its name).
    pub struct EventsTags: |aws, on, set, remove| events = aws.eventbridge(), arn = on.attr("arn");
    events.tag_resource().resource_arn(arn).set_tags(Some(eb_tags(set))), "TagResource";
    events.untag_resource().resource_arn(arn).set_tag_keys(Some(remove.to_vec())), "UntagResource"
}

/// (key, value) pairs as EventBridge tags (both halves are set, so every tag builds).
fn eb_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().key(k).value(v).build().ok();
    pairs.iter().filter_map(tag).collect()
}
