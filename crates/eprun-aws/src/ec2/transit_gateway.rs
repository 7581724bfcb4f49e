//! `aws::ec2::transit_gateway`: a transit gateway, the hub of a region's private network.

use super::{pairs, props, stack_filter, str_prop, tag_spec, untagged, update_tags};
use crate::context::Context;
use crate::resource::{
    CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource, gone_ok,
};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AutoAcceptSharedAttachmentsValue, DefaultRouteTableAssociationValue,
    DefaultRouteTablePropagationValue, DnsSupportValue, ModifyTransitGatewayOptions, ResourceType,
    TransitGatewayAttachmentState, TransitGatewayRequestOptions, TransitGatewayState,
    VpnEcmpSupportValue,
};
use serde_json::{Value, json};
use std::time::Duration;

/// A transit gateway; attachments (VPCs, peerings) and its route tables hang off it.
pub struct TransitGateway;

const ENABLE: Kind = Kind::Enum(&["enable", "disable"]);

/// The option props that ModifyTransitGateway can change in place.
const OPTIONS: [&str; 5] = [
    "default_route_table_association",
    "default_route_table_propagation",
    "dns_support",
    "vpn_ecmp_support",
    "auto_accept_shared_attachments",
];

const SCHEMA: &[Field] = &[
    Field::optional("description", Kind::Str, "what the transit gateway is for"),
    Field::optional(
        "amazon_side_asn",
        Kind::Int,
        "the private ASN of the AWS side (64512–65534 or 4200000000–4294967294)",
    )
    .default("64512")
    .force_new(),
    Field::optional(
        "default_route_table_association",
        ENABLE,
        "associate new attachments with the default route table",
    )
    .default("\"enable\""),
    Field::optional(
        "default_route_table_propagation",
        ENABLE,
        "propagate new attachments' routes into the default route table",
    )
    .default("\"enable\""),
    Field::optional(
        "dns_support",
        ENABLE,
        "resolve public DNS names of attached VPCs to private addresses",
    )
    .default("\"enable\""),
    Field::optional(
        "vpn_ecmp_support",
        ENABLE,
        "equal-cost multi-path routing over VPN tunnels",
    )
    .default("\"enable\""),
    Field::optional(
        "auto_accept_shared_attachments",
        ENABLE,
        "accept attachments from other accounts without asking",
    )
    .default("\"disable\""),
    TAGS,
];

/// Transit gateways take a few minutes to become available and to go away.
pub(super) const TIMEOUT: Duration = Duration::from_secs(900);

