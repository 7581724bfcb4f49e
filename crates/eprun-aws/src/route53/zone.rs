//! `aws::route53::zone`: a public hosted zone.
//!
//! Found by its `CallerReference` (see the module docs); its name is kept as the natural key for
//! reference, but a zone of the same name that eprun did not create is never adopted: Route 53
//! allows several zones with one name, and deleting someone else's would be a disaster.

use super::{
    R53Tags, bare_zone_id, by_id, change_records, check_dns_name, dns_name, no_answer, owner,
    record_sets, reference_for, wait_change,
};
use crate::Result;
use crate::adapter::{
    Attr, Change, Description, Identity, New, ResourceType, Retag, Tagger, found, resource,
};
use crate::address::Address;
use crate::all;
use crate::invalid::Invalid;
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::{Aws, CloudError, sdk, tags};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    ChangeAction, DelegationSet, HostedZone, HostedZoneConfig, ResourceRecordSet, RrType,
    TagResourceType,
};
use serde_json::json;

resource! {
    /// A public Route 53 hosted zone.
    pub struct Zone: ZONE = "route53.zone",
        "A public Route 53 hosted zone.";
    reads ZoneItem;
    terraform "aws_route53_zone";
    props ZoneProps {
        name: String =
            required(Str, "the domain, e.g. `examplepay.com` (lowercase, no trailing dot)"),
        comment: Option<String> =
            optional(Str, "a comment shown with the zone").default("\"Managed by eprun\""),
        force_destroy: Option<bool> =
            optional(Bool, "delete every record in the zone when deleting it (eprun-side only)")
                .default("false"),
    } + TAGS
}

/// Where `force_destroy` is kept, so a read (and a delete after a lost state) knows it.
const FORCE_DESTROY_TAG: &str = "eprun:force_destroy";

/// The comment of a zone that declares none.
const DEFAULT_COMMENT: &str = "Managed by eprun";

impl ZoneProps {
    /// The comment to send: the declared one, or the default.
    fn comment(&self) -> &str {
        let declared = self.comment.as_deref().filter(|c| !c.is_empty());
        declared.unwrap_or(DEFAULT_COMMENT)
    }
}

/// A zone as read: the zone, its tags, and its name servers (which only GetHostedZone answers).
type ZoneItem = (HostedZone, Vec<(String, String)>, Vec<String>);

/// A zone's caller reference and bare id.
const ZONE_REFS: fn(&HostedZone) -> (&str, &str) = |z| (z.caller_reference(), bare_zone_id(z.id()));

/// The zones whose bare ids are `ids`, each with its tags and name servers; those gone are left
/// out. Name servers are only in GetHostedZone, one call a zone: a stack owns a zone or two.
async fn read_zones(aws: &Aws, ids: &[String]) -> Result<Vec<ZoneItem>> {
    let (mut zones, mut servers) = (Vec::new(), Vec::new());
    for id in ids {
        let got = aws.route53().get_hosted_zone().id(id).send().await;
        let got = found(got.map_err(sdk("GetHostedZone", id)))?;
        if let Some((zone, got)) = got.and_then(|g| Some((g.hosted_zone.clone()?, g))) {
            servers.push(self::servers(got.delegation_set()));
            zones.push(zone);
        }
    }
    let tagged = ZONE_TAGS.tagged(aws, zones, ZONE_REFS).await?;
    let items = tagged.into_iter().zip(servers);
    Ok(items
        .map(|((zone, tags), servers)| (zone, tags, servers))
        .collect())
}

/// The tagger of zones.
const ZONE_TAGS: R53Tags = R53Tags(TagResourceType::Hostedzone);

/// `tags` with the `force_destroy` marker when `p` asks for it.
fn full_tags(tags: &[(String, String)], p: &ZoneProps) -> Vec<(String, String)> {
    tags::keep(tags, FORCE_DESTROY_TAG, p.force_destroy.filter(|f| *f))
}

/// The name servers a delegation set names.
fn servers(set: Option<&DelegationSet>) -> Vec<String> {
    set.map(|d| d.name_servers().to_vec()).unwrap_or_default()
}

