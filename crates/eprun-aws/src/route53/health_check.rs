//! `aws::route53::health_check`: a health check of an endpoint (HTTP, HTTPS, TCP), of other checks
//! (`CALCULATED`), or of a CloudWatch alarm (`CLOUDWATCH_METRIC`).
//!
//! Found by its `CallerReference` through one paginated ListHealthChecks (see the module docs), so a
//! check created just before a crash is adopted instead of created twice; Route 53 (and its
//! emulators) would otherwise happily create a duplicate.

use super::{R53Tags, by_id, client_error, no_answer, nonempty, owner, reference_for};
use crate::adapter::{
    Attr, Changes, Description, Identity, New, ResourceType, Retag, Tagger, found, resource,
};
use crate::address::Address;
use crate::all;
use crate::ec2::str_prop;
use crate::invalid::Invalid;
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::token;
use crate::{Aws, CloudError, WaitState, sdk, wait_until};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AlarmIdentifier, CloudWatchRegion, HealthCheck as Check, HealthCheckConfig, HealthCheckRegion,
    HealthCheckType, InsufficientDataHealthStatus, TagResourceType,
};
use serde_json::{Value, json};
use std::time::Duration;

resource! {
    /// A Route 53 health check of an endpoint.
    pub struct HealthCheck: HEALTH_CHECK = "route53.health_check",
        "A Route 53 health check of an endpoint, checked from several regions.";
    reads Item;
    terraform "aws_route53_health_check";
    props CheckProps {
        r#type: String = required(Enum(&[
            "HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED", "CLOUDWATCH_METRIC",
        ]), "the kind of check"),
        fqdn: Option<String> =
            optional(Str, "the host name to check (and to send as `Host` and SNI)"),
        ip_address: Option<String> =
            optional(Str, "the address to check, instead of resolving `fqdn`"),
        port: Option<i32> = optional(Int, "the port to check"),
        resource_path: Option<String> = optional(Str, "the path to request, e.g. `/healthz`"),
        search_string: Option<String> =
            optional(Str, "the text the response body must contain (`*_STR_MATCH`)"),
        request_interval: Option<i32> =
            optional(Int, "seconds between checks: 10 or 30").default("30") .force_new(),
        failure_threshold: Option<i32> =
            optional(Int, "consecutive failures (1–10) before the endpoint is unhealthy")
                .default("3"),
        measure_latency: Option<bool> =
            optional(Bool, "record latency graphs").default("false") .force_new(),
        inverted: Option<bool> =
            optional(Bool, "report healthy as unhealthy and back (how DR runbooks drain a region)")
                .default("false"),
        disabled: Option<bool> =
            optional(Bool, "stop checking and report healthy").default("false"),
        enable_sni: Option<bool> = optional(Bool, "send `fqdn` in the TLS handshake"),
        regions: Option<Vec<String>> =
            optional(StrSet, "the regions to check from (at least three)"),
        child_health_checks: Option<Vec<String>> =
            optional(StrSet, "the checks a `CALCULATED` check combines (their `id`s)"),
        health_threshold: Option<i32> =
            optional(Int, "how many of `child_health_checks` must be healthy (`CALCULATED`)"),
        alarm_name: Option<String> =
            optional(Str, "the CloudWatch alarm a `CLOUDWATCH_METRIC` check follows"),
        alarm_region: Option<String> =
            optional(Str, "the region of `alarm_name`"),
        insufficient_data_health_status: Option<String> =
            optional(Enum(&["Healthy", "Unhealthy", "LastKnownStatus"]),
                "the status while the alarm has too little data (`CLOUDWATCH_METRIC`)"),
    } + TAGS
}

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

/// The settings only endpoint checks take.
const ENDPOINT_ONLY: [&str; 3] = ["failure_threshold", "request_interval", "measure_latency"];

/// Route 53 takes caller references of at most this many characters.
const MAX_REFERENCE: usize = 64;

