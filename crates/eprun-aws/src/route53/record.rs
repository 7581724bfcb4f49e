//! `aws::route53::record`: one resource record set of a hosted zone (untaggable, found by
//! `<zone>|<name>|<type>|<set_identifier>`).
//!
//! Create and update are an UPSERT, delete a DELETE of the record as it was read; each waits until
//! the change is in sync on every Route 53 server. Records are read with one paginated
//! ListResourceRecordSets per zone the stack's records name.

use super::{bare_zone_id, check_dns_name, client_error, dns_name, opt_str, wait_change};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind};
use crate::token;
use crate::{Aws, CloudError};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetRegion, RrType,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A DNS record set: plain values with a TTL, or an alias; optionally latency-routed with a health check.
pub struct Record;

const ALIAS: &[Field] = &[
    Field::required(
        "name",
        Kind::Str,
        "the target's DNS name (a load balancer, another record)",
    ),
    Field::required("zone_id", Kind::Str, "the target's hosted zone id"),
    Field::required(
        "evaluate_target_health",
        Kind::Bool,
        "answer only while the target is healthy",
    ),
];

const LATENCY: &[Field] = &[Field::required(
    "region",
    Kind::Str,
    "the AWS region this record answers for",
)];

const SCHEMA: &[Field] = &[
    Field::required("zone_id", Kind::Str, "the hosted zone"),
    Field::required(
        "name",
        Kind::Str,
        "the fully qualified name, e.g. `api.examplepay.com` (lowercase, no trailing dot)",
    ),
    Field::required(
        "type",
        Kind::Enum(&[
            "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV",
            "SSHFP", "SVCB", "TLSA", "TXT",
        ]),
        "the record type",
    ),
    Field::optional(
        "ttl",
        Kind::Int,
        "seconds resolvers may cache the answer (with `records`)",
    ),
    Field::optional("records", Kind::StrSet, "the values (with `ttl`)"),
    Field::optional(
        "alias",
        Kind::ObjectSet(ALIAS),
        "one alias target `#{name, zone_id, evaluate_target_health}`, instead of `records`",
    ),
    Field::optional(
        "set_identifier",
        Kind::Str,
        "tells apart records of one name and type under a routing policy",
    )
    .force_new(),
    Field::optional(
        "latency_routing_policy",
        Kind::ObjectSet(LATENCY),
        "`[#{ region }]`: answer the clients closest to that region",
    ),
    Field::optional(
        "health_check_id",
        Kind::Str,
        "answer only while this health check passes",
    ),
];

/// `<zone>|<name>|<type>|<set_identifier>`, the key declarations and reads both produce.
fn key(zone: &str, name: &str, kind: &str, set_identifier: &str) -> String {
    format!(
        "{}|{}|{kind}|{set_identifier}",
        bare_zone_id(zone),
        dns_name(name)
    )
}

/// The single map of a one-element object list (`alias`, `latency_routing_policy`).
fn single<'a>(p: &'a Props, field: &str) -> Option<&'a serde_json::Map<String, Value>> {
    p.get(field)?.as_array()?.first()?.as_object()
}

/// Checks the combinations Route 53 would refuse, before any call.
fn check(p: &Props) -> Result<(), String> {
    check_dns_name("name", p.get("name"))?;
    for field in ["alias", "latency_routing_policy"] {
        if p.get(field)
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() != 1)
        {
            return Err(format!(
                "property `{field}` takes exactly one map, like `[#{{ … }}]`"
            ));
        }
    }
    if let Some(alias) = single(p, "alias") {
        check_dns_name("alias.name", alias.get("name"))?;
    }
    let (records, alias, ttl) = (
        p.contains_key("records"),
        p.contains_key("alias"),
        p.contains_key("ttl"),
    );
    match (records, alias) {
        (true, true) => return Err("a record has `records` or an `alias`, not both".into()),
        (false, false) => return Err("a record needs `records` (with `ttl`) or an `alias`".into()),
        (true, false) if !ttl => return Err("property `ttl` is required with `records`".into()),
        (false, true) if ttl => {
            return Err("an alias record takes no `ttl` (the target's applies)".into());
        }
        _ => {}
    }
    if p.get("records")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Err("property `records` needs at least one value".into());
    }
    if let Some(t) = p
        .get("ttl")
        .and_then(Value::as_i64)
        .filter(|t| !(0..=2_147_483_647).contains(t))
    {
        return Err(format!("property `ttl`: {t} is not a valid TTL"));
    }
    match (
        p.contains_key("set_identifier"),
        p.contains_key("latency_routing_policy"),
    ) {
        (true, false) => Err(
            "`set_identifier` only goes with a routing policy: add `latency_routing_policy`".into(),
        ),
        (false, true) => {
            Err("a latency-routed record needs a `set_identifier` (e.g. its region)".into())
        }
        _ => Ok(()),
    }
}

