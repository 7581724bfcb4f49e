//! Route 53 verbs: health checks (list, get, update, status) — how DR runbooks move traffic.

use super::{check_keys, empty_answer, invalid, opt, opt_date, opt_str};
use crate::ADDRESS_TAG;
use crate::Result;
use crate::all;
use crate::mutation::Mutations;
use aws_sdk_route53::types::{HealthCheck, TagResourceType};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The keys `update_health_check` takes.
pub const UPDATE_KEYS: &[&str] = &["inverted", "disabled", "failure_threshold"];

/// ListTagsForResources takes at most this many ids.
const TAG_BATCH: usize = 10;

/// How often an update is tried again when someone else changed the check in between.
const VERSION_ATTEMPTS: usize = 3;

/// Route 53 considers an endpoint healthy when more than this share of its checkers say so.
const HEALTHY_SHARE_PERCENT: usize = 18;

type TagList = Vec<(String, String)>;

/// The tags of many health checks, ten per ListTagsForResources call.
async fn tags_of(
    r53: &aws_sdk_route53::Client,
    ids: &[String],
) -> Result<HashMap<String, TagList>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(TAG_BATCH) {
        let answer = r53
            .list_tags_for_resources()
            .resource_type(TagResourceType::Healthcheck)
            .set_resource_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| crate::from_sdk("ListTagsForResources", chunk.join(","), e))?;
        for set in answer.resource_tag_sets() {
            let Some(id) = set.resource_id() else {
                continue;
            };
            let tags = set
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            out.insert(id.to_string(), tags);
        }
    }
    Ok(out)
}

