//! IAM verbs: whether a role exists (IAM answers from us-east-1 only, so DR checks that need it
//! run while that region is up).

use super::opt_str;
use crate::adapter::found;
use crate::{CloudError, sdk};
use serde_json::{Value, json};

/// GetRole as `#{name, arn, path}`, or `None` when there is no such role.
pub async fn get_role(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<Value>, CloudError> {
    let call = iam.get_role().role_name(name);
    let out = found(call.send().await.map_err(sdk("GetRole", name)))?;
    Ok(out.and_then(|o| o.role).map(|r| {
        json!({
            "name": r.role_name(),
            "arn": r.arn(),
            "path": opt_str(Some(r.path())),
        })
    }))
}
