//! `aws::ec2::transit_gateway_vpc_attachment`: a VPC attached to a transit gateway through some of its subnets.

use super::attachment::{TIMEOUT, gone as attachment_gone, wait as attachment_wait};
use super::{list_prop, pairs, props, stack_filter, str_prop, tag_spec, untagged, update_tags};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    ApplianceModeSupportValue, CreateTransitGatewayVpcAttachmentRequestOptions, DnsSupportValue,
    Filter, ModifyTransitGatewayVpcAttachmentRequestOptions, ResourceType, Tag,
    TransitGatewayAttachmentState,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A transit gateway attachment of a VPC; one subnet per availability zone carries its traffic.
pub struct TransitGatewayVpcAttachment;

const ENABLE: Kind = Kind::Enum(&["enable", "disable"]);

const SCHEMA: &[Field] = &[
    Field::required(
        "transit_gateway_id",
        Kind::Str,
        "the transit gateway to attach to",
    ),
    Field::required("vpc_id", Kind::Str, "the VPC to attach"),
    Field::required(
        "subnet_ids",
        Kind::StrSet,
        "the subnets (at most one per availability zone) the attachment uses",
    )
    .updatable(),
    Field::optional(
        "dns_support",
        ENABLE,
        "resolve DNS across the transit gateway",
    )
    .default("\"enable\""),
    Field::optional(
        "appliance_mode_support",
        ENABLE,
        "keep a flow on one AZ (for stateful appliances)",
    )
    .default("\"disable\""),
    TAGS,
];

/// Subnets to add and to remove to go from `current` to `desired`.
fn subnet_changes(current: &[String], desired: &[String]) -> (Vec<String>, Vec<String>) {
    let cur: BTreeSet<&String> = current.iter().collect();
    let want: BTreeSet<&String> = desired.iter().collect();
    (
        want.difference(&cur).map(|s| s.to_string()).collect(),
        cur.difference(&want).map(|s| s.to_string()).collect(),
    )
}

