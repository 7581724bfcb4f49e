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

use super::transit_gateway::owned;
use super::{bool_prop, props, str_prop};
use crate::context::Context;
use crate::resource::{
    CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource, gone_ok,
};
use crate::schema::{self, Field, Kind};
use crate::token;
use crate::{Aws, CloudError};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, TransitGatewayRouteState, TransitGatewayRouteType};
use serde_json::json;
use std::collections::BTreeSet;

/// A static transit gateway route: a destination block sent to an attachment, or dropped.
pub struct TransitGatewayRoute;

const SCHEMA: &[Field] = &[
    Field::required(
        "transit_gateway_route_table_id",
        Kind::Str,
        "the transit gateway route table",
    ),
    Field::required(
        "destination_cidr_block",
        Kind::Cidr,
        "the block the route matches",
    ),
    Field::optional(
        "transit_gateway_attachment_id",
        Kind::Str,
        "the attachment (VPC, peering, VPN) traffic goes to",
    )
    .force_new(),
    Field::optional("blackhole", Kind::Bool, "drop matching traffic instead")
        .default("false")
        .force_new(),
];

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
fn observe(
    table: &str,
    route: &aws_sdk_ec2::types::TransitGatewayRoute,
    hints: &ReadHints,
) -> Option<Observed> {
    let cidr = route.destination_cidr_block()?;
    if route.r#type() != Some(&TransitGatewayRouteType::Static)
        || matches!(
            route.state(),
            Some(TransitGatewayRouteState::Deleted | TransitGatewayRouteState::Deleting)
        )
    {
        return None;
    }
    let id = route_id(table, cidr);
    let listed = route
        .transit_gateway_attachments()
        .iter()
        .find_map(|a| a.transit_gateway_attachment_id());
    let blackhole = route.state() == Some(&TransitGatewayRouteState::Blackhole);
    let target = match (listed, blackhole) {
        (Some(attachment), _) => attachment,
        (None, true) => BLACKHOLE,
        // Active with no attachment listed: an emulator that does not report it.
        (None, false) => recorded_target(&id, hints).unwrap_or_default(),
    };
    let mut p = props([
        ("transit_gateway_route_table_id", json!(table)),
        ("destination_cidr_block", json!(cidr)),
    ]);
    if target == BLACKHOLE {
        p.insert("blackhole".into(), json!(true));
    } else {
        p.insert("blackhole".into(), json!(false));
        if !target.is_empty() {
            p.insert("transit_gateway_attachment_id".into(), json!(target));
        }
    }
    Some(Observed {
        address: None,
        id: id.clone(),
        natural_key: Some(key(table, cidr, target)),
        props: p,
        attrs: props([("id", json!(id))]),
    })
}

/// The target declared props name: the attachment, or `blackhole`.
fn target(props: &Props) -> Option<&str> {
    match props.get("transit_gateway_attachment_id") {
        Some(a) => a.as_str(),
        None if bool_prop(props, "blackhole") == Some(true) => Some(BLACKHOLE),
        None => None,
    }
}

/// Checks that a route has exactly one of an attachment and `blackhole: true`.
fn check_target(props: &Props) -> Result<(), String> {
    let attachment = props.contains_key("transit_gateway_attachment_id");
    match (attachment, bool_prop(props, "blackhole") == Some(true)) {
        (true, true) => Err(
            "a route either goes to `transit_gateway_attachment_id` or is a `blackhole`, not both"
                .into(),
        ),
        (false, false) => Err(
            "a route needs a target: set `transit_gateway_attachment_id` (or `blackhole: true`)"
                .into(),
        ),
        _ => Ok(()),
    }
}

