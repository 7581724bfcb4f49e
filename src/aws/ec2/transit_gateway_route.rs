//! `aws::ec2::transit_gateway_route`: a static route of a transit gateway route table
//! (untaggable, found by table and destination).
//!
//! The tables read are those of the stack's own transit gateways in the region (their default
//! association and propagation tables) plus every table the stack's routes name, so a route the
//! DR stack keeps in the primary's table (declared with `region:`) is found too.

use super::transit_gateway::TransitGateway;
use super::{bool_prop, props, str_prop};
use crate::aws::{Aws, AwsError, AwsErrorKind};
use crate::resource::{gone_ok, CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{self, Field, Kind};
use crate::token;
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, TransitGatewayRouteState, TransitGatewayRouteType};
use serde_json::json;
use std::collections::BTreeSet;

/// A static transit gateway route: a destination block sent to an attachment, or dropped.
pub struct TransitGatewayRoute;

const SCHEMA: &[Field] = &[
    Field::required("transit_gateway_route_table_id", Kind::Str, "the transit gateway route table"),
    Field::required("destination_cidr_block", Kind::Cidr, "the block the route matches"),
    Field::optional("transit_gateway_attachment_id", Kind::Str, "the attachment (VPC, peering, VPN) traffic goes to"),
    Field::optional("blackhole", Kind::Bool, "drop matching traffic instead").default("false"),
];

/// `<tgw-rtb-…>|<normalised destination>`, the key declarations and reads both produce.
fn key(table: &str, cidr: &str) -> String {
    let cidr = schema::normalize(&Kind::Cidr, &json!(cidr));
    format!("{table}|{}", cidr.as_str().unwrap_or_default())
}