/// Checks the combinations Route 53 would refuse, before any call.
fn check(props: &Props) -> Result<(), Invalid> {
    let int = |k: &str| props.get(k).and_then(Value::as_i64);
    let kind = str_prop(props, "type");
    let has = |k: &str| props.contains_key(k);
    let endpoint_props = [
        "fqdn",
        "ip_address",
        "port",
        "resource_path",
        "search_string",
        "regions",
    ];
    let needs = |props: &[&str]| match props.iter().find(|p| !has(p)) {
        Some(missing) => Err(Invalid::missing(
            *missing,
            format!("a `{kind}` check needs it"),
        )),
        None => match endpoint_props.iter().find(|p| has(p)) {
            Some(extra) => Err(Invalid::form(
                *extra,
                format!("does not apply to a `{kind}` check: it checks no endpoint"),
            )),
            None => Ok(()),
        },
    };
    match kind {
        "CALCULATED" => {
            needs(&["child_health_checks", "health_threshold"])?;
            if let Some(t) = int("health_threshold").filter(|t| !(0..=256).contains(t)) {
                return Err(Invalid::range("health_threshold", t, 0..=256, ""));
            }
            return Ok(());
        }
        "CLOUDWATCH_METRIC" => return needs(&["alarm_name", "alarm_region"]),
        _ => {}
    }
    if !has("fqdn") && !has("ip_address") {
        return Err(Invalid::Combination(
            "a health check needs an endpoint: set `fqdn` or `ip_address`".into(),
        ));
    }
    if kind.ends_with("STR_MATCH") && !props.contains_key("search_string") {
        return Err(Invalid::Combination(format!(
            "a `{kind}` check needs `search_string`"
        )));
    }
    if kind == "TCP" && props.contains_key("resource_path") {
        return Err(Invalid::Combination(
            "a `TCP` check takes no `resource_path`".into(),
        ));
    }
    let ranges: [(&str, fn(&i64) -> bool, &str); 3] = [
        ("request_interval", |i| *i == 10 || *i == 30, "10 or 30"),
        (
            "failure_threshold",
            |t| (1..=10).contains(t),
            "between 1 and 10",
        ),
        ("port", |p| (1..=65535).contains(p), "a port"),
    ];
    for (prop, fits, what) in ranges {
        if let Some(v) = int(prop).filter(|v| !fits(v)) {
            return Err(Invalid::value(prop, format!("{v} is not {what}")));
        }
    }
    if let Some(regions) = props.get("regions").and_then(Value::as_array) {
        let names: Vec<&str> = regions
            .iter()
            .filter(|r| !token::is_unknown(r))
            .filter_map(Value::as_str)
            .collect();
        if let Some(bad) = names.iter().find(|r| !CHECKER_REGIONS.contains(r)) {
            return Err(Invalid::value(
                "regions",
                format!(
                    "Route 53 does not check from `{bad}`; it checks from {}",
                    CHECKER_REGIONS.join(", ")
                ),
            ));
        }
        let mut distinct = names.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 3 {
            return Err(Invalid::value(
                "regions",
                format!(
                    "name at least three checker regions, not {}",
                    distinct.len()
                ),
            ));
        }
    }
    Ok(())
}

/// A health check as read, with its tags.
type Item = (Check, Vec<(String, String)>);

/// A health check's caller reference and id.
const CHECK_REFS: fn(&Check) -> (&str, &str) = |hc| (hc.caller_reference(), hc.id());

/// The tagger of health checks.
const CHECK_TAGS: R53Tags = R53Tags(TagResourceType::Healthcheck);

/// Sets the fields of `p` that `send` names and UpdateHealthCheck can change on a builder:
/// CreateHealthCheck's config and UpdateHealthCheck take them alike but share no type.
macro_rules! settings {
    ($builder:expr, $p:expr, $send:expr) => {{
        let (p, send): (&CheckProps, &dyn Fn(&str) -> bool) = ($p, $send);
        let text = |f: &str, v: &Option<String>| nonempty(v).filter(|_| send(f));
        let region = |r: &String| HealthCheckRegion::from(r.as_str());
        let alarm = match (
            text("alarm_name", &p.alarm_name),
            text("alarm_region", &p.alarm_region),
        ) {
            (Some(name), Some(region)) => {
                let id = AlarmIdentifier::builder()
                    .name(name)
                    .region(CloudWatchRegion::from(region.as_str()));
                id.build().ok()
            }
            _ => None,
        };
        let insufficient = text(
            "insufficient_data_health_status",
            &p.insufficient_data_health_status,
        );
        $builder
            .set_alarm_identifier(alarm)
            .set_insufficient_data_health_status(
                insufficient.map(|s| InsufficientDataHealthStatus::from(s.as_str())),
            )
            .set_health_threshold(p.health_threshold.filter(|_| send("health_threshold")))
            .set_child_health_checks(
                p.child_health_checks
                    .clone()
                    .filter(|_| send("child_health_checks")),
            )
            .set_fully_qualified_domain_name(text("fqdn", &p.fqdn))
            .set_ip_address(text("ip_address", &p.ip_address))
            .set_port(p.port.filter(|_| send("port")))
            .set_resource_path(text("resource_path", &p.resource_path))
            .set_search_string(text("search_string", &p.search_string))
            .set_failure_threshold(p.failure_threshold.filter(|_| send("failure_threshold")))
            .set_inverted(p.inverted.filter(|_| send("inverted")))
            .set_disabled(p.disabled.filter(|_| send("disabled")))
            .set_enable_sni(p.enable_sni.filter(|_| send("enable_sni")))
            // Always stated: some emulators drop the regions from any update that leaves them out.
            .set_regions(p.regions.as_ref().map(|r| r.iter().map(region).collect()))
    }};
}

