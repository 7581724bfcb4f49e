//! SQS resource types: standard queues.

pub mod queue;

use crate::adapter::tagger;

tagger! {
    /// SQS's tagger: TagQueue and UntagQueue, on the queue URL.
    pub struct SqsTags: |aws, on, set, remove| sqs = aws.sqs(), url = on.id.as_str();
    sqs.tag_queue().queue_url(url).set_tags(Some(set.iter().cloned().collect())), "TagQueue";
    sqs.untag_queue().queue_url(url).set_tag_keys(Some(remove.to_vec())), "UntagQueue"
}
