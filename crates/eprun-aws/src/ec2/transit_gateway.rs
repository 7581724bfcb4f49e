//! `aws::ec2::transit_gateway`: a transit gateway, the hub of a region's private network.

use super::prelude::*;
use crate::Result;
use crate::resource::gone_ok;
use crate::tags;
use aws_sdk_ec2::types::{
    ModifyTransitGatewayOptions, TransitGatewayOptions, TransitGatewayRequestOptions,
    TransitGatewayState as State,
};

resource! {
    /// A transit gateway; attachments (VPCs, peerings) and its route tables hang off it.
    pub struct TransitGateway: TRANSIT_GATEWAY = "ec2.transit_gateway",
        "A transit gateway.";
    reads Item, tagged by pairs;
    terraform "aws_ec2_transit_gateway";
    props TransitGatewayProps {
        description: Option<String> = optional(Str, "what the transit gateway is for"),
        amazon_side_asn: Option<i64> =
            optional(Int, "the private ASN of the AWS side (64512–65534 or 4200000000–4294967294)")
                .default("64512")
                .force_new(),
        default_route_table_association: Option<String> =
            optional(ENABLE, "associate new attachments with the default route table")
                .default("\"enable\""),
        default_route_table_propagation: Option<String> =
            optional(ENABLE, "propagate new attachments' routes into the default route table")
                .default("\"enable\""),
        dns_support: Option<String> =
            optional(ENABLE, "resolve public DNS names of attached VPCs to private addresses")
                .default("\"enable\""),
        vpn_ecmp_support: Option<String> =
            optional(ENABLE, "equal-cost multi-path routing over VPN tunnels")
                .default("\"enable\""),
        auto_accept_shared_attachments: Option<String> =
            optional(ENABLE, "accept attachments from other accounts without asking")
                .default("\"disable\""),
    } + TAGS
}

/// The kind of an `enable`/`disable` option.
pub(super) const ENABLE: Kind = Kind::Enum(&["enable", "disable"]);

/// Transit gateways take a few minutes to become available and to go away.
const CREATE: Wait = Wait("CreateTransitGateway", Duration::from_secs(900));
const MODIFY: Wait = Wait("ModifyTransitGateway", Duration::from_secs(900));
const DELETE: Wait = Wait("DeleteTransitGateway", Duration::from_secs(900));

type Item = aws_sdk_ec2::types::TransitGateway;

/// An `enable`/`disable` option as AWS reports it, or its default.
pub(super) fn flag<T: AsRef<str>>(value: Option<&T>, default: &str) -> Option<String> {
    Some(value.map_or(default, AsRef::as_ref).to_string())
}

/// The five `enable`/`disable` options of `p` on a create or a modify options builder.
macro_rules! options {
    ($builder:ty, $p:expr) => {{
        let p: &TransitGatewayProps = $p;
        <$builder>::builder()
            .set_default_route_table_association(
                p.default_route_table_association.as_deref().map(Into::into),
            )
            .set_default_route_table_propagation(
                p.default_route_table_propagation.as_deref().map(Into::into),
            )
            .set_dns_support(p.dns_support.as_deref().map(Into::into))
            .set_vpn_ecmp_support(p.vpn_ecmp_support.as_deref().map(Into::into))
            .set_auto_accept_shared_attachments(
                p.auto_accept_shared_attachments.as_deref().map(Into::into),
            )
    }};
}