/// One record set as read, in the declared shape.
fn observe(zone: &str, rr: &ResourceRecordSet) -> Observed {
    let name = dns_name(rr.name());
    let kind = rr.r#type().as_str();
    let natural_key = key(zone, &name, kind, rr.set_identifier().unwrap_or_default());
    let mut p = Props::new();
    p.insert("zone_id".into(), json!(bare_zone_id(zone)));
    p.insert("name".into(), json!(name));
    p.insert("type".into(), json!(kind));
    if let Some(ttl) = rr.ttl() {
        p.insert("ttl".into(), json!(ttl));
    }
    if !rr.resource_records().is_empty() {
        p.insert(
            "records".into(),
            json!(
                rr.resource_records()
                    .iter()
                    .map(|r| r.value())
                    .collect::<Vec<_>>()
            ),
        );
    }
    if let Some(a) = rr.alias_target() {
        p.insert(
            "alias".into(),
            json!([{ "name": dns_name(a.dns_name()), "zone_id": a.hosted_zone_id(), "evaluate_target_health": a.evaluate_target_health() }]),
        );
    }
    if let Some(s) = rr.set_identifier() {
        p.insert("set_identifier".into(), json!(s));
    }
    if let Some(r) = rr.region() {
        p.insert(
            "latency_routing_policy".into(),
            json!([{ "region": r.as_str() }]),
        );
    }
    if let Some(h) = rr.health_check_id() {
        p.insert("health_check_id".into(), json!(h));
    }
    Observed {
        address: None,
        id: natural_key.clone(),
        natural_key: Some(natural_key.clone()),
        props: p,
        attrs: [("id", json!(natural_key)), ("fqdn", json!(name))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// The record set that props describe, for a change batch.
fn record_set(p: &Props, target: &str) -> Result<ResourceRecordSet, CloudError> {
    let op = "ChangeResourceRecordSets";
    let records = match p.get("records").and_then(Value::as_array) {
        Some(values) => Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(|v| ResourceRecord::builder().value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| client_error(op, target, e))?,
        ),
        None => None,
    };
    let alias = match single(p, "alias") {
        Some(a) => Some(
            AliasTarget::builder()
                .dns_name(a.get("name").and_then(Value::as_str).unwrap_or_default())
                .hosted_zone_id(a.get("zone_id").and_then(Value::as_str).unwrap_or_default())
                .evaluate_target_health(
                    a.get("evaluate_target_health")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                )
                .build()
                .map_err(|e| client_error(op, target, e))?,
        ),
        None => None,
    };
    let region = single(p, "latency_routing_policy")
        .and_then(|l| l.get("region"))
        .and_then(Value::as_str);
    ResourceRecordSet::builder()
        .name(opt_str(p, "name").unwrap_or_default())
        .r#type(RrType::from(opt_str(p, "type").unwrap_or_default()))
        .set_ttl(p.get("ttl").and_then(Value::as_i64))
        .set_resource_records(records)
        .set_alias_target(alias)
        .set_set_identifier(opt_str(p, "set_identifier").map(String::from))
        .set_region(region.map(ResourceRecordSetRegion::from))
        .set_health_check_id(opt_str(p, "health_check_id").map(String::from))
        .build()
        .map_err(|e| client_error(op, target, e))
}

impl Record {
    /// Sends one change and waits until it is in sync.
    async fn change(
        aws: &Aws,
        action: ChangeAction,
        p: &Props,
        target: &str,
    ) -> Result<(), CloudError> {
        let op = "ChangeResourceRecordSets";
        let zone = bare_zone_id(opt_str(p, "zone_id").unwrap_or_default()).to_string();
        let change = Change::builder()
            .action(action)
            .resource_record_set(record_set(p, target)?)
            .build()
            .map_err(|e| client_error(op, target, e))?;
        let batch = ChangeBatch::builder()
            .changes(change)
            .comment(format!("eprun: {target}"))
            .build()
            .map_err(|e| client_error(op, target, e))?;
        let out = aws
            .route53()
            .change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| crate::from_sdk(op, target, e))?;
        wait_change(aws, op, target, out.change_info()).await
    }

    /// Every record of one zone, one paginated call; a zone that is gone has none.
    async fn list(aws: &Aws, zone: &str) -> Result<Vec<Observed>, CloudError> {
        let mut out = Vec::new();
        let (mut next_name, mut next_type, mut next_id) =
            (None::<String>, None::<RrType>, None::<String>);
        loop {
            let page = aws
                .route53()
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .set_start_record_name(next_name.clone())
                .set_start_record_type(next_type.clone())
                .set_start_record_identifier(next_id.clone())
                .send()
                .await
                .map_err(|e| crate::from_sdk("ListResourceRecordSets", zone, e));
            let page = match page {
                Ok(p) => p,
                Err(e) if e.is_not_found() => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(
                page.resource_record_sets()
                    .iter()
                    .map(|rr| observe(zone, rr)),
            );
            if !page.is_truncated() {
                return Ok(out);
            }
            next_name = page.next_record_name().map(String::from);
            next_type = page.next_record_type().cloned();
            next_id = page.next_record_identifier().map(String::from);
        }
    }
}

#[async_trait]
impl Resource for Record {
    fn kind(&self) -> &'static str {
        "route53.record"
    }

    fn doc(&self) -> &'static str {
        "A Route 53 record set: `records` with a `ttl`, or an `alias`; optionally latency-routed (`set_identifier`, \
         `latency_routing_policy`) behind a `health_check_id`. Attributes: `id`, `fqdn`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "fqdn"]
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let parts = ["zone_id", "name", "type"].map(|k| props.get(k));
        if parts.iter().any(|v| v.is_none_or(token::is_unknown)) {
            return None;
        }
        let set_identifier = props.get("set_identifier");
        if set_identifier.is_some_and(token::is_unknown) {
            return None;
        }
        let [zone, name, kind] = parts.map(|v| v.and_then(Value::as_str).unwrap_or_default());
        Some(key(
            zone,
            name,
            kind,
            set_identifier.and_then(Value::as_str).unwrap_or_default(),
        ))
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check(props)
    }

    async fn read_all(
        &self,
        cx: &Context,
        _stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let zones: BTreeSet<&str> = hints
            .natural_keys
            .iter()
            .filter_map(|k| k.split('|').next())
            .filter(|z| !z.is_empty())
            .collect();
        let mut out = Vec::new();
        for zone in zones {
            out.extend(Self::list(aws, zone).await?.into_iter().filter(|o| {
                o.natural_key
                    .as_ref()
                    .is_some_and(|k| hints.natural_keys.contains(k))
            }));
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        // UPSERT: a record left by an interrupted run is simply overwritten with the declared one.
        Self::change(aws, ChangeAction::Upsert, p, &req.address.to_string()).await?;
        let kind = opt_str(p, "type").unwrap_or_default();
        let name = opt_str(p, "name").unwrap_or_default();
        let natural_key = key(
            opt_str(p, "zone_id").unwrap_or_default(),
            name,
            kind,
            opt_str(p, "set_identifier").unwrap_or_default(),
        );
        Ok(Observed {
            address: Some(req.address.clone()),
            id: natural_key.clone(),
            natural_key: Some(natural_key.clone()),
            props: SCHEMA
                .iter()
                .filter_map(|f| p.get(f.name).map(|v| (f.name.to_string(), v.clone())))
                .collect(),
            attrs: [("id", json!(natural_key)), ("fqdn", json!(dns_name(name)))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        })
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        Self::change(aws, ChangeAction::Upsert, desired, &current.id).await?;
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        // A DELETE must repeat the record exactly as it is.
        match Self::change(aws, ChangeAction::Delete, &current.props, &current.id).await {
            Err(e) if e.is("InvalidChangeBatch") && e.message.contains("not found") => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn latency() -> Props {
        obj(json!({
            "zone_id": "Z1", "name": "api.examplepay.com", "type": "CNAME", "ttl": 60,
            "records": ["ingress.us-east-1.examplepay.com"], "set_identifier": "us-east-1",
            "latency_routing_policy": [{"region": "us-east-1"}], "health_check_id": "hc-1",
        }))
    }

    #[test]
    fn natural_key_names_zone_name_type_and_identifier() {
        assert_eq!(
            Record.natural_key(&latency()).as_deref(),
            Some("Z1|api.examplepay.com|CNAME|us-east-1")
        );
        let mut p = latency();
        p.insert(
            "zone_id".into(),
            json!(token::marker(&"route53.zone.public".parse().unwrap(), "id")),
        );
        assert_eq!(Record.natural_key(&p), None);
        let plain = obj(
            json!({"zone_id": "/hostedzone/Z1", "name": "www.examplepay.com", "type": "A", "ttl": 300, "records": ["192.0.2.1"]}),
        );
        assert_eq!(
            Record.natural_key(&plain).as_deref(),
            Some("Z1|www.examplepay.com|A|")
        );
    }

    #[test]
    fn refuses_incomplete_records() {
        assert!(check(&latency()).is_ok());
        let without = |k: &str| {
            let mut p = latency();
            p.remove(k);
            check(&p).unwrap_err()
        };
        assert!(without("ttl").contains("`ttl` is required"));
        assert!(without("set_identifier").contains("needs a `set_identifier`"));
        assert!(without("records").contains("needs `records`"));
        let mut both = latency();
        both.insert(
            "alias".into(),
            json!([{"name": "lb.example.com", "zone_id": "Z2", "evaluate_target_health": true}]),
        );
        assert!(check(&both).unwrap_err().contains("not both"));
        let mut two = latency();
        two.insert(
            "latency_routing_policy".into(),
            json!([{"region": "us-east-1"}, {"region": "eu-west-1"}]),
        );
        assert!(check(&two).unwrap_err().contains("exactly one"));
    }

    #[test]
    fn reads_back_the_declared_shape() {
        let rr = record_set(&latency(), "t").unwrap();
        let rr = ResourceRecordSet::builder()
            .name("api.examplepay.com.")
            .r#type(rr.r#type().clone())
            .set_ttl(rr.ttl())
            .set_resource_records(Some(rr.resource_records().to_vec()))
            .set_set_identifier(rr.set_identifier().map(String::from))
            .set_region(rr.region().cloned())
            .set_health_check_id(rr.health_check_id().map(String::from))
            .build()
            .unwrap();
        let o = observe("/hostedzone/Z1", &rr);
        assert_eq!(o.props, latency());
        assert_eq!(
            o.natural_key.as_deref(),
            Some("Z1|api.examplepay.com|CNAME|us-east-1")
        );
    }

    #[test]
    fn alias_records_round_trip() {
        let p = obj(json!({
            "zone_id": "Z1", "name": "api.examplepay.com", "type": "A",
            "alias": [{"name": "lb-1.us-east-1.elb.amazonaws.com", "zone_id": "Z35SXDOTRQ7X7K", "evaluate_target_health": true}],
        }));
        assert!(check(&p).is_ok());
        let rr = record_set(&p, "t").unwrap();
        assert_eq!(
            rr.alias_target().unwrap().hosted_zone_id(),
            "Z35SXDOTRQ7X7K"
        );
        assert_eq!(observe("Z1", &rr).props, p);
    }
}