/// Deletes every record but the apex SOA and NS, for `force_destroy`.
async fn empty(aws: &Aws, id: &str, zone_name: &str) -> Result<()> {
    let apex = |rr: &ResourceRecordSet| {
        dns_name(rr.name()) == zone_name && matches!(rr.r#type(), RrType::Soa | RrType::Ns)
    };
    let sets = record_sets(aws, id).await?;
    let doomed: Vec<_> = sets.into_iter().filter(|rr| !apex(rr)).collect();
    let comment = "eprun: force_destroy";
    change_records(aws, id, ChangeAction::Delete, &doomed, comment, id).await
}

#[async_trait]
impl Description for Zone {
    const ATTRIBUTES: &'static [Attr<ZoneItem>] = &[
        Attr::new("id", |_, (z, ..): &ZoneItem| json!(bare_zone_id(z.id()))).alias("zone_id"),
        Attr::new("arn", |_, (z, ..)| {
            json!(format!(
                "arn:aws:route53:::hostedzone/{}",
                bare_zone_id(z.id())
            ))
        }),
        Attr::new("name", |_, (z, ..)| json!(dns_name(z.name()))),
        Attr::new("name_servers", |_, (.., servers)| json!(servers)),
    ];
    const IDENTITY: Identity = Identity::Recorded(&ZONE_TAGS);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_dns_name("name", props.get("name"))
    }

    fn tags(&self, (_, tags, _): &ZoneItem) -> Vec<(String, String)> {
        tags.clone()
    }

    fn owner(&self, stack: &str, (zone, ..): &ZoneItem) -> Option<Address> {
        owner(zone.caller_reference(), stack, Self::KIND)
    }

    fn item_key(&self, (zone, ..): &ZoneItem) -> Option<String> {
        Some(dns_name(zone.name()))
    }

    async fn list(&self, aws: &Aws, stack: &str, _hints: &ReadHints) -> Result<Vec<ZoneItem>> {
        let zones = all!(aws.route53().list_hosted_zones(), "ListHostedZones", stack)?;
        let ours = |z: &&HostedZone| owner(z.caller_reference(), stack, Self::KIND).is_some();
        let ids: Vec<String> = (zones.iter().filter(ours))
            .map(|z| bare_zone_id(z.id()).to_string())
            .collect();
        read_zones(aws, &ids).await
    }

    async fn fetch(&self, aws: &Aws, ids: &[String]) -> Option<Result<Vec<ZoneItem>>> {
        Some(read_zones(aws, ids).await)
    }

    async fn props(&self, _aws: &Aws, (zone, tags, _): &ZoneItem) -> Result<ZoneProps> {
        let comment = zone.config().and_then(|c| c.comment());
        Ok(ZoneProps {
            name: dns_name(zone.name()),
            comment: Some(comment.unwrap_or_default().to_string()),
            force_destroy: Some(tags::kept(tags, FORCE_DESTROY_TAG).unwrap_or(false)),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, ZoneProps>) -> Result<ZoneItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let config = HostedZoneConfig::builder().comment(p.comment());
        let out = (aws.route53().create_hosted_zone())
            .name(&p.name)
            .caller_reference(reference_for(address, tags))
            .hosted_zone_config(config.private_zone(false).build())
            .send()
            .await
            .map_err(sdk("CreateHostedZone", address))?;
        let zone = out.hosted_zone().cloned();
        let zone = zone.ok_or_else(|| no_answer("CreateHostedZone", address, "zone"))?;
        let id = bare_zone_id(zone.id()).to_string();
        // Tag at once: a crash before this leaves a zone the next read still knows by its reference.
        let tags = full_tags(tags, p);
        let change = Retag {
            set: &tags,
            remove: &[],
        };
        ZONE_TAGS.retag(aws, &by_id(&id), change).await?;
        wait_change(aws, "CreateHostedZone", &id, out.change_info()).await?;
        Ok((zone, tags, servers(out.delegation_set())))
    }

    async fn update(&self, aws: &Aws, change: Change<'_, ZoneProps>) -> Result<()> {
        let (id, field, desired) = (change.id, change.field, change.desired);
        match field {
            "comment" => {
                let call = aws.route53().update_hosted_zone_comment().id(id);
                let r = call.comment(desired.comment()).send().await;
                r.map_err(sdk("UpdateHostedZoneComment", id))?;
            }
            "force_destroy" => {
                let off = desired.force_destroy != Some(true);
                let gone = off.then(|| FORCE_DESTROY_TAG.to_string());
                let set = full_tags(&[], desired);
                let change = Retag {
                    set: &set,
                    remove: gone.as_slice(),
                };
                ZONE_TAGS.retag(aws, &by_id(id), change).await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn delete(&self, aws: &Aws, id: &str, current: &ZoneProps) -> Result<()> {
        if current.force_destroy == Some(true) {
            empty(aws, id, &current.name).await?;
        }
        let out = aws.route53().delete_hosted_zone().id(id).send().await;
        match out.map_err(sdk("DeleteHostedZone", id)) {
            Ok(o) => wait_change(aws, "DeleteHostedZone", id, o.change_info()).await,
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
    use super::super::tests::{change, fresh, in_sync, obj, observe, tagged};
    use super::*;
    use crate::adapter::testing::NoOthers;
    use crate::adapter::testing::round_trip;
    use crate::resource::{Observed, Resource};
    use crate::{STACK_TAG, ownership_tags};
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
    use aws_sdk_route53::operation::create_hosted_zone::CreateHostedZoneOutput;
    use aws_sdk_route53::operation::delete_hosted_zone::DeleteHostedZoneOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::types::{ChangeStatus, DelegationSet};
    use aws_smithy_mocks::mock;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn force_destroy_rides_along_as_a_tag() {
        let a: Address = "route53.zone.public".parse().unwrap();
        let on = obj(json!({"name": "examplepay.com", "force_destroy": true}));
        let typed = |p: &Props| serde_json::from_value(json!(p)).unwrap();
        let tags = full_tags(&ownership_tags("s", &a, &on), &typed(&on));
        assert!(tags.contains(&pair(FORCE_DESTROY_TAG, "true")));
        assert!(tags.contains(&pair(STACK_TAG, "s")));
        let off = obj(json!({"name": "examplepay.com"}));
        assert!(
            !full_tags(&ownership_tags("s", &a, &off), &typed(&off))
                .iter()
                .any(|(k, _)| k == FORCE_DESTROY_TAG)
        );
    }

    #[tokio::test]
    async fn observes_the_declared_shape() {
        let zone = HostedZone::builder()
            .id("/hostedzone/Z1")
            .name("ExamplePay.com.")
            .caller_reference("eprun:s:public:12345678")
            .config(HostedZoneConfig::builder().comment("hi").build())
            .build()
            .unwrap();
        let tags = vec![
            pair(STACK_TAG, "s"),
            pair("Name", "public"),
            pair("team", "dns"),
            pair(FORCE_DESTROY_TAG, "true"),
        ];
        let o = observe(&ZONE, &(zone, tags, vec!["ns-1.example".to_string()])).await;
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
        let p = obj(json!({"name": "examplepay.com."}));
        assert!(
            Zone.validate(&p, &NoOthers)
                .unwrap_err()
                .to_string()
                .contains("trailing dot")
        );
    }

    #[tokio::test]
    async fn a_created_zone_round_trip_as_declared() {
        let create = mock!(Client::create_hosted_zone)
            .match_requests(|r| fresh(r.caller_reference(), "public"))
            .then_compute_output(|r| {
                let zone = HostedZone::builder()
                    .id("/hostedzone/Z1")
                    .name(format!("{}.", r.name().unwrap_or_default()))
                    .caller_reference(r.caller_reference().unwrap_or_default())
                    .set_config(r.hosted_zone_config().cloned())
                    .build()
                    .unwrap();
                let servers = DelegationSet::builder().name_servers("ns-1.example");
                CreateHostedZoneOutput::builder()
                    .hosted_zone(zone)
                    .change_info(change(ChangeStatus::Pending))
                    .delegation_set(servers.build().unwrap())
                    .location("https://route53.amazonaws.com/2013-04-01/hostedzone/Z1")
                    .build()
                    .unwrap()
            });
        let (tagged, in_sync) = (tagged(), in_sync());
        let declared = json!({"name": "examplepay.com", "comment": "hi", "force_destroy": true, "tags": {"team": "dns"}});
        let rules = [&create, &tagged, &in_sync];
        let observed =
            round_trip(&ZONE, &Aws::mocked(&rules), "route53.zone.public", declared).await;
        assert_eq!(
            (observed.id.as_str(), &observed.attrs["zone_id"]),
            ("Z1", &json!("Z1"))
        );
        assert_eq!(observed.natural_key.as_deref(), Some("examplepay.com"));
        assert_eq!(observed.attrs["name_servers"], json!(["ns-1.example"]));
        assert_eq!(
            (create.num_calls(), tagged.num_calls(), in_sync.num_calls()),
            (1, 1, 1)
        );
        assert_eq!(
            ZONE.attributes(),
            ["id", "zone_id", "arn", "name", "name_servers"]
        );
    }

    #[tokio::test]
    async fn force_destroy_empties_the_zone_but_its_apex_first() {
        let rr = |name: &str, kind: RrType| {
            let rr = ResourceRecordSet::builder().name(name).r#type(kind).ttl(60);
            rr.build().unwrap()
        };
        let list = mock!(Client::list_resource_record_sets).then_output(move || {
            ListResourceRecordSetsOutput::builder()
                .resource_record_sets(rr("examplepay.com.", RrType::Soa))
                .resource_record_sets(rr("examplepay.com.", RrType::Ns))
                .resource_record_sets(rr("www.examplepay.com.", RrType::A))
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        let empty = mock!(Client::change_resource_record_sets)
            .match_requests(|r| {
                let changes = r.change_batch().map(|b| b.changes()).unwrap_or_default();
                let sets = changes.iter().filter_map(|c| c.resource_record_set());
                let names: Vec<&str> = sets.map(|rr| rr.name()).collect();
                names == ["www.examplepay.com."]
            })
            .then_output(|| ChangeResourceRecordSetsOutput::builder().build());
        let delete = mock!(Client::delete_hosted_zone)
            .then_output(|| DeleteHostedZoneOutput::builder().build());
        let aws = Aws::mocked(&[&list, &empty, &delete]);
        let current = Observed {
            id: "Z1".into(),
            props: obj(json!({"name": "examplepay.com", "force_destroy": true})),
            ..Observed::default()
        };
        ZONE.delete(&aws.context(), &current).await.unwrap();
        assert_eq!(
            (list.num_calls(), empty.num_calls(), delete.num_calls()),
            (1, 1, 1)
        );
    }
}
