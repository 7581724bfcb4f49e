//! `aws::ec2::transit_gateway_route`: a static route of a transit gateway route table
//! (untaggable, found by `<table>|<destination>|<target>`).
//!
//! The tables read are those of the stack's own transit gateways in the region (their default
//! association and propagation tables) plus every table the stack's routes name, so a route the
//! DR stack keeps in the primary's table (declared with `region:`) is found too.
//!
//! The target (an attachment id, or `blackhole`) is part of the key, and changing it replaces the
//! route, as in Terraform. AWS always lists the attachment of an active static route; moto never
//! does (it answers an empty list), so a route read without one takes the target its recorded key
//! names — the one eprun created it with.

use super::prelude::*;
use super::transit_gateway::owned;
use crate::Result;
use crate::adapter::found;
use crate::{schema, token};
use aws_sdk_ec2::types::{Filter, TransitGatewayRouteState as State, TransitGatewayRouteType};
use std::collections::BTreeSet;

resource! {
    /// A static transit gateway route: a destination block sent to an attachment, or dropped.
    pub struct TransitGatewayRoute: TRANSIT_GATEWAY_ROUTE = "ec2.transit_gateway_route",
        "A static route of a transit gateway route table, to an attachment \
        or a blackhole; a new target replaces it.";
    reads Item;
    terraform "aws_ec2_transit_gateway_route";
    /// They are all a read knows of a route: the item the type reads is its props.
    #[derive(Clone)]
    props TransitGatewayRouteProps {
        transit_gateway_route_table_id: Option<String> =
            required(Str, "the transit gateway route table"),
        destination_cidr_block: Option<String> = required(Cidr, "the block the route matches"),
        transit_gateway_attachment_id: Option<String> =
            optional(Str, "the attachment (VPC, peering, VPN) traffic goes to").force_new(),
        blackhole: Option<bool> =
            optional(Bool, "drop matching traffic instead").default("false") .force_new(),
    }
}

type Item = TransitGatewayRouteProps;

/// The target a key names for a blackhole route.
const BLACKHOLE: &str = "blackhole";

/// `<tgw-rtb-…>|<normalised destination>`: the route as AWS identifies it.
fn route_id(table: &str, cidr: &str) -> String {
    let cidr = schema::normalize(&Kind::Cidr, &json!(cidr));
    format!("{table}|{}", cidr.as_str().unwrap_or_default())
}

/// `<tgw-rtb-…>|<normalised destination>|<attachment or blackhole>`, the key declarations and reads both produce.
fn key(table: &str, cidr: &str, target: &str) -> String {
    format!("{}|{target}", route_id(table, cidr))
}

/// The target the `hints` record for the route `id`, when exactly one does.
fn recorded_target<'a>(id: &str, hints: &'a ReadHints) -> Option<&'a str> {
    let prefix = format!("{id}|");
    let mut targets = hints
        .natural_keys
        .iter()
        .filter_map(|k| k.strip_prefix(prefix.as_str()));
    match (targets.next(), targets.next()) {
        (Some(t), None) if !t.is_empty() => Some(t),
        _ => None,
    }
}

/// One static route as read from a table, or `None` for propagated and vanishing ones.
fn read(
    table: &str,
    route: &aws_sdk_ec2::types::TransitGatewayRoute,
    hints: &ReadHints,
) -> Option<Item> {
    let cidr = route.destination_cidr_block()?;
    let vanishing = matches!(route.state(), Some(State::Deleted | State::Deleting));
    if route.r#type() != Some(&TransitGatewayRouteType::Static) || vanishing {
        return None;
    }
    let listed = route
        .transit_gateway_attachments()
        .iter()
        .find_map(|a| a.transit_gateway_attachment_id());
    let target = match (listed, route.state() == Some(&State::Blackhole)) {
        (Some(attachment), _) => attachment,
        (None, true) => BLACKHOLE,
        // Active with no attachment listed: an emulator that does not report it.
        (None, false) => recorded_target(&route_id(table, cidr), hints).unwrap_or_default(),
    };
    let attachment = Some(target).filter(|t| !t.is_empty() && *t != BLACKHOLE);
    Some(TransitGatewayRouteProps {
        transit_gateway_route_table_id: Some(table.into()),
        destination_cidr_block: Some(cidr.into()),
        transit_gateway_attachment_id: attachment.map(String::from),
        blackhole: Some(target == BLACKHOLE),
    })
}