/// Whether an ASN is one AWS accepts as a transit gateway's Amazon-side ASN.
fn valid_asn(asn: i64) -> bool {
    (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
}

describe_one!(describe_transit_gateways, transit_gateway_ids);

/// Ready once `available`; one on its way out will never be.
fn available(t: Option<&Item>) -> WaitState {
    match t.map(|t| t.state()) {
        None => WaitState::Pending("not visible yet".into()),
        Some(Some(State::Available)) => WaitState::Ready,
        Some(Some(s @ (State::Deleted | State::Deleting))) => {
            WaitState::Failed(format!("the transit gateway is `{}`", s.as_str()))
        }
        Some(Some(s)) => WaitState::Pending(s.as_str().to_string()),
        Some(None) => WaitState::Pending("in an unknown state".into()),
    }
}

/// The transit gateways the stack owns in this region (tags re-checked), for their routes too.
pub(super) async fn owned(aws: &Aws, stack: &str) -> Result<Vec<Item>> {
    let f = stack_filter(stack);
    let mut all = describe!(aws.describe_transit_gateways().filters(f), stack)?;
    let gone = |s: &State| matches!(s, State::Deleted | State::Deleting);
    all.retain(|t| !t.state().is_some_and(gone));
    all.retain(|t| tags::split_owned(stack, pairs(t.tags())).is_some());
    Ok(all)
}

#[async_trait]
impl Description for TransitGateway {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, t| {
            json!(t.transit_gateway_id().unwrap_or_default())
        }),
        Attr::new("arn", |_, t| {
            json!(t.transit_gateway_arn().unwrap_or_default())
        }),
        Attr::new("owner_id", |_, t| json!(t.owner_id().unwrap_or_default())),
        Attr::new("association_default_route_table_id", |_, t| {
            let o = t
                .options()
                .and_then(|o| o.association_default_route_table_id());
            json!(o.unwrap_or_default())
        }),
        Attr::new("propagation_default_route_table_id", |_, t| {
            let o = t
                .options()
                .and_then(|o| o.propagation_default_route_table_id());
            json!(o.unwrap_or_default())
        }),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        match props.get("amazon_side_asn").and_then(Value::as_i64) {
            Some(asn) if !valid_asn(asn) => Err(Invalid::value(
                "amazon_side_asn",
                format!("{asn} is not a private ASN; use 64512–65534 or 4200000000–4294967294"),
            )),
            _ => Ok(()),
        }
    }

    const FETCH: Option<Fetch<Item>> = fetch!(describe_transit_gateways, set_transit_gateway_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        owned(aws, stack).await
    }

    async fn props(&self, _: &Aws, t: &Item) -> Result<Self::Props> {
        let none = TransitGatewayOptions::builder().build();
        let o = t.options().unwrap_or(&none);
        Ok(TransitGatewayProps {
            description: Some(t.description().unwrap_or_default().into()),
            amazon_side_asn: Some(o.amazon_side_asn().unwrap_or(64512)),
            default_route_table_association: flag(o.default_route_table_association(), "enable"),
            default_route_table_propagation: flag(o.default_route_table_propagation(), "enable"),
            dns_support: flag(o.dns_support(), "enable"),
            vpn_ecmp_support: flag(o.vpn_ecmp_support(), "enable"),
            auto_accept_shared_attachments: flag(o.auto_accept_shared_attachments(), "disable"),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let options = options!(TransitGatewayRequestOptions, p);
        let out = aws
            .ec2()
            .create_transit_gateway()
            .set_description(p.description.clone().filter(|d| !d.is_empty()))
            .options(options.set_amazon_side_asn(p.amazon_side_asn).build())
            .tag_specifications(tags_at_create(ResourceType::TransitGateway, tags))
            .send()
            .await
            .map_err(sdk("CreateTransitGateway", address))?;
        let id = out
            .transit_gateway()
            .map(|t| t.transit_gateway_id().unwrap_or_default().to_string())
            .unwrap_or_default();
        let tgw = settle(aws, &id, CREATE, describe_one, available).await?;
        let tgw = tgw.filter(|t| kept_ownership(t.tags(), tags));
        tgw.ok_or_else(|| untagged("CreateTransitGateway", address, "transit gateway"))
    }

    /// One ModifyTransitGateway call for the description and every changed option.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, Self::Props>,
    ) -> Result<Option<Item>> {
        let (on, changed, desired) = (changes.on, changes.fields, changes.desired);
        if changed.is_empty() {
            return Ok(None);
        }
        let description = changed.iter().any(|c| c == "description");
        let description = description.then(|| desired.description.clone().unwrap_or_default());
        aws.ec2()
            .modify_transit_gateway()
            .transit_gateway_id(&on.id)
            .set_description(description)
            .options(options!(ModifyTransitGatewayOptions, &only(desired, changed)).build())
            .send()
            .await
            .map_err(sdk("ModifyTransitGateway", &on.id))?;
        settle(aws, &on.id, MODIFY, describe_one, available).await?;
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        let call = aws.ec2().delete_transit_gateway().transit_gateway_id(id);
        let sent = call.send().await.map(drop);
        gone_ok(sent.map_err(sdk("DeleteTransitGateway", id)))?;
        settle_deleted(aws, id, DELETE, describe_one, Item::state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::observe;
    use crate::ec2::testing::{NoOthers, obj, owned, round_trip, tag};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_transit_gateway::CreateTransitGatewayOutput;
    use aws_sdk_ec2::operation::describe_transit_gateways::DescribeTransitGatewaysOutput;
    use aws_sdk_ec2::types::{DefaultRouteTableAssociationValue, DnsSupportValue};
    use aws_smithy_mocks::mock;

    #[test]
    fn asn_must_be_private() {
        assert!(
            TransitGateway
                .validate(&obj(json!({"amazon_side_asn": 64512})), &NoOthers)
                .is_ok()
        );
        assert!(
            TransitGateway
                .validate(
                    &obj(json!({"amazon_side_asn": 4_200_000_001_i64})),
                    &NoOthers
                )
                .is_ok()
        );
        let e = TransitGateway
            .validate(&obj(json!({"amazon_side_asn": 7224})), &NoOthers)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a private ASN"), "{e}");
    }

    /// A transit gateway with some options set, owned by `stack`.
    fn hub(stack: &str) -> Item {
        Item::builder()
            .transit_gateway_id("tgw-1")
            .transit_gateway_arn("arn:aws:ec2:us-east-1:1:transit-gateway/tgw-1")
            .description("hub")
            .state(State::Available)
            .options(
                TransitGatewayOptions::builder()
                    .amazon_side_asn(64513)
                    .association_default_route_table_id("tgw-rtb-1")
                    .default_route_table_association(DefaultRouteTableAssociationValue::Enable)
                    .dns_support(DnsSupportValue::Disable)
                    .build(),
            )
            .set_tags(Some(owned(stack, "ec2.transit_gateway.hub")))
            .tags(tag("team", "net"))
            .build()
    }

    #[tokio::test]
    async fn observes_options_and_route_tables() {
        let aws = Aws::mocked(&[]);
        let o = observe(&TRANSIT_GATEWAY, &aws, "s", &hub("s"))
            .await
            .unwrap();
        assert_eq!(o.props["amazon_side_asn"], 64513);
        assert_eq!(o.props["dns_support"], "disable");
        assert_eq!(o.props["default_route_table_propagation"], "enable");
        assert_eq!(o.props["tags"], json!({"team": "net"}));
        assert_eq!(o.attrs["association_default_route_table_id"], "tgw-rtb-1");
        assert!(
            observe(&TRANSIT_GATEWAY, &aws, "other", &hub("s"))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_created_transit_gateway_round_trip_as_declared_once_available() {
        let create = mock!(Client::create_transit_gateway)
            .match_requests(|r| r.options().and_then(|o| o.amazon_side_asn()) == Some(64513))
            .then_output(|| {
                let pending = Item::builder().transit_gateway_id("tgw-1");
                CreateTransitGatewayOutput::builder()
                    .transit_gateway(pending.state(State::Pending).build())
                    .build()
            });
        let describe = mock!(Client::describe_transit_gateways).then_output(|| {
            DescribeTransitGatewaysOutput::builder()
                .transit_gateways(hub("test"))
                .build()
        });
        let aws = Aws::mocked(&[&create, &describe]);
        let declared = json!({"description": "hub", "amazon_side_asn": 64513, "dns_support": "disable",
                   "tags": {"team": "net"}});
        let observed =
            round_trip(&TRANSIT_GATEWAY, &aws, "ec2.transit_gateway.hub", declared).await;
        assert_eq!(observed.id, "tgw-1");
        assert_eq!(
            observed.attrs["association_default_route_table_id"],
            "tgw-rtb-1"
        );
    }
}
