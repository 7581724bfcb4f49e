//! `aws::ec2::nat_gateway`: a NAT gateway in a subnet.

use super::{pairs, props, stack_filter, str_prop, tag_spec, untagged, update_tags};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ConnectivityType, NatGatewayState, ResourceType};
use serde_json::json;
use std::time::Duration;

/// A NAT gateway; a public one needs an Elastic IP.
pub struct NatGateway;

const SCHEMA: &[Field] = &[
    Field::required(
        "subnet_id",
        Kind::Str,
        "the subnet the gateway lives in (a public one for public connectivity)",
    ),
    Field::optional(
        "allocation_id",
        Kind::Str,
        "the Elastic IP allocation id; required for public connectivity",
    )
    .force_new(),
    Field::optional(
        "connectivity_type",
        Kind::Enum(&["public", "private"]),
        "whether the gateway reaches the internet",
    )
    .default("\"public\"")
    .force_new(),
    TAGS,
];

/// NAT gateways take a few minutes to come up and to go away.
const TIMEOUT: Duration = Duration::from_secs(900);

impl NatGateway {
    fn observe(stack: &str, gw: &aws_sdk_ec2::types::NatGateway) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(gw.tags()))?;
        let id = gw.nat_gateway_id().unwrap_or_default().to_string();
        let primary = gw
            .nat_gateway_addresses()
            .iter()
            .find(|a| a.is_primary() == Some(true))
            .or_else(|| gw.nat_gateway_addresses().first());
        let mut p = props([
            ("subnet_id", json!(gw.subnet_id().unwrap_or_default())),
            (
                "connectivity_type",
                json!(
                    gw.connectivity_type()
                        .map(|c| c.as_str())
                        .unwrap_or("public")
                ),
            ),
            ("tags", user_tags),
        ]);
        if let Some(alloc) = primary.and_then(|a| a.allocation_id()) {
            p.insert("allocation_id".into(), json!(alloc));
        }
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: p,
            attrs: props([
                ("id", json!(id)),
                (
                    "public_ip",
                    json!(primary.and_then(|a| a.public_ip()).unwrap_or_default()),
                ),
                (
                    "private_ip",
                    json!(primary.and_then(|a| a.private_ip()).unwrap_or_default()),
                ),
            ]),
        })
    }

    async fn describe(
        aws: &Aws,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::NatGateway>, CloudError> {
        let out = aws
            .ec2()
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeNatGateways", id, e));
        match out {
            Ok(out) => Ok(out.nat_gateways().first().cloned()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn until_available(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        let Some(gw) = Self::describe(aws, id).await? else {
            return Ok(WaitState::Pending("not visible yet".into()));
        };
        Ok(match gw.state() {
            Some(NatGatewayState::Available) => WaitState::Ready,
            Some(
                NatGatewayState::Failed | NatGatewayState::Deleting | NatGatewayState::Deleted,
            ) => WaitState::Failed(format!(
                "the NAT gateway failed: {}",
                gw.failure_message()
                    .or(gw.failure_code())
                    .unwrap_or("no reason given")
            )),
            Some(s) => WaitState::Pending(s.as_str().to_string()),
            None => WaitState::Pending("in an unknown state".into()),
        })
    }

    async fn until_deleted(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        Ok(
            match Self::describe(aws, id)
                .await?
                .and_then(|gw| gw.state().cloned())
            {
                None | Some(NatGatewayState::Deleted) => WaitState::Ready,
                Some(s) => WaitState::Pending(s.as_str().to_string()),
            },
        )
    }
}

/// A public gateway needs an Elastic IP; a private one cannot take one.
fn check_allocation(props: &Props) -> Result<(), String> {
    let has_eip = props.contains_key("allocation_id");
    match str_prop(props, "connectivity_type") {
        "private" if has_eip => Err("property `allocation_id`: a private NAT gateway takes no Elastic IP".into()),
        "public" | "" if !has_eip => {
            Err("missing property `allocation_id`: a public NAT gateway needs an Elastic IP (`aws::ec2::eip`)".into())
        }
        _ => Ok(()),
    }
}

#[async_trait]
impl Resource for NatGateway {
    fn kind(&self) -> &'static str {
        "ec2.nat_gateway"
    }

    fn doc(&self) -> &'static str {
        "A NAT gateway in a subnet. Attributes: `id`, `public_ip`, `private_ip`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "public_ip", "private_ip"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_allocation(props)
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
            .describe_nat_gateways()
            .filter(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("DescribeNatGateways", stack, e))?;
            for gw in page.nat_gateways() {
                // Deleted gateways stay listed for an hour, and failed ones delete themselves:
                // neither is a gateway the stack has, so a new one gets created.
                if matches!(
                    gw.state(),
                    Some(
                        NatGatewayState::Deleted
                            | NatGatewayState::Deleting
                            | NatGatewayState::Failed
                    )
                ) {
                    continue;
                }
                out.extend(Self::observe(stack, gw));
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let allocation = str_prop(p, "allocation_id");
        let out = aws
            .ec2()
            .create_nat_gateway()
            .subnet_id(str_prop(p, "subnet_id"))
            .set_allocation_id((!allocation.is_empty()).then(|| allocation.to_string()))
            .set_connectivity_type(match str_prop(p, "connectivity_type") {
                "" => None,
                c => Some(ConnectivityType::from(c)),
            })
            .tag_specifications(tag_spec(ResourceType::Natgateway, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateNatGateway", req.address, e))?;
        let id = out
            .nat_gateway()
            .and_then(|g| g.nat_gateway_id())
            .unwrap_or_default()
            .to_string();
        wait_until("CreateNatGateway", &id, TIMEOUT, || {
            Self::until_available(aws, &id)
        })
        .await?;
        // Read it again: the public IP is only known once it is available.
        Self::describe(aws, &id)
            .await?
            .and_then(|gw| Self::observe(req.stack, &gw))
            .ok_or_else(|| untagged("CreateNatGateway", req.address, "NAT gateway"))
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
        let deleted = aws
            .ec2()
            .delete_nat_gateway()
            .nat_gateway_id(&current.id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DeleteNatGateway", &current.id, e));
        match deleted {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // Its Elastic IP and subnet stay in use until the gateway reaches `deleted`.
        wait_until("DeleteNatGateway", &current.id, TIMEOUT, || {
            Self::until_deleted(aws, &current.id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: serde_json::Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn public_gateways_need_an_elastic_ip() {
        let e = check_allocation(&obj(json!({"subnet_id": "subnet-1"}))).unwrap_err();
        assert!(e.contains("`allocation_id`"), "{e}");
        assert!(
            check_allocation(&obj(
                json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1"})
            ))
            .is_ok()
        );
    }

    #[test]
    fn private_gateways_take_none() {
        let p = obj(
            json!({"subnet_id": "s", "connectivity_type": "private", "allocation_id": "eipalloc-1"}),
        );
        assert!(check_allocation(&p).is_err());
        assert!(
            check_allocation(&obj(
                json!({"subnet_id": "s", "connectivity_type": "private"})
            ))
            .is_ok()
        );
    }
}
