//! `aws::route53::record`: one resource record set of a hosted zone (untaggable, found by
//! `<zone>|<name>|<type>|<set_identifier>`).
//!
//! Create and update are an UPSERT, delete a DELETE of the record as it was read; each waits until
//! the change is in sync on every Route 53 server. Records are read with one paginated
//! ListResourceRecordSets per zone the stack's records name.

use super::{
    bare_zone_id, change_records, check_dns_name, client_error, dns_name, nonempty, record_sets,
};
use crate::Aws;
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, found, resource};
use crate::invalid::Invalid;
use crate::props::schema;
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::{Field, Kind};
use crate::token;
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, ChangeAction, ResourceRecord, ResourceRecordSet, ResourceRecordSetRegion, RrType,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;

resource! {
    /// A DNS record set: plain values with a TTL, or an alias; optionally latency-routed with a health check.
    pub struct Record: RECORD = "route53.record",
        "A Route 53 record set: `records` with a `ttl`, or an `alias`; optionally latency-routed (`set_identifier`, \
        `latency_routing_policy`) behind a `health_check_id`.";
    reads Item;
    terraform "aws_route53_record";
    props RecordProps {
        zone_id: String = required(Str, "the hosted zone"),
        name: String =
            required(Str, "the fully qualified name, e.g. `api.examplepay.com` (lowercase, no trailing dot)"),
        r#type: String =
            required(Enum(&[ "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", ]), "the record type"),
        ttl: Option<i64> = optional(Int, "seconds resolvers may cache the answer (with `records`)"),
        records: Option<Vec<String>> = optional(StrSet, "the values (with `ttl`)"),
        alias: Option<Vec<Alias>> =
            optional(ObjectSet(ALIAS), "one alias target `#{name, zone_id, evaluate_target_health}`, instead of `records`"),
        set_identifier: Option<String> =
            optional(Str, "tells apart records of one name and type under a routing policy")
                .force_new(),
        latency_routing_policy: Option<Vec<Latency>> =
            optional(ObjectSet(LATENCY), "`[#{ region }]`: answer the clients closest to that region"),
        health_check_id: Option<String> =
            optional(Str, "answer only while this health check passes"),
    }
}

/// A record set as read, with the zone it is in.
type Item = (String, ResourceRecordSet);

schema! {
    /// An alias target.
    pub struct Alias: ALIAS {
        name: String = required(Str, "the target's DNS name (a load balancer, another record)"),
        zone_id: String = required(Str, "the target's hosted zone id"),
        evaluate_target_health: bool = required(Bool, "answer only while the target is healthy"),
    }
}

const LATENCY: &[Field] = &[Field::required(
    "region",
    Kind::Str,
    "the AWS region this record answers for",
)];

/// A latency routing policy.
#[derive(Debug, Serialize, Deserialize)]
pub struct Latency {
    region: String,
}

/// `<zone>|<name>|<type>|<set_identifier>`, the key declarations and reads both produce.
fn key(zone: &str, name: &str, kind: &str, set_identifier: &str) -> String {
    let (zone, name) = (bare_zone_id(zone), dns_name(name));
    format!("{zone}|{name}|{kind}|{set_identifier}")
}

/// The key of declared props, once their zone, name, type and set identifier are known.
fn natural_key(p: &Props) -> Option<String> {
    let part = |k: &str| match p.get(k) {
        Some(v) if token::is_unknown(v) => None,
        v => Some(v.and_then(Value::as_str).unwrap_or_default()),
    };
    let [zone, name, kind] = ["zone_id", "name", "type"].map(|k| p.get(k).and(part(k)));
    Some(key(zone?, name?, kind?, part("set_identifier")?))
}

/// The single map of a one-element object list (`alias`, `latency_routing_policy`).
fn single<'a>(p: &'a Props, field: &str) -> Option<&'a serde_json::Map<String, Value>> {
    p.get(field)?.as_array()?.first()?.as_object()
}

