//! `aws::ec2::subnet`: a subnet of a VPC.

use super::{
    bool_prop, pairs, props, retry_dependency, stack_filter, str_prop, tag_spec, untagged,
    update_tags,
};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, SubnetState};
use ipnet::IpNet;
use serde_json::json;
use std::time::Duration;

/// A subnet in one availability zone.
pub struct Subnet;

const SCHEMA: &[Field] = &[
    Field::required("vpc_id", Kind::Str, "the VPC the subnet belongs to"),
    Field::required(
        "cidr_block",
        Kind::Cidr,
        "the IPv4 CIDR block, inside the VPC's block",
    ),
    Field::required(
        "availability_zone",
        Kind::Str,
        "the availability zone, e.g. `us-east-1a`",
    ),
    Field::optional(
        "map_public_ip_on_launch",
        Kind::Bool,
        "give instances launched here a public IP",
    )
    .default("false"),
    TAGS,
];

/// Subnets are usually available at once; this only bounds a stuck one.
const CREATE_TIMEOUT: Duration = Duration::from_secs(300);

impl Subnet {
    async fn describe(
        aws: &Aws,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::Subnet>, CloudError> {
        let out = aws
            .ec2()
            .describe_subnets()
            .subnet_ids(id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeSubnets", id, e))?;
        Ok(out.subnets().first().cloned())
    }

    async fn state(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        // A subnet that is not visible yet is eventual consistency, not absence.
        let state = match Self::describe(aws, id).await {
            Ok(s) => s.and_then(|s| s.state().cloned()),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        Ok(match state {
            Some(SubnetState::Available) => WaitState::Ready,
            Some(s @ (SubnetState::Failed | SubnetState::FailedInsufficientCapacity)) => {
                WaitState::Failed(format!("the subnet ended in state `{}`", s.as_str()))
            }
            Some(s) => WaitState::Pending(s.as_str().to_string()),
            None => WaitState::Pending("not visible yet".into()),
        })
    }

    async fn set_public_ip(aws: &Aws, id: &str, value: bool) -> Result<(), CloudError> {
        aws.ec2()
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
            .send()
            .await
            .map_err(|e| crate::from_sdk("ModifySubnetAttribute", id, e))?;
        Ok(())
    }

    fn observe(aws: &Aws, stack: &str, subnet: &aws_sdk_ec2::types::Subnet) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(subnet.tags()))?;
        let id = subnet.subnet_id().unwrap_or_default().to_string();
        let cidr = subnet.cidr_block().unwrap_or_default();
        let az = subnet.availability_zone().unwrap_or_default();
        let vpc_id = subnet.vpc_id().unwrap_or_default();
        let arn = subnet.subnet_arn().map(String::from).unwrap_or_else(|| {
            format!(
                "arn:aws:ec2:{}:{}:subnet/{id}",
                aws.region(),
                subnet.owner_id().unwrap_or_default()
            )
        });
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: props([
                ("vpc_id", json!(vpc_id)),
                ("cidr_block", json!(cidr)),
                ("availability_zone", json!(az)),
                (
                    "map_public_ip_on_launch",
                    json!(subnet.map_public_ip_on_launch().unwrap_or(false)),
                ),
                ("tags", user_tags),
            ]),
            attrs: props([
                ("id", json!(id)),
                ("arn", json!(arn)),
                ("cidr_block", json!(cidr)),
                ("availability_zone", json!(az)),
                ("vpc_id", json!(vpc_id)),
            ]),
        })
    }
}

