//! `aws::ec2::transit_gateway_vpc_attachment`: a VPC attached to a transit gateway through some of its subnets.

use super::attachment::{self, TIMEOUT, available};
use super::prelude::*;
use super::set_changes;
use super::transit_gateway::{ENABLE, flag};
use crate::Result;
use crate::{ADDRESS_TAG, STACK_TAG};
use aws_sdk_ec2::types::{
    CreateTransitGatewayVpcAttachmentRequestOptions as CreateOptions, Filter,
    ModifyTransitGatewayVpcAttachmentRequestOptions as ModifyOptions, Tag,
};

resource! {
    /// A transit gateway attachment of a VPC; one subnet per availability zone carries its traffic.
    pub struct TransitGatewayVpcAttachment: TRANSIT_GATEWAY_VPC_ATTACHMENT = "ec2.transit_gateway_vpc_attachment",
        "A VPC attached to a transit gateway through its subnets.";
    reads Item, tagged by pairs;
    terraform "aws_ec2_transit_gateway_vpc_attachment";
    props TransitGatewayVpcAttachmentProps {
        transit_gateway_id: Option<String> = required(Str, "the transit gateway to attach to"),
        vpc_id: Option<String> = required(Str, "the VPC to attach"),
        subnet_ids: Option<Vec<String>> =
            required(StrSet, "the subnets (at most one per availability zone) the attachment uses")
                .updatable(),
        dns_support: Option<String> =
            optional(ENABLE, "resolve DNS across the transit gateway").default("\"enable\""),
        appliance_mode_support: Option<String> =
            optional(ENABLE, "keep a flow on one AZ (for stateful appliances)")
                .default("\"disable\""),
    } + TAGS
}

const CREATE: Wait = Wait("CreateTransitGatewayVpcAttachment", TIMEOUT);
const MODIFY: Wait = Wait("ModifyTransitGatewayVpcAttachment", TIMEOUT);
const DELETE: Wait = Wait("DeleteTransitGatewayVpcAttachment", TIMEOUT);

type Item = aws_sdk_ec2::types::TransitGatewayVpcAttachment;

/// The attachment `id`, if Describe sees it.
async fn describe_one(aws: &Aws, id: &str) -> Result<Option<Item>> {
    let all = describe!(
        aws.describe_transit_gateway_vpc_attachments()
            .transit_gateway_attachment_ids(id),
        id
    );
    attachment::by_id(id, all)
}

/// The id of the untagged attachment of the same VPC and transit gateway that made the create
/// fail; `cause` when it belongs to someone else.
async fn untagged_duplicate(
    aws: &Aws,
    address: &Address,
    p: &TransitGatewayVpcAttachmentProps,
    cause: CloudError,
) -> Result<String> {
    let by = |name: &str, value: &Option<String>| {
        let value = value.as_deref().unwrap_or_default();
        Filter::builder().name(name).values(value).build()
    };
    let out = aws
        .ec2()
        .describe_transit_gateway_vpc_attachments()
        .filters(by("transit-gateway-id", &p.transit_gateway_id))
        .filters(by("vpc-id", &p.vpc_id))
        .send()
        .await
        .map_err(sdk("DescribeTransitGatewayVpcAttachments", address))?;
    let ownership = |t: &Tag| t.key().is_some_and(|k| k == STACK_TAG || k == ADDRESS_TAG);
    let mine = out.transit_gateway_vpc_attachments().iter().find(|a| {
        !attachment::gone(a.state())
            && a.vpc_id() == p.vpc_id.as_deref()
            && !a.tags().iter().any(ownership)
    });
    let id = mine.and_then(|a| a.transit_gateway_attachment_id());
    id.map(String::from).ok_or(cause)
}

