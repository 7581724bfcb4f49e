//! `aws::ec2::route`: one route of a route table (untaggable, found by table and destination).

use super::prelude::*;
use crate::Result;
use crate::schema;
use aws_sdk_ec2::types::{Route as Ec2Route, RouteOrigin, RouteTable};

resource! {
    /// A route: a destination block and exactly one target.
    pub struct Route: ROUTE = "ec2.route",
        "A route of a route table: a destination block and exactly one target.";
    reads Item;
    terraform "aws_route";
    props RouteProps {
        route_table_id: Option<String> = required(Str, "the route table the route belongs to"),
        destination_cidr_block: Option<String> = required(Cidr, "the IPv4 block the route matches"),
        gateway_id: Option<String> =
            optional(Str, "target: an internet or virtual private gateway"),
        nat_gateway_id: Option<String> = optional(Str, "target: a NAT gateway"),
        transit_gateway_id: Option<String> = optional(Str, "target: a transit gateway"),
        vpc_peering_connection_id: Option<String> =
            optional(Str, "target: a VPC peering connection"),
        vpc_endpoint_id: Option<String> = optional(Str, "target: a Gateway Load Balancer endpoint"),
    }
}

/// The props that name a route's target; a route has exactly one.
const TARGETS: [&str; 5] = [
    "gateway_id",
    "nat_gateway_id",
    "transit_gateway_id",
    "vpc_peering_connection_id",
    "vpc_endpoint_id",
];

