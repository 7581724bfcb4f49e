//! `aws::route53::health_check`: an endpoint health check (HTTP, HTTPS, TCP).
//!
//! Found by its `CallerReference` through one paginated ListHealthChecks (see the module docs), so a
//! check created just before a crash is adopted instead of created twice; Route 53 (and its
//! emulators) would otherwise happily create a duplicate.

use super::{
    caller_reference, change_tags, client_error, list_tags, opt_str, owner, reference_stack,
    tag_plan, visible_tags,
};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{
    Aws, CloudError, CloudErrorKind, STACK_TAG, WaitState, ownership_tags, tags, wait_until,
};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    HealthCheck as Check, HealthCheckConfig, HealthCheckRegion, HealthCheckType, TagResourceType,
};
use serde_json::{Value, json};
use std::time::Duration;

/// A Route 53 health check of an endpoint.
pub struct HealthCheck;

const KIND: &str = "route53.health_check";

/// The regions Route 53 checks from.
const CHECKER_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

/// Route 53 takes caller references of at most this many characters.
const MAX_REFERENCE: usize = 64;

const SCHEMA: &[Field] = &[
    Field::required(
        "type",
        Kind::Enum(&["HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"]),
        "the kind of check",
    ),
    Field::optional(
        "fqdn",
        Kind::Str,
        "the host name to check (and to send as `Host` and SNI)",
    ),
    Field::optional(
        "ip_address",
        Kind::Str,
        "the address to check, instead of resolving `fqdn`",
    ),
    Field::optional("port", Kind::Int, "the port to check"),
    Field::optional(
        "resource_path",
        Kind::Str,
        "the path to request, e.g. `/healthz`",
    ),
    Field::optional(
        "search_string",
        Kind::Str,
        "the text the response body must contain (`*_STR_MATCH`)",
    ),
    Field::optional(
        "request_interval",
        Kind::Int,
        "seconds between checks: 10 or 30",
    )
    .default("30")
    .force_new(),
    Field::optional(
        "failure_threshold",
        Kind::Int,
        "consecutive failures (1–10) before the endpoint is unhealthy",
    )
    .default("3"),
    Field::optional("measure_latency", Kind::Bool, "record latency graphs")
        .default("false")
        .force_new(),
    Field::optional(
        "inverted",
        Kind::Bool,
        "report healthy as unhealthy and back (how DR runbooks drain a region)",
    )
    .default("false"),
    Field::optional("disabled", Kind::Bool, "stop checking and report healthy").default("false"),
    Field::optional("enable_sni", Kind::Bool, "send `fqdn` in the TLS handshake"),
    Field::optional(
        "regions",
        Kind::StrSet,
        "the regions to check from (at least three)",
    ),
    TAGS,
];

/// Checks the combinations Route 53 would refuse, before any call.
fn check(props: &Props) -> Result<(), String> {
    let int = |k: &str| props.get(k).and_then(Value::as_i64);
    let kind = props
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !props.contains_key("fqdn") && !props.contains_key("ip_address") {
        return Err("a health check needs an endpoint: set `fqdn` or `ip_address`".into());
    }
    if kind.ends_with("STR_MATCH") && !props.contains_key("search_string") {
        return Err(format!("a `{kind}` check needs `search_string`"));
    }
    if kind == "TCP" && props.contains_key("resource_path") {
        return Err("a `TCP` check takes no `resource_path`".into());
    }
    if let Some(i) = int("request_interval").filter(|i| *i != 10 && *i != 30) {
        return Err(format!("property `request_interval`: {i} is not 10 or 30"));
    }
    if let Some(t) = int("failure_threshold").filter(|t| !(1..=10).contains(t)) {
        return Err(format!(
            "property `failure_threshold`: {t} is not between 1 and 10"
        ));
    }
    if let Some(p) = int("port").filter(|p| !(1..=65535).contains(p)) {
        return Err(format!("property `port`: {p} is not a port"));
    }
    if let Some(regions) = props.get("regions").and_then(Value::as_array) {
        let names: Vec<&str> = regions
            .iter()
            .filter(|r| !token::is_unknown(r))
            .filter_map(Value::as_str)
            .collect();
        if let Some(bad) = names.iter().find(|r| !CHECKER_REGIONS.contains(r)) {
            return Err(format!(
                "property `regions`: Route 53 does not check from `{bad}`; it checks from {}",
                CHECKER_REGIONS.join(", ")
            ));
        }
        let mut distinct = names.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 3 {
            return Err(format!(
                "property `regions`: name at least three checker regions, not {}",
                distinct.len()
            ));
        }
    }
    Ok(())
}

