//! ECR verbs: whether an image is in a region's registry (the DR region must hold what the
//! primary runs).

use super::opt_str;
use crate::adapter::found;
use crate::{CloudError, sdk};
use aws_sdk_ecr::types::ImageIdentifier;
use serde_json::{Value, json};

/// The image `repository:tag` in this region's registry (DescribeImages) as `#{repository, tag,
/// digest, pushed}`, or `None` when the repository or the tag is not there.
pub async fn describe_image(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    tag: &str,
) -> Result<Option<Value>, CloudError> {
    let target = format!("{repository}:{tag}");
    let id = ImageIdentifier::builder().image_tag(tag).build();
    let call = ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(id);
    let out = found(call.send().await.map_err(sdk("DescribeImages", &target)))?;
    let image = out.and_then(|o| o.image_details.unwrap_or_default().into_iter().next());
    Ok(image.map(|i| {
        json!({
            "repository": repository,
            "tag": tag,
            "digest": opt_str(i.image_digest()),
            "pushed": super::opt_date(i.image_pushed_at()),
        })
    }))
}
