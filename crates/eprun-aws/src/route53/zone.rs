//! `aws::route53::zone`: a public hosted zone.
//!
//! Found by its `CallerReference` (see the module docs); its name is kept as the natural key for
//! reference, but a zone of the same name that eprun did not create is never adopted: Route 53
//! allows several zones with one name, and deleting someone else's would be a disaster.

use super::{
    bare_zone_id, build_error, caller_reference, change_tags, check_dns_name, dns_name, list_tags,
    opt_str, owner, reference_stack, tag_plan, visible_tags, wait_change,
};
use crate::address::Address;
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, CloudErrorKind, STACK_TAG, ownership_tags};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZone, HostedZoneConfig, RrType, TagResourceType,
};
use serde_json::{Value, json};

/// A public Route 53 hosted zone.
pub struct Zone;

const KIND: &str = "route53.zone";

const SCHEMA: &[Field] = &[
    Field::required(
        "name",
        Kind::Str,
        "the domain, e.g. `examplepay.com` (lowercase, no trailing dot)",
    ),
    Field::optional("comment", Kind::Str, "a comment shown with the zone")
        .default("\"Managed by eprun\""),
    Field::optional(
        "force_destroy",
        Kind::Bool,
        "delete every record in the zone when deleting it (eprun-side only)",
    )
    .default("false"),
    TAGS,
];

/// Where `force_destroy` is kept, so a read (and a delete after a lost state) knows it.
const FORCE_DESTROY_TAG: &str = "eprun:force_destroy";

/// A change batch holds at most this many changes.
const CHANGE_BATCH: usize = 500;

/// The whole tag set a zone should carry: ownership, user tags and the `force_destroy` marker.
fn full_tags(stack: &str, address: &Address, props: &Props) -> Vec<(String, String)> {
    let mut tags = ownership_tags(stack, address, props);
    if props.get("force_destroy").and_then(Value::as_bool) == Some(true) {
        tags.push((FORCE_DESTROY_TAG.into(), "true".into()));
    }
    tags
}

