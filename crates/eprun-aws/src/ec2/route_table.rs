//! `aws::ec2::route_table`: a route table of a VPC (its routes and associations are separate types).

use super::{
    owned_route_tables, pairs, props, retry_dependency, str_prop, tag_spec, untagged, update_tags,
};
use crate::context::Context;
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, tags};
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use serde_json::{Value, json};

/// A route table; routes are `aws::ec2::route`, subnets join through `aws::ec2::route_table_association`.
pub struct RouteTable;

const SCHEMA: &[Field] = &[
    Field::required("vpc_id", Kind::Str, "the VPC the table belongs to"),
    TAGS,
];

impl RouteTable {
    fn observed(
        address: crate::address::Address,
        user_tags: Value,
        table: &aws_sdk_ec2::types::RouteTable,
    ) -> Observed {
        let id = table.route_table_id().unwrap_or_default().to_string();
        Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: props([
                ("vpc_id", json!(table.vpc_id().unwrap_or_default())),
                ("tags", user_tags),
            ]),
            attrs: props([("id", json!(id))]),
        }
    }
}

#[async_trait]
impl Resource for RouteTable {
    fn kind(&self) -> &'static str {
        "ec2.route_table"
    }

    fn doc(&self) -> &'static str {
        "A route table of a VPC; routes and subnet associations are separate resources. Attributes: `id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
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
            .into_iter()
            .map(|(address, user_tags, table)| Self::observed(address, user_tags, &table))
            .collect())
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let out = aws
            .ec2()
            .create_route_table()
            .vpc_id(str_prop(req.props, "vpc_id"))
            .tag_specifications(tag_spec(ResourceType::RouteTable, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateRouteTable", req.address, e))?;
        // A route table is usable as soon as the call returns.
        out.route_table()
            .and_then(|t| {
                let (address, user_tags) = tags::split_owned(req.stack, pairs(t.tags()))?;
                Some(Self::observed(address, user_tags, t))
            })
            .ok_or_else(|| untagged("CreateRouteTable", req.address, "route table"))
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        if changed.iter().any(|f| f == "tags") {
            update_tags(aws, &current.id, &current.props, desired).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let ec2 = aws.ec2();
        retry_dependency("DeleteRouteTable", &current.id, || async {
            ec2.delete_route_table()
                .route_table_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteRouteTable", &current.id, e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_props_match_the_schema() {
        let table = aws_sdk_ec2::types::RouteTable::builder()
            .route_table_id("rtb-1")
            .vpc_id("vpc-1")
            .build();
        let seen = RouteTable::observed(
            "ec2.route_table.private-a".parse().unwrap(),
            json!({}),
            &table,
        );
        let names: Vec<&str> = SCHEMA.iter().map(|f| f.name).collect();
        assert!(seen.props.keys().all(|k| names.contains(&k.as_str())));
        assert_eq!(seen.attrs["id"], "rtb-1");
    }
}