#[async_trait]
impl Description for HealthCheck {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, (hc, _): &Item| json!(hc.id())),
        Attr::new("arn", |_, (hc, _)| {
            json!(format!("arn:aws:route53:::healthcheck/{}", hc.id()))
        }),
    ];
    const IDENTITY: Identity = Identity::Recorded(&CHECK_TAGS);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check(props)
    }

    fn tags(&self, (_, tags): &Item) -> Vec<(String, String)> {
        tags.clone()
    }

    fn owner(&self, stack: &str, (hc, _): &Item) -> Option<Address> {
        owner(hc.caller_reference(), stack, Self::KIND)
    }

    fn item_key(&self, (hc, _): &Item) -> Option<String> {
        Some(hc.caller_reference().to_string())
    }

    async fn list(
        &self,
        aws: &Aws,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Item>, CloudError> {
        let checks = all!(
            aws.route53().list_health_checks(),
            "ListHealthChecks",
            stack
        )?;
        CHECK_TAGS
            .owned(aws, stack, Self::KIND, checks, CHECK_REFS)
            .await
    }

    async fn fetch(&self, aws: &Aws, ids: &[String]) -> Option<Result<Vec<Item>, CloudError>> {
        let read = async {
            let mut checks = Vec::new();
            for id in ids {
                let got = aws
                    .route53()
                    .get_health_check()
                    .health_check_id(id)
                    .send()
                    .await;
                let got = found(got.map_err(sdk("GetHealthCheck", id)))?;
                checks.extend(got.and_then(|g| g.health_check));
            }
            CHECK_TAGS.tagged(aws, checks, CHECK_REFS).await
        };
        Some(read.await)
    }

    async fn props(&self, _aws: &Aws, (hc, _): &Item) -> Result<CheckProps, CloudError> {
        let Some(c) = hc.health_check_config() else {
            return Ok(CheckProps::default());
        };
        let regions: Vec<String> = c.regions().iter().map(|r| r.as_str().into()).collect();
        let children: Vec<String> = c.child_health_checks().to_vec();
        let alarm = c.alarm_identifier();
        Ok(CheckProps {
            r#type: c.r#type().as_str().to_string(),
            fqdn: c.fully_qualified_domain_name().map(String::from),
            ip_address: c.ip_address().map(String::from),
            port: c.port(),
            resource_path: c.resource_path().map(String::from),
            search_string: c.search_string().map(String::from),
            request_interval: Some(c.request_interval().unwrap_or(30)),
            failure_threshold: Some(c.failure_threshold().unwrap_or(3)),
            measure_latency: Some(c.measure_latency().unwrap_or(false)),
            inverted: Some(c.inverted().unwrap_or(false)),
            disabled: Some(c.disabled().unwrap_or(false)),
            enable_sni: c.enable_sni(),
            regions: (!regions.is_empty()).then_some(regions),
            child_health_checks: (!children.is_empty()).then_some(children),
            health_threshold: c.health_threshold(),
            alarm_name: alarm.map(|a| a.name().to_string()),
            alarm_region: alarm.map(|a| a.region().as_str().to_string()),
            insufficient_data_health_status: (c.insufficient_data_health_status())
                .map(|s| s.as_str().to_string()),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, CheckProps>) -> Result<Item, CloudError> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let reference = reference_for(address, tags);
        if reference.len() > MAX_REFERENCE {
            let why = format!(
                "its caller reference `{reference}` would be {} characters and Route 53 takes at most {MAX_REFERENCE}; give the health check a shorter name",
                reference.len()
            );
            return Err(client_error("CreateHealthCheck", address, why));
        }
        // Interval, threshold and latency are an endpoint's: Route 53 refuses them on the others.
        let endpoint = !matches!(p.r#type.as_str(), "CALCULATED" | "CLOUDWATCH_METRIC");
        let send = |f: &str| endpoint || !ENDPOINT_ONLY.contains(&f);
        let config = settings!(HealthCheckConfig::builder(), p, &send)
            .r#type(HealthCheckType::from(p.r#type.as_str()))
            .set_request_interval(p.request_interval.filter(|_| endpoint))
            .set_measure_latency(p.measure_latency.filter(|_| endpoint))
            .build()
            .map_err(|e| client_error("CreateHealthCheck", address, e))?;
        let out = (aws.route53().create_health_check())
            .caller_reference(&reference)
            .health_check_config(config)
            .send()
            .await
            .map_err(sdk("CreateHealthCheck", address))?;
        let hc = out.health_check().cloned();
        let hc = hc.ok_or_else(|| no_answer("CreateHealthCheck", address, "health check"))?;
        let change = Retag {
            set: tags,
            remove: &[],
        };
        CHECK_TAGS.retag(aws, &by_id(hc.id()), change).await?;
        Ok((hc, tags.to_vec()))
    }

    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, CheckProps>,
    ) -> Result<Option<Item>, CloudError> {
        let (on, changed, desired) = (changes.on, changes.fields, changes.desired);
        let has = |f: &str| changed.iter().any(|c| c == f);
        // Of what can change in place (the rest forces a new check), all but `type` is a setting.
        if changed.iter().any(|f| f != "type") {
            let call = aws.route53().update_health_check().health_check_id(&on.id);
            let r = settings!(call, desired, &has).send().await;
            r.map_err(sdk("UpdateHealthCheck", &on.id))?;
        }
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, id: &str, _current: &CheckProps) -> Result<(), CloudError> {
        // A record deleted just before may still hold the check for a moment.
        let timeout = Duration::from_secs(300);
        wait_until("DeleteHealthCheck", id, timeout, || async move {
            let call = aws.route53().delete_health_check().health_check_id(id);
            match call.send().await.map_err(sdk("DeleteHealthCheck", id)) {
                Ok(_) => Ok(WaitState::Ready),
                Err(e) if e.is_not_found() => Ok(WaitState::Ready),
                Err(e) if e.is("HealthCheckInUse") => {
                    Ok(WaitState::Pending("still used by a record".into()))
                }
                Err(e) => Err(e),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fresh, obj, observe, tagged};
    use super::*;
    use crate::adapter::testing::round_trip;
    use crate::resource::{Observed, Resource};
    use crate::route53::testing::https_config;
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::create_health_check::CreateHealthCheckOutput;
    use aws_sdk_route53::operation::update_health_check::UpdateHealthCheckOutput;
    use aws_smithy_mocks::mock;

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
            check(&p).unwrap_err().to_string()
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
        assert!(
            check(&none)
                .unwrap_err()
                .to_string()
                .contains("`fqdn` or `ip_address`")
        );
    }

    #[tokio::test]
    async fn observes_config_and_user_tags() {
        let config = https_config("ingress.us-east-1.examplepay.com", true);
        let hc = Check::builder()
            .id("hc-1")
            .caller_reference("eprun:s:ingress-us-east-1:0000")
            .health_check_config(config)
            .health_check_version(1)
            .build()
            .unwrap();
        let tags = vec![
            ("Name".to_string(), "ingress-us-east-1".to_string()),
            ("team".to_string(), "sre".to_string()),
        ];
        let o = observe(&HEALTH_CHECK, &(hc, tags)).await;
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

    #[tokio::test]
    async fn a_created_check_round_trip_as_declared() {
        let create = mock!(Client::create_health_check)
            .match_requests(|r| fresh(r.caller_reference(), "ingress"))
            .then_compute_output(|r| {
                let hc = Check::builder()
                    .id("hc-1")
                    .caller_reference(r.caller_reference().unwrap_or_default())
                    .set_health_check_config(r.health_check_config().cloned())
                    .health_check_version(1)
                    .build()
                    .unwrap();
                let out = CreateHealthCheckOutput::builder().health_check(hc);
                out.location("https://route53.amazonaws.com/2013-04-01/healthcheck/hc-1")
                    .build()
                    .unwrap()
            });
        let tagged = tagged();
        let mut declared = https();
        declared.insert("tags".into(), json!({"team": "sre"}));
        let (address, declared) = ("route53.health_check.ingress", Value::Object(declared));
        let observed = round_trip(
            &HEALTH_CHECK,
            &Aws::mocked(&[&create, &tagged]),
            address,
            declared,
        )
        .await;
        assert_eq!(observed.id, "hc-1");
        assert_eq!(observed.attrs["arn"], "arn:aws:route53:::healthcheck/hc-1");
        assert!(fresh(observed.natural_key.as_deref(), "ingress"));
        assert_eq!((create.num_calls(), tagged.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn an_update_sends_what_changed_and_restates_the_regions() {
        let update = mock!(Client::update_health_check)
            .match_requests(|r| {
                r.inverted() == Some(true)
                    && r.fully_qualified_domain_name().is_none()
                    && r.port().is_none()
                    && r.regions().len() == 3
            })
            .then_output(|| UpdateHealthCheckOutput::builder().build());
        let aws = Aws::mocked(&[&update]);
        let current = Observed {
            id: "hc-1".into(),
            props: https(),
            ..Observed::default()
        };
        let mut desired = https();
        desired.insert("inverted".into(), json!(true));
        desired.insert("type".into(), json!("HTTP"));
        for changed in [vec!["inverted".to_string()], vec!["type".to_string()]] {
            let cx = aws.context();
            HEALTH_CHECK
                .update(&cx, &current, &desired, &changed)
                .await
                .unwrap();
        }
        assert_eq!(
            update.num_calls(),
            1,
            "a new `type` alone changes nothing in place"
        );
    }
}