impl RouteProps {
    /// The target field and id the props set, if exactly one.
    fn target(&self) -> Option<(&'static str, &str)> {
        let set = [
            ("gateway_id", &self.gateway_id),
            ("nat_gateway_id", &self.nat_gateway_id),
            ("transit_gateway_id", &self.transit_gateway_id),
            ("vpc_peering_connection_id", &self.vpc_peering_connection_id),
            ("vpc_endpoint_id", &self.vpc_endpoint_id),
        ];
        let mut set = set
            .into_iter()
            .filter_map(|(f, v)| Some((f, v.as_deref()?)));
        match (set.next(), set.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// The table and destination, which name the route in AWS's calls.
    fn place(&self) -> (&str, &str) {
        let table = self.route_table_id.as_deref().unwrap_or_default();
        (
            table,
            self.destination_cidr_block.as_deref().unwrap_or_default(),
        )
    }
}

/// Sets the one target of a CreateRoute or ReplaceRoute call (two builder types with the same setters).
macro_rules! with_target {
    ($call:expr, $props:expr) => {{
        let call = $call;
        match $props.target() {
            Some(("gateway_id", id)) => call.gateway_id(id),
            Some(("nat_gateway_id", id)) => call.nat_gateway_id(id),
            Some(("transit_gateway_id", id)) => call.transit_gateway_id(id),
            Some(("vpc_peering_connection_id", id)) => call.vpc_peering_connection_id(id),
            Some(("vpc_endpoint_id", id)) => call.vpc_endpoint_id(id),
            _ => call,
        }
    }};
}

/// `<route_table_id>|<normalised destination>`, the key both declarations and reads produce.
fn key(table: &str, cidr: &str) -> String {
    let cidr = schema::normalize(&Kind::Cidr, &json!(cidr));
    format!("{table}|{}", cidr.as_str().unwrap_or_default())
}

/// The key of declared props, once the table and destination are known.
fn route_key(props: &Props) -> Option<String> {
    let [table, cidr] = known(props, ["route_table_id", "destination_cidr_block"])?;
    Some(key(table, cidr))
}

/// Whether a route is one a stack declares, not one AWS manages (the `local` route, propagated
/// routes, prefix-list routes of gateway endpoints, IPv6 routes).
fn declarable(route: &Ec2Route) -> bool {
    route.destination_cidr_block().is_some()
        && route.destination_prefix_list_id().is_none()
        && route.gateway_id() != Some("local")
        && !matches!(
            route.origin(),
            Some(RouteOrigin::CreateRouteTable | RouteOrigin::EnableVgwRoutePropagation)
        )
}

/// A route with the table it is in.
type Item = (String, Ec2Route);

#[async_trait]
impl Description for Route {
    const ATTRIBUTES: &'static [Attr<Item>] = &[Attr::new("id", |_, (table, r): &Item| {
        json!(key(table, r.destination_cidr_block().unwrap_or_default()))
    })
    .note("`rtb-…|cidr`")];
    const IDENTITY: Identity = Identity::NaturalKey(route_key);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        let set: Vec<String> = TARGETS
            .iter()
            .filter(|t| props.contains_key(**t))
            .map(|t| format!("`{t}`"))
            .collect();
        match set.len() {
            1 => Ok(()),
            0 => Err(Invalid::Combination(format!(
                "a route needs a target: set one of {}",
                TARGETS.map(|t| format!("`{t}`")).join(", ")
            ))),
            _ => Err(Invalid::Combination(format!(
                "a route has exactly one target, but {} are set",
                set.join(" and ")
            ))),
        }
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<Item>> {
        table_parts(aws, stack, hints, RouteTable::routes, declarable).await
    }

    async fn props(&self, _: &Aws, (table, r): &Item) -> Result<RouteProps> {
        // AWS reports a Gateway Load Balancer endpoint target as a gateway id.
        let gateway = |endpoint: bool| {
            r.gateway_id()
                .filter(|g| g.starts_with("vpce-") == endpoint)
                .map(String::from)
        };
        Ok(RouteProps {
            route_table_id: Some(table.clone()),
            destination_cidr_block: r.destination_cidr_block().map(String::from),
            gateway_id: gateway(false),
            vpc_endpoint_id: gateway(true),
            nat_gateway_id: r.nat_gateway_id().map(String::from),
            transit_gateway_id: r.transit_gateway_id().map(String::from),
            vpc_peering_connection_id: r.vpc_peering_connection_id().map(String::from),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, RouteProps>) -> Result<Item> {
        let (address, p) = (new.address, new.props);
        let (table, cidr) = p.place();
        let call = aws.ec2().create_route().route_table_id(table);
        with_target!(call.destination_cidr_block(cidr), p)
            .send()
            .await
            .map_err(sdk("CreateRoute", address))?;
        // A route takes effect with the call; what it reports is what was declared.
        let route = Ec2Route::builder()
            .destination_cidr_block(cidr)
            .set_gateway_id(p.gateway_id.clone().or(p.vpc_endpoint_id.clone()))
            .set_nat_gateway_id(p.nat_gateway_id.clone())
            .set_transit_gateway_id(p.transit_gateway_id.clone())
            .set_vpc_peering_connection_id(p.vpc_peering_connection_id.clone());
        Ok((table.to_string(), route.build()))
    }

    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, RouteProps>,
    ) -> Result<Option<Item>> {
        let (on, changed, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        if changed.iter().any(|f| TARGETS.contains(&f.as_str())) {
            let (table, cidr) = current.place();
            let call = aws.ec2().replace_route().route_table_id(table);
            with_target!(call.destination_cidr_block(cidr), desired)
                .send()
                .await
                .map_err(sdk("ReplaceRoute", &on.id))?;
        }
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, id: &str, current: &RouteProps) -> Result<()> {
        // A route recorded before its props were is still named by its id.
        let (id_table, id_cidr) = id.split_once('|').unwrap_or_default();
        let (table, cidr) = match current.place() {
            ("", _) | (_, "") => (id_table, id_cidr),
            place => place,
        };
        let call = aws.ec2().delete_route().route_table_id(table);
        let sent = call.destination_cidr_block(cidr).send().await;
        sent.map(drop).map_err(sdk("DeleteRoute", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, obj, observe, round_trip};
    use crate::resource::Resource;
    use crate::token;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_route::CreateRouteOutput;
    use aws_smithy_mocks::mock;

    #[test]
    fn natural_key_normalises_the_destination() {
        let p = obj(
            json!({"route_table_id": "rtb-1", "destination_cidr_block": "10.20.7.9/16", "gateway_id": "igw-1"}),
        );
        assert_eq!(ROUTE.natural_key(&p).as_deref(), Some("rtb-1|10.20.0.0/16"));
    }

    #[test]
    fn natural_key_waits_for_tokens() {
        let rtb = token::marker(&"ec2.route_table.private-a".parse().unwrap(), "id");
        let p = obj(json!({"route_table_id": rtb, "destination_cidr_block": "0.0.0.0/0"}));
        assert_eq!(ROUTE.natural_key(&p), None);
    }

    #[test]
    fn exactly_one_target() {
        let base = json!({"route_table_id": "rtb-1", "destination_cidr_block": "0.0.0.0/0"});
        let none = obj(base.clone());
        assert!(
            ROUTE
                .validate(&none, &NoOthers)
                .unwrap_err()
                .to_string()
                .contains("needs a target")
        );
        let mut two = none.clone();
        two.insert("gateway_id".into(), json!("igw-1"));
        two.insert("nat_gateway_id".into(), json!("nat-1"));
        assert_eq!(
            ROUTE.validate(&two, &NoOthers).unwrap_err().to_string(),
            "a route has exactly one target, but `gateway_id` and `nat_gateway_id` are set"
        );
        let mut one = none;
        one.insert("transit_gateway_id".into(), json!("tgw-1"));
        assert!(ROUTE.validate(&one, &NoOthers).is_ok());
    }

    #[tokio::test]
    async fn aws_managed_routes_are_not_reported() {
        let aws = Aws::mocked(&[]);
        let r = |b: aws_sdk_ec2::types::builders::RouteBuilder| {
            let route = b.build();
            let item = declarable(&route).then(|| ("rtb-1".to_string(), route));
            let aws = &aws;
            async move {
                match item {
                    Some(item) => observe(&ROUTE, aws, "s", &item).await,
                    None => None,
                }
            }
        };
        let route = Ec2Route::builder;
        let managed = [
            route()
                .destination_cidr_block("10.10.0.0/16")
                .gateway_id("local"),
            route()
                .destination_prefix_list_id("pl-1")
                .gateway_id("vpce-1"),
            route()
                .destination_cidr_block("10.9.0.0/16")
                .gateway_id("vgw-1")
                .origin(RouteOrigin::EnableVgwRoutePropagation),
        ];
        for b in managed {
            assert!(r(b.clone()).await.is_none(), "{b:?}");
        }
        let nat = r(route()
            .destination_cidr_block("0.0.0.0/0")
            .nat_gateway_id("nat-1")
            .origin(RouteOrigin::CreateRoute))
        .await
        .unwrap();
        assert_eq!(nat.natural_key.as_deref(), Some("rtb-1|0.0.0.0/0"));
        assert_eq!(nat.address, None);
        assert_eq!(
            nat.props,
            obj(
                json!({"route_table_id": "rtb-1", "destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"})
            )
        );
        let glb = r(route()
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id("vpce-9"))
        .await
        .unwrap();
        assert_eq!(glb.props["vpc_endpoint_id"], "vpce-9");
        assert!(!glb.props.contains_key("gateway_id"));
    }

    #[tokio::test]
    async fn a_created_route_round_trip_as_declared() {
        let create = mock!(Client::create_route)
            .match_requests(|r| r.transit_gateway_id() == Some("tgw-1") && r.gateway_id().is_none())
            .then_output(|| CreateRouteOutput::builder().r#return(true).build());
        let observed = round_trip(&ROUTE, &Aws::mocked(&[&create]), "ec2.route.to-peer",
            json!({"route_table_id": "rtb-1", "destination_cidr_block": "10.20.0.0/16", "transit_gateway_id": "tgw-1"}),
        )
        .await;
        assert_eq!(observed.id, "rtb-1|10.20.0.0/16");
        assert_eq!(observed.natural_key.as_deref(), Some("rtb-1|10.20.0.0/16"));
    }
}
