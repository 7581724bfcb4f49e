//! `aws::ec2::vpc`: a VPC.

use super::prelude::*;
use crate::Result;
use aws_sdk_ec2::types::{AttributeBooleanValue, VpcAttributeName};

resource! {
    /// A VPC with its DNS attributes.
    pub struct Vpc: VPC = "ec2.vpc",
        "A VPC.";
    reads Item, tagged by pairs;
    terraform "aws_vpc";
    props VpcProps {
        cidr_block: String = required(Cidr, "the IPv4 CIDR block of the VPC"),
        enable_dns_support: Option<bool> =
            optional(Bool, "resolve DNS through the Amazon resolver").default("true"),
        enable_dns_hostnames: Option<bool> =
            optional(Bool, "give instances public DNS hostnames").default("false"),
        instance_tenancy: Option<String> =
            optional(Enum(&["default", "dedicated"]), "tenancy of instances")
                .default("\"default\"")
                .force_new(),
    } + TAGS
}

/// Sets one of the VPC's two DNS attributes.
async fn set_dns(aws: &Aws, id: &str, attr: VpcAttributeName, value: bool) -> Result<()> {
    let flag = AttributeBooleanValue::builder().value(value).build();
    let call = aws.ec2().modify_vpc_attribute().vpc_id(id);
    let call = match attr {
        VpcAttributeName::EnableDnsSupport => call.enable_dns_support(flag),
        _ => call.enable_dns_hostnames(flag),
    };
    call.send()
        .await
        .map(drop)
        .map_err(sdk("ModifyVpcAttribute", id))
}

/// Reads one of the VPC's two DNS attributes.
async fn read_dns(aws: &Aws, id: &str, attr: VpcAttributeName) -> Result<bool> {
    let call = aws.ec2().describe_vpc_attribute().vpc_id(id);
    let out = call.attribute(attr.clone()).send().await;
    let out = out.map_err(sdk("DescribeVpcAttribute", id))?;
    let v = match attr {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support().and_then(|a| a.value()),
        _ => out.enable_dns_hostnames().and_then(|a| a.value()),
    };
    Ok(v.unwrap_or(false))
}

/// The DNS attribute a prop sets, if it is one.
fn dns_attribute(field: &str) -> Option<VpcAttributeName> {
    match field {
        "enable_dns_support" => Some(VpcAttributeName::EnableDnsSupport),
        "enable_dns_hostnames" => Some(VpcAttributeName::EnableDnsHostnames),
        _ => None,
    }
}

type Item = aws_sdk_ec2::types::Vpc;

#[async_trait]
impl Description for Vpc {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, v| json!(v.vpc_id())),
        Attr::new("arn", |aws, v| arn(aws, v.owner_id(), "vpc", v.vpc_id())),
        Attr::new("cidr_block", |_, v| json!(v.cidr_block())),
        Attr::new("owner_id", |_, v| json!(v.owner_id())),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        let cidr = str_prop(props, "cidr_block");
        if let Ok(net) = cidr.parse::<ipnet::IpNet>() {
            if !(16..=28).contains(&net.prefix_len()) {
                return Err(Invalid::value(
                    "cidr_block",
                    format!(
                        "a VPC block must be between /16 and /28, not /{}",
                        net.prefix_len()
                    ),
                ));
            }
        }
        Ok(())
    }

    const FETCH: Option<Fetch<Item>> = fetch!(describe_vpcs, set_vpc_ids);

    async fn list(&self, aws: &Aws, stack: &str, _hints: &ReadHints) -> Result<Vec<Item>> {
        describe!(aws.describe_vpcs().filters(stack_filter(stack)), stack)
    }

    async fn props(&self, aws: &Aws, vpc: &Item) -> Result<VpcProps> {
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        Ok(VpcProps {
            cidr_block: vpc.cidr_block().unwrap_or_default().to_string(),
            enable_dns_support: Some(read_dns(aws, &id, VpcAttributeName::EnableDnsSupport).await?),
            enable_dns_hostnames: Some(
                read_dns(aws, &id, VpcAttributeName::EnableDnsHostnames).await?,
            ),
            instance_tenancy: Some(
                vpc.instance_tenancy()
                    .map_or("default", |t| t.as_str())
                    .to_string(),
            ),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, VpcProps>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let call = aws.ec2().create_vpc().cidr_block(&p.cidr_block);
        let call = call.set_instance_tenancy(p.instance_tenancy.as_deref().map(Into::into));
        let call = call.tag_specifications(tags_at_create(ResourceType::Vpc, tags));
        let out = call.send().await.map_err(sdk("CreateVpc", address))?;
        let vpc = out.vpc.unwrap_or_else(|| Item::builder().build());
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        for (attr, value) in [
            (VpcAttributeName::EnableDnsSupport, p.enable_dns_support),
            (VpcAttributeName::EnableDnsHostnames, p.enable_dns_hostnames),
        ] {
            if let Some(v) = value {
                set_dns(aws, &id, attr, v).await?;
            }
        }
        Ok(vpc)
    }

    async fn update(&self, aws: &Aws, change: Change<'_, VpcProps>) -> Result<()> {
        let (id, field, desired) = (change.id, change.field, change.desired);
        let Some(attr) = dns_attribute(field) else {
            return Ok(());
        };
        let value = match attr {
            VpcAttributeName::EnableDnsSupport => desired.enable_dns_support,
            _ => desired.enable_dns_hostnames,
        };
        set_dns(aws, id, attr, value.unwrap_or(false)).await
    }

    async fn delete(&self, aws: &Aws, id: &str, _current: &VpcProps) -> Result<()> {
        let call = aws.ec2().delete_vpc().vpc_id(id);
        call.send().await.map(drop).map_err(sdk("DeleteVpc", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::round_trip;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
    use aws_sdk_ec2::types::Tenancy;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn a_created_vpc_round_trip_as_declared() {
        let create = mock!(Client::create_vpc).then_compute_output(|r| {
            let tags = r.tag_specifications()[0].tags().to_vec();
            aws_sdk_ec2::operation::create_vpc::CreateVpcOutput::builder()
                .vpc(
                    Item::builder()
                        .vpc_id("vpc-1")
                        .cidr_block(r.cidr_block().unwrap_or_default())
                        .owner_id("123456789012")
                        .instance_tenancy(Tenancy::Default)
                        .set_tags(Some(tags))
                        .build(),
                )
                .build()
        });
        let modify = mock!(Client::modify_vpc_attribute)
            .match_requests(|r| r.enable_dns_hostnames().and_then(|v| v.value()) == Some(true))
            .then_output(|| {
                aws_sdk_ec2::operation::modify_vpc_attribute::ModifyVpcAttributeOutput::builder()
                    .build()
            });
        let read = mock!(Client::describe_vpc_attribute).then_compute_output(|r| {
            let on = AttributeBooleanValue::builder().value(true).build();
            let out = DescribeVpcAttributeOutput::builder().vpc_id("vpc-1");
            match r.attribute() {
                Some(VpcAttributeName::EnableDnsSupport) => out.enable_dns_support(on),
                _ => out.enable_dns_hostnames(on),
            }
            .build()
        });
        let observed = round_trip(&VPC, &Aws::mocked(&[&create, &modify, &read]), "ec2.vpc.main",
            json!({"cidr_block": "10.10.0.0/16", "enable_dns_hostnames": true, "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "vpc-1");
        assert_eq!(
            observed.attrs["arn"],
            "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"
        );
        assert_eq!(
            modify.num_calls(),
            1,
            "only the attribute that differs from AWS's default is set"
        );
    }
}
