//! EventBridge resource types: rules on the default event bus, with their targets.

pub mod rule;

use crate::adapter::{Retag, Tagger, retag};
use crate::resource::Observed;
use crate::{Aws, CloudError};
use aws_sdk_eventbridge::types::Tag;

/// EventBridge's tagger: TagResource and UntagResource, on the rule's ARN (its id is its name).
pub struct EventsTags;

#[async_trait::async_trait]
impl Tagger for EventsTags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<(), CloudError> {
        let (set, remove) = (change.set, change.remove);
        let (events, arn) = (aws.eventbridge(), on.attr("arn"));
        retag!(set, remove, arn;
            events.tag_resource().resource_arn(arn).set_tags(Some(eb_tags(set))), "TagResource";
            events.untag_resource().resource_arn(arn).set_tag_keys(Some(remove.to_vec())), "UntagResource");
        Ok(())
    }
}

/// (key, value) pairs as EventBridge tags (both halves are set, so every tag builds).
fn eb_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().key(k).value(v).build().ok();
    pairs.iter().filter_map(tag).collect()
}