impl TransitGatewayRoute {
    /// The static routes of one table; a table that is gone has none.
    async fn search(
        aws: &Aws,
        table: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
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
                .map_err(|e| crate::from_sdk("SearchTransitGatewayRoutes", table, e));
            let page = match page {
                Ok(p) => p,
                Err(e) if e.is_not_found() => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(
                page.routes()
                    .iter()
                    .filter_map(|r| observe(table, r, hints)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() && Some(t) != next.as_deref() => {
                    next = Some(t.to_string())
                }
                _ => return Ok(out),
            }
        }
    }

    /// CreateTransitGatewayRoute or ReplaceTransitGatewayRoute (the same setters on two builders).
    async fn put(
        aws: &Aws,
        operation: &str,
        target: &str,
        p: &Props,
        replace: bool,
    ) -> Result<(), CloudError> {
        let (table, cidr) = (
            str_prop(p, "transit_gateway_route_table_id"),
            str_prop(p, "destination_cidr_block"),
        );
        let attachment = Some(str_prop(p, "transit_gateway_attachment_id"))
            .filter(|s| !s.is_empty())
            .map(String::from);
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
                .map_err(|e| crate::from_sdk(operation, target, e))
        } else {
            ec2.create_transit_gateway_route()
                .transit_gateway_route_table_id(table)
                .destination_cidr_block(cidr)
                .set_transit_gateway_attachment_id(attachment)
                .set_blackhole(blackhole)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk(operation, target, e))
        }
    }
}