/// Whether an ASN is one AWS accepts as a transit gateway's Amazon-side ASN.
fn valid_asn(asn: i64) -> bool {
    (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
}

/// Where an attachment is on its way to one of the `ready` states.
pub(super) fn attachment_wait(
    state: Option<&TransitGatewayAttachmentState>,
    ready: &[TransitGatewayAttachmentState],
) -> WaitState {
    use TransitGatewayAttachmentState as S;
    match state {
        Some(s) if ready.contains(s) => WaitState::Ready,
        Some(
            s @ (S::Failed
            | S::Failing
            | S::Rejected
            | S::Rejecting
            | S::Deleted
            | S::Deleting
            | S::RollingBack),
        ) => WaitState::Failed(format!("the attachment is `{}`", s.as_str())),
        Some(s) => WaitState::Pending(s.as_str().to_string()),
        None => WaitState::Pending("not visible yet".into()),
    }
}

/// Whether an attachment in this state is gone (or on its way out) and no longer counts as existing.
pub(super) fn attachment_gone(state: Option<&TransitGatewayAttachmentState>) -> bool {
    use TransitGatewayAttachmentState as S;
    matches!(
        state,
        Some(S::Deleted | S::Deleting | S::Failed | S::Failing | S::Rejected | S::Rejecting)
    )
}

impl TransitGateway {
    fn observe(stack: &str, tgw: &aws_sdk_ec2::types::TransitGateway) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(tgw.tags()))?;
        let id = tgw.transit_gateway_id().unwrap_or_default().to_string();
        let o = tgw.options();
        let opt = |v: Option<&str>, default: &str| json!(v.unwrap_or(default));
        let mut p = props([
            (
                "amazon_side_asn",
                json!(o.and_then(|o| o.amazon_side_asn()).unwrap_or(64512)),
            ),
            (
                "default_route_table_association",
                opt(
                    o.and_then(|o| o.default_route_table_association())
                        .map(|v| v.as_str()),
                    "enable",
                ),
            ),
            (
                "default_route_table_propagation",
                opt(
                    o.and_then(|o| o.default_route_table_propagation())
                        .map(|v| v.as_str()),
                    "enable",
                ),
            ),
            (
                "dns_support",
                opt(
                    o.and_then(|o| o.dns_support()).map(|v| v.as_str()),
                    "enable",
                ),
            ),
            (
                "vpn_ecmp_support",
                opt(
                    o.and_then(|o| o.vpn_ecmp_support()).map(|v| v.as_str()),
                    "enable",
                ),
            ),
            (
                "auto_accept_shared_attachments",
                opt(
                    o.and_then(|o| o.auto_accept_shared_attachments())
                        .map(|v| v.as_str()),
                    "disable",
                ),
            ),
            ("tags", user_tags),
        ]);
        p.insert(
            "description".into(),
            json!(tgw.description().unwrap_or_default()),
        );
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: p,
            attrs: props([
                ("id", json!(id)),
                ("arn", json!(tgw.transit_gateway_arn().unwrap_or_default())),
                ("owner_id", json!(tgw.owner_id().unwrap_or_default())),
                (
                    "association_default_route_table_id",
                    json!(
                        o.and_then(|o| o.association_default_route_table_id())
                            .unwrap_or_default()
                    ),
                ),
                (
                    "propagation_default_route_table_id",
                    json!(
                        o.and_then(|o| o.propagation_default_route_table_id())
                            .unwrap_or_default()
                    ),
                ),
            ]),
        })
    }

    /// One transit gateway by id, `None` when it is gone.
    pub(super) async fn describe(
        aws: &Aws,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::TransitGateway>, CloudError> {
        let out = aws
            .ec2()
            .describe_transit_gateways()
            .transit_gateway_ids(id)
            .send()
            .await;
        match out.map_err(|e| crate::from_sdk("DescribeTransitGateways", id, e)) {
            Ok(out) => Ok(out.transit_gateways().first().cloned()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The transit gateways the stack owns in this region (one paginated call, tags re-checked).
    pub(super) async fn owned(
        aws: &Aws,
        stack: &str,
    ) -> Result<Vec<aws_sdk_ec2::types::TransitGateway>, CloudError> {
        let mut pages = aws
            .ec2()
            .describe_transit_gateways()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("DescribeTransitGateways", stack, e))?;
            for tgw in page.transit_gateways() {
                if matches!(
                    tgw.state(),
                    Some(TransitGatewayState::Deleted | TransitGatewayState::Deleting)
                ) {
                    continue;
                }
                if tags::split_owned(stack, pairs(tgw.tags())).is_some() {
                    out.push(tgw.clone());
                }
            }
        }
        Ok(out)
    }

    async fn until_available(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        let Some(tgw) = Self::describe(aws, id).await? else {
            return Ok(WaitState::Pending("not visible yet".into()));
        };
        Ok(match tgw.state() {
            Some(TransitGatewayState::Available) => WaitState::Ready,
            Some(s @ (TransitGatewayState::Deleted | TransitGatewayState::Deleting)) => {
                WaitState::Failed(format!("the transit gateway is `{}`", s.as_str()))
            }
            Some(s) => WaitState::Pending(s.as_str().to_string()),
            None => WaitState::Pending("in an unknown state".into()),
        })
    }

    async fn until_deleted(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        Ok(
            match Self::describe(aws, id)
                .await?
                .and_then(|t| t.state().cloned())
            {
                None | Some(TransitGatewayState::Deleted) => WaitState::Ready,
                Some(s) => WaitState::Pending(s.as_str().to_string()),
            },
        )
    }
}

/// An `enable`/`disable` prop, if declared.
fn flag<'a>(p: &'a Props, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

#[async_trait]
impl Resource for TransitGateway {
    fn kind(&self) -> &'static str {
        "ec2.transit_gateway"
    }

    fn doc(&self) -> &'static str {
        "A transit gateway. Attributes: `id`, `arn`, `owner_id`, `association_default_route_table_id`, `propagation_default_route_table_id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &[
            "id",
            "arn",
            "owner_id",
            "association_default_route_table_id",
            "propagation_default_route_table_id",
        ]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        match props.get("amazon_side_asn").and_then(Value::as_i64) {
            Some(asn) if !valid_asn(asn) => Err(format!(
                "property `amazon_side_asn`: {asn} is not a private ASN; use 64512–65534 or 4200000000–4294967294"
            )),
            _ => Ok(()),
        }
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        Ok(Self::owned(aws, stack)
            .await?
            .iter()
            .filter_map(|t| Self::observe(stack, t))
            .collect())
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let options = TransitGatewayRequestOptions::builder()
            .set_amazon_side_asn(p.get("amazon_side_asn").and_then(Value::as_i64))
            .set_default_route_table_association(
                flag(p, "default_route_table_association").map(Into::into),
            )
            .set_default_route_table_propagation(
                flag(p, "default_route_table_propagation").map(Into::into),
            )
            .set_dns_support(flag(p, "dns_support").map(Into::into))
            .set_vpn_ecmp_support(flag(p, "vpn_ecmp_support").map(Into::into))
            .set_auto_accept_shared_attachments(
                flag(p, "auto_accept_shared_attachments").map(Into::into),
            )
            .build();
        let description = str_prop(p, "description");
        let out = aws
            .ec2()
            .create_transit_gateway()
            .set_description((!description.is_empty()).then(|| description.to_string()))
            .options(options)
            .tag_specifications(tag_spec(ResourceType::TransitGateway, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateTransitGateway", req.address, e))?;
        let id = out
            .transit_gateway()
            .and_then(|t| t.transit_gateway_id())
            .unwrap_or_default()
            .to_string();
        wait_until("CreateTransitGateway", &id, TIMEOUT, || {
            Self::until_available(aws, &id)
        })
        .await?;
        Self::describe(aws, &id)
            .await?
            .and_then(|t| Self::observe(req.stack, &t))
            .ok_or_else(|| untagged("CreateTransitGateway", req.address, "transit gateway"))
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
        if has("description") || OPTIONS.iter().any(|o| has(o)) {
            let pick = |f: &str| if has(f) { flag(desired, f) } else { None };
            let options = ModifyTransitGatewayOptions::builder()
                .set_default_route_table_association(
                    pick("default_route_table_association")
                        .map(DefaultRouteTableAssociationValue::from),
                )
                .set_default_route_table_propagation(
                    pick("default_route_table_propagation")
                        .map(DefaultRouteTablePropagationValue::from),
                )
                .set_dns_support(pick("dns_support").map(DnsSupportValue::from))
                .set_vpn_ecmp_support(pick("vpn_ecmp_support").map(VpnEcmpSupportValue::from))
                .set_auto_accept_shared_attachments(
                    pick("auto_accept_shared_attachments")
                        .map(AutoAcceptSharedAttachmentsValue::from),
                )
                .build();
            aws.ec2()
                .modify_transit_gateway()
                .transit_gateway_id(&current.id)
                .set_description(
                    has("description").then(|| str_prop(desired, "description").to_string()),
                )
                .options(options)
                .send()
                .await
                .map_err(|e| crate::from_sdk("ModifyTransitGateway", &current.id, e))?;
            wait_until("ModifyTransitGateway", &current.id, TIMEOUT, || {
                Self::until_available(aws, &current.id)
            })
            .await?;
        }
        if has("tags") {
            update_tags(aws, &current.id, &current.props, desired).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        gone_ok(
            aws.ec2()
                .delete_transit_gateway()
                .transit_gateway_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteTransitGateway", &current.id, e)),
        )?;
        wait_until("DeleteTransitGateway", &current.id, TIMEOUT, || {
            Self::until_deleted(aws, &current.id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use aws_sdk_ec2::types::{Tag, TransitGatewayOptions};

    struct NoOthers;

    impl DeclaredProps for NoOthers {
        fn props_of(&self, _: &Address) -> Option<&Props> {
            None
        }
    }

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn asn_must_be_private() {
        assert!(
            TransitGateway
                .validate(&obj(json!({"amazon_side_asn": 64512})), &NoOthers)
                .is_ok()
        );
        assert!(
            TransitGateway
                .validate(
                    &obj(json!({"amazon_side_asn": 4_200_000_001_i64})),
                    &NoOthers
                )
                .is_ok()
        );
        let e = TransitGateway
            .validate(&obj(json!({"amazon_side_asn": 7224})), &NoOthers)
            .unwrap_err();
        assert!(e.contains("not a private ASN"), "{e}");
    }

    #[test]
    fn observes_options_and_route_tables() {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let tgw = aws_sdk_ec2::types::TransitGateway::builder()
            .transit_gateway_id("tgw-1")
            .transit_gateway_arn("arn:aws:ec2:us-east-1:1:transit-gateway/tgw-1")
            .description("hub")
            .options(
                TransitGatewayOptions::builder()
                    .amazon_side_asn(64513)
                    .association_default_route_table_id("tgw-rtb-1")
                    .default_route_table_association(DefaultRouteTableAssociationValue::Enable)
                    .dns_support(DnsSupportValue::Disable)
                    .build(),
            )
            .tags(tag(tags::STACK_TAG, "s"))
            .tags(tag(tags::ADDRESS_TAG, "ec2.transit_gateway.hub"))
            .tags(tag("team", "net"))
            .build();
        let o = TransitGateway::observe("s", &tgw).unwrap();
        assert_eq!(o.props["amazon_side_asn"], 64513);
        assert_eq!(o.props["dns_support"], "disable");
        assert_eq!(o.props["default_route_table_propagation"], "enable");
        assert_eq!(o.props["tags"], json!({"team": "net"}));
        assert_eq!(o.attrs["association_default_route_table_id"], "tgw-rtb-1");
        assert!(TransitGateway::observe("other", &tgw).is_none());
    }

    #[test]
    fn attachment_states() {
        use TransitGatewayAttachmentState as S;
        assert_eq!(
            attachment_wait(Some(&S::Available), &[S::Available]),
            WaitState::Ready
        );
        assert!(matches!(
            attachment_wait(Some(&S::Pending), &[S::Available]),
            WaitState::Pending(_)
        ));
        assert!(matches!(
            attachment_wait(Some(&S::Rejected), &[S::Available]),
            WaitState::Failed(_)
        ));
        assert!(attachment_gone(Some(&S::Deleted)));
        assert!(!attachment_gone(Some(&S::PendingAcceptance)));
    }
}