#[async_trait]
impl Description for TransitGatewayVpcAttachment {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, a| {
            json!(a.transit_gateway_attachment_id().unwrap_or_default())
        }),
        Attr::new("vpc_owner_id", |_, a| {
            json!(a.vpc_owner_id().unwrap_or_default())
        }),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        let subnets = props.get("subnet_ids").and_then(Value::as_array);
        if subnets.is_some_and(Vec::is_empty) {
            return Err(Invalid::value(
                "subnet_ids",
                "an attachment needs at least one subnet (one per availability zone)",
            ));
        }
        Ok(())
    }

    const FETCH: Option<Fetch<Item>> = fetch!(
        describe_transit_gateway_vpc_attachments,
        set_transit_gateway_attachment_ids
    );

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        let f = stack_filter(stack);
        let mut all = describe!(
            aws.describe_transit_gateway_vpc_attachments().filters(f),
            stack
        )?;
        // Some emulators list every kind of attachment here; only VPC ones have a VPC.
        all.retain(|a| !attachment::gone(a.state()) && a.vpc_id().is_some());
        Ok(all)
    }

    async fn props(&self, _: &Aws, a: &Item) -> Result<Self::Props> {
        let o = a.options();
        Ok(TransitGatewayVpcAttachmentProps {
            transit_gateway_id: Some(a.transit_gateway_id().unwrap_or_default().into()),
            vpc_id: Some(a.vpc_id().unwrap_or_default().into()),
            subnet_ids: Some(a.subnet_ids().to_vec()),
            dns_support: flag(o.and_then(|o| o.dns_support()), "enable"),
            appliance_mode_support: flag(o.and_then(|o| o.appliance_mode_support()), "disable"),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let options = CreateOptions::builder()
            .set_dns_support(p.dns_support.as_deref().map(Into::into))
            .set_appliance_mode_support(p.appliance_mode_support.as_deref().map(Into::into));
        let created = aws
            .ec2()
            .create_transit_gateway_vpc_attachment()
            .set_transit_gateway_id(p.transit_gateway_id.clone())
            .set_vpc_id(p.vpc_id.clone())
            .set_subnet_ids(p.subnet_ids.clone())
            .options(options.build())
            .tag_specifications(tags_at_create(ResourceType::TransitGatewayAttachment, tags))
            .send()
            .await
            .map_err(sdk("CreateTransitGatewayVpcAttachment", address));
        let id = match created {
            Ok(out) => (out.transit_gateway_vpc_attachment())
                .map(|a| a.transit_gateway_attachment_id().unwrap_or_default().into()),
            // A transit gateway takes one attachment per VPC: one left untagged by an interrupted run is ours.
            Err(e) if e.is("DuplicateTransitGatewayAttachment") => {
                Some(untagged_duplicate(aws, address, p, e).await?)
            }
            Err(e) => return Err(e),
        };
        let id = id.unwrap_or_default();
        let ours = |a: &Item| kept_ownership(a.tags(), tags);
        let settled = settle(aws, &id, CREATE, describe_one, available).await?;
        if let Some(a) = settled.filter(ours) {
            return Ok(a);
        }
        // Some emulators drop the create call's tags (moto keeps only a `transit-gateway-route-table`
        // specification here): tag it now, so the next read recognises it.
        attachment::tag(aws, &id, tags).await?;
        let tagged = describe_one(aws, &id).await?.filter(ours);
        let what = "transit gateway VPC attachment";
        tagged.ok_or_else(|| untagged("CreateTransitGatewayVpcAttachment", address, what))
    }

    /// One ModifyTransitGatewayVpcAttachment call for the subnets and options that changed.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, Self::Props>,
    ) -> Result<Option<Item>> {
        let (on, changed, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        if changed.is_empty() {
            return Ok(None);
        }
        let (have, want) = (only(current, changed), only(desired, changed));
        let (add, remove) = set_changes(&have.subnet_ids, &want.subnet_ids);
        let options = ModifyOptions::builder()
            .set_dns_support(want.dns_support.as_deref().map(Into::into))
            .set_appliance_mode_support(want.appliance_mode_support.as_deref().map(Into::into));
        aws.ec2()
            .modify_transit_gateway_vpc_attachment()
            .transit_gateway_attachment_id(&on.id)
            .set_add_subnet_ids((!add.is_empty()).then_some(add))
            .set_remove_subnet_ids((!remove.is_empty()).then_some(remove))
            .options(options.build())
            .send()
            .await
            .map_err(sdk("ModifyTransitGatewayVpcAttachment", &on.id))?;
        settle(aws, &on.id, MODIFY, describe_one, available).await?;
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        let ec2 = aws.ec2();
        let call = ec2.delete_transit_gateway_vpc_attachment();
        let sent = call.transit_gateway_attachment_id(id).send().await;
        sent.map_err(sdk("DeleteTransitGatewayVpcAttachment", id))?;
        // The transit gateway and the subnets stay in use until the attachment reaches `deleted`.
        settle_deleted(aws, id, DELETE, describe_one, Item::state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::{obj, owned, round_trip};
    use crate::resource::{Observed, Resource};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
    use aws_sdk_ec2::operation::create_transit_gateway_vpc_attachment::CreateTransitGatewayVpcAttachmentOutput as Created;
    use aws_sdk_ec2::operation::describe_transit_gateway_vpc_attachments::DescribeTransitGatewayVpcAttachmentsOutput as Described;
    use aws_sdk_ec2::operation::modify_transit_gateway_vpc_attachment::ModifyTransitGatewayVpcAttachmentOutput;
    use aws_sdk_ec2::types::TransitGatewayAttachmentState as S;
    use aws_sdk_ec2::types::builders::TransitGatewayVpcAttachmentBuilder as Builder;
    use aws_sdk_ec2::types::{
        ApplianceModeSupportValue, DnsSupportValue, TransitGatewayVpcAttachmentOptions,
    };
    use aws_smithy_mocks::mock;

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn subnet_changes_add_and_remove_only_the_difference() {
        let (add, remove) = set_changes(
            &strings(&["subnet-a", "subnet-b"]),
            &strings(&["subnet-b", "subnet-c"]),
        );
        assert_eq!(Some(add), strings(&["subnet-c"]));
        assert_eq!(Some(remove), strings(&["subnet-a"]));
        let (add, remove) = set_changes(&strings(&["a"]), &strings(&["a"]));
        assert!(add.is_empty() && remove.is_empty());
    }

    /// An attachment of `tgw-1`, owned by `stack` when set.
    fn attachment(stack: Option<&str>) -> Builder {
        let address = "ec2.transit_gateway_vpc_attachment.a";
        Item::builder()
            .transit_gateway_attachment_id("tgw-attach-1")
            .transit_gateway_id("tgw-1")
            .set_tags(stack.map(|s| owned(s, address)))
    }

    #[tokio::test]
    async fn attachments_without_a_vpc_are_not_vpc_attachments() {
        let read = mock!(Client::describe_transit_gateway_vpc_attachments).then_output(|| {
            let vpc = attachment(Some("s")).vpc_id("vpc-1").subnet_ids("subnet-1");
            Described::builder()
                .transit_gateway_vpc_attachments(attachment(Some("s")).build())
                .transit_gateway_vpc_attachments(vpc.build())
                .build()
        });
        let aws = Aws::mocked(&[&read]);
        let (cx, hints) = (aws.context(), ReadHints::default());
        let seen = TRANSIT_GATEWAY_VPC_ATTACHMENT.read_all(&cx, "s", &hints);
        let seen = seen.await.unwrap();
        assert_eq!(seen.len(), 1);
        let o = &seen[0];
        assert_eq!(o.props["vpc_id"], "vpc-1");
        assert_eq!(o.props["subnet_ids"], json!(["subnet-1"]));
        assert_eq!(o.props["dns_support"], "enable");
    }

    /// What Describe answers for the attachment once it is available, owned by `stack` when set.
    fn described(stack: Option<&str>) -> Described {
        let appliance = ApplianceModeSupportValue::Enable;
        let options =
            TransitGatewayVpcAttachmentOptions::builder().appliance_mode_support(appliance);
        let available = attachment(stack)
            .vpc_id("vpc-1")
            .vpc_owner_id("123456789012")
            .subnet_ids("subnet-1")
            .subnet_ids("subnet-2")
            .options(options.build())
            .state(S::Available);
        let out = Described::builder().transit_gateway_vpc_attachments(available.build());
        out.build()
    }

    #[tokio::test]
    async fn a_created_attachment_that_lost_its_tags_is_tagged_and_round_trip_as_declared() {
        let create = mock!(Client::create_transit_gateway_vpc_attachment).then_output(|| {
            let pending = attachment(None).state(S::Pending).build();
            Created::builder()
                .transit_gateway_vpc_attachment(pending)
                .build()
        });
        // As moto answers: without the create call's tags until they are set again.
        let describe = mock!(Client::describe_transit_gateway_vpc_attachments)
            .sequence()
            .output(|| described(None))
            .output(|| described(Some("test")))
            .build();
        let tag = mock!(Client::create_tags).then_output(|| CreateTagsOutput::builder().build());
        let aws = Aws::mocked(&[&create, &describe, &tag]);
        let declared = json!({"transit_gateway_id": "tgw-1", "vpc_id": "vpc-1", "subnet_ids": ["subnet-2", "subnet-1"],
                   "appliance_mode_support": "enable", "tags": {"team": "net"}});
        let observed = round_trip(
            &TRANSIT_GATEWAY_VPC_ATTACHMENT,
            &aws,
            "ec2.transit_gateway_vpc_attachment.a",
            declared,
        )
        .await;
        assert_eq!(tag.num_calls(), 1);
        assert_eq!(observed.id, "tgw-attach-1");
        assert_eq!(observed.attrs["vpc_owner_id"], "123456789012");
    }

    #[tokio::test]
    async fn only_changed_subnets_and_options_go_out_in_one_call() {
        let modify = mock!(Client::modify_transit_gateway_vpc_attachment)
            .match_requests(|r| {
                let options = r
                    .options()
                    .map(|o| (o.dns_support(), o.appliance_mode_support()));
                r.add_subnet_ids() == ["subnet-3"]
                    && r.remove_subnet_ids() == ["subnet-1"]
                    && options == Some((Some(&DnsSupportValue::Disable), None))
            })
            .then_output(|| ModifyTransitGatewayVpcAttachmentOutput::builder().build());
        let describe = mock!(Client::describe_transit_gateway_vpc_attachments)
            .then_output(|| described(Some("s")));
        let aws = Aws::mocked(&[&modify, &describe]);
        let base = json!({"transit_gateway_id": "tgw-1", "vpc_id": "vpc-1", "appliance_mode_support": "enable"});
        let mut current = Observed {
            id: "tgw-attach-1".into(),
            props: obj(base.clone()),
            ..Observed::default()
        };
        current
            .props
            .insert("subnet_ids".into(), json!(["subnet-1", "subnet-2"]));
        let mut desired = obj(base);
        desired.insert("subnet_ids".into(), json!(["subnet-2", "subnet-3"]));
        desired.insert("dns_support".into(), json!("disable"));
        let changed = ["subnet_ids".to_string(), "dns_support".to_string()];
        let cx = aws.context();
        let updated = TRANSIT_GATEWAY_VPC_ATTACHMENT.update(&cx, &current, &desired, &changed);
        assert_eq!(updated.await.unwrap().props["dns_support"], "disable");
        assert_eq!(modify.num_calls(), 1);
    }
}
