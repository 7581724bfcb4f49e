//! CloudWatch resource types: metric alarms (e.g. the rotation controls of DNS failover).

pub mod metric_alarm;

use crate::adapter::tagger;
use aws_sdk_cloudwatch::types::Tag;

tagger! {
    /// CloudWatch's tagger: TagResource and UntagResource, on the alarm's ARN (its id is its name).
    pub struct CloudWatchTags: |aws, on, set, remove| cw = aws.cloudwatch(), arn = on.attr("arn");
    cw.tag_resource().resource_arn(arn).set_tags(Some(cw_tags(set))), "TagResource";
    cw.untag_resource().resource_arn(arn).set_tag_keys(Some(remove.to_vec())), "UntagResource"
}

/// (key, value) pairs as CloudWatch tags.
fn cw_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    let tag = |(k, v): &(String, String)| Tag::builder().key(k).value(v).build();
    pairs.iter().map(tag).collect()
}
