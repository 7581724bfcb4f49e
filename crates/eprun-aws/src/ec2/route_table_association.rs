//! `aws::ec2::route_table_association`: a subnet's link to a route table (untaggable, found by table and subnet).

use super::prelude::*;
use crate::Result;
use aws_sdk_ec2::types::{
    Filter, RouteTable, RouteTableAssociation as Association,
    RouteTableAssociationStateCode as Code,
};

resource! {
    /// The association of a subnet with a route table.
    pub struct RouteTableAssociation: ROUTE_TABLE_ASSOCIATION = "ec2.route_table_association",
        "Makes a subnet use a route table.";
    reads Item;
    terraform "aws_route_table_association";
    props AssociationProps {
        route_table_id: Option<String> = required(Str, "the route table"),
        subnet_id: Option<String> = required(Str, "the subnet that uses the route table"),
    }
}

/// Associations normally take effect at once; this bounds a slow one.
const TIMEOUT: Duration = Duration::from_secs(120);

/// `<route_table_id>|<subnet_id>`, once both are known.
fn key(props: &Props) -> Option<String> {
    let [table, subnet] = known(props, ["route_table_id", "subnet_id"])?;
    Some(format!("{table}|{subnet}"))
}

/// How far an association is: ready once associated.
fn state(assoc: Option<&Association>) -> WaitState {
    let state = assoc.and_then(|a| a.association_state());
    match state.and_then(|s| s.state()) {
        Some(Code::Associated) => WaitState::Ready,
        Some(Code::Failed) => WaitState::Failed(format!(
            "the association failed: {}",
            state
                .and_then(|s| s.status_message())
                .unwrap_or("no reason given")
        )),
        Some(s) => WaitState::Pending(s.as_str().to_string()),
        None => WaitState::Pending("not visible yet".into()),
    }
}

/// A subnet association that still links its subnet (or is about to); main-table and gateway
/// associations are not this type.
fn declarable(assoc: &Association) -> bool {
    let dead = matches!(
        assoc.association_state().and_then(|s| s.state()),
        Some(Code::Disassociated | Code::Disassociating | Code::Failed)
    );
    assoc.subnet_id().is_some()
        && assoc.route_table_association_id().is_some()
        && assoc.main() != Some(true)
        && !dead
}

/// The association with id `id`, wherever it is.
async fn describe(aws: &Aws, id: &str) -> Result<Option<Association>> {
    let by_id = Filter::builder()
        .name("association.route-table-association-id")
        .values(id)
        .build();
    let tables = describe!(aws.describe_route_tables().filters(by_id), id)?;
    let mut all = tables
        .into_iter()
        .flat_map(|t| t.associations.unwrap_or_default());
    Ok(all.find(|a| a.route_table_association_id() == Some(id)))
}

/// An association with the table it is in.
type Item = (String, Association);

#[async_trait]
impl Description for RouteTableAssociation {
    const ATTRIBUTES: &'static [Attr<Item>] = &[Attr::new("id", |_, (_, a): &Item| {
        json!(a.route_table_association_id())
    })
    .note("the association id")];
    const IDENTITY: Identity = Identity::NaturalKey(key);

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<Item>> {
        table_parts(aws, stack, hints, RouteTable::associations, declarable).await
    }

    async fn props(&self, _: &Aws, (table, a): &Item) -> Result<AssociationProps> {
        Ok(AssociationProps {
            route_table_id: Some(table.clone()),
            subnet_id: a.subnet_id().map(String::from),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, AssociationProps>) -> Result<Item> {
        let (address, p) = (new.address, new.props);
        let out = aws
            .ec2()
            .associate_route_table()
            .set_route_table_id(p.route_table_id.clone())
            .set_subnet_id(p.subnet_id.clone())
            .send()
            .await
            .map_err(sdk("AssociateRouteTable", address))?;
        let id = out.association_id().unwrap_or_default();
        let mut assoc = Association::builder()
            .route_table_association_id(id)
            .set_subnet_id(p.subnet_id.clone())
            .set_association_state(out.association_state().cloned())
            .build();
        let code = out.association_state().and_then(|s| s.state());
        if !matches!(code, None | Some(Code::Associated)) {
            let wait = Wait("AssociateRouteTable", TIMEOUT);
            assoc = settle(aws, id, wait, describe, state)
                .await?
                .unwrap_or(assoc);
        }
        Ok((p.route_table_id.clone().unwrap_or_default(), assoc))
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &AssociationProps) -> Result<()> {
        let call = aws.ec2().disassociate_route_table().association_id(id);
        call.send()
            .await
            .map(drop)
            .map_err(sdk("DisassociateRouteTable", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{obj, observe, round_trip};
    use crate::resource::Resource;
    use crate::token;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::associate_route_table::AssociateRouteTableOutput;
    use aws_sdk_ec2::types::RouteTableAssociationState;
    use aws_smithy_mocks::mock;

    fn state(c: Code) -> RouteTableAssociationState {
        RouteTableAssociationState::builder().state(c).build()
    }

    #[test]
    fn natural_key_is_table_and_subnet() {
        let p = obj(json!({"route_table_id": "rtb-1", "subnet_id": "subnet-2"}));
        assert_eq!(
            ROUTE_TABLE_ASSOCIATION.natural_key(&p).as_deref(),
            Some("rtb-1|subnet-2")
        );
        let subnet = token::marker(&"ec2.subnet.private-a".parse().unwrap(), "id");
        let p = obj(json!({"route_table_id": "rtb-1", "subnet_id": subnet}));
        assert_eq!(ROUTE_TABLE_ASSOCIATION.natural_key(&p), None);
    }

    #[tokio::test]
    async fn main_gateway_and_dead_associations_are_skipped() {
        let main = Association::builder()
            .main(true)
            .route_table_association_id("rtbassoc-0")
            .build();
        assert!(!declarable(&main));
        let gateway = Association::builder()
            .gateway_id("igw-1")
            .route_table_association_id("rtbassoc-1")
            .build();
        assert!(!declarable(&gateway));
        let gone = Association::builder()
            .subnet_id("subnet-1")
            .route_table_association_id("rtbassoc-2")
            .association_state(state(Code::Disassociated))
            .build();
        assert!(!declarable(&gone));
        let live = Association::builder()
            .main(false)
            .subnet_id("subnet-1")
            .route_table_association_id("rtbassoc-3")
            .association_state(state(Code::Associated))
            .build();
        assert!(declarable(&live));
        let aws = Aws::mocked(&[]);
        let item = ("rtb-1".to_string(), live);
        let seen = observe(&ROUTE_TABLE_ASSOCIATION, &aws, "s", &item)
            .await
            .unwrap();
        assert_eq!(
            (seen.id.as_str(), seen.natural_key.as_deref()),
            ("rtbassoc-3", Some("rtb-1|subnet-1"))
        );
    }

    #[tokio::test]
    async fn a_created_association_round_trip_as_declared() {
        let create = mock!(Client::associate_route_table).then_output(|| {
            AssociateRouteTableOutput::builder()
                .association_id("rtbassoc-1")
                .association_state(state(Code::Associated))
                .build()
        });
        let observed = round_trip(
            &ROUTE_TABLE_ASSOCIATION,
            &Aws::mocked(&[&create]),
            "ec2.route_table_association.private-a",
            json!({"route_table_id": "rtb-1", "subnet_id": "subnet-1"}),
        )
        .await;
        assert_eq!(observed.id, "rtbassoc-1");
        assert_eq!(observed.natural_key.as_deref(), Some("rtb-1|subnet-1"));
    }
}
