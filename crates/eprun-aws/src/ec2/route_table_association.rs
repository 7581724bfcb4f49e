//! `aws::ec2::route_table_association`: a subnet's link to a route table (untaggable, found by table and subnet).

use super::{owned_route_tables, props, str_prop};
use crate::context::Context;
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource, gone_ok};
use crate::schema::{Field, Kind};
use crate::token;
use crate::{Aws, CloudError, WaitState, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, RouteTableAssociationStateCode as Code};
use serde_json::{Value, json};
use std::time::Duration;

/// The association of a subnet with a route table.
pub struct RouteTableAssociation;

const SCHEMA: &[Field] = &[
    Field::required("route_table_id", Kind::Str, "the route table"),
    Field::required(
        "subnet_id",
        Kind::Str,
        "the subnet that uses the route table",
    ),
];

/// Associations normally take effect at once; this bounds a slow one.
const TIMEOUT: Duration = Duration::from_secs(120);

/// `<route_table_id>|<subnet_id>`.
fn key(table: &str, subnet: &str) -> String {
    format!("{table}|{subnet}")
}

/// Whether an association state still links the subnet (or is about to).
fn is_live(state: Option<&Code>) -> bool {
    !matches!(
        state,
        Some(Code::Disassociated | Code::Disassociating | Code::Failed)
    )
}

/// A subnet association read from a table; main-table and gateway associations are not this type.
fn observe(table_id: &str, assoc: &aws_sdk_ec2::types::RouteTableAssociation) -> Option<Observed> {
    let subnet = assoc.subnet_id()?;
    if assoc.main() == Some(true) || !is_live(assoc.association_state().and_then(|s| s.state())) {
        return None;
    }
    let id = assoc.route_table_association_id()?.to_string();
    Some(Observed {
        address: None,
        id: id.clone(),
        natural_key: Some(key(table_id, subnet)),
        props: props([
            ("route_table_id", json!(table_id)),
            ("subnet_id", json!(subnet)),
        ]),
        attrs: props([("id", json!(id))]),
    })
}

impl RouteTableAssociation {
    async fn state(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        let out = aws
            .ec2()
            .describe_route_tables()
            .filters(
                Filter::builder()
                    .name("association.route-table-association-id")
                    .values(id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeRouteTables", id, e))?;
        let state = out
            .route_tables()
            .iter()
            .flat_map(|t| t.associations())
            .find(|a| a.route_table_association_id() == Some(id))
            .and_then(|a| a.association_state().cloned());
        Ok(match state.as_ref().and_then(|s| s.state()) {
            Some(Code::Associated) => WaitState::Ready,
            Some(Code::Failed) => WaitState::Failed(format!(
                "the association failed: {}",
                state
                    .as_ref()
                    .and_then(|s| s.status_message())
                    .unwrap_or("no reason given")
            )),
            Some(s) => WaitState::Pending(s.as_str().to_string()),
            None => WaitState::Pending("not visible yet".into()),
        })
    }
}

#[async_trait]
impl Resource for RouteTableAssociation {
    fn kind(&self) -> &'static str {
        "ec2.route_table_association"
    }

    fn doc(&self) -> &'static str {
        "Makes a subnet use a route table. Attributes: `id` (the association id)."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let (table, subnet) = (props.get("route_table_id")?, props.get("subnet_id")?);
        if token::is_unknown(table) || token::is_unknown(subnet) {
            return None;
        }
        Some(key(table.as_str()?, subnet.as_str()?))
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
                table
                    .associations()
                    .iter()
                    .filter_map(move |a| observe(id, a))
            })
            .collect())
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let (table, subnet) = (
            str_prop(req.props, "route_table_id"),
            str_prop(req.props, "subnet_id"),
        );
        let out = aws
            .ec2()
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| crate::from_sdk("AssociateRouteTable", req.address, e))?;
        let id = out.association_id().unwrap_or_default().to_string();
        let state = out.association_state().and_then(|s| s.state());
        if !matches!(state, None | Some(Code::Associated)) {
            wait_until("AssociateRouteTable", &id, TIMEOUT, || {
                Self::state(aws, &id)
            })
            .await?;
        }
        Ok(Observed {
            address: Some(req.address.clone()),
            id: id.clone(),
            natural_key: Some(key(table, subnet)),
            props: props([
                ("route_table_id", Value::from(table)),
                ("subnet_id", Value::from(subnet)),
            ]),
            attrs: props([("id", json!(id))]),
        })
    }

    async fn update(
        &self,
        _cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        // Both fields force a new association; nothing changes in place.
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        gone_ok(
            aws.ec2()
                .disassociate_route_table()
                .association_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DisassociateRouteTable", &current.id, e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{RouteTableAssociation as Assoc, RouteTableAssociationState};

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn natural_key_is_table_and_subnet() {
        let p = obj(json!({"route_table_id": "rtb-1", "subnet_id": "subnet-2"}));
        assert_eq!(
            RouteTableAssociation.natural_key(&p).as_deref(),
            Some("rtb-1|subnet-2")
        );
        let subnet = token::marker(&"ec2.subnet.private-a".parse().unwrap(), "id");
        let p = obj(json!({"route_table_id": "rtb-1", "subnet_id": subnet}));
        assert_eq!(RouteTableAssociation.natural_key(&p), None);
    }

    #[test]
    fn main_gateway_and_dead_associations_are_skipped() {
        let state = |c: Code| RouteTableAssociationState::builder().state(c).build();
        let main = Assoc::builder()
            .main(true)
            .route_table_association_id("rtbassoc-0")
            .build();
        assert!(observe("rtb-1", &main).is_none());
        let gateway = Assoc::builder()
            .gateway_id("igw-1")
            .route_table_association_id("rtbassoc-1")
            .build();
        assert!(observe("rtb-1", &gateway).is_none());
        let gone = Assoc::builder()
            .subnet_id("subnet-1")
            .route_table_association_id("rtbassoc-2")
            .association_state(state(Code::Disassociated))
            .build();
        assert!(observe("rtb-1", &gone).is_none());
        let live = Assoc::builder()
            .main(false)
            .subnet_id("subnet-1")
            .route_table_association_id("rtbassoc-3")
            .association_state(state(Code::Associated))
            .build();
        let seen = observe("rtb-1", &live).unwrap();
        assert_eq!(
            (seen.id.as_str(), seen.natural_key.as_deref()),
            ("rtbassoc-3", Some("rtb-1|subnet-1"))
        );
    }
}
