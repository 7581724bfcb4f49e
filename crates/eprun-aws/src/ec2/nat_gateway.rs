//! `aws::ec2::nat_gateway`: a NAT gateway in a subnet.

use super::prelude::*;
use crate::Result;
use aws_sdk_ec2::types::{
    ConnectivityType, NatGatewayAddress, NatGatewayState as State, ResourceType,
};

resource! {
    /// A NAT gateway; a public one needs an Elastic IP.
    pub struct NatGateway: NAT_GATEWAY = "ec2.nat_gateway",
        "A NAT gateway in a subnet.";
    reads Item, tagged by pairs;
    terraform "aws_nat_gateway";
    props NatGatewayProps {
        subnet_id: Option<String> =
            required(Str, "the subnet the gateway lives in (a public one for public connectivity)"),
        allocation_id: Option<String> =
            optional(Str, "the Elastic IP allocation id; required for public connectivity")
                .force_new(),
        connectivity_type: Option<String> =
            optional(Enum(&["public", "private"]), "whether the gateway reaches the internet")
                .default("\"public\"")
                .force_new(),
    } + TAGS
}

/// NAT gateways take a few minutes to come up and to go away.
const CREATE: Wait = Wait("CreateNatGateway", Duration::from_secs(900));
const DELETE: Wait = Wait("DeleteNatGateway", Duration::from_secs(900));

type Item = aws_sdk_ec2::types::NatGateway;

/// The gateway's primary address.
fn primary(gw: &Item) -> Option<&NatGatewayAddress> {
    let all = gw.nat_gateway_addresses();
    let primary = all.iter().find(|a| a.is_primary() == Some(true));
    primary.or(all.first())
}

describe_one!(describe_nat_gateways, nat_gateway_ids);

/// A public gateway needs an Elastic IP; a private one cannot take one.
fn check_allocation(props: &Props) -> Result<(), Invalid> {
    let has_eip = props.contains_key("allocation_id");
    match str_prop(props, "connectivity_type") {
        "private" if has_eip => Err(Invalid::value(
            "allocation_id",
            "a private NAT gateway takes no Elastic IP",
        )),
        "public" | "" if !has_eip => Err(Invalid::missing(
            "allocation_id",
            "a public NAT gateway needs an Elastic IP (`aws::ec2::eip`)",
        )),
        _ => Ok(()),
    }
}

#[async_trait]
impl Description for NatGateway {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, g| json!(g.nat_gateway_id())),
        Attr::new("public_ip", |_, g| {
            json!(primary(g).and_then(|a| a.public_ip()).unwrap_or_default())
        }),
        Attr::new("private_ip", |_, g| {
            json!(primary(g).and_then(|a| a.private_ip()).unwrap_or_default())
        }),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_allocation(props)
    }

    const FETCH: Option<Fetch<Item>> = fetch!(describe_nat_gateways, set_nat_gateway_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        let f = stack_filter(stack);
        let mut all = describe!(aws.describe_nat_gateways().filter(f), stack)?;
        // Deleted gateways stay listed for an hour, and failed ones delete themselves:
        // neither is a gateway the stack has, so a new one gets created.
        let gone = |s: &State| matches!(s, State::Deleted | State::Deleting | State::Failed);
        all.retain(|g| !g.state().is_some_and(gone));
        Ok(all)
    }

    async fn props(&self, _: &Aws, g: &Item) -> Result<Self::Props> {
        let connectivity = g.connectivity_type().map_or("public", |c| c.as_str());
        Ok(NatGatewayProps {
            subnet_id: Some(g.subnet_id().unwrap_or_default().into()),
            allocation_id: primary(g).and_then(|a| a.allocation_id()).map(Into::into),
            connectivity_type: Some(connectivity.into()),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let out = aws
            .ec2()
            .create_nat_gateway()
            .set_subnet_id(p.subnet_id.clone())
            .set_allocation_id(p.allocation_id.clone())
            .set_connectivity_type(p.connectivity_type.as_deref().map(ConnectivityType::from))
            .tag_specifications(tags_at_create(ResourceType::Natgateway, tags))
            .send()
            .await
            .map_err(sdk("CreateNatGateway", address))?;
        let id = out.nat_gateway().and_then(|g| g.nat_gateway_id());
        let id = id.unwrap_or_default();
        // What it answers once available has the public IP, known only then.
        let available = settle(aws, &id, CREATE, describe_one, |g| {
            match g.map(|g| (g.state(), g)) {
                None => WaitState::Pending("not visible yet".into()),
                Some((Some(State::Available), _)) => WaitState::Ready,
                Some((Some(State::Failed | State::Deleting | State::Deleted), g)) => {
                    let why = g.failure_message().or(g.failure_code());
                    let why = why.unwrap_or("no reason given");
                    WaitState::Failed(format!("the NAT gateway failed: {why}"))
                }
                Some((Some(s), _)) => WaitState::Pending(s.as_str().to_string()),
                Some((None, _)) => WaitState::Pending("in an unknown state".into()),
            }
        });
        let nat = available.await?;
        nat.ok_or_else(|| untagged("CreateNatGateway", address, "NAT gateway"))
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        let call = aws.ec2().delete_nat_gateway().nat_gateway_id(id);
        call.send().await.map_err(sdk("DeleteNatGateway", id))?;
        // Its Elastic IP and subnet stay in use until the gateway reaches `deleted`.
        settle_deleted(aws, id, DELETE, describe_one, Item::state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{obj, round_trip};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayOutput;
    use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
    use aws_smithy_mocks::mock;

    #[test]
    fn public_gateways_need_an_elastic_ip() {
        let e = check_allocation(&obj(json!({"subnet_id": "subnet-1"})))
            .unwrap_err()
            .to_string();
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

    #[tokio::test]
    async fn a_created_gateway_round_trip_as_declared_once_available() {
        let create = mock!(Client::create_nat_gateway).then_output(|| {
            CreateNatGatewayOutput::builder()
                .nat_gateway(
                    Item::builder()
                        .nat_gateway_id("nat-1")
                        .state(State::Pending)
                        .build(),
                )
                .build()
        });
        let describe = mock!(Client::describe_nat_gateways).then_output(|| {
            DescribeNatGatewaysOutput::builder()
                .nat_gateways(
                    Item::builder()
                        .nat_gateway_id("nat-1")
                        .subnet_id("subnet-1")
                        .connectivity_type(ConnectivityType::Public)
                        .state(State::Available)
                        .nat_gateway_addresses(
                            NatGatewayAddress::builder()
                                .allocation_id("eipalloc-1")
                                .public_ip("203.0.113.7")
                                .private_ip("10.10.0.9")
                                .is_primary(true)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        let observed = round_trip(&NAT_GATEWAY, &Aws::mocked(&[&create, &describe]), "ec2.nat_gateway.main-a",
            json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "nat-1");
        assert_eq!(observed.attrs["public_ip"], "203.0.113.7");
    }
}