/// Whether declared props make the route a blackhole.
fn blackhole(props: &Props) -> bool {
    props.get("blackhole").and_then(Value::as_bool) == Some(true)
}

/// The target declared props name: the attachment, or `blackhole`.
fn target(props: &Props) -> Option<&str> {
    match props.get("transit_gateway_attachment_id") {
        Some(a) => a.as_str(),
        None if blackhole(props) => Some(BLACKHOLE),
        None => None,
    }
}

/// Checks that a route has exactly one of an attachment and `blackhole: true`.
fn check_target(props: &Props) -> Result<(), Invalid> {
    let why = match (
        props.contains_key("transit_gateway_attachment_id"),
        blackhole(props),
    ) {
        (true, true) => {
            "a route either goes to `transit_gateway_attachment_id` or is a `blackhole`, not both"
        }
        (false, false) => {
            "a route needs a target: set `transit_gateway_attachment_id` (or `blackhole: true`)"
        }
        _ => return Ok(()),
    };
    Err(Invalid::Combination(why.into()))
}

/// The route's key once its table, destination and target are known.
fn natural_key(props: &Props) -> Option<String> {
    let table = props.get("transit_gateway_route_table_id")?;
    let cidr = props.get("destination_cidr_block")?;
    let attachment = props.get("transit_gateway_attachment_id");
    if token::is_unknown(table)
        || token::is_unknown(cidr)
        || attachment.is_some_and(token::is_unknown)
    {
        return None;
    }
    Some(key(table.as_str()?, cidr.as_str()?, target(props)?))
}

/// Sends the route as declared through CreateTransitGatewayRoute's or ReplaceTransitGatewayRoute's builder.
macro_rules! put {
    ($call:expr, $p:expr) => {
        $call
            .set_transit_gateway_route_table_id($p.transit_gateway_route_table_id.clone())
            .set_destination_cidr_block($p.destination_cidr_block.clone())
            .set_transit_gateway_attachment_id(
                $p.transit_gateway_attachment_id
                    .clone()
                    .filter(|a| !a.is_empty()),
            )
            .set_blackhole($p.blackhole.filter(|b| *b))
            .send()
            .await
            .map(drop)
    };
}

/// The cloud's id of an item.
fn id_of(r: &Item) -> String {
    let (table, cidr) = (&r.transit_gateway_route_table_id, &r.destination_cidr_block);
    route_id(
        table.as_deref().unwrap_or_default(),
        cidr.as_deref().unwrap_or_default(),
    )
}

