//! SQS resource types: standard queues.

pub mod queue;

use crate::adapter::{Retag, Tagger, retag};
use crate::resource::Observed;
use crate::{Aws, CloudError};

/// SQS's tagger: TagQueue and UntagQueue, on the queue URL.
pub struct SqsTags;

#[async_trait::async_trait]
impl Tagger for SqsTags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<(), CloudError> {
        let (set, remove) = (change.set, change.remove);
        let (sqs, url) = (aws.sqs(), on.id.as_str());
        retag!(set, remove, url;
            sqs.tag_queue().queue_url(url).set_tags(Some(set.iter().cloned().collect())), "TagQueue";
            sqs.untag_queue().queue_url(url).set_tag_keys(Some(remove.to_vec())), "UntagQueue");
        Ok(())
    }
}
