//! `aws::ec2::internet_gateway`: an internet gateway, optionally attached to a VPC.

use super::prelude::*;
use crate::Result;
use aws_sdk_ec2::types::{AttachmentStatus, InternetGatewayAttachment};

resource! {
    /// An internet gateway; attaching it to a VPC is part of the resource.
    pub struct InternetGateway: INTERNET_GATEWAY = "ec2.internet_gateway",
        "An internet gateway, attached to `vpc_id` when set.";
    reads Item, tagged by pairs;
    terraform "aws_internet_gateway";
    props InternetGatewayProps {
        vpc_id: Option<String> =
            optional(Str, "the VPC to attach the gateway to; changing it detaches and re-attaches"),
    } + TAGS
}

type Item = aws_sdk_ec2::types::InternetGateway;

/// The VPC the gateway is attached (or attaching) to; AWS reports an attached gateway as `available`.
fn attached_vpc(igw: &Item) -> Option<&str> {
    let gone = |a: &&InternetGatewayAttachment| {
        matches!(
            a.state(),
            Some(AttachmentStatus::Detached | AttachmentStatus::Detaching)
        )
    };
    igw.attachments().iter().find(|a| !gone(a))?.vpc_id()
}

#[async_trait]
impl Description for InternetGateway {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, g| json!(g.internet_gateway_id())),
        Attr::new("arn", |aws, g| {
            let id = g.internet_gateway_id();
            arn(aws, g.owner_id(), "internet-gateway", id)
        }),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    const FETCH: Option<Fetch<Item>> = fetch!(describe_internet_gateways, set_internet_gateway_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        let f = stack_filter(stack);
        describe!(aws.describe_internet_gateways().filters(f), stack)
    }

    async fn props(&self, _: &Aws, g: &Item) -> Result<Self::Props> {
        let vpc_id = attached_vpc(g).map(Into::into);
        Ok(InternetGatewayProps { vpc_id })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let out = aws
            .ec2()
            .create_internet_gateway()
            .tag_specifications(tags_at_create(ResourceType::InternetGateway, tags))
            .send()
            .await
            .map_err(sdk("CreateInternetGateway", address))?;
        let mut igw = out
            .internet_gateway
            .unwrap_or_else(|| Item::builder().build());
        // Attaching takes effect at once: the gateway is usable when the call returns.
        let id = igw.internet_gateway_id().unwrap_or_default().to_string();
        let (id, current) = (id.as_str(), &Default::default());
        let change = Change {
            id,
            field: "",
            current,
            desired: p,
        };
        self.update(aws, change).await?;
        let attached = p.vpc_id.as_ref().map(|vpc| {
            let a = InternetGatewayAttachment::builder().vpc_id(vpc);
            vec![a.state(AttachmentStatus::Attached).build()]
        });
        igw.attachments = attached;
        Ok(igw)
    }

    /// Detaches from the current VPC, if any, and attaches to the desired one, if any.
    async fn update(&self, aws: &Aws, change: Change<'_, Self::Props>) -> Result<()> {
        let (id, current, desired) = (change.id, change.current, change.desired);
        if let Some(vpc) = &current.vpc_id {
            // Already detached is fine; still in use by mapped public addresses (a NAT gateway
            // being deleted) is retried.
            retry_dependency("DetachInternetGateway", id, || async {
                let call = aws.ec2().detach_internet_gateway().vpc_id(vpc);
                match call.internet_gateway_id(id).send().await {
                    Err(e) => match crate::from_sdk("DetachInternetGateway", id, e) {
                        e if e.is("Gateway.NotAttached") => Ok(()),
                        e => Err(e),
                    },
                    Ok(_) => Ok(()),
                }
            })
            .await?;
        }
        if let Some(vpc) = &desired.vpc_id {
            let call = aws.ec2().attach_internet_gateway().vpc_id(vpc);
            let sent = call.internet_gateway_id(id).send().await;
            sent.map_err(sdk("AttachInternetGateway", id))?;
        }
        Ok(())
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        // Detach from whatever AWS says it is attached to, not what state remembers.
        let found = describe!(
            aws.describe_internet_gateways().internet_gateway_ids(id),
            id
        )?;
        for vpc_id in found.iter().map(|g| attached_vpc(g).map(Into::into)) {
            let detached = InternetGatewayProps::default();
            let current = &InternetGatewayProps { vpc_id };
            let change = Change {
                id,
                field: "",
                current,
                desired: &detached,
            };
            self.update(aws, change).await?;
        }
        let call = aws.ec2().delete_internet_gateway().internet_gateway_id(id);
        let sent = call.send().await;
        sent.map(drop).map_err(sdk("DeleteInternetGateway", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::round_trip;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::attach_internet_gateway::AttachInternetGatewayOutput;
    use aws_sdk_ec2::operation::create_internet_gateway::CreateInternetGatewayOutput;
    use aws_smithy_mocks::mock;

    fn igw(states: &[(&str, &str)]) -> Item {
        let mut b = Item::builder().internet_gateway_id("igw-1");
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
        assert_eq!(attached_vpc(&igw(&[("vpc-1", "available")])), Some("vpc-1"));
        assert_eq!(
            attached_vpc(&igw(&[("vpc-1", "detached"), ("vpc-2", "attaching")])),
            Some("vpc-2")
        );
        assert_eq!(attached_vpc(&igw(&[("vpc-1", "detaching")])), None);
        assert_eq!(attached_vpc(&igw(&[])), None);
    }

    #[test]
    fn vpc_id_is_updatable() {
        let f = SCHEMA.iter().find(|f| f.name == "vpc_id").unwrap();
        assert!(!f.force_new && !f.required);
    }

    #[tokio::test]
    async fn a_created_gateway_round_trip_attached() {
        let create = mock!(Client::create_internet_gateway).then_compute_output(|r| {
            CreateInternetGatewayOutput::builder()
                .internet_gateway(
                    Item::builder()
                        .internet_gateway_id("igw-1")
                        .owner_id("123456789012")
                        .set_tags(Some(r.tag_specifications()[0].tags().to_vec()))
                        .build(),
                )
                .build()
        });
        let attach = mock!(Client::attach_internet_gateway)
            .match_requests(|r| r.vpc_id() == Some("vpc-1"))
            .then_output(|| AttachInternetGatewayOutput::builder().build());
        let observed = round_trip(
            &INTERNET_GATEWAY,
            &Aws::mocked(&[&create, &attach]),
            "ec2.internet_gateway.main",
            json!({"vpc_id": "vpc-1", "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "igw-1");
        assert_eq!(
            observed.attrs["arn"],
            "arn:aws:ec2:us-east-1:123456789012:internet-gateway/igw-1"
        );
        assert_eq!(attach.num_calls(), 1);
    }
}