/// Checks that a subnet's block lies inside the declared block of the VPC its `vpc_id` refers to.
fn check_inside_vpc(props: &Props, others: &dyn DeclaredProps) -> Result<(), String> {
    let cidr = str_prop(props, "cidr_block");
    let Ok(subnet) = cidr.parse::<IpNet>() else {
        return Ok(());
    };
    for r in token::refs_in_str(str_prop(props, "vpc_id")) {
        if r.address.kind() != "ec2.vpc" {
            continue;
        }
        let Some(vpc_props) = others.props_of(&r.address) else {
            continue;
        };
        let vpc_cidr = str_prop(vpc_props, "cidr_block");
        let Ok(vpc) = vpc_cidr.parse::<IpNet>() else {
            continue;
        };
        if !vpc.trunc().contains(&subnet.trunc()) {
            return Err(format!(
                "property `cidr_block`: `{cidr}` is outside the VPC's `{vpc_cidr}` (`{}`)",
                r.address
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl Resource for Subnet {
    fn kind(&self) -> &'static str {
        "ec2.subnet"
    }

    fn doc(&self) -> &'static str {
        "A subnet of a VPC in one availability zone. Attributes: `id`, `arn`, `cidr_block`, `availability_zone`, `vpc_id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "cidr_block", "availability_zone", "vpc_id"]
    }

    fn validate(&self, props: &Props, others: &dyn DeclaredProps) -> Result<(), String> {
        check_inside_vpc(props, others)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let mut pages = aws
            .ec2()
            .describe_subnets()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("DescribeSubnets", stack, e))?;
            out.extend(
                page.subnets()
                    .iter()
                    .filter_map(|s| Self::observe(aws, stack, s)),
            );
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let out = aws
            .ec2()
            .create_subnet()
            .vpc_id(str_prop(p, "vpc_id"))
            .cidr_block(str_prop(p, "cidr_block"))
            .availability_zone(str_prop(p, "availability_zone"))
            .tag_specifications(tag_spec(ResourceType::Subnet, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateSubnet", req.address, e))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_string();
        wait_until("CreateSubnet", &id, CREATE_TIMEOUT, || {
            Self::state(aws, &id)
        })
        .await?;
        if bool_prop(p, "map_public_ip_on_launch") == Some(true) {
            Self::set_public_ip(aws, &id, true).await?;
        }
        let subnet = Self::describe(aws, &id)
            .await?
            .or_else(|| out.subnet().cloned());
        subnet
            .and_then(|s| Self::observe(aws, req.stack, &s))
            .ok_or_else(|| untagged("CreateSubnet", req.address, "subnet"))
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        for field in changed {
            match field.as_str() {
                "map_public_ip_on_launch" => {
                    Self::set_public_ip(
                        aws,
                        &current.id,
                        bool_prop(desired, field).unwrap_or(false),
                    )
                    .await?
                }
                "tags" => update_tags(aws, &current.id, &current.props, desired).await?,
                _ => {}
            }
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let ec2 = aws.ec2();
        retry_dependency("DeleteSubnet", &current.id, || async {
            ec2.delete_subnet()
                .subnet_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteSubnet", &current.id, e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use std::collections::HashMap;

    struct Declared(HashMap<Address, Props>);

    impl DeclaredProps for Declared {
        fn props_of(&self, address: &Address) -> Option<&Props> {
            self.0.get(address)
        }
    }

    fn obj(v: serde_json::Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn with_vpc(cidr: &str) -> (Declared, String) {
        let vpc: Address = "ec2.vpc.examplepay-prod".parse().unwrap();
        let marker = token::marker(&vpc, "id");
        (
            Declared(HashMap::from([(vpc, obj(json!({"cidr_block": cidr})))])),
            marker,
        )
    }

    #[test]
    fn a_subnet_outside_its_vpc_is_refused() {
        let (others, vpc_id) = with_vpc("10.10.0.0/16");
        let p = obj(
            json!({"vpc_id": vpc_id, "cidr_block": "10.30.1.0/24", "availability_zone": "us-east-1a"}),
        );
        assert_eq!(
            Subnet.validate(&p, &others).unwrap_err(),
            "property `cidr_block`: `10.30.1.0/24` is outside the VPC's `10.10.0.0/16` (`ec2.vpc.examplepay-prod`)"
        );
    }

    #[test]
    fn a_subnet_inside_its_vpc_passes() {
        let (others, vpc_id) = with_vpc("10.10.0.0/16");
        let p = obj(json!({"vpc_id": vpc_id, "cidr_block": "10.10.32.0/19"}));
        assert!(Subnet.validate(&p, &others).is_ok());
    }

    #[test]
    fn unknown_vpcs_and_literal_ids_are_not_checked() {
        let (others, _) = with_vpc("10.10.0.0/16");
        let literal = obj(json!({"vpc_id": "vpc-123", "cidr_block": "10.30.1.0/24"}));
        assert!(Subnet.validate(&literal, &others).is_ok());
        let other_vpc = token::marker(&"ec2.vpc.elsewhere".parse().unwrap(), "id");
        let undeclared = obj(json!({"vpc_id": other_vpc, "cidr_block": "10.30.1.0/24"}));
        assert!(Subnet.validate(&undeclared, &others).is_ok());
    }

    #[test]
    fn a_vpc_block_still_unknown_is_not_checked() {
        let vpc_cidr = token::marker(&"ec2.vpc.ipam".parse().unwrap(), "cidr_block");
        let (others, vpc_id) = with_vpc(&vpc_cidr);
        let p = obj(json!({"vpc_id": vpc_id, "cidr_block": "10.30.1.0/24"}));
        assert!(Subnet.validate(&p, &others).is_ok());
    }
}
