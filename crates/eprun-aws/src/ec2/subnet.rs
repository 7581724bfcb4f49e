//! `aws::ec2::subnet`: a subnet of a VPC.

use super::prelude::*;
use crate::Result;
use crate::token;
use aws_sdk_ec2::types::{AttributeBooleanValue, SubnetState};
use ipnet::IpNet;

resource! {
    /// A subnet in one availability zone.
    pub struct Subnet: SUBNET = "ec2.subnet",
        "A subnet of a VPC in one availability zone.";
    reads Item, tagged by pairs;
    terraform "aws_subnet";
    props SubnetProps {
        vpc_id: Option<String> = required(Str, "the VPC the subnet belongs to"),
        cidr_block: Option<String> = required(Cidr, "the IPv4 CIDR block, inside the VPC's block"),
        availability_zone: Option<String> =
            required(Str, "the availability zone, e.g. `us-east-1a`"),
        map_public_ip_on_launch: Option<bool> =
            optional(Bool, "give instances launched here a public IP").default("false"),
    } + TAGS
}

type Item = aws_sdk_ec2::types::Subnet;

describe_one!(describe_subnets, subnet_ids);

#[async_trait]
impl Description for Subnet {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, s| json!(s.subnet_id())),
        Attr::new("arn", |aws, s| match s.subnet_arn() {
            Some(a) => json!(a),
            None => arn(aws, s.owner_id(), "subnet", s.subnet_id()),
        }),
        Attr::new("cidr_block", |_, s| json!(s.cidr_block())),
        Attr::new("availability_zone", |_, s| json!(s.availability_zone())),
        Attr::new("vpc_id", |_, s| json!(s.vpc_id())),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    /// A subnet's block lies inside the declared block of the VPC its `vpc_id` refers to.
    fn validate(&self, props: &Props, others: &dyn DeclaredProps) -> Result<(), Invalid> {
        let cidr = str_prop(props, "cidr_block");
        let Ok(subnet) = cidr.parse::<IpNet>() else {
            return Ok(());
        };
        for r in token::refs_in_str(str_prop(props, "vpc_id")) {
            let vpc = others
                .props_of(&r.address)
                .filter(|_| r.address.kind() == "ec2.vpc");
            let vpc_cidr = vpc.map_or("", |p| str_prop(p, "cidr_block"));
            match vpc_cidr.parse::<IpNet>() {
                Ok(vpc) if !vpc.trunc().contains(&subnet.trunc()) => {
                    return Err(Invalid::value(
                        "cidr_block",
                        format!(
                            "`{cidr}` is outside the VPC's `{vpc_cidr}` (`{}`)",
                            r.address
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    const FETCH: Option<Fetch<Item>> = fetch!(describe_subnets, set_subnet_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        let f = stack_filter(stack);
        describe!(aws.describe_subnets().filters(f), stack)
    }

    async fn props(&self, _: &Aws, s: &Item) -> Result<SubnetProps> {
        Ok(SubnetProps {
            vpc_id: s.vpc_id().map(Into::into),
            cidr_block: s.cidr_block().map(Into::into),
            availability_zone: s.availability_zone().map(Into::into),
            map_public_ip_on_launch: Some(s.map_public_ip_on_launch().unwrap_or(false)),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, SubnetProps>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let out = aws
            .ec2()
            .create_subnet()
            .set_vpc_id(p.vpc_id.clone())
            .set_cidr_block(p.cidr_block.clone())
            .set_availability_zone(p.availability_zone.clone())
            .tag_specifications(tags_at_create(ResourceType::Subnet, tags))
            .send()
            .await
            .map_err(sdk("CreateSubnet", address))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_string();
        // Not visible yet is eventual consistency, not absence; subnets are usually available at
        // once, and the timeout only bounds a stuck one.
        let wait = Wait("CreateSubnet", Duration::from_secs(300));
        settle(aws, &id, wait, describe_one, |s| {
            match s.and_then(|s| s.state()) {
                Some(SubnetState::Available) => WaitState::Ready,
                Some(s @ (SubnetState::Failed | SubnetState::FailedInsufficientCapacity)) => {
                    WaitState::Failed(format!("the subnet ended in state `{}`", s.as_str()))
                }
                Some(s) => WaitState::Pending(s.as_str().to_string()),
                None => WaitState::Pending("not visible yet".into()),
            }
        })
        .await?;
        if p.map_public_ip_on_launch == Some(true) {
            let (id, field) = (id.as_str(), "");
            self.update(
                aws,
                Change {
                    id,
                    field,
                    current: p,
                    desired: p,
                },
            )
            .await?;
        }
        describe_one(aws, &id)
            .await?
            .ok_or_else(|| untagged("CreateSubnet", address, "subnet"))
    }

    async fn update(&self, aws: &Aws, change: Change<'_, SubnetProps>) -> Result<()> {
        let (id, desired) = (change.id, change.desired);
        let flag = desired.map_public_ip_on_launch.unwrap_or(false);
        let call = aws.ec2().modify_subnet_attribute().subnet_id(id);
        call.map_public_ip_on_launch(AttributeBooleanValue::builder().value(flag).build())
            .send()
            .await
            .map(drop)
            .map_err(sdk("ModifySubnetAttribute", id))
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &SubnetProps) -> Result<()> {
        retry_dependency("DeleteSubnet", id, || async {
            let call = aws.ec2().delete_subnet().subnet_id(id).send().await;
            call.map(drop).map_err(sdk("DeleteSubnet", id))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{obj, round_trip};
    use crate::address::Address;
    use crate::resource::Resource;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_subnet::CreateSubnetOutput;
    use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
    use aws_sdk_ec2::operation::modify_subnet_attribute::ModifySubnetAttributeOutput;
    use aws_smithy_mocks::mock;
    use std::collections::HashMap;

    struct Declared(HashMap<Address, Props>);

    impl DeclaredProps for Declared {
        fn props_of(&self, address: &Address) -> Option<&Props> {
            self.0.get(address)
        }
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
            SUBNET.validate(&p, &others).unwrap_err().to_string(),
            "property `cidr_block`: `10.30.1.0/24` is outside the VPC's `10.10.0.0/16` (`ec2.vpc.examplepay-prod`)"
        );
    }

    #[test]
    fn a_subnet_inside_its_vpc_passes() {
        let (others, vpc_id) = with_vpc("10.10.0.0/16");
        let p = obj(json!({"vpc_id": vpc_id, "cidr_block": "10.10.32.0/19"}));
        assert!(SUBNET.validate(&p, &others).is_ok());
    }

    #[test]
    fn unknown_vpcs_and_literal_ids_are_not_checked() {
        let (others, _) = with_vpc("10.10.0.0/16");
        let literal = obj(json!({"vpc_id": "vpc-123", "cidr_block": "10.30.1.0/24"}));
        assert!(SUBNET.validate(&literal, &others).is_ok());
        let other_vpc = token::marker(&"ec2.vpc.elsewhere".parse().unwrap(), "id");
        let undeclared = obj(json!({"vpc_id": other_vpc, "cidr_block": "10.30.1.0/24"}));
        assert!(SUBNET.validate(&undeclared, &others).is_ok());
    }

    #[test]
    fn a_vpc_block_still_unknown_is_not_checked() {
        let vpc_cidr = token::marker(&"ec2.vpc.ipam".parse().unwrap(), "cidr_block");
        let (others, vpc_id) = with_vpc(&vpc_cidr);
        let p = obj(json!({"vpc_id": vpc_id, "cidr_block": "10.30.1.0/24"}));
        assert!(SUBNET.validate(&p, &others).is_ok());
    }

    #[tokio::test]
    async fn a_created_subnet_round_trip_as_declared() {
        let create = mock!(Client::create_subnet).then_compute_output(|r| {
            CreateSubnetOutput::builder()
                .subnet(
                    Item::builder()
                        .subnet_id("subnet-1")
                        .state(SubnetState::Pending)
                        .set_tags(Some(r.tag_specifications()[0].tags().to_vec()))
                        .build(),
                )
                .build()
        });
        let describe = mock!(Client::describe_subnets).then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(
                    Item::builder()
                        .subnet_id("subnet-1")
                        .vpc_id("vpc-1")
                        .cidr_block("10.10.1.0/24")
                        .availability_zone("us-east-1a")
                        .map_public_ip_on_launch(true)
                        .owner_id("123456789012")
                        .state(SubnetState::Available)
                        .build(),
                )
                .build()
        });
        let modify = mock!(Client::modify_subnet_attribute)
            .match_requests(|r| r.map_public_ip_on_launch().and_then(|v| v.value()) == Some(true))
            .then_output(|| ModifySubnetAttributeOutput::builder().build());
        let observed = round_trip(&SUBNET, &Aws::mocked(&[&create, &describe, &modify]), "ec2.subnet.public-a",
            json!({"vpc_id": "vpc-1", "cidr_block": "10.10.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": true, "tags": {"tier": "public"}}),
        )
        .await;
        assert_eq!(observed.id, "subnet-1");
        assert_eq!(
            observed.attrs["arn"],
            "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1"
        );
        assert_eq!(modify.num_calls(), 1);
    }
}
