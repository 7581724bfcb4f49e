//! SQS resource types: standard queues.

pub mod queue;

use crate::adapter::{Retag, Tagger};
use crate::resource::Observed;
use crate::{Aws, CloudError, sdk};

/// SQS's tagger: TagQueue and UntagQueue, on the queue URL.
pub struct SqsTags;

#[async_trait::async_trait]
impl Tagger for SqsTags {
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<(), CloudError> {
        let (set, remove) = (change.set, change.remove);
        let (sqs, url) = (aws.sqs(), on.id.as_str());
        if !set.is_empty() {
            let call = sqs.tag_queue().queue_url(url);
            let call = call.set_tags(Some(set.iter().cloned().collect()));
            call.send().await.map_err(sdk("TagQueue", url))?;
        }
        if !remove.is_empty() {
            let call = sqs.untag_queue().queue_url(url);
            let call = call.set_tag_keys(Some(remove.to_vec()));
            call.send().await.map_err(sdk("UntagQueue", url))?;
        }
        Ok(())
    }
}