fn attrs(id: &str, name: &str, name_servers: &[String]) -> Props {
    [
        ("id", json!(id)),
        ("zone_id", json!(id)),
        ("arn", json!(format!("arn:aws:route53:::hostedzone/{id}"))),
        ("name", json!(name)),
        ("name_servers", json!(name_servers)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn observe(
    address: Address,
    zone: &HostedZone,
    tags: &[(String, String)],
    name_servers: &[String],
) -> Observed {
    let id = bare_zone_id(zone.id()).to_string();
    let name = dns_name(zone.name());
    let force = tags
        .iter()
        .any(|(k, v)| k == FORCE_DESTROY_TAG && v == "true");
    let props: Props = [
        ("name", json!(name)),
        (
            "comment",
            json!(zone.config().and_then(|c| c.comment()).unwrap_or_default()),
        ),
        ("force_destroy", json!(force)),
        ("tags", visible_tags(&address, tags)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Observed {
        address: Some(address),
        id: id.clone(),
        natural_key: Some(name.clone()),
        props,
        attrs: {
            let mut a = attrs(&id, &name, name_servers);
            a.insert("caller_reference".into(), json!(zone.caller_reference()));
            a
        },
    }
}

impl Zone {
    async fn name_servers(aws: &Aws, id: &str) -> Result<Option<Vec<String>>, CloudError> {
        let out = aws.route53().get_hosted_zone().id(id).send().await;
        match out.map_err(|e| crate::from_sdk("GetHostedZone", id, e)) {
            Ok(o) => Ok(Some(
                o.delegation_set()
                    .map(|d| d.name_servers().to_vec())
                    .unwrap_or_default(),
            )),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes every record but the apex SOA and NS, for `force_destroy`.
    async fn empty(aws: &Aws, id: &str, zone_name: &str) -> Result<(), CloudError> {
        let r53 = aws.route53();
        let mut doomed = Vec::new();
        let (mut next_name, mut next_type, mut next_id) =
            (None::<String>, None::<RrType>, None::<String>);
        loop {
            let page = r53
                .list_resource_record_sets()
                .hosted_zone_id(id)
                .set_start_record_name(next_name.clone())
                .set_start_record_type(next_type.clone())
                .set_start_record_identifier(next_id.clone())
                .send()
                .await
                .map_err(|e| crate::from_sdk("ListResourceRecordSets", id, e))?;
            for rr in page.resource_record_sets() {
                let apex = dns_name(rr.name()) == zone_name;
                if !(apex && matches!(rr.r#type(), RrType::Soa | RrType::Ns)) {
                    doomed.push(rr.clone());
                }
            }
            if !page.is_truncated() {
                break;
            }
            next_name = page.next_record_name().map(String::from);
            next_type = page.next_record_type().cloned();
            next_id = page.next_record_identifier().map(String::from);
        }
        for chunk in doomed.chunks(CHANGE_BATCH) {
            let changes = chunk
                .iter()
                .map(|rr| {
                    Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(rr.clone())
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| build_error("ChangeResourceRecordSets", id, e))?;
            let batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .comment("eprun: force_destroy")
                .build()
                .map_err(|e| build_error("ChangeResourceRecordSets", id, e))?;
            let out = r53
                .change_resource_record_sets()
                .hosted_zone_id(id)
                .change_batch(batch)
                .send()
                .await
                .map_err(|e| crate::from_sdk("ChangeResourceRecordSets", id, e))?;
            wait_change(
                aws,
                "ChangeResourceRecordSets",
                id,
                out.change_info().map(|c| c.id()).unwrap_or_default(),
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Zone {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn doc(&self) -> &'static str {
        "A public Route 53 hosted zone. Attributes: `id` (= `zone_id`), `arn`, `name`, `name_servers`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "zone_id", "arn", "name", "name_servers"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_dns_name("name", props.get("name"))
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let mut pages = aws.route53().list_hosted_zones().into_paginator().send();
        let mut owned = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("ListHostedZones", stack, e))?;
            for zone in page.hosted_zones() {
                if let Some(address) = owner(zone.caller_reference(), stack, KIND) {
                    owned.push((address, zone.clone()));
                }
            }
        }
        if owned.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = owned
            .iter()
            .map(|(_, z)| bare_zone_id(z.id()).to_string())
            .collect();
        let tags = list_tags(aws, TagResourceType::Hostedzone, &ids).await?;
        let mut out = Vec::new();
        for (address, zone) in owned {
            let id = bare_zone_id(zone.id());
            // Name servers are only in GetHostedZone; a stack owns a zone or two, not hundreds.
            let Some(name_servers) = Self::name_servers(aws, id).await? else {
                continue;
            };
            out.push(observe(
                address,
                &zone,
                tags.get(id).map(Vec::as_slice).unwrap_or_default(),
                &name_servers,
            ));
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let name = opt_str(p, "name").unwrap_or_default();
        let comment = opt_str(p, "comment").unwrap_or("Managed by eprun");
        let out = aws
            .route53()
            .create_hosted_zone()
            .name(name)
            .caller_reference(caller_reference(req.stack, req.address))
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .comment(comment)
                    .private_zone(false)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateHostedZone", req.address, e))?;
        let zone = out.hosted_zone().cloned().ok_or_else(|| {
            CloudError::new(
                "CreateHostedZone",
                req.address,
                CloudErrorKind::Service("Empty".into()),
                "the answer named no zone",
            )
        })?;
        let id = bare_zone_id(zone.id()).to_string();
        // Tag at once: a crash before this leaves a zone the next read still knows by its reference.
        let tags = full_tags(req.stack, req.address, p);
        change_tags(aws, TagResourceType::Hostedzone, &id, &tags, &[]).await?;
        wait_change(
            aws,
            "CreateHostedZone",
            &id,
            out.change_info().map(|c| c.id()).unwrap_or_default(),
        )
        .await?;
        let name_servers = out
            .delegation_set()
            .map(|d| d.name_servers().to_vec())
            .unwrap_or_default();
        Ok(observe(req.address.clone(), &zone, &tags, &name_servers))
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
        if has("comment") {
            aws.route53()
                .update_hosted_zone_comment()
                .id(&current.id)
                .comment(opt_str(desired, "comment").unwrap_or("Managed by eprun"))
                .send()
                .await
                .map_err(|e| crate::from_sdk("UpdateHostedZoneComment", &current.id, e))?;
        }
        if has("tags") || has("force_destroy") {
            let existing = list_tags(
                aws,
                TagResourceType::Hostedzone,
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
                .map(|(_, v)| v.as_str())
                .or_else(|| reference_stack(reference))
                .unwrap_or_default()
                .to_string();
            let full = match &current.address {
                Some(address) => full_tags(&stack, address, desired),
                None => crate::tags::user_tags(desired).into_iter().collect(),
            };
            let (set, remove) = tag_plan(full, &existing);
            change_tags(aws, TagResourceType::Hostedzone, &current.id, &set, &remove).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let id = current.id.as_str();
        if current.props.get("force_destroy").and_then(Value::as_bool) == Some(true) {
            let name = current
                .props
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match Self::empty(aws, id, name).await {
                Err(e) if e.is_not_found() => return Ok(()),
                other => other?,
            }
        }
        let out = aws.route53().delete_hosted_zone().id(id).send().await;
        match out.map_err(|e| crate::from_sdk("DeleteHostedZone", id, e)) {
            Ok(o) => {
                wait_change(
                    aws,
                    "DeleteHostedZone",
                    id,
                    o.change_info().map(|c| c.id()).unwrap_or_default(),
                )
                .await
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) if e.is("HostedZoneNotEmpty") => Err(CloudError::new(
                "DeleteHostedZone",
                id,
                e.kind,
                "the zone still has records; delete the stacks whose records live in it first, or set `force_destroy: true` (and apply) to have eprun delete them",
            )),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn force_destroy_rides_along_as_a_tag() {
        let a: Address = "route53.zone.public".parse().unwrap();
        let on = json!({"name": "examplepay.com", "force_destroy": true})
            .as_object()
            .unwrap()
            .clone();
        let tags = full_tags("s", &a, &on);
        assert!(tags.contains(&pair(FORCE_DESTROY_TAG, "true")));
        assert!(tags.contains(&pair(STACK_TAG, "s")));
        let off = json!({"name": "examplepay.com"})
            .as_object()
            .unwrap()
            .clone();
        assert!(
            !full_tags("s", &a, &off)
                .iter()
                .any(|(k, _)| k == FORCE_DESTROY_TAG)
        );
    }

    #[test]
    fn observes_the_declared_shape() {
        let a: Address = "route53.zone.public".parse().unwrap();
        let zone = HostedZone::builder()
            .id("/hostedzone/Z1")
            .name("ExamplePay.com.")
            .caller_reference("eprun:s:public:12345678")
            .config(HostedZoneConfig::builder().comment("hi").build())
            .build()
            .unwrap();
        let tags = [
            pair(STACK_TAG, "s"),
            pair("Name", "public"),
            pair("team", "dns"),
            pair(FORCE_DESTROY_TAG, "true"),
        ];
        let o = observe(a, &zone, &tags, &["ns-1.example".to_string()]);
        assert_eq!(o.id, "Z1");
        assert_eq!(o.props["name"], "examplepay.com");
        assert_eq!(o.props["comment"], "hi");
        assert_eq!(o.props["force_destroy"], true);
        assert_eq!(o.props["tags"], json!({"team": "dns"}));
        assert_eq!(o.attrs["name_servers"], json!(["ns-1.example"]));
        assert_eq!(o.attrs["arn"], "arn:aws:route53:::hostedzone/Z1");
    }

    #[test]
    fn zone_names_are_checked() {
        struct NoOthers;
        impl DeclaredProps for NoOthers {
            fn props_of(&self, _: &Address) -> Option<&Props> {
                None
            }
        }
        let p = json!({"name": "examplepay.com."})
            .as_object()
            .unwrap()
            .clone();
        assert!(
            Zone.validate(&p, &NoOthers)
                .unwrap_err()
                .contains("trailing dot")
        );
    }
}