/// One static route as read from a table, or `None` for propagated and vanishing ones.
fn observe(table: &str, route: &aws_sdk_ec2::types::TransitGatewayRoute) -> Option<Observed> {
    let cidr = route.destination_cidr_block()?;
    if route.r#type() != Some(&TransitGatewayRouteType::Static)
        || matches!(route.state(), Some(TransitGatewayRouteState::Deleted | TransitGatewayRouteState::Deleting))
    {
        return None;
    }
    let natural_key = key(table, cidr);
    let mut p = props([("transit_gateway_route_table_id", json!(table)), ("destination_cidr_block", json!(cidr))]);
    match route.transit_gateway_attachments().iter().find_map(|a| a.transit_gateway_attachment_id()) {
        Some(attachment) => {
            p.insert("transit_gateway_attachment_id".into(), json!(attachment));
            p.insert("blackhole".into(), json!(false));
        }
        None => {
            p.insert("blackhole".into(), json!(route.state() == Some(&TransitGatewayRouteState::Blackhole)));
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

/// Checks that a route has exactly one of an attachment and `blackhole: true`.
fn check_target(props: &Props) -> Result<(), String> {
    let attachment = props.contains_key("transit_gateway_attachment_id");
    match (attachment, bool_prop(props, "blackhole") == Some(true)) {
        (true, true) => Err("a route either goes to `transit_gateway_attachment_id` or is a `blackhole`, not both".into()),
        (false, false) => Err("a route needs a target: set `transit_gateway_attachment_id` (or `blackhole: true`)".into()),
        _ => Ok(()),
    }
}

impl TransitGatewayRoute {
    /// The static routes of one table; a table that is gone has none.
    async fn search(aws: &Aws, table: &str) -> Result<Vec<Observed>, AwsError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = aws
                .ec2()
                .search_transit_gateway_routes()
                .transit_gateway_route_table_id(table)
                .filters(Filter::builder().name("type").values("static").build())
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("SearchTransitGatewayRoutes", table, e));
            let page = match page {
                Ok(p) => p,
                Err(e) if e.is_not_found() => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(page.routes().iter().filter_map(|r| observe(table, r)));
            match page.next_token() {
                Some(t) if !t.is_empty() && Some(t) != next.as_deref() => next = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// CreateTransitGatewayRoute or ReplaceTransitGatewayRoute (the same setters on two builders).
    async fn put(aws: &Aws, operation: &str, target: &str, p: &Props, replace: bool) -> Result<(), AwsError> {
        let (table, cidr) = (str_prop(p, "transit_gateway_route_table_id"), str_prop(p, "destination_cidr_block"));
        let attachment = Some(str_prop(p, "transit_gateway_attachment_id")).filter(|s| !s.is_empty()).map(String::from);
        let blackhole = bool_prop(p, "blackhole").filter(|b| *b);
        let ec2 = aws.ec2();
        if replace {
            ec2.replace_transit_gateway_route()
                .transit_gateway_route_table_id(table)
                .destination_cidr_block(cidr)
                .set_transit_gateway_attachment_id(attachment)
                .set_blackhole(blackhole)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::from_sdk(operation, target, e))
        } else {
            ec2.create_transit_gateway_route()
                .transit_gateway_route_table_id(table)
                .destination_cidr_block(cidr)
                .set_transit_gateway_attachment_id(attachment)
                .set_blackhole(blackhole)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::from_sdk(operation, target, e))
        }
    }
}

#[async_trait]
impl Resource for TransitGatewayRoute {
    fn kind(&self) -> &'static str {
        "ec2.transit_gateway_route"
    }

    fn doc(&self) -> &'static str {
        "A static route of a transit gateway route table, to an attachment or a blackhole. Attributes: `id` (`tgw-rtb-…|cidr`)."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let table = props.get("transit_gateway_route_table_id")?;
        let cidr = props.get("destination_cidr_block")?;
        if token::is_unknown(table) || token::is_unknown(cidr) {
            return None;
        }
        Some(key(table.as_str()?, cidr.as_str()?))
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_target(props)
    }

    async fn read_all(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<Observed>, AwsError> {
        let mut tables: BTreeSet<String> = hints.natural_keys.iter().filter_map(|k| k.split_once('|')).map(|(t, _)| t.to_string()).collect();
        for tgw in TransitGateway::owned(aws, stack).await? {
            let options = tgw.options();
            tables.extend(options.and_then(|o| o.association_default_route_table_id()).map(String::from));
            tables.extend(options.and_then(|o| o.propagation_default_route_table_id()).map(String::from));
        }
        let mut out = Vec::new();
        for table in tables.iter().filter(|t| !t.is_empty()) {
            out.extend(Self::search(aws, table).await?);
        }
        Ok(out)
    }

    async fn create(&self, aws: &Aws, req: &CreateRequest<'_>) -> Result<Observed, AwsError> {
        let p = req.props;
        match Self::put(aws, "CreateTransitGatewayRoute", &req.address.to_string(), p, false).await {
            Ok(()) => {}
            // Left by an interrupted run (or by hand): make it what is declared.
            Err(e) if e.kind == AwsErrorKind::Service("RouteAlreadyExists".into()) => {
                Self::put(aws, "ReplaceTransitGatewayRoute", &req.address.to_string(), p, true).await?
            }
            Err(e) => return Err(e),
        }
        let natural_key = key(str_prop(p, "transit_gateway_route_table_id"), str_prop(p, "destination_cidr_block"));
        Ok(Observed {
            address: Some(req.address.clone()),
            id: natural_key.clone(),
            natural_key: Some(natural_key.clone()),
            props: SCHEMA.iter().filter_map(|f| p.get(f.name).map(|v| (f.name.to_string(), v.clone()))).collect(),
            attrs: props([("id", json!(natural_key))]),
        })
    }

    async fn update(&self, aws: &Aws, current: &Observed, desired: &Props, changed: &[String]) -> Result<Observed, AwsError> {
        if changed.iter().any(|f| f == "transit_gateway_attachment_id" || f == "blackhole") {
            let mut p = desired.clone();
            for k in ["transit_gateway_route_table_id", "destination_cidr_block"] {
                if let Some(v) = current.props.get(k) {
                    p.insert(k.into(), v.clone());
                }
            }
            Self::put(aws, "ReplaceTransitGatewayRoute", &current.id, &p, true).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, aws: &Aws, current: &Observed) -> Result<(), AwsError> {
        let (id_table, id_cidr) = current.id.split_once('|').unwrap_or_default();
        let table = Some(str_prop(&current.props, "transit_gateway_route_table_id")).filter(|s| !s.is_empty()).unwrap_or(id_table);
        let cidr = Some(str_prop(&current.props, "destination_cidr_block")).filter(|s| !s.is_empty()).unwrap_or(id_cidr);
        gone_ok(
            aws.ec2()
                .delete_transit_gateway_route()
                .transit_gateway_route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::from_sdk("DeleteTransitGatewayRoute", &current.id, e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{TransitGatewayRoute as Route, TransitGatewayRouteAttachment};
    use serde_json::Value;

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn natural_key_normalises_the_destination() {
        let p = obj(json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.3.4/16", "transit_gateway_attachment_id": "tgw-attach-1"}));
        assert_eq!(TransitGatewayRoute.natural_key(&p).as_deref(), Some("tgw-rtb-1|10.10.0.0/16"));
        let t = token::marker(&"ec2.transit_gateway.hub".parse().unwrap(), "association_default_route_table_id");
        let p = obj(json!({"transit_gateway_route_table_id": t, "destination_cidr_block": "10.10.0.0/16"}));
        assert_eq!(TransitGatewayRoute.natural_key(&p), None);
    }

    #[test]
    fn a_route_has_one_target() {
        let base = json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.0.0/16"});
        assert!(check_target(&obj(base.clone())).unwrap_err().contains("needs a target"));
        let mut both = obj(base.clone());
        both.insert("transit_gateway_attachment_id".into(), json!("tgw-attach-1"));
        both.insert("blackhole".into(), json!(true));
        assert!(check_target(&both).unwrap_err().contains("not both"));
        let mut hole = obj(base);
        hole.insert("blackhole".into(), json!(true));
        assert!(check_target(&hole).is_ok());
    }

    #[test]
    fn only_static_routes_are_reported() {
        let att = TransitGatewayRouteAttachment::builder().transit_gateway_attachment_id("tgw-attach-1").build();
        let r = Route::builder()
            .destination_cidr_block("10.20.0.0/16")
            .r#type(TransitGatewayRouteType::Static)
            .state(TransitGatewayRouteState::Active)
            .transit_gateway_attachments(att.clone())
            .build();
        let o = observe("tgw-rtb-1", &r).unwrap();
        assert_eq!(o.natural_key.as_deref(), Some("tgw-rtb-1|10.20.0.0/16"));
        assert_eq!(o.props["transit_gateway_attachment_id"], "tgw-attach-1");
        assert_eq!(o.props["blackhole"], false);
        let propagated = Route::builder()
            .destination_cidr_block("10.10.0.0/16")
            .r#type(TransitGatewayRouteType::Propagated)
            .transit_gateway_attachments(att)
            .build();
        assert!(observe("tgw-rtb-1", &propagated).is_none());
        let hole = Route::builder()
            .destination_cidr_block("10.30.0.0/16")
            .r#type(TransitGatewayRouteType::Static)
            .state(TransitGatewayRouteState::Blackhole)
            .build();
        assert_eq!(observe("tgw-rtb-1", &hole).unwrap().props["blackhole"], true);
    }
}