/// A health check as a plain map: its settings, its tags, and `name`/`address` from the `Name`
/// and `eprun:address` tags (how a runbook finds "the us-east-1 health check").
pub fn health_check_map(hc: &HealthCheck, tags: &[(String, String)]) -> Value {
    let tag = |k: &str| {
        tags.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let c = hc.health_check_config();
    json!({
        "id": hc.id(),
        "type": opt_str(c.map(|c| c.r#type().as_str())),
        "fqdn": opt_str(c.and_then(|c| c.fully_qualified_domain_name())),
        "ip_address": opt_str(c.and_then(|c| c.ip_address())),
        "port": c.and_then(|c| c.port()),
        "resource_path": opt_str(c.and_then(|c| c.resource_path())),
        "inverted": c.and_then(|c| c.inverted()).unwrap_or(false),
        "disabled": c.and_then(|c| c.disabled()).unwrap_or(false),
        "failure_threshold": c.and_then(|c| c.failure_threshold()).unwrap_or(3),
        "request_interval": c.and_then(|c| c.request_interval()).unwrap_or(30),
        "regions": c.map(|c| c.regions().iter().map(|r| r.as_str()).collect::<Vec<_>>()).unwrap_or_default(),
        "version": hc.health_check_version(),
        "caller_reference": hc.caller_reference(),
        "name": opt_str(tag("Name")),
        "address": opt_str(tag(ADDRESS_TAG)),
        "tags": tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<String, Value>>(),
    })
}

/// ListHealthChecks (every page) with their tags: an array of `health_check_map`s.
pub async fn list_health_checks(r53: &aws_sdk_route53::Client) -> Result<Value> {
    let checks: Vec<_> = all!(
        r53.list_health_checks(),
        "ListHealthChecks",
        "health checks"
    )?;
    let ids: Vec<String> = checks.iter().map(|h| h.id().to_string()).collect();
    let tags = tags_of(r53, &ids).await?;
    Ok(Value::Array(
        checks
            .iter()
            .map(|h| health_check_map(h, tags.get(h.id()).map(Vec::as_slice).unwrap_or_default()))
            .collect(),
    ))
}

/// GetHealthCheck.
async fn fetch(r53: &aws_sdk_route53::Client, id: &str) -> Result<HealthCheck> {
    let out = r53
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| crate::from_sdk("GetHealthCheck", id, e))?;
    out.health_check()
        .cloned()
        .ok_or_else(|| empty_answer("GetHealthCheck", id, "health check"))
}

/// One health check's tags.
async fn tags_of_one(r53: &aws_sdk_route53::Client, id: &str) -> Result<TagList> {
    Ok(tags_of(r53, &[id.to_string()])
        .await?
        .remove(id)
        .unwrap_or_default())
}

/// GetHealthCheck with its tags, as `health_check_map`.
pub async fn get_health_check(r53: &aws_sdk_route53::Client, id: &str) -> Result<Value> {
    let hc = fetch(r53, id).await?;
    let tags = tags_of_one(r53, id).await?;
    Ok(health_check_map(&hc, &tags))
}

/// What a script asked `update_health_check` to change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCheckChange {
    /// Report healthy as unhealthy and back.
    pub inverted: Option<bool>,
    /// Stop checking (and report healthy).
    pub disabled: Option<bool>,
    /// Consecutive failures before unhealthy (1–10).
    pub failure_threshold: Option<i32>,
}

impl HealthCheckChange {
    /// Reads and checks the options map.
    pub fn parse(id: &str, given: &Map<String, Value>) -> Result<Self> {
        const OP: &str = "UpdateHealthCheck";
        check_keys(OP, id, given, UPDATE_KEYS)?;
        let failure_threshold = match opt::<i64>(OP, id, given, "failure_threshold")? {
            None => None,
            Some(t) if (1..=10).contains(&t) => i32::try_from(t).ok(),
            Some(t) => {
                return Err(invalid(
                    OP,
                    id,
                    format!("`failure_threshold` {t} is not between 1 and 10; nothing was changed"),
                ));
            }
        };
        let change = Self {
            inverted: opt(OP, id, given, "inverted")?,
            disabled: opt(OP, id, given, "disabled")?,
            failure_threshold,
        };
        if change == Self::default() {
            return Err(invalid(
                OP,
                id,
                "give at least one of `inverted`, `disabled`, `failure_threshold`",
            ));
        }
        Ok(change)
    }

    /// Only what differs from the health check as it is now; `None` when nothing does.
    fn against(&self, hc: &HealthCheck) -> Option<(Self, String)> {
        let c = hc.health_check_config();
        let inverted = c.and_then(|c| c.inverted()).unwrap_or(false);
        let disabled = c.and_then(|c| c.disabled()).unwrap_or(false);
        let threshold = c.and_then(|c| c.failure_threshold()).unwrap_or(3);
        let mut detail = Vec::new();
        let mut pick = |name: &str, want: Option<String>, have: String| {
            let want = want.filter(|w| *w != have)?;
            detail.push(format!("{name} {have}→{want}"));
            Some(())
        };
        let diff = Self {
            inverted: pick(
                "inverted",
                self.inverted.map(|b| b.to_string()),
                inverted.to_string(),
            )
            .and(self.inverted),
            disabled: pick(
                "disabled",
                self.disabled.map(|b| b.to_string()),
                disabled.to_string(),
            )
            .and(self.disabled),
            failure_threshold: pick(
                "failure_threshold",
                self.failure_threshold.map(|t| t.to_string()),
                threshold.to_string(),
            )
            .and(self.failure_threshold),
        };
        (diff != Self::default()).then(|| (diff, detail.join(", ")))
    }
}

/// UpdateHealthCheck of `inverted`, `disabled` and/or `failure_threshold`, against the version
/// just read (GetHealthCheck): a concurrent change makes Route 53 refuse the call
/// (HealthCheckVersionMismatch), and then the check is read and the update tried again. Returns
/// the updated health check; nothing is called when it already has those settings, and a dry
/// run returns it as it is.
pub async fn update_health_check(
    r53: &aws_sdk_route53::Client,
    mutations: &Mutations,
    id: &str,
    given: &Map<String, Value>,
) -> Result<Value> {
    const OP: &str = "UpdateHealthCheck";
    let change = HealthCheckChange::parse(id, given)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let hc = fetch(r53, id).await?;
        let Some((diff, detail)) = change.against(&hc) else {
            let tags = tags_of_one(r53, id).await?;
            return Ok(health_check_map(&hc, &tags));
        };
        let config = hc.health_check_config();
        // Restate the regions and children: some emulators clear whatever an update leaves out.
        let regions = config
            .map(|c| c.regions().to_vec())
            .filter(|r| !r.is_empty());
        let children = config
            .map(|c| c.child_health_checks().to_vec())
            .filter(|c| !c.is_empty());
        let version = hc.health_check_version();
        let call = async {
            r53.update_health_check()
                .health_check_id(id)
                .health_check_version(version)
                .set_inverted(diff.inverted)
                .set_disabled(diff.disabled)
                .set_failure_threshold(diff.failure_threshold)
                .set_regions(regions)
                .set_child_health_checks(children)
                .send()
                .await
                .map_err(|e| crate::from_sdk(OP, id, e))
        };
        let detail = format!("{detail} (version {version})");
        match mutations.perform(OP, id, &detail, call).await {
            Ok(None) => {
                let tags = tags_of_one(r53, id).await?;
                return Ok(health_check_map(&hc, &tags));
            }
            Ok(Some(out)) => {
                let updated = out
                    .health_check()
                    .cloned()
                    .ok_or_else(|| empty_answer(OP, id, "health check"))?;
                let tags = tags_of_one(r53, id).await?;
                return Ok(health_check_map(&updated, &tags));
            }
            Err(e) if e.is("HealthCheckVersionMismatch") && attempt < VERSION_ATTEMPTS => {
                tracing::info!(
                    "health check {id} changed while updating it (version {version}); reading it again"
                );
            }
            Err(mut e) => {
                if e.is("HealthCheckVersionMismatch") {
                    e.message = format!(
                        "{} (someone else keeps changing the health check; tried {attempt} times)",
                        e.message
                    );
                }
                return Err(e);
            }
        }
    }
}

