//! `aws::ec2::route`: one route of a route table (untaggable, found by table and destination).

use super::{owned_route_tables, props, str_prop};
use crate::context::Context;
use crate::resource::{
    CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource, gone_ok,
};
use crate::schema::{self, Field, Kind};
use crate::token;
use crate::{Aws, CloudError};
use async_trait::async_trait;
use aws_sdk_ec2::types::RouteOrigin;
use serde_json::{Value, json};

/// A route: a destination block and exactly one target.
pub struct Route;

/// The props that name a route's target; a route has exactly one.
const TARGETS: [&str; 5] = [
    "gateway_id",
    "nat_gateway_id",
    "transit_gateway_id",
    "vpc_peering_connection_id",
    "vpc_endpoint_id",
];

const SCHEMA: &[Field] = &[
    Field::required(
        "route_table_id",
        Kind::Str,
        "the route table the route belongs to",
    ),
    Field::required(
        "destination_cidr_block",
        Kind::Cidr,
        "the IPv4 block the route matches",
    ),
    Field::optional(
        "gateway_id",
        Kind::Str,
        "target: an internet or virtual private gateway",
    ),
    Field::optional("nat_gateway_id", Kind::Str, "target: a NAT gateway"),
    Field::optional("transit_gateway_id", Kind::Str, "target: a transit gateway"),
    Field::optional(
        "vpc_peering_connection_id",
        Kind::Str,
        "target: a VPC peering connection",
    ),
    Field::optional(
        "vpc_endpoint_id",
        Kind::Str,
        "target: a Gateway Load Balancer endpoint",
    ),
];

/// Sets the one target of a CreateRoute or ReplaceRoute call (two builder types with the same setters).
macro_rules! with_target {
    ($call:expr, $props:expr) => {{
        let call = $call;
        match target($props) {
            Some(("gateway_id", id)) => call.gateway_id(id),
            Some(("nat_gateway_id", id)) => call.nat_gateway_id(id),
            Some(("transit_gateway_id", id)) => call.transit_gateway_id(id),
            Some(("vpc_peering_connection_id", id)) => call.vpc_peering_connection_id(id),
            Some(("vpc_endpoint_id", id)) => call.vpc_endpoint_id(id),
            _ => call,
        }
    }};
}