#[async_trait]
impl Description for TransitGatewayRoute {
    const ATTRIBUTES: &'static [Attr<Item>] =
        &[Attr::new("id", |_, r: &Item| json!(id_of(r))).note("`tgw-rtb-…|cidr`")];
    const IDENTITY: Identity = Identity::NaturalKey(natural_key);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_target(props)
    }

    /// The static routes of the tables the stack's routes name (declared or recorded) and of the
    /// default tables of the stack's own transit gateways; a table that is gone has none.
    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<Item>> {
        let named = hints
            .natural_keys
            .iter()
            .filter_map(|k| k.split('|').next());
        let mut tables: BTreeSet<&str> = named.collect();
        let gateways = owned(aws, stack).await?;
        for o in gateways.iter().filter_map(|t| t.options()) {
            tables.extend(o.association_default_route_table_id());
            tables.extend(o.propagation_default_route_table_id());
        }
        let mut out = Vec::new();
        for table in tables.into_iter().filter(|t| !t.is_empty()) {
            let only_static = Filter::builder().name("type").values("static").build();
            let routes = describe!(
                aws.search_transit_gateway_routes()
                    .transit_gateway_route_table_id(table)
                    .filters(only_static),
                table
            );
            let routes = found(routes)?.unwrap_or_default();
            out.extend(routes.iter().filter_map(|r| read(table, r, hints)));
        }
        Ok(out)
    }

    async fn props(&self, _: &Aws, r: &Item) -> Result<Self::Props> {
        Ok(r.clone())
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p) = (new.address, new.props);
        let ec2 = aws.ec2();
        let created = put!(ec2.create_transit_gateway_route(), p);
        match created.map_err(sdk("CreateTransitGatewayRoute", address)) {
            // Left by an interrupted run (or by hand): make it what is declared.
            Err(e) if e.is("RouteAlreadyExists") => {
                let replaced = put!(ec2.replace_transit_gateway_route(), p);
                replaced.map_err(sdk("ReplaceTransitGatewayRoute", address))?
            }
            created => created?,
        }
        Ok(p.clone())
    }

    async fn delete(&self, aws: &Aws, id: &str, current: &Self::Props) -> Result<()> {
        let mut parts = id.split('|');
        let recorded = |v: &Option<String>, part: Option<&str>| {
            let v = v.clone().filter(|s| !s.is_empty());
            v.or(part.map(String::from))
        };
        let table = recorded(&current.transit_gateway_route_table_id, parts.next());
        let cidr = recorded(&current.destination_cidr_block, parts.next());
        let call = aws.ec2().delete_transit_gateway_route();
        let call = call.set_transit_gateway_route_table_id(table);
        let sent = call.set_destination_cidr_block(cidr).send().await;
        sent.map(drop).map_err(sdk("DeleteTransitGatewayRoute", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::observe;
    use crate::ec2::testing::{obj, round_trip};
    use crate::resource::{Observed, Resource};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::create_transit_gateway_route::{
        CreateTransitGatewayRouteError, CreateTransitGatewayRouteOutput,
    };
    use aws_sdk_ec2::operation::replace_transit_gateway_route::ReplaceTransitGatewayRouteOutput;
    use aws_sdk_ec2::types::{TransitGatewayRoute as Route, TransitGatewayRouteAttachment};
    use aws_smithy_mocks::mock;

    /// How a route read from `table` is observed, if it is one.
    async fn observed(table: &str, route: &Route, hints: &ReadHints) -> Option<Observed> {
        let item = read(table, route, hints)?;
        observe(&TRANSIT_GATEWAY_ROUTE, &Aws::mocked(&[]), "s", &item).await
    }

    #[test]
    fn natural_key_names_table_destination_and_target() {
        let p = obj(
            json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.3.4/16", "transit_gateway_attachment_id": "tgw-attach-1"}),
        );
        assert_eq!(
            TRANSIT_GATEWAY_ROUTE.natural_key(&p).as_deref(),
            Some("tgw-rtb-1|10.10.0.0/16|tgw-attach-1")
        );
        let hole = obj(
            json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.30.0.0/16", "blackhole": true}),
        );
        assert_eq!(
            TRANSIT_GATEWAY_ROUTE.natural_key(&hole).as_deref(),
            Some("tgw-rtb-1|10.30.0.0/16|blackhole")
        );
        let t = token::marker(
            &"ec2.transit_gateway_peering_attachment.p".parse().unwrap(),
            "id",
        );
        let p = obj(
            json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.0.0/16", "transit_gateway_attachment_id": t}),
        );
        assert_eq!(TRANSIT_GATEWAY_ROUTE.natural_key(&p), None);
    }

    #[test]
    fn a_route_has_one_target() {
        let base = json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.0.0/16"});
        assert!(
            check_target(&obj(base.clone()))
                .unwrap_err()
                .to_string()
                .contains("needs a target")
        );
        let mut both = obj(base.clone());
        both.insert(
            "transit_gateway_attachment_id".into(),
            json!("tgw-attach-1"),
        );
        both.insert("blackhole".into(), json!(true));
        assert!(
            check_target(&both)
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        let mut hole = obj(base);
        hole.insert("blackhole".into(), json!(true));
        assert!(check_target(&hole).is_ok());
    }

    fn route(state: State, attachment: Option<&str>) -> Route {
        let mut b = Route::builder()
            .destination_cidr_block("10.20.0.0/16")
            .r#type(TransitGatewayRouteType::Static)
            .state(state);
        if let Some(a) = attachment {
            b = b.transit_gateway_attachments(
                TransitGatewayRouteAttachment::builder()
                    .transit_gateway_attachment_id(a)
                    .build(),
            );
        }
        b.build()
    }

    #[tokio::test]
    async fn only_static_routes_are_reported() {
        let none = ReadHints::default();
        let o = observed(
            "tgw-rtb-1",
            &route(State::Active, Some("tgw-attach-1")),
            &none,
        )
        .await
        .unwrap();
        assert_eq!(
            o.natural_key.as_deref(),
            Some("tgw-rtb-1|10.20.0.0/16|tgw-attach-1")
        );
        assert_eq!(o.id, "tgw-rtb-1|10.20.0.0/16");
        assert_eq!(o.props["transit_gateway_attachment_id"], "tgw-attach-1");
        assert_eq!(o.props["blackhole"], false);
        let propagated = Route::builder()
            .destination_cidr_block("10.10.0.0/16")
            .r#type(TransitGatewayRouteType::Propagated)
            .build();
        assert!(observed("tgw-rtb-1", &propagated, &none).await.is_none());
        let hole = observed("tgw-rtb-1", &route(State::Blackhole, None), &none)
            .await
            .unwrap();
        assert_eq!(hole.props["blackhole"], true);
        assert_eq!(
            hole.natural_key.as_deref(),
            Some("tgw-rtb-1|10.20.0.0/16|blackhole")
        );
    }

    #[tokio::test]
    async fn an_unlisted_attachment_is_the_recorded_one() {
        let mut hints = ReadHints::default();
        hints
            .natural_keys
            .insert("tgw-rtb-1|10.20.0.0/16|tgw-attach-9".into());
        hints
            .natural_keys
            .insert("tgw-rtb-1|10.30.0.0/16|tgw-attach-8".into());
        let o = observed("tgw-rtb-1", &route(State::Active, None), &hints)
            .await
            .unwrap();
        assert_eq!(
            o.natural_key.as_deref(),
            Some("tgw-rtb-1|10.20.0.0/16|tgw-attach-9")
        );
        assert_eq!(o.props["transit_gateway_attachment_id"], "tgw-attach-9");
        let unknown = observed(
            "tgw-rtb-1",
            &route(State::Active, None),
            &ReadHints::default(),
        )
        .await
        .unwrap();
        assert!(!unknown.props.contains_key("transit_gateway_attachment_id"));
    }

    #[tokio::test]
    async fn a_created_route_round_trip_as_declared() {
        let create = mock!(Client::create_transit_gateway_route)
            .match_requests(|r| r.transit_gateway_attachment_id() == Some("tgw-attach-1"))
            .then_output(|| CreateTransitGatewayRouteOutput::builder().build());
        let aws = Aws::mocked(&[&create]);
        let declared = json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.20.0.0/16",
                   "transit_gateway_attachment_id": "tgw-attach-1"});
        let observed = round_trip(
            &TRANSIT_GATEWAY_ROUTE,
            &aws,
            "ec2.transit_gateway_route.to-dr",
            declared,
        )
        .await;
        assert_eq!(observed.id, "tgw-rtb-1|10.20.0.0/16");
        assert_eq!(
            observed.natural_key.as_deref(),
            Some("tgw-rtb-1|10.20.0.0/16|tgw-attach-1")
        );
    }

    #[tokio::test]
    async fn a_route_that_exists_already_is_replaced() {
        let create = mock!(Client::create_transit_gateway_route).then_error(|| {
            let exists = ErrorMetadata::builder().code("RouteAlreadyExists").build();
            CreateTransitGatewayRouteError::generic(exists)
        });
        let replace = mock!(Client::replace_transit_gateway_route)
            .match_requests(|r| r.blackhole() == Some(true))
            .then_output(|| ReplaceTransitGatewayRouteOutput::builder().build());
        let aws = Aws::mocked(&[&create, &replace]);
        let declared = json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.30.0.0/16",
                   "blackhole": true});
        round_trip(
            &TRANSIT_GATEWAY_ROUTE,
            &aws,
            "ec2.transit_gateway_route.drop",
            declared,
        )
        .await;
        assert_eq!(replace.num_calls(), 1);
    }
}