/// Checks the combinations Route 53 would refuse, before any call.
fn check(p: &Props) -> Result<(), Invalid> {
    check_dns_name("name", p.get("name"))?;
    for field in ["alias", "latency_routing_policy"] {
        if p.get(field)
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() != 1)
        {
            return Err(Invalid::form(
                field,
                "takes exactly one map, like `[#{ … }]`",
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
        (true, true) => {
            return Err(Invalid::Combination(
                "a record has `records` or an `alias`, not both".into(),
            ));
        }
        (false, false) => {
            return Err(Invalid::Combination(
                "a record needs `records` (with `ttl`) or an `alias`".into(),
            ));
        }
        (true, false) if !ttl => return Err(Invalid::form("ttl", "is required with `records`")),
        (false, true) if ttl => {
            return Err(Invalid::Combination(
                "an alias record takes no `ttl` (the target's applies)".into(),
            ));
        }
        _ => {}
    }
    if p.get("records")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Err(Invalid::form("records", "needs at least one value"));
    }
    if let Some(t) = p
        .get("ttl")
        .and_then(Value::as_i64)
        .filter(|t| !(0..=2_147_483_647).contains(t))
    {
        return Err(Invalid::value("ttl", format!("{t} is not a valid TTL")));
    }
    match (
        p.contains_key("set_identifier"),
        p.contains_key("latency_routing_policy"),
    ) {
        (true, false) => Err(Invalid::Combination(
            "`set_identifier` only goes with a routing policy: add `latency_routing_policy`".into(),
        )),
        (false, true) => Err(Invalid::Combination(
            "a latency-routed record needs a `set_identifier` (e.g. its region)".into(),
        )),
        _ => Ok(()),
    }
}

/// The record set that props describe, for a change batch.
fn record_set(p: &RecordProps, target: &str) -> Result<ResourceRecordSet> {
    let fail = |e| client_error("ChangeResourceRecordSets", target, e);
    let value = |v: &String| ResourceRecord::builder().value(v).build();
    let records = p.records.as_ref().map(|r| r.iter().map(value).collect());
    let alias = p.alias.iter().flatten().next().map(|a| {
        AliasTarget::builder()
            .dns_name(&a.name)
            .hosted_zone_id(&a.zone_id)
            .evaluate_target_health(a.evaluate_target_health)
            .build()
    });
    let region = p.latency_routing_policy.iter().flatten().next();
    ResourceRecordSet::builder()
        .name(&p.name)
        .r#type(RrType::from(p.r#type.as_str()))
        .set_ttl(p.ttl)
        .set_resource_records(records.transpose().map_err(fail)?)
        .set_alias_target(alias.transpose().map_err(fail)?)
        .set_set_identifier(nonempty(&p.set_identifier))
        .set_region(region.map(|l| ResourceRecordSetRegion::from(l.region.as_str())))
        .set_health_check_id(nonempty(&p.health_check_id))
        .build()
        .map_err(fail)
}

/// Sends `action` for the record set `p` describes, waits until it is in sync, and answers it.
async fn change(aws: &Aws, action: ChangeAction, p: &RecordProps, target: &str) -> Result<Item> {
    let zone = bare_zone_id(&p.zone_id).to_string();
    let rr = record_set(p, target)?;
    let comment = format!("eprun: {target}");
    let sets = std::slice::from_ref(&rr);
    change_records(aws, &zone, action, sets, &comment, target).await?;
    Ok((zone, rr))
}

/// The cloud's id of an item.
fn id_of((zone, rr): &Item) -> String {
    let set_identifier = rr.set_identifier().unwrap_or_default();
    key(zone, rr.name(), rr.r#type().as_str(), set_identifier)
}

#[async_trait]
impl Description for Record {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, i: &Item| json!(id_of(i))),
        Attr::new("fqdn", |_, (_, rr)| json!(dns_name(rr.name()))),
    ];
    const IDENTITY: Identity = Identity::NaturalKey(natural_key);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check(props)
    }

    async fn list(&self, aws: &Aws, _stack: &str, hints: &ReadHints) -> Result<Vec<Item>> {
        let zones: BTreeSet<&str> = (hints.natural_keys.iter())
            .filter_map(|k| k.split('|').next())
            .filter(|z| !z.is_empty())
            .collect();
        let mut out = Vec::new();
        for zone in zones {
            // A zone that is gone has no records.
            let sets = found(record_sets(aws, zone).await)?.unwrap_or_default();
            let items = sets.into_iter().map(|rr| (zone.to_string(), rr));
            out.extend(items.filter(|i| hints.natural_keys.contains(&id_of(i))));
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, (zone, rr): &Item) -> Result<RecordProps> {
        let records: Vec<String> = rr
            .resource_records()
            .iter()
            .map(|r| r.value().into())
            .collect();
        let alias = |a: &AliasTarget| Alias {
            name: dns_name(a.dns_name()),
            zone_id: a.hosted_zone_id().into(),
            evaluate_target_health: a.evaluate_target_health(),
        };
        let region = |r: &ResourceRecordSetRegion| Latency {
            region: r.as_str().into(),
        };
        Ok(RecordProps {
            zone_id: bare_zone_id(zone).into(),
            name: dns_name(rr.name()),
            r#type: rr.r#type().as_str().into(),
            ttl: rr.ttl(),
            records: (!records.is_empty()).then_some(records),
            alias: rr.alias_target().map(|a| vec![alias(a)]),
            set_identifier: rr.set_identifier().map(String::from),
            latency_routing_policy: rr.region().map(|r| vec![region(r)]),
            health_check_id: rr.health_check_id().map(String::from),
        })
    }

    /// An UPSERT: a record left by an interrupted run is simply overwritten with the declared one.
    async fn create(&self, aws: &Aws, new: New<'_, RecordProps>) -> Result<Item> {
        let (address, p) = (new.address, new.props);
        change(aws, ChangeAction::Upsert, p, &address.to_string()).await
    }

    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, RecordProps>,
    ) -> Result<Option<Item>> {
        let (on, desired) = (changes.on, changes.desired);
        change(aws, ChangeAction::Upsert, desired, &on.id).await?;
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, id: &str, current: &RecordProps) -> Result<()> {
        // A DELETE must repeat the record exactly as it is.
        match change(aws, ChangeAction::Delete, current, id).await {
            Err(e) if super::missing_record(&e) => Ok(()),
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{change, in_sync, obj, observe};
    use super::*;
    use crate::adapter::testing::round_trip;
    use crate::resource::Resource;
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
    use aws_sdk_route53::types::ChangeStatus;
    use aws_smithy_mocks::mock;

    /// Props as the record set they describe.
    fn record_set_of(p: Props) -> ResourceRecordSet {
        let typed: RecordProps = serde_json::from_value(Value::Object(p)).unwrap();
        record_set(&typed, "t").unwrap()
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
            RECORD.natural_key(&latency()).as_deref(),
            Some("Z1|api.examplepay.com|CNAME|us-east-1")
        );
        let mut p = latency();
        p.insert(
            "zone_id".into(),
            json!(token::marker(&"route53.zone.public".parse().unwrap(), "id")),
        );
        assert_eq!(RECORD.natural_key(&p), None);
        let plain = obj(
            json!({"zone_id": "/hostedzone/Z1", "name": "www.examplepay.com", "type": "A", "ttl": 300, "records": ["192.0.2.1"]}),
        );
        assert_eq!(
            RECORD.natural_key(&plain).as_deref(),
            Some("Z1|www.examplepay.com|A|")
        );
    }

    #[test]
    fn refuses_incomplete_records() {
        assert!(check(&latency()).is_ok());
        let without = |k: &str| {
            let mut p = latency();
            p.remove(k);
            check(&p).unwrap_err().to_string()
        };
        assert!(without("ttl").contains("`ttl` is required"));
        assert!(without("set_identifier").contains("needs a `set_identifier`"));
        assert!(without("records").contains("needs `records`"));
        let mut both = latency();
        both.insert(
            "alias".into(),
            json!([{"name": "lb.example.com", "zone_id": "Z2", "evaluate_target_health": true}]),
        );
        assert!(check(&both).unwrap_err().to_string().contains("not both"));
        let mut two = latency();
        two.insert(
            "latency_routing_policy".into(),
            json!([{"region": "us-east-1"}, {"region": "eu-west-1"}]),
        );
        assert!(check(&two).unwrap_err().to_string().contains("exactly one"));
    }

    #[tokio::test]
    async fn round_trip_the_declared_shape() {
        let rr = record_set_of(latency());
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
        let o = observe(&RECORD, &("/hostedzone/Z1".into(), rr)).await;
        assert_eq!(o.props, latency());
        assert_eq!(
            o.natural_key.as_deref(),
            Some("Z1|api.examplepay.com|CNAME|us-east-1")
        );
    }

    #[tokio::test]
    async fn alias_records_round_trip() {
        let p = obj(json!({
            "zone_id": "Z1", "name": "api.examplepay.com", "type": "A",
            "alias": [{"name": "lb-1.us-east-1.elb.amazonaws.com", "zone_id": "Z35SXDOTRQ7X7K", "evaluate_target_health": true}],
        }));
        assert!(check(&p).is_ok());
        let rr = record_set_of(p.clone());
        assert_eq!(
            rr.alias_target().unwrap().hosted_zone_id(),
            "Z35SXDOTRQ7X7K"
        );
        assert_eq!(observe(&RECORD, &("Z1".into(), rr)).await.props, p);
    }

    #[tokio::test]
    async fn a_created_record_round_trip_as_declared() {
        let upsert = mock!(Client::change_resource_record_sets)
            .match_requests(|r| {
                let changes = r.change_batch().map(|b| b.changes()).unwrap_or_default();
                r.hosted_zone_id() == Some("Z1")
                    && changes.len() == 1
                    && changes[0].action() == &ChangeAction::Upsert
            })
            .then_output(|| {
                let out = ChangeResourceRecordSetsOutput::builder();
                out.change_info(change(ChangeStatus::Pending)).build()
            });
        let in_sync = in_sync();
        let (rules, address) = ([&upsert, &in_sync], "route53.record.api-us-east-1");
        let observed = round_trip(
            &RECORD,
            &Aws::mocked(&rules),
            address,
            Value::Object(latency()),
        )
        .await;
        assert_eq!(observed.id, "Z1|api.examplepay.com|CNAME|us-east-1");
        assert_eq!(observed.natural_key.as_deref(), Some(observed.id.as_str()));
        assert_eq!(observed.attrs["fqdn"], "api.examplepay.com");
        assert_eq!((upsert.num_calls(), in_sync.num_calls()), (1, 1));
    }
}