/// The target field and value a route's props set, if exactly one.
fn target(props: &Props) -> Option<(&'static str, &str)> {
    let mut set = TARGETS
        .iter()
        .filter_map(|t| props.get(*t).and_then(Value::as_str).map(|v| (*t, v)));
    match (set.next(), set.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// `<route_table_id>|<normalised destination>`, the key both declarations and reads produce.
fn key(table: &str, cidr: &str) -> String {
    let cidr = schema::normalize(&Kind::Cidr, &json!(cidr));
    format!("{table}|{}", cidr.as_str().unwrap_or_default())
}

/// One route as read from a table, or `None` for the routes AWS manages (the `local` route,
/// propagated routes, prefix-list routes of gateway endpoints, IPv6 routes).
fn observe(table_id: &str, route: &aws_sdk_ec2::types::Route) -> Option<Observed> {
    let cidr = route.destination_cidr_block()?;
    if route.destination_prefix_list_id().is_some()
        || route.gateway_id() == Some("local")
        || matches!(
            route.origin(),
            Some(RouteOrigin::CreateRouteTable | RouteOrigin::EnableVgwRoutePropagation)
        )
    {
        return None;
    }
    let natural_key = key(table_id, cidr);
    let mut p = props([
        ("route_table_id", json!(table_id)),
        ("destination_cidr_block", json!(cidr)),
    ]);
    // AWS reports a Gateway Load Balancer endpoint target as a gateway id.
    let targets = [
        (
            "gateway_id",
            route.gateway_id().filter(|g| !g.starts_with("vpce-")),
        ),
        (
            "vpc_endpoint_id",
            route.gateway_id().filter(|g| g.starts_with("vpce-")),
        ),
        ("nat_gateway_id", route.nat_gateway_id()),
        ("transit_gateway_id", route.transit_gateway_id()),
        (
            "vpc_peering_connection_id",
            route.vpc_peering_connection_id(),
        ),
    ];
    for (field, value) in targets {
        if let Some(v) = value {
            p.insert(field.into(), json!(v));
        }
    }
    Some(Observed {
        address: None,
        id: natural_key.clone(),
        natural_key: Some(natural_key.clone()),
        props: p,
        attrs: props([("id", json!(natural_key))]),
    })
}

#[async_trait]
impl Resource for Route {
    fn kind(&self) -> &'static str {
        "ec2.route"
    }

    fn doc(&self) -> &'static str {
        "A route of a route table: a destination block and exactly one target. Attributes: `id` (`rtb-…|cidr`)."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let table = props.get("route_table_id")?;
        let cidr = props.get("destination_cidr_block")?;
        if token::is_unknown(table) || token::is_unknown(cidr) {
            return None;
        }
        Some(key(table.as_str()?, cidr.as_str()?))
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        let set: Vec<&str> = TARGETS
            .iter()
            .copied()
            .filter(|t| props.contains_key(*t))
            .collect();
        match set.len() {
            1 => Ok(()),
            0 => Err(format!(
                "a route needs a target: set one of {}",
                TARGETS.map(|t| format!("`{t}`")).join(", ")
            )),
            _ => Err(format!(
                "a route has exactly one target, but {} are set",
                set.iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
        }
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let tables = owned_route_tables(aws, stack).await?;
        Ok(tables
            .iter()
            .flat_map(|table| {
                let id = table.route_table_id().unwrap_or_default();
                table.routes().iter().filter_map(move |r| observe(id, r))
            })
            .collect())
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let (table, cidr) = (
            str_prop(p, "route_table_id"),
            str_prop(p, "destination_cidr_block"),
        );
        with_target!(
            aws.ec2()
                .create_route()
                .route_table_id(table)
                .destination_cidr_block(cidr),
            p
        )
        .send()
        .await
        .map_err(|e| crate::from_sdk("CreateRoute", req.address, e))?;
        // A route takes effect with the call; what it reports is what was declared.
        let natural_key = key(table, cidr);
        Ok(Observed {
            address: Some(req.address.clone()),
            id: natural_key.clone(),
            natural_key: Some(natural_key.clone()),
            props: SCHEMA
                .iter()
                .filter_map(|f| p.get(f.name).map(|v| (f.name.to_string(), v.clone())))
                .collect(),
            attrs: props([("id", json!(natural_key))]),
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
        if changed.iter().any(|f| TARGETS.contains(&f.as_str())) {
            let (table, cidr) = (
                str_prop(&current.props, "route_table_id"),
                str_prop(&current.props, "destination_cidr_block"),
            );
            with_target!(
                aws.ec2()
                    .replace_route()
                    .route_table_id(table)
                    .destination_cidr_block(cidr),
                desired
            )
            .send()
            .await
            .map_err(|e| crate::from_sdk("ReplaceRoute", &current.id, e))?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let (id_table, id_cidr) = current.id.split_once('|').unwrap_or_default();
        let table = Some(str_prop(&current.props, "route_table_id"))
            .filter(|s| !s.is_empty())
            .unwrap_or(id_table);
        let cidr = Some(str_prop(&current.props, "destination_cidr_block"))
            .filter(|s| !s.is_empty())
            .unwrap_or(id_cidr);
        gone_ok(
            aws.ec2()
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteRoute", &current.id, e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    struct NoOthers;

    impl DeclaredProps for NoOthers {
        fn props_of(&self, _: &Address) -> Option<&Props> {
            None
        }
    }

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn natural_key_normalises_the_destination() {
        let p = obj(
            json!({"route_table_id": "rtb-1", "destination_cidr_block": "10.20.7.9/16", "gateway_id": "igw-1"}),
        );
        assert_eq!(Route.natural_key(&p).as_deref(), Some("rtb-1|10.20.0.0/16"));
    }

    #[test]
    fn natural_key_waits_for_tokens() {
        let rtb = token::marker(&"ec2.route_table.private-a".parse().unwrap(), "id");
        let p = obj(json!({"route_table_id": rtb, "destination_cidr_block": "0.0.0.0/0"}));
        assert_eq!(Route.natural_key(&p), None);
    }

    #[test]
    fn exactly_one_target() {
        let base = json!({"route_table_id": "rtb-1", "destination_cidr_block": "0.0.0.0/0"});
        let none = obj(base.clone());
        assert!(
            Route
                .validate(&none, &NoOthers)
                .unwrap_err()
                .contains("needs a target")
        );
        let mut two = none.clone();
        two.insert("gateway_id".into(), json!("igw-1"));
        two.insert("nat_gateway_id".into(), json!("nat-1"));
        assert_eq!(
            Route.validate(&two, &NoOthers).unwrap_err(),
            "a route has exactly one target, but `gateway_id` and `nat_gateway_id` are set"
        );
        let mut one = none;
        one.insert("transit_gateway_id".into(), json!("tgw-1"));
        assert!(Route.validate(&one, &NoOthers).is_ok());
    }

    #[test]
    fn aws_managed_routes_are_not_reported() {
        let r = |b: aws_sdk_ec2::types::builders::RouteBuilder| observe("rtb-1", &b.build());
        let route = aws_sdk_ec2::types::Route::builder;
        assert!(
            r(route()
                .destination_cidr_block("10.10.0.0/16")
                .gateway_id("local"))
            .is_none()
        );
        assert!(
            r(route()
                .destination_prefix_list_id("pl-1")
                .gateway_id("vpce-1"))
            .is_none()
        );
        assert!(
            r(route()
                .destination_cidr_block("10.9.0.0/16")
                .gateway_id("vgw-1")
                .origin(RouteOrigin::EnableVgwRoutePropagation))
            .is_none()
        );
        let nat = r(route()
            .destination_cidr_block("0.0.0.0/0")
            .nat_gateway_id("nat-1")
            .origin(RouteOrigin::CreateRoute))
        .unwrap();
        assert_eq!(nat.natural_key.as_deref(), Some("rtb-1|0.0.0.0/0"));
        assert_eq!(nat.address, None);
        assert_eq!(
            nat.props,
            obj(
                json!({"route_table_id": "rtb-1", "destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"})
            )
        );
        let glb = r(route()
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id("vpce-9"))
        .unwrap();
        assert_eq!(glb.props["vpc_endpoint_id"], "vpce-9");
        assert!(!glb.props.contains_key("gateway_id"));
    }
}
