//! Service Quotas verbs: an account's quota in the current region (e.g. the EC2 vCPUs a DR region
//! may run).

use super::opt_str;
use crate::{CloudError, sdk};
use serde_json::{Value, json};

/// GetServiceQuota as `#{service, code, name, value}` (the applied value, which is the default
/// until a raise is granted).
pub async fn get_service_quota(
    sq: &aws_sdk_servicequotas::Client,
    service: &str,
    code: &str,
) -> Result<Value, CloudError> {
    let target = format!("{service}/{code}");
    let call = sq
        .get_service_quota()
        .service_code(service)
        .quota_code(code);
    let out = call.send().await.map_err(sdk("GetServiceQuota", &target))?;
    let quota = out.quota();
    Ok(json!({
        "service": service,
        "code": code,
        "name": opt_str(quota.and_then(|q| q.quota_name())),
        "value": quota.and_then(|q| q.value()),
    }))
}
