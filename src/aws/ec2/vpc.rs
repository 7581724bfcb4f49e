//! `aws::ec2::vpc`: a VPC.

use super::{bool_prop, pairs, props, stack_filter, str_prop, tag_spec, update_tags};
use crate::aws::{Aws, CloudError, tags};
use crate::resource::{
    CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource, gone_ok,
};
use crate::schema::{Field, Kind, TAGS};
use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use serde_json::{Value, json};

/// A VPC with its DNS attributes.
pub struct Vpc;

const SCHEMA: &[Field] = &[
    Field::required("cidr_block", Kind::Cidr, "the IPv4 CIDR block of the VPC"),
    Field::optional(
        "enable_dns_support",
        Kind::Bool,
        "resolve DNS through the Amazon resolver",
    )
    .default("true"),
    Field::optional(
        "enable_dns_hostnames",
        Kind::Bool,
        "give instances public DNS hostnames",
    )
    .default("false"),
    Field::optional(
        "instance_tenancy",
        Kind::Enum(&["default", "dedicated"]),
        "tenancy of instances",
    )
    .default("\"default\"")
    .force_new(),
    TAGS,
];

impl Vpc {
    async fn set_dns(aws: &Aws, id: &str, attr: &str, value: bool) -> Result<(), CloudError> {
        let flag = AttributeBooleanValue::builder().value(value).build();
        let call = aws.ec2().modify_vpc_attribute().vpc_id(id);
        let call = if attr == "enable_dns_support" {
            call.enable_dns_support(flag)
        } else {
            call.enable_dns_hostnames(flag)
        };
        call.send()
            .await
            .map_err(|e| CloudError::from_sdk("ModifyVpcAttribute", id, e))?;
        Ok(())
    }

    async fn read_dns(aws: &Aws, id: &str, attr: VpcAttributeName) -> Result<bool, CloudError> {
        let out = aws
            .ec2()
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(attr.clone())
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("DescribeVpcAttribute", id, e))?;
        let v = match attr {
            VpcAttributeName::EnableDnsSupport => out.enable_dns_support().and_then(|a| a.value()),
            _ => out.enable_dns_hostnames().and_then(|a| a.value()),
        };
        Ok(v.unwrap_or(false))
    }

    async fn observe(
        aws: &Aws,
        stack: &str,
        vpc: &aws_sdk_ec2::types::Vpc,
    ) -> Result<Option<Observed>, CloudError> {
        let Some((address, user_tags)) = tags::split_owned(stack, pairs(vpc.tags())) else {
            return Ok(None);
        };
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        let dns_support = Self::read_dns(aws, &id, VpcAttributeName::EnableDnsSupport).await?;
        let dns_hostnames = Self::read_dns(aws, &id, VpcAttributeName::EnableDnsHostnames).await?;
        let cidr = vpc.cidr_block().unwrap_or_default();
        Ok(Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: props([
                ("cidr_block", json!(cidr)),
                ("enable_dns_support", json!(dns_support)),
                ("enable_dns_hostnames", json!(dns_hostnames)),
                (
                    "instance_tenancy",
                    json!(
                        vpc.instance_tenancy()
                            .map(|t| t.as_str())
                            .unwrap_or("default")
                    ),
                ),
                ("tags", user_tags),
            ]),
            attrs: props([
                ("id", json!(id)),
                (
                    "arn",
                    json!(format!(
                        "arn:aws:ec2:{}:{}:vpc/{id}",
                        aws.region(),
                        vpc.owner_id().unwrap_or_default()
                    )),
                ),
                ("cidr_block", json!(cidr)),
                ("owner_id", json!(vpc.owner_id().unwrap_or_default())),
            ]),
        }))
    }
}

#[async_trait]
impl Resource for Vpc {
    fn kind(&self) -> &'static str {
        "ec2.vpc"
    }

    fn doc(&self) -> &'static str {
        "A VPC. Attributes: `id`, `arn`, `cidr_block`, `owner_id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "cidr_block", "owner_id"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        let cidr = str_prop(props, "cidr_block");
        if let Ok(net) = cidr.parse::<ipnet::IpNet>() {
            if !(16..=28).contains(&net.prefix_len()) {
                return Err(format!(
                    "property `cidr_block`: a VPC block must be between /16 and /28, not /{}",
                    net.prefix_len()
                ));
            }
        }
        Ok(())
    }

    async fn read_all(
        &self,
        aws: &Aws,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let mut pages = aws
            .ec2()
            .describe_vpcs()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| CloudError::from_sdk("DescribeVpcs", stack, e))?;
            for vpc in page.vpcs() {
                out.extend(Self::observe(aws, stack, vpc).await?);
            }
        }
        Ok(out)
    }

    async fn create(&self, aws: &Aws, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let p = req.props;
        let out = aws
            .ec2()
            .create_vpc()
            .cidr_block(str_prop(p, "cidr_block"))
            .set_instance_tenancy(
                p.get("instance_tenancy")
                    .and_then(Value::as_str)
                    .map(Into::into),
            )
            .tag_specifications(tag_spec(ResourceType::Vpc, req))
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("CreateVpc", req.address, e))?;
        let vpc = out
            .vpc()
            .cloned()
            .unwrap_or_else(|| aws_sdk_ec2::types::Vpc::builder().build());
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        for attr in ["enable_dns_support", "enable_dns_hostnames"] {
            if let Some(v) = bool_prop(p, attr) {
                Self::set_dns(aws, &id, attr, v).await?;
            }
        }
        Self::observe(aws, req.stack, &vpc).await?.ok_or_else(|| {
            CloudError::new(
                "CreateVpc",
                req.address,
                crate::aws::CloudErrorKind::Service("Tags".into()),
                "the new VPC came back without its ownership tags",
            )
        })
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        for field in changed {
            match field.as_str() {
                "enable_dns_support" | "enable_dns_hostnames" => {
                    Self::set_dns(
                        aws,
                        &current.id,
                        field,
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

    async fn delete(&self, aws: &Aws, current: &Observed) -> Result<(), CloudError> {
        gone_ok(
            aws.ec2()
                .delete_vpc()
                .vpc_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| CloudError::from_sdk("DeleteVpc", &current.id, e)),
        )
    }
}
