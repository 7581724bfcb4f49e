//! `aws::ec2::eip`: an Elastic IP address.

use super::prelude::*;
use crate::Result;
use aws_sdk_ec2::types::DomainType;

resource! {
    /// An Elastic IP address allocated for use in a VPC (e.g. by a NAT gateway).
    pub struct Eip: EIP = "ec2.eip",
        "An Elastic IP address.";
    reads Item, tagged by pairs;
    terraform "aws_eip";
    props EipProps {
        domain: Option<String> =
            optional(Enum(&["vpc"]), "where the address is used").default("\"vpc\"").force_new(),
    } + TAGS
}

type Item = aws_sdk_ec2::types::Address;

#[async_trait]
impl Description for Eip {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, a: &Item| json!(a.allocation_id())).note("the allocation id"),
        Attr::new("public_ip", |_, a| json!(a.public_ip().unwrap_or_default())),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    async fn fetch(&self, aws: &Aws, ids: &[String]) -> Option<Result<Vec<Item>>> {
        let call = |ids| async move {
            let call = aws.ec2().describe_addresses().set_allocation_ids(Some(ids));
            let out = call
                .send()
                .await
                .map_err(sdk("DescribeAddresses", Self::KIND))?;
            Ok(out.addresses.unwrap_or_default())
        };
        Some(by_ids(ids, call).await)
    }

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        // DescribeAddresses has no pagination: one call returns every address.
        let call = aws.ec2().describe_addresses().filters(stack_filter(stack));
        let out = call.send().await.map_err(sdk("DescribeAddresses", stack))?;
        Ok(out.addresses.unwrap_or_default())
    }

    async fn props(&self, _: &Aws, a: &Item) -> Result<Self::Props> {
        let domain = a.domain().map_or("vpc", |d| d.as_str());
        Ok(EipProps {
            domain: Some(domain.into()),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let out = aws
            .ec2()
            .allocate_address()
            .domain(DomainType::from(p.domain.as_deref().unwrap_or("vpc")))
            .tag_specifications(tags_at_create(ResourceType::ElasticIp, tags))
            .send()
            .await
            .map_err(sdk("AllocateAddress", address))?;
        // The address is usable at once; the answer is what a read would see.
        Ok(Item::builder()
            .set_allocation_id(out.allocation_id)
            .set_public_ip(out.public_ip)
            .domain(out.domain.unwrap_or(DomainType::Vpc))
            .build())
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        let call = aws.ec2().release_address().allocation_id(id);
        call.send()
            .await
            .map(drop)
            .map_err(sdk("ReleaseAddress", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::read_all;
    use crate::ec2::testing::{owned, round_trip};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::allocate_address::AllocateAddressOutput;
    use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn only_addresses_tagged_for_the_stack_are_ours() {
        let addr = Item::builder()
            .allocation_id("eipalloc-1")
            .public_ip("203.0.113.7")
            .domain(DomainType::Vpc)
            .set_tags(Some(owned("s", "ec2.eip.nat-a")))
            .build();
        let read = mock!(Client::describe_addresses).then_output(move || {
            DescribeAddressesOutput::builder()
                .addresses(addr.clone())
                .build()
        });
        let aws = Aws::mocked(&[&read]);
        let seen = read_all(&EIP, &aws, "s", &ReadHints::default()).await;
        let seen = &seen[0];
        assert_eq!(seen.id, "eipalloc-1");
        assert_eq!(seen.attrs["public_ip"], "203.0.113.7");
        assert_eq!(seen.props["domain"], "vpc");
        let other = read_all(&EIP, &aws, "other", &ReadHints::default()).await;
        assert!(other.is_empty());
    }

    #[tokio::test]
    async fn an_allocated_address_round_trip_as_declared() {
        let allocate = mock!(Client::allocate_address).then_output(|| {
            AllocateAddressOutput::builder()
                .allocation_id("eipalloc-1")
                .public_ip("203.0.113.7")
                .domain(DomainType::Vpc)
                .build()
        });
        let observed = round_trip(
            &EIP,
            &Aws::mocked(&[&allocate]),
            "ec2.eip.nat-a",
            json!({"domain": "vpc", "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "eipalloc-1");
        assert_eq!(observed.attrs["public_ip"], "203.0.113.7");
    }
}
