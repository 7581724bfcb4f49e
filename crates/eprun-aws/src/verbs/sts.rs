//! STS verbs: who the session is.

use crate::Result;
use serde_json::{Value, json};

/// GetCallerIdentity: `{account, arn, user_id}`.
pub async fn caller_identity(sts: &aws_sdk_sts::Client) -> Result<Value> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| crate::from_sdk("GetCallerIdentity", "the session", e))?;
    Ok(json!({
        "account": super::opt_str(out.account()),
        "arn": super::opt_str(out.arn()),
        "user_id": super::opt_str(out.user_id()),
    }))
}