impl TransitGatewayVpcAttachment {
    fn observe(
        stack: &str,
        a: &aws_sdk_ec2::types::TransitGatewayVpcAttachment,
    ) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(a.tags()))?;
        // Some emulators list every kind of attachment here; only VPC ones have a VPC.
        let vpc_id = a.vpc_id()?;
        let id = a
            .transit_gateway_attachment_id()
            .unwrap_or_default()
            .to_string();
        let o = a.options();
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: props([
                (
                    "transit_gateway_id",
                    json!(a.transit_gateway_id().unwrap_or_default()),
                ),
                ("vpc_id", json!(vpc_id)),
                ("subnet_ids", json!(a.subnet_ids())),
                (
                    "dns_support",
                    json!(
                        o.and_then(|o| o.dns_support())
                            .map(|v| v.as_str())
                            .unwrap_or("enable")
                    ),
                ),
                (
                    "appliance_mode_support",
                    json!(
                        o.and_then(|o| o.appliance_mode_support())
                            .map(|v| v.as_str())
                            .unwrap_or("disable")
                    ),
                ),
                ("tags", user_tags),
            ]),
            attrs: props([
                ("id", json!(id)),
                ("vpc_owner_id", json!(a.vpc_owner_id().unwrap_or_default())),
            ]),
        })
    }

    async fn describe(
        aws: &Aws,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::TransitGatewayVpcAttachment>, CloudError> {
        let out = aws
            .ec2()
            .describe_transit_gateway_vpc_attachments()
            .transit_gateway_attachment_ids(id)
            .send()
            .await;
        match out.map_err(|e| crate::from_sdk("DescribeTransitGatewayVpcAttachments", id, e)) {
            Ok(out) => Ok(out
                .transit_gateway_vpc_attachments()
                .iter()
                .find(|a| a.transit_gateway_attachment_id() == Some(id))
                .cloned()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The id of the untagged attachment of the same VPC and transit gateway that made the create
    /// fail; `cause` when it belongs to someone else.
    async fn untagged_duplicate(
        aws: &Aws,
        req: &CreateRequest<'_>,
        cause: CloudError,
    ) -> Result<String, CloudError> {
        let by = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
        let out = aws
            .ec2()
            .describe_transit_gateway_vpc_attachments()
            .filters(by(
                "transit-gateway-id",
                str_prop(req.props, "transit_gateway_id"),
            ))
            .filters(by("vpc-id", str_prop(req.props, "vpc_id")))
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeTransitGatewayVpcAttachments", req.address, e))?;
        let mine = out.transit_gateway_vpc_attachments().iter().find(|a| {
            !attachment_gone(a.state())
                && a.vpc_id() == Some(str_prop(req.props, "vpc_id"))
                && !a.tags().iter().any(|t| {
                    t.key()
                        .is_some_and(|k| k == tags::STACK_TAG || k == tags::ADDRESS_TAG)
                })
        });
        mine.and_then(|a| a.transit_gateway_attachment_id())
            .map(String::from)
            .ok_or(cause)
    }

    async fn until_available(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        let a = Self::describe(aws, id).await?;
        Ok(attachment_wait(
            a.as_ref().and_then(|a| a.state()),
            &[TransitGatewayAttachmentState::Available],
        ))
    }

    async fn until_deleted(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        Ok(
            match Self::describe(aws, id)
                .await?
                .and_then(|a| a.state().cloned())
            {
                None | Some(TransitGatewayAttachmentState::Deleted) => WaitState::Ready,
                Some(s) => WaitState::Pending(s.as_str().to_string()),
            },
        )
    }
}

#[async_trait]
impl Resource for TransitGatewayVpcAttachment {
    fn kind(&self) -> &'static str {
        "ec2.transit_gateway_vpc_attachment"
    }

    fn doc(&self) -> &'static str {
        "A VPC attached to a transit gateway through its subnets. Attributes: `id`, `vpc_owner_id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "vpc_owner_id"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        if props
            .get("subnet_ids")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            return Err("property `subnet_ids`: an attachment needs at least one subnet (one per availability zone)".into());
        }
        Ok(())
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
            .describe_transit_gateway_vpc_attachments()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| crate::from_sdk("DescribeTransitGatewayVpcAttachments", stack, e))?;
            for a in page.transit_gateway_vpc_attachments() {
                if !attachment_gone(a.state()) {
                    out.extend(Self::observe(stack, a));
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let flag = |k: &str| p.get(k).and_then(Value::as_str);
        let options = CreateTransitGatewayVpcAttachmentRequestOptions::builder()
            .set_dns_support(flag("dns_support").map(DnsSupportValue::from))
            .set_appliance_mode_support(
                flag("appliance_mode_support").map(ApplianceModeSupportValue::from),
            )
            .build();
        let created = aws
            .ec2()
            .create_transit_gateway_vpc_attachment()
            .transit_gateway_id(str_prop(p, "transit_gateway_id"))
            .vpc_id(str_prop(p, "vpc_id"))
            .set_subnet_ids(Some(list_prop(p, "subnet_ids")))
            .options(options)
            .tag_specifications(tag_spec(ResourceType::TransitGatewayAttachment, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateTransitGatewayVpcAttachment", req.address, e));
        let id = match created {
            Ok(out) => out
                .transit_gateway_vpc_attachment()
                .and_then(|a| a.transit_gateway_attachment_id())
                .unwrap_or_default()
                .to_string(),
            // A transit gateway takes one attachment per VPC: one left untagged by an interrupted run is ours.
            Err(e) if e.is("DuplicateTransitGatewayAttachment") => {
                Self::untagged_duplicate(aws, req, e).await?
            }
            Err(e) => return Err(e),
        };
        wait_until("CreateTransitGatewayVpcAttachment", &id, TIMEOUT, || {
            Self::until_available(aws, &id)
        })
        .await?;
        if let Some(o) = Self::describe(aws, &id)
            .await?
            .and_then(|a| Self::observe(req.stack, &a))
        {
            return Ok(o);
        }
        // Some emulators drop the create call's tags (moto keeps only a `transit-gateway-route-table`
        // specification here): tag it now, so the next read recognises it.
        aws.ec2()
            .create_tags()
            .resources(&id)
            .set_tags(Some(
                req.tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateTags", &id, e))?;
        Self::describe(aws, &id)
            .await?
            .and_then(|a| Self::observe(req.stack, &a))
            .ok_or_else(|| {
                untagged(
                    "CreateTransitGatewayVpcAttachment",
                    req.address,
                    "transit gateway VPC attachment",
                )
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
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("subnet_ids") || has("dns_support") || has("appliance_mode_support") {
            let (add, remove) = if has("subnet_ids") {
                subnet_changes(
                    &list_prop(&current.props, "subnet_ids"),
                    &list_prop(desired, "subnet_ids"),
                )
            } else {
                (Vec::new(), Vec::new())
            };
            let pick = |f: &str| {
                if has(f) {
                    desired.get(f).and_then(Value::as_str)
                } else {
                    None
                }
            };
            let options = ModifyTransitGatewayVpcAttachmentRequestOptions::builder()
                .set_dns_support(pick("dns_support").map(DnsSupportValue::from))
                .set_appliance_mode_support(
                    pick("appliance_mode_support").map(ApplianceModeSupportValue::from),
                )
                .build();
            aws.ec2()
                .modify_transit_gateway_vpc_attachment()
                .transit_gateway_attachment_id(&current.id)
                .set_add_subnet_ids((!add.is_empty()).then_some(add))
                .set_remove_subnet_ids((!remove.is_empty()).then_some(remove))
                .options(options)
                .send()
                .await
                .map_err(|e| {
                    crate::from_sdk("ModifyTransitGatewayVpcAttachment", &current.id, e)
                })?;
            wait_until(
                "ModifyTransitGatewayVpcAttachment",
                &current.id,
                TIMEOUT,
                || Self::until_available(aws, &current.id),
            )
            .await?;
        }
        if has("tags") {
            update_tags(aws, &current.id, &current.props, desired).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let deleted = aws
            .ec2()
            .delete_transit_gateway_vpc_attachment()
            .transit_gateway_attachment_id(&current.id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DeleteTransitGatewayVpcAttachment", &current.id, e));
        match deleted {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // The transit gateway and the subnets stay in use until the attachment reaches `deleted`.
        wait_until(
            "DeleteTransitGatewayVpcAttachment",
            &current.id,
            TIMEOUT,
            || Self::until_deleted(aws, &current.id),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subnet_changes_add_and_remove_only_the_difference() {
        let (add, remove) = subnet_changes(
            &strings(&["subnet-a", "subnet-b"]),
            &strings(&["subnet-b", "subnet-c"]),
        );
        assert_eq!(add, strings(&["subnet-c"]));
        assert_eq!(remove, strings(&["subnet-a"]));
        let (add, remove) = subnet_changes(&strings(&["a"]), &strings(&["a"]));
        assert!(add.is_empty() && remove.is_empty());
    }

    #[test]
    fn attachments_without_a_vpc_are_not_vpc_attachments() {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let base = || {
            aws_sdk_ec2::types::TransitGatewayVpcAttachment::builder()
                .transit_gateway_attachment_id("tgw-attach-1")
                .transit_gateway_id("tgw-1")
                .tags(tag(tags::STACK_TAG, "s"))
                .tags(tag(
                    tags::ADDRESS_TAG,
                    "ec2.transit_gateway_vpc_attachment.a",
                ))
        };
        assert!(TransitGatewayVpcAttachment::observe("s", &base().build()).is_none());
        let o = TransitGatewayVpcAttachment::observe(
            "s",
            &base().vpc_id("vpc-1").subnet_ids("subnet-1").build(),
        )
        .unwrap();
        assert_eq!(o.props["vpc_id"], "vpc-1");
        assert_eq!(o.props["subnet_ids"], json!(["subnet-1"]));
        assert_eq!(o.props["dns_support"], "enable");
    }
}
