//! `aws::ec2::internet_gateway`: an internet gateway, optionally attached to a VPC.

use super::{
    pairs, props, retry_dependency, stack_filter, str_prop, tag_spec, untagged, update_tags,
};
use crate::context::Context;
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource, gone_ok};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, CloudErrorKind, tags};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttachmentStatus, ResourceType};
use serde_json::json;

/// An internet gateway; attaching it to a VPC is part of the resource.
pub struct InternetGateway;

const SCHEMA: &[Field] = &[
    Field::optional(
        "vpc_id",
        Kind::Str,
        "the VPC to attach the gateway to; changing it detaches and re-attaches",
    ),
    TAGS,
];

impl InternetGateway {
    /// The VPC the gateway is attached (or attaching) to; AWS reports an attached gateway as `available`.
    fn attached_vpc(igw: &aws_sdk_ec2::types::InternetGateway) -> Option<&str> {
        igw.attachments()
            .iter()
            .find(|a| {
                !matches!(
                    a.state(),
                    Some(AttachmentStatus::Detached | AttachmentStatus::Detaching)
                )
            })
            .and_then(|a| a.vpc_id())
    }

    fn observe(
        aws: &Aws,
        stack: &str,
        igw: &aws_sdk_ec2::types::InternetGateway,
    ) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(igw.tags()))?;
        let id = igw.internet_gateway_id().unwrap_or_default().to_string();
        let mut p = props([("tags", user_tags)]);
        if let Some(vpc) = Self::attached_vpc(igw) {
            p.insert("vpc_id".into(), json!(vpc));
        }
        let arn = format!(
            "arn:aws:ec2:{}:{}:internet-gateway/{id}",
            aws.region(),
            igw.owner_id().unwrap_or_default()
        );
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: p,
            attrs: props([("id", json!(id)), ("arn", json!(arn))]),
        })
    }

    async fn attach(aws: &Aws, id: &str, vpc_id: &str) -> Result<(), CloudError> {
        aws.ec2()
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc_id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("AttachInternetGateway", id, e))?;
        Ok(())
    }

    /// Detaches from `vpc_id`; a gateway already detached is fine, one still in use by mapped
    /// public addresses (a NAT gateway being deleted) is retried.
    async fn detach(aws: &Aws, id: &str, vpc_id: &str) -> Result<(), CloudError> {
        let ec2 = aws.ec2();
        retry_dependency("DetachInternetGateway", id, || async {
            match ec2
                .detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc_id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let e = crate::from_sdk("DetachInternetGateway", id, e);
                    if e.kind == CloudErrorKind::Service("Gateway.NotAttached".into()) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await
    }
}

#[async_trait]
impl Resource for InternetGateway {
    fn kind(&self) -> &'static str {
        "ec2.internet_gateway"
    }

    fn doc(&self) -> &'static str {
        "An internet gateway, attached to `vpc_id` when set. Attributes: `id`, `arn`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn"]
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
            .describe_internet_gateways()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("DescribeInternetGateways", stack, e))?;
            out.extend(
                page.internet_gateways()
                    .iter()
                    .filter_map(|g| Self::observe(aws, stack, g)),
            );
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let out = aws
            .ec2()
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateInternetGateway", req.address, e))?;
        let igw = out
            .internet_gateway()
            .ok_or_else(|| untagged("CreateInternetGateway", req.address, "internet gateway"))?;
        let mut observed = Self::observe(aws, req.stack, igw)
            .ok_or_else(|| untagged("CreateInternetGateway", req.address, "internet gateway"))?;
        // Attaching takes effect at once: the gateway is usable when the call returns.
        let vpc_id = str_prop(req.props, "vpc_id");
        if !vpc_id.is_empty() {
            Self::attach(aws, &observed.id, vpc_id).await?;
            observed.props.insert("vpc_id".into(), json!(vpc_id));
        }
        Ok(observed)
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
                "vpc_id" => {
                    let (from, to) = (
                        str_prop(&current.props, "vpc_id"),
                        str_prop(desired, "vpc_id"),
                    );
                    if !from.is_empty() {
                        Self::detach(aws, &current.id, from).await?;
                    }
                    if !to.is_empty() {
                        Self::attach(aws, &current.id, to).await?;
                    }
                }
                "tags" => update_tags(aws, &current.id, &current.props, desired).await?,
                _ => {}
            }
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        // Detach from whatever AWS says it is attached to, not what state remembers.
        let found = aws
            .ec2()
            .describe_internet_gateways()
            .internet_gateway_ids(&current.id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeInternetGateways", &current.id, e));
        let found = match found {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        for igw in found.internet_gateways() {
            if let Some(vpc) = Self::attached_vpc(igw) {
                Self::detach(aws, &current.id, vpc).await?;
            }
        }
        gone_ok(
            aws.ec2()
                .delete_internet_gateway()
                .internet_gateway_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteInternetGateway", &current.id, e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::InternetGatewayAttachment;

    fn igw(states: &[(&str, &str)]) -> aws_sdk_ec2::types::InternetGateway {
        let mut b = aws_sdk_ec2::types::InternetGateway::builder().internet_gateway_id("igw-1");
        for (vpc, state) in states {
            b = b.attachments(
                InternetGatewayAttachment::builder()
                    .vpc_id(*vpc)
                    .state((*state).into())
                    .build(),
            );
        }
        b.build()
    }

    #[test]
    fn available_counts_as_attached_and_detached_does_not() {
        assert_eq!(
            InternetGateway::attached_vpc(&igw(&[("vpc-1", "available")])),
            Some("vpc-1")
        );
        assert_eq!(
            InternetGateway::attached_vpc(&igw(&[("vpc-1", "detached"), ("vpc-2", "attaching")])),
            Some("vpc-2")
        );
        assert_eq!(
            InternetGateway::attached_vpc(&igw(&[("vpc-1", "detaching")])),
            None
        );
        assert_eq!(InternetGateway::attached_vpc(&igw(&[])), None);
    }

    #[test]
    fn vpc_id_is_updatable() {
        let f = SCHEMA.iter().find(|f| f.name == "vpc_id").unwrap();
        assert!(!f.force_new && !f.required);
    }
}