#[async_trait]
impl Resource for TransitGatewayRoute {
    fn kind(&self) -> &'static str {
        "ec2.transit_gateway_route"
    }

    fn doc(&self) -> &'static str {
        "A static route of a transit gateway route table, to an attachment or a blackhole; a new target replaces it. \
         Attributes: `id` (`tgw-rtb-…|cidr`)."
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
        let attachment = props.get("transit_gateway_attachment_id");
        if token::is_unknown(table)
            || token::is_unknown(cidr)
            || attachment.is_some_and(token::is_unknown)
        {
            return None;
        }
        Some(key(table.as_str()?, cidr.as_str()?, target(props)?))
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_target(props)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let mut tables: BTreeSet<String> = hints
            .natural_keys
            .iter()
            .filter_map(|k| k.split('|').next())
            .map(String::from)
            .collect();
        for tgw in owned(aws, stack).await? {
            let options = tgw.options();
            tables.extend(
                options
                    .and_then(|o| o.association_default_route_table_id())
                    .map(String::from),
            );
            tables.extend(
                options
                    .and_then(|o| o.propagation_default_route_table_id())
                    .map(String::from),
            );
        }
        let mut out = Vec::new();
        for table in tables.iter().filter(|t| !t.is_empty()) {
            out.extend(Self::search(aws, table, hints).await?);
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        match Self::put(
            aws,
            "CreateTransitGatewayRoute",
            &req.address.to_string(),
            p,
            false,
        )
        .await
        {
            Ok(()) => {}
            // Left by an interrupted run (or by hand): make it what is declared.
            Err(e) if e.is("RouteAlreadyExists") => {
                Self::put(
                    aws,
                    "ReplaceTransitGatewayRoute",
                    &req.address.to_string(),
                    p,
                    true,
                )
                .await?
            }
            Err(e) => return Err(e),
        }
        let (table, cidr) = (
            str_prop(p, "transit_gateway_route_table_id"),
            str_prop(p, "destination_cidr_block"),
        );
        let id = route_id(table, cidr);
        Ok(Observed {
            address: Some(req.address.clone()),
            id: id.clone(),
            natural_key: Some(key(table, cidr, target(p).unwrap_or_default())),
            props: SCHEMA
                .iter()
                .filter_map(|f| p.get(f.name).map(|v| (f.name.to_string(), v.clone())))
                .collect(),
            attrs: props([("id", json!(id))]),
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
        if changed
            .iter()
            .any(|f| f == "transit_gateway_attachment_id" || f == "blackhole")
        {
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

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let mut id_parts = current.id.split('|');
        let (id_table, id_cidr) = (
            id_parts.next().unwrap_or_default(),
            id_parts.next().unwrap_or_default(),
        );
        let table = Some(str_prop(&current.props, "transit_gateway_route_table_id"))
            .filter(|s| !s.is_empty())
            .unwrap_or(id_table);
        let cidr = Some(str_prop(&current.props, "destination_cidr_block"))
            .filter(|s| !s.is_empty())
            .unwrap_or(id_cidr);
        gone_ok(
            aws.ec2()
                .delete_transit_gateway_route()
                .transit_gateway_route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteTransitGatewayRoute", &current.id, e)),
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
    fn natural_key_names_table_destination_and_target() {
        let p = obj(
            json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.3.4/16", "transit_gateway_attachment_id": "tgw-attach-1"}),
        );
        assert_eq!(
            TransitGatewayRoute.natural_key(&p).as_deref(),
            Some("tgw-rtb-1|10.10.0.0/16|tgw-attach-1")
        );
        let hole = obj(
            json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.30.0.0/16", "blackhole": true}),
        );
        assert_eq!(
            TransitGatewayRoute.natural_key(&hole).as_deref(),
            Some("tgw-rtb-1|10.30.0.0/16|blackhole")
        );
        let t = token::marker(
            &"ec2.transit_gateway_peering_attachment.p".parse().unwrap(),
            "id",
        );
        let p = obj(
            json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.0.0/16", "transit_gateway_attachment_id": t}),
        );
        assert_eq!(TransitGatewayRoute.natural_key(&p), None);
    }

    #[test]
    fn a_route_has_one_target() {
        let base = json!({"transit_gateway_route_table_id": "tgw-rtb-1", "destination_cidr_block": "10.10.0.0/16"});
        assert!(
            check_target(&obj(base.clone()))
                .unwrap_err()
                .contains("needs a target")
        );
        let mut both = obj(base.clone());
        both.insert(
            "transit_gateway_attachment_id".into(),
            json!("tgw-attach-1"),
        );
        both.insert("blackhole".into(), json!(true));
        assert!(check_target(&both).unwrap_err().contains("not both"));
        let mut hole = obj(base);
        hole.insert("blackhole".into(), json!(true));
        assert!(check_target(&hole).is_ok());
    }

    fn route(state: TransitGatewayRouteState, attachment: Option<&str>) -> Route {
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

    #[test]
    fn only_static_routes_are_reported() {
        let none = ReadHints::default();
        let o = observe(
            "tgw-rtb-1",
            &route(TransitGatewayRouteState::Active, Some("tgw-attach-1")),
            &none,
        )
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
        assert!(observe("tgw-rtb-1", &propagated, &none).is_none());
        let hole = observe(
            "tgw-rtb-1",
            &route(TransitGatewayRouteState::Blackhole, None),
            &none,
        )
        .unwrap();
        assert_eq!(hole.props["blackhole"], true);
        assert_eq!(
            hole.natural_key.as_deref(),
            Some("tgw-rtb-1|10.20.0.0/16|blackhole")
        );
    }

    #[test]
    fn an_unlisted_attachment_is_the_recorded_one() {
        let mut hints = ReadHints::default();
        hints
            .natural_keys
            .insert("tgw-rtb-1|10.20.0.0/16|tgw-attach-9".into());
        hints
            .natural_keys
            .insert("tgw-rtb-1|10.30.0.0/16|tgw-attach-8".into());
        let o = observe(
            "tgw-rtb-1",
            &route(TransitGatewayRouteState::Active, None),
            &hints,
        )
        .unwrap();
        assert_eq!(
            o.natural_key.as_deref(),
            Some("tgw-rtb-1|10.20.0.0/16|tgw-attach-9")
        );
        assert_eq!(o.props["transit_gateway_attachment_id"], "tgw-attach-9");
        let unknown = observe(
            "tgw-rtb-1",
            &route(TransitGatewayRouteState::Active, None),
            &ReadHints::default(),
        )
        .unwrap();
        assert!(!unknown.props.contains_key("transit_gateway_attachment_id"));
    }
}