/// GetHealthCheckStatus (and GetHealthCheck for `inverted`/`disabled`):
/// `{healthy, checkers_healthy, inverted, disabled, observations: [{region, ip_address, status, checked_time}]}`.
/// `checkers_healthy` is what the checkers see (more than 18 % report success); `healthy` is the
/// status Route 53 routes on: a disabled check counts as healthy, and an inverted one flips.
/// While no checker has reported, both are false.
pub async fn health_check_status(r53: &aws_sdk_route53::Client, id: &str) -> Result<Value> {
    let hc = fetch(r53, id).await?;
    let out = r53
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| {
            let unserved = matches!(&e, aws_smithy_runtime_api::client::result::SdkError::ServiceError(se)
                if se.raw().status().as_u16() == 404 && aws_smithy_types::error::metadata::ProvideErrorMetadata::code(se.err()).is_none());
            let mut err = crate::from_sdk("GetHealthCheckStatus", id, e);
            if unserved {
                err.message = "the endpoint does not serve `GetHealthCheckStatus` (emulators may lack it); skip this check with `--param verify_dns=false`".into();
            }
            err
        })?;
    let observations: Vec<Value> = out
        .health_check_observations()
        .iter()
        .map(|o| {
            let report = o.status_report();
            json!({
                "region": opt_str(o.region().map(|r| r.as_str())),
                "ip_address": opt_str(o.ip_address()),
                "status": opt_str(report.and_then(|r| r.status())),
                "checked_time": opt_date(report.and_then(|r| r.checked_time())),
            })
        })
        .collect();
    let c = hc.health_check_config();
    let inverted = c.and_then(|c| c.inverted()).unwrap_or(false);
    let disabled = c.and_then(|c| c.disabled()).unwrap_or(false);
    let total = observations.len();
    let successes = observations
        .iter()
        .filter(|o| {
            o["status"]
                .as_str()
                .is_some_and(|s| s.starts_with("Success"))
        })
        .count();
    let checkers_healthy = total > 0 && successes * 100 > total * HEALTHY_SHARE_PERCENT;
    let healthy = if disabled {
        !inverted
    } else if total == 0 {
        false
    } else {
        checkers_healthy != inverted
    };
    Ok(json!({
        "id": id,
        "healthy": healthy,
        "checkers_healthy": checkers_healthy,
        "inverted": inverted,
        "disabled": disabled,
        "observations": observations,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route53::testing::https_config;
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput;
    use aws_sdk_route53::operation::get_health_check_status::GetHealthCheckStatusOutput;
    use aws_sdk_route53::operation::list_tags_for_resources::ListTagsForResourcesOutput;
    use aws_sdk_route53::operation::update_health_check::{
        UpdateHealthCheckError, UpdateHealthCheckOutput,
    };
    use aws_sdk_route53::types::{
        HealthCheckObservation, HealthCheckRegion, ResourceTagSet, StatusReport, Tag,
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock};
    use std::sync::{Arc, Mutex};

    /// What each UpdateHealthCheck carried: (version, inverted, how many regions).
    type Sent = Arc<Mutex<Vec<(Option<i64>, Option<bool>, usize)>>>;

    fn client(mode: RuleMode, rules: &[&Rule]) -> Client {
        crate::Aws::mocked_in(mode, rules).route53()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn check(version: i64, inverted: bool) -> HealthCheck {
        let config = https_config("ingress.us-east-1.examplepay.test", inverted);
        HealthCheck::builder()
            .id("hc-1")
            .caller_reference("eprun:local/us-east-1:ingress-us-east-1:0000")
            .health_check_config(config)
            .health_check_version(version)
            .build()
            .unwrap()
    }

    fn tags_rule() -> Rule {
        mock!(Client::list_tags_for_resources).then_output(|| {
            ListTagsForResourcesOutput::builder()
                .resource_tag_sets(
                    ResourceTagSet::builder()
                        .resource_id("hc-1")
                        .tags(
                            Tag::builder()
                                .key("Name")
                                .value("ingress-us-east-1")
                                .build(),
                        )
                        .tags(
                            Tag::builder()
                                .key(ADDRESS_TAG)
                                .value("route53.health_check.ingress-us-east-1")
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap()
        })
    }

    fn mismatch() -> UpdateHealthCheckError {
        UpdateHealthCheckError::HealthCheckVersionMismatch(
            aws_sdk_route53::types::error::HealthCheckVersionMismatch::builder()
                .message("version 4 is not the current one")
                .meta(
                    aws_sdk_route53::error::ErrorMetadata::builder()
                        .code("HealthCheckVersionMismatch")
                        .message("version 4 is not the current one")
                        .build(),
                )
                .build(),
        )
    }

    #[test]
    fn options_are_checked() {
        let e = HealthCheckChange::parse("hc-1", &obj(json!({"invert": true}))).unwrap_err();
        assert!(e.to_string().contains("did you mean `inverted`"), "{e}");
        let e =
            HealthCheckChange::parse("hc-1", &obj(json!({"failure_threshold": 11}))).unwrap_err();
        assert!(e.to_string().contains("not between 1 and 10"), "{e}");
        let e = HealthCheckChange::parse("hc-1", &obj(json!({}))).unwrap_err();
        assert!(e.to_string().contains("at least one"), "{e}");
        let c = HealthCheckChange::parse("hc-1", &obj(json!({"inverted": true}))).unwrap();
        assert_eq!(c.inverted, Some(true));
    }

    #[test]
    fn the_map_names_the_check_by_its_tags() {
        let tags = vec![
            ("Name".to_string(), "ingress-us-east-1".to_string()),
            (
                ADDRESS_TAG.to_string(),
                "route53.health_check.ingress-us-east-1".to_string(),
            ),
        ];
        let m = health_check_map(&check(2, true), &tags);
        assert_eq!(m["id"], "hc-1");
        assert_eq!(m["type"], "HTTPS");
        assert_eq!(m["name"], "ingress-us-east-1");
        assert_eq!(m["address"], "route53.health_check.ingress-us-east-1");
        assert_eq!(m["inverted"], true);
        assert_eq!(m["regions"], json!(["us-east-1", "eu-west-1", "us-west-2"]));
        assert_eq!(m["version"], 2);
    }

    /// Sets `inverted` on `hc-1` through `r53` (mocked).
    async fn invert(r53: &Client) -> Result<Value> {
        let change = obj(json!({"inverted": true}));
        update_health_check(r53, &Mutations::default(), "hc-1", &change).await
    }

    /// What GetHealthCheck answers for `check`.
    fn got(check: HealthCheck) -> GetHealthCheckOutput {
        GetHealthCheckOutput::builder().health_check(check).build()
    }

    /// The update carries the version just read; when someone else changed the check in
    /// between, it is read again and the update sent with the new version.
    #[tokio::test]
    async fn the_update_sends_the_current_version_and_retries_on_a_mismatch() {
        let get = mock!(Client::get_health_check)
            .sequence()
            .output(|| got(check(4, false)))
            .output(|| got(check(5, false)))
            .build();
        let sent: Sent = Arc::default();
        let record = sent.clone();
        let update = mock!(Client::update_health_check)
            .sequence()
            .error(mismatch)
            .output(|| {
                UpdateHealthCheckOutput::builder()
                    .health_check(check(6, true))
                    .build()
            })
            .build();
        let watch = mock!(Client::update_health_check)
            .match_requests(move |r| {
                record.lock().unwrap().push((
                    r.health_check_version(),
                    r.inverted(),
                    r.regions().len(),
                ));
                false
            })
            .then_output(|| UpdateHealthCheckOutput::builder().build());
        let tags = tags_rule();
        let r53 = client(RuleMode::MatchAny, &[&watch, &get, &update, &tags]);
        let out = invert(&r53).await.unwrap();
        assert_eq!(get.num_calls(), 2);
        assert_eq!(update.num_calls(), 2);
        assert_eq!(
            *sent.lock().unwrap(),
            vec![(Some(4), Some(true), 3), (Some(5), Some(true), 3)],
            "each attempt sends the version it read, and restates the regions"
        );
        assert_eq!(out["inverted"], true);
        assert_eq!(out["version"], 6);
        assert_eq!(out["name"], "ingress-us-east-1");
    }

    #[tokio::test]
    async fn a_persistent_mismatch_is_an_error_naming_the_call() {
        let get = mock!(Client::get_health_check).then_output(|| got(check(4, false)));
        let update = mock!(Client::update_health_check).then_error(mismatch);
        let r53 = client(RuleMode::MatchAny, &[&get, &update]);
        let e = invert(&r53).await.unwrap_err();
        assert_eq!(update.num_calls(), VERSION_ATTEMPTS);
        let m = e.to_string();
        assert!(
            m.starts_with("`UpdateHealthCheck` on `hc-1` failed: HealthCheckVersionMismatch"),
            "{m}"
        );
        assert!(m.contains("tried 3 times"), "{m}");
    }

    #[tokio::test]
    async fn nothing_is_sent_when_the_check_already_is_so_or_in_a_dry_run() {
        let get = mock!(Client::get_health_check).then_output(|| got(check(4, true)));
        let update = mock!(Client::update_health_check)
            .then_output(|| UpdateHealthCheckOutput::builder().build());
        let tags = tags_rule();
        let r53 = client(RuleMode::MatchAny, &[&get, &update, &tags]);
        let out = invert(&r53).await.unwrap();
        assert_eq!(out["inverted"], true);
        let dry = Mutations::default();
        dry.set_dry_run(true);
        let out = update_health_check(&r53, &dry, "hc-1", &obj(json!({"inverted": false})))
            .await
            .unwrap();
        assert_eq!(out["inverted"], true, "a dry run leaves the check as it is");
        assert_eq!(update.num_calls(), 0);
    }

    #[tokio::test]
    async fn status_counts_checkers_and_applies_the_inversion() {
        let obs = |region: HealthCheckRegion, status: &str| {
            HealthCheckObservation::builder()
                .region(region)
                .ip_address("192.0.2.1")
                .status_report(StatusReport::builder().status(status).build())
                .build()
        };
        let get = mock!(Client::get_health_check).then_output(|| got(check(4, true)));
        let status = mock!(Client::get_health_check_status).then_output(move || {
            GetHealthCheckStatusOutput::builder()
                .health_check_observations(obs(
                    HealthCheckRegion::UsEast1,
                    "Success: HTTP Status Code 200, OK",
                ))
                .health_check_observations(obs(
                    HealthCheckRegion::EuWest1,
                    "Failure: Connection timed out",
                ))
                .health_check_observations(obs(
                    HealthCheckRegion::UsWest2,
                    "Failure: Connection timed out",
                ))
                .build()
                .unwrap()
        });
        let r53 = client(RuleMode::MatchAny, &[&get, &status]);
        let out = health_check_status(&r53, "hc-1").await.unwrap();
        assert_eq!(out["checkers_healthy"], true, "1 of 3 is more than 18 %");
        assert_eq!(out["healthy"], false, "inverted");
        assert_eq!(out["observations"][1]["region"], "eu-west-1");
        assert_eq!(
            out["observations"][1]["status"],
            "Failure: Connection timed out"
        );
    }
}
