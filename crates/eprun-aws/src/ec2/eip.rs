//! `aws::ec2::eip`: an Elastic IP address.

use super::{pairs, props, stack_filter, str_prop, tag_spec, untagged, update_tags};
use crate::context::Context;
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource, gone_ok};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, tags};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use serde_json::json;

/// An Elastic IP address allocated for use in a VPC (e.g. by a NAT gateway).
pub struct Eip;

const SCHEMA: &[Field] = &[
    Field::optional("domain", Kind::Enum(&["vpc"]), "where the address is used")
        .default("\"vpc\"")
        .force_new(),
    TAGS,
];

impl Eip {
    fn observe(stack: &str, addr: &Address) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(addr.tags()))?;
        let id = addr.allocation_id().unwrap_or_default().to_string();
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: props([
                (
                    "domain",
                    json!(addr.domain().map(|d| d.as_str()).unwrap_or("vpc")),
                ),
                ("tags", user_tags),
            ]),
            attrs: props([
                ("id", json!(id)),
                ("public_ip", json!(addr.public_ip().unwrap_or_default())),
            ]),
        })
    }
}

#[async_trait]
impl Resource for Eip {
    fn kind(&self) -> &'static str {
        "ec2.eip"
    }

    fn doc(&self) -> &'static str {
        "An Elastic IP address. Attributes: `id` (the allocation id), `public_ip`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "public_ip"]
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        // DescribeAddresses has no pagination: one call returns every address.
        let out = aws
            .ec2()
            .describe_addresses()
            .filters(stack_filter(stack))
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeAddresses", stack, e))?;
        Ok(out
            .addresses()
            .iter()
            .filter_map(|a| Self::observe(stack, a))
            .collect())
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let domain = match str_prop(req.props, "domain") {
            "" => "vpc",
            d => d,
        };
        let out = aws
            .ec2()
            .allocate_address()
            .domain(DomainType::from(domain))
            .tag_specifications(tag_spec(ResourceType::ElasticIp, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("AllocateAddress", req.address, e))?;
        let id = out.allocation_id().unwrap_or_default().to_string();
        // AllocateAddress answers without tags; the address is usable at once, so build what a read would see.
        let addr = Address::builder()
            .allocation_id(&id)
            .set_public_ip(out.public_ip().map(String::from))
            .domain(out.domain().cloned().unwrap_or(DomainType::Vpc))
            .set_tags(Some(
                req.tags
                    .iter()
                    .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .build();
        Self::observe(req.stack, &addr)
            .ok_or_else(|| untagged("AllocateAddress", req.address, "address"))
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
        gone_ok(
            aws.ec2()
                .release_address()
                .allocation_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("ReleaseAddress", &current.id, e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_ec2::types::Tag;

    #[test]
    fn only_addresses_tagged_for_the_stack_are_ours() {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let addr = Address::builder()
            .allocation_id("eipalloc-1")
            .public_ip("203.0.113.7")
            .domain(DomainType::Vpc)
            .tags(tag(STACK_TAG, "s"))
            .tags(tag(ADDRESS_TAG, "ec2.eip.nat-a"))
            .build();
        let seen = Eip::observe("s", &addr).unwrap();
        assert_eq!(seen.id, "eipalloc-1");
        assert_eq!(seen.attrs["public_ip"], "203.0.113.7");
        assert_eq!(seen.props["domain"], "vpc");
        assert!(Eip::observe("other", &addr).is_none());
    }
}