fn observe(address: crate::address::Address, hc: &Check, tags: &[(String, String)]) -> Observed {
    let id = hc.id().to_string();
    let mut p = Props::new();
    let mut put = |k: &str, v: Value| {
        p.insert(k.to_string(), v);
    };
    if let Some(c) = hc.health_check_config() {
        put("type", json!(c.r#type().as_str()));
        if let Some(v) = c.fully_qualified_domain_name() {
            put("fqdn", json!(v));
        }
        if let Some(v) = c.ip_address() {
            put("ip_address", json!(v));
        }
        if let Some(v) = c.port() {
            put("port", json!(v));
        }
        if let Some(v) = c.resource_path() {
            put("resource_path", json!(v));
        }
        if let Some(v) = c.search_string() {
            put("search_string", json!(v));
        }
        put(
            "request_interval",
            json!(c.request_interval().unwrap_or(30)),
        );
        put(
            "failure_threshold",
            json!(c.failure_threshold().unwrap_or(3)),
        );
        put(
            "measure_latency",
            json!(c.measure_latency().unwrap_or(false)),
        );
        put("inverted", json!(c.inverted().unwrap_or(false)));
        put("disabled", json!(c.disabled().unwrap_or(false)));
        if let Some(v) = c.enable_sni() {
            put("enable_sni", json!(v));
        }
        if !c.regions().is_empty() {
            put(
                "regions",
                json!(c.regions().iter().map(|r| r.as_str()).collect::<Vec<_>>()),
            );
        }
    }
    put("tags", visible_tags(&address, tags));
    Observed {
        address: Some(address),
        id: id.clone(),
        natural_key: Some(hc.caller_reference().to_string()),
        props: p,
        attrs: [
            ("id", json!(id)),
            ("arn", json!(format!("arn:aws:route53:::healthcheck/{id}"))),
            ("caller_reference", json!(hc.caller_reference())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    }
}

fn int(p: &Props, key: &str) -> Option<i32> {
    p.get(key)
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
}

fn regions(p: &Props) -> Option<Vec<HealthCheckRegion>> {
    let list = p.get("regions")?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(HealthCheckRegion::from)
            .collect(),
    )
}

#[async_trait]
impl Resource for HealthCheck {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn doc(&self) -> &'static str {
        "A Route 53 health check of an endpoint, checked from several regions. Attributes: `id`, `arn`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check(props)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let mut pages = aws.route53().list_health_checks().into_paginator().send();
        let mut owned = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("ListHealthChecks", stack, e))?;
            for hc in page.health_checks() {
                if let Some(address) = owner(hc.caller_reference(), stack, KIND) {
                    owned.push((address, hc.clone()));
                }
            }
        }
        if owned.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = owned.iter().map(|(_, hc)| hc.id().to_string()).collect();
        let tags = list_tags(aws, TagResourceType::Healthcheck, &ids).await?;
        Ok(owned
            .into_iter()
            .map(|(address, hc)| {
                let t = tags.get(hc.id()).map(Vec::as_slice).unwrap_or_default();
                observe(address, &hc, t)
            })
            .collect())
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let reference = caller_reference(req.stack, req.address);
        if reference.len() > MAX_REFERENCE {
            return Err(CloudError::new(
                "CreateHealthCheck",
                req.address,
                CloudErrorKind::Service("Client".into()),
                format!(
                    "its caller reference `{reference}` would be {} characters and Route 53 takes at most {MAX_REFERENCE}; give the health check a shorter name",
                    reference.len()
                ),
            ));
        }
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::from(opt_str(p, "type").unwrap_or("HTTPS")))
            .set_fully_qualified_domain_name(opt_str(p, "fqdn").map(String::from))
            .set_ip_address(opt_str(p, "ip_address").map(String::from))
            .set_port(int(p, "port"))
            .set_resource_path(opt_str(p, "resource_path").map(String::from))
            .set_search_string(opt_str(p, "search_string").map(String::from))
            .set_request_interval(int(p, "request_interval"))
            .set_failure_threshold(int(p, "failure_threshold"))
            .set_measure_latency(p.get("measure_latency").and_then(Value::as_bool))
            .set_inverted(p.get("inverted").and_then(Value::as_bool))
            .set_disabled(p.get("disabled").and_then(Value::as_bool))
            .set_enable_sni(p.get("enable_sni").and_then(Value::as_bool))
            .set_regions(regions(p))
            .build()
            .map_err(|e| client_error("CreateHealthCheck", req.address, e))?;
        let out = aws
            .route53()
            .create_health_check()
            .caller_reference(&reference)
            .health_check_config(config)
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateHealthCheck", req.address, e))?;
        let hc = out.health_check().cloned().ok_or_else(|| {
            CloudError::new(
                "CreateHealthCheck",
                req.address,
                CloudErrorKind::Service("Empty".into()),
                "the answer named no health check",
            )
        })?;
        change_tags(aws, TagResourceType::Healthcheck, hc.id(), &req.tags, &[]).await?;
        Ok(observe(req.address.clone(), &hc, &req.tags))
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let settings = [
            "fqdn",
            "ip_address",
            "port",
            "resource_path",
            "search_string",
            "failure_threshold",
            "inverted",
            "disabled",
            "enable_sni",
            "regions",
        ];
        if settings.iter().any(|f| has(f)) {
            let s = |k: &str| {
                if has(k) {
                    opt_str(desired, k).map(String::from)
                } else {
                    None
                }
            };
            let b = |k: &str| {
                if has(k) {
                    desired.get(k).and_then(Value::as_bool)
                } else {
                    None
                }
            };
            let i = |k: &str| if has(k) { int(desired, k) } else { None };
            aws.route53()
                .update_health_check()
                .health_check_id(&current.id)
                .set_fully_qualified_domain_name(s("fqdn"))
                .set_ip_address(s("ip_address"))
                .set_port(i("port"))
                .set_resource_path(s("resource_path"))
                .set_search_string(s("search_string"))
                .set_failure_threshold(i("failure_threshold"))
                .set_inverted(b("inverted"))
                .set_disabled(b("disabled"))
                .set_enable_sni(b("enable_sni"))
                // Always restate the regions: some emulators drop them from any update that leaves them out.
                .set_regions(regions(desired))
                .send()
                .await
                .map_err(|e| crate::from_sdk("UpdateHealthCheck", &current.id, e))?;
        }
        if has("tags") {
            let existing = list_tags(
                aws,
                TagResourceType::Healthcheck,
                std::slice::from_ref(&current.id),
            )
            .await?;
            let existing = existing.get(&current.id).cloned().unwrap_or_default();
            let reference = current
                .attrs
                .get("caller_reference")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let stack = existing
                .iter()
                .find(|(k, _)| k == STACK_TAG)
                .map(|(_, v)| v.clone())
                .or_else(|| reference_stack(reference).map(String::from));
            let full = match (&current.address, stack) {
                (Some(address), Some(stack)) => ownership_tags(&stack, address, desired),
                _ => tags::user_tags(desired).into_iter().collect(),
            };
            let (set, remove) = tag_plan(full, &existing);
            change_tags(
                aws,
                TagResourceType::Healthcheck,
                &current.id,
                &set,
                &remove,
            )
            .await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let id = current.id.as_str();
        // A record deleted just before may still hold the check for a moment.
        wait_until(
            "DeleteHealthCheck",
            id,
            Duration::from_secs(300),
            || async move {
                let out = aws
                    .route53()
                    .delete_health_check()
                    .health_check_id(id)
                    .send()
                    .await;
                match out.map_err(|e| crate::from_sdk("DeleteHealthCheck", id, e)) {
                    Ok(_) => Ok(WaitState::Ready),
                    Err(e) if e.is_not_found() => Ok(WaitState::Ready),
                    Err(e) if e.is("HealthCheckInUse") => {
                        Ok(WaitState::Pending("still used by a record".into()))
                    }
                    Err(e) => Err(e),
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn https() -> Props {
        obj(json!({
            "type": "HTTPS", "fqdn": "ingress.us-east-1.examplepay.com", "port": 443, "resource_path": "/healthz",
            "request_interval": 10, "failure_threshold": 3, "regions": ["us-east-1", "eu-west-1", "us-west-2"],
        }))
    }

    #[test]
    fn the_ingress_check_is_valid() {
        assert!(check(&https()).is_ok());
    }

    #[test]
    fn refuses_what_route53_would() {
        let with = |k: &str, v: Value| {
            let mut p = https();
            p.insert(k.into(), v);
            check(&p).unwrap_err()
        };
        assert!(with("request_interval", json!(15)).contains("10 or 30"));
        assert!(with("failure_threshold", json!(11)).contains("between 1 and 10"));
        assert!(with("regions", json!(["us-east-1", "eu-west-1"])).contains("at least three"));
        assert!(
            with("regions", json!(["us-east-1", "eu-west-1", "eu-central-1"]))
                .contains("does not check from `eu-central-1`")
        );
        assert!(with("type", json!("HTTPS_STR_MATCH")).contains("search_string"));
        let mut none = https();
        none.remove("fqdn");
        assert!(check(&none).unwrap_err().contains("`fqdn` or `ip_address`"));
    }

    #[test]
    fn observes_config_and_user_tags() {
        let a: Address = "route53.health_check.ingress-us-east-1".parse().unwrap();
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Https)
            .fully_qualified_domain_name("ingress.us-east-1.examplepay.com")
            .port(443)
            .resource_path("/healthz")
            .request_interval(10)
            .failure_threshold(3)
            .inverted(true)
            .regions(HealthCheckRegion::UsEast1)
            .regions(HealthCheckRegion::EuWest1)
            .regions(HealthCheckRegion::UsWest2)
            .build()
            .unwrap();
        let hc = Check::builder()
            .id("hc-1")
            .caller_reference("eprun:s:ingress-us-east-1:0000")
            .health_check_config(config)
            .health_check_version(1)
            .build()
            .unwrap();
        let tags = [
            ("Name".to_string(), "ingress-us-east-1".to_string()),
            ("team".to_string(), "sre".to_string()),
        ];
        let o = observe(a, &hc, &tags);
        assert_eq!(o.props["type"], "HTTPS");
        assert_eq!(o.props["inverted"], true);
        assert_eq!(
            o.props["regions"],
            json!(["us-east-1", "eu-west-1", "us-west-2"])
        );
        assert_eq!(o.props["tags"], json!({"team": "sre"}));
        assert_eq!(
            o.natural_key.as_deref(),
            Some("eprun:s:ingress-us-east-1:0000")
        );
    }
}
