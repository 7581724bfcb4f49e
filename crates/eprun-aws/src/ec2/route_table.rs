//! `aws::ec2::route_table`: a route table of a VPC (its routes and associations are separate types).

use super::prelude::*;
use crate::Result;

resource! {
    /// A route table; routes are `aws::ec2::route`, subnets join through `aws::ec2::route_table_association`.
    pub struct RouteTable: ROUTE_TABLE = "ec2.route_table",
        "A route table of a VPC; routes and subnet associations are separate resources.";
    reads Item, tagged by pairs;
    terraform "aws_route_table";
    props RouteTableProps {
        vpc_id: Option<String> = required(Str, "the VPC the table belongs to"),
    } + TAGS
}

type Item = aws_sdk_ec2::types::RouteTable;

#[async_trait]
impl Description for RouteTable {
    const ATTRIBUTES: &'static [Attr<Item>] = &[Attr::new("id", |_, t| json!(t.route_table_id()))];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    const FETCH: Option<Fetch<Item>> = fetch!(describe_route_tables, set_route_table_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        owned_route_tables(aws, stack).await
    }

    async fn props(&self, _: &Aws, t: &Item) -> Result<Self::Props> {
        let vpc_id = Some(t.vpc_id().unwrap_or_default().into());
        Ok(RouteTableProps { vpc_id })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let out = aws
            .ec2()
            .create_route_table()
            .set_vpc_id(p.vpc_id.clone())
            .tag_specifications(tags_at_create(ResourceType::RouteTable, tags))
            .send()
            .await
            .map_err(sdk("CreateRouteTable", address))?;
        let table = out.route_table; // usable as soon as the call returns
        table.ok_or_else(|| untagged("CreateRouteTable", address, "route table"))
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        retry_dependency("DeleteRouteTable", id, || async {
            let sent = aws
                .ec2()
                .delete_route_table()
                .route_table_id(id)
                .send()
                .await;
            sent.map(drop).map_err(sdk("DeleteRouteTable", id))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::read_all;
    use crate::ec2::testing::{owned, round_trip};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_route_table::CreateRouteTableOutput;
    use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn observed_props_match_the_schema() {
        let table = Item::builder()
            .route_table_id("rtb-1")
            .vpc_id("vpc-1")
            .set_tags(Some(owned("s", "ec2.route_table.private-a")))
            .build();
        let read = mock!(Client::describe_route_tables).then_output(move || {
            DescribeRouteTablesOutput::builder()
                .route_tables(table.clone())
                .build()
        });
        let aws = Aws::mocked(&[&read]);
        let seen = read_all(&ROUTE_TABLE, &aws, "s", &ReadHints::default()).await;
        let seen = &seen[0];
        let names: Vec<&str> = SCHEMA.iter().map(|f| f.name).collect();
        assert!(seen.props.keys().all(|k| names.contains(&k.as_str())));
        assert_eq!(seen.attrs["id"], "rtb-1");
    }

    #[tokio::test]
    async fn a_created_route_table_round_trip_as_declared() {
        let create = mock!(Client::create_route_table).then_compute_output(|r| {
            CreateRouteTableOutput::builder()
                .route_table(
                    Item::builder()
                        .route_table_id("rtb-1")
                        .set_vpc_id(r.vpc_id().map(String::from))
                        .set_tags(Some(r.tag_specifications()[0].tags().to_vec()))
                        .build(),
                )
                .build()
        });
        let observed = round_trip(
            &ROUTE_TABLE,
            &Aws::mocked(&[&create]),
            "ec2.route_table.private-a",
            json!({"vpc_id": "vpc-1", "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "rtb-1");
    }
}
