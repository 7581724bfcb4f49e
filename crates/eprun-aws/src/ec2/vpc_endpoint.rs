//! `aws::ec2::vpc_endpoint`: a Gateway or Interface VPC endpoint.

use super::prelude::*;
use super::{set_changes, unsuccessful};
use crate::CloudErrorKind;
use crate::Result;
use aws_sdk_ec2::types::VpcEndpointType;

resource! {
    /// A VPC endpoint: a Gateway one joins route tables, an Interface one puts network interfaces in subnets.
    pub struct VpcEndpoint: VPC_ENDPOINT = "ec2.vpc_endpoint",
        "A Gateway or Interface VPC endpoint.";
    reads Item, tagged by pairs;
    terraform "aws_vpc_endpoint";
    props VpcEndpointProps {
        vpc_id: Option<String> = required(Str, "the VPC"),
        service_name: Option<String> =
            required(Str, "the service, e.g. `com.amazonaws.us-east-1.s3`"),
        vpc_endpoint_type: Option<String> =
            optional(Enum(&["Interface", "Gateway"]), "the endpoint type")
                .default("\"Gateway\"")
                .force_new(),
        subnet_ids: Option<Vec<String>> =
            optional(StrSet, "Interface: the subnets to put network interfaces in"),
        security_group_ids: Option<Vec<String>> =
            optional(StrSet, "Interface: the security groups of its network interfaces"),
        route_table_ids: Option<Vec<String>> =
            optional(StrSet, "Gateway: the route tables that get a route to the service"),
        private_dns_enabled: Option<bool> =
            optional(Bool, "Interface: answer the service's public DNS name privately")
                .default("false"),
        policy: Option<Value> =
            optional(Json, "the endpoint policy; AWS allows full access when left out"),
    } + TAGS
}

/// Interface endpoints take a few minutes to become available and to go away.
const CREATE: Wait = Wait("CreateVpcEndpoint", Duration::from_secs(900));
const DELETE: Wait = Wait("DeleteVpcEndpoints", Duration::from_secs(900));

type Item = aws_sdk_ec2::types::VpcEndpoint;

/// AWS spells endpoint states both `available` and `Available`; `None` when Describe does not see it.
fn state_of(ep: Option<&Item>) -> Option<String> {
    let state = ep?.state().map(|s| s.as_str().to_ascii_lowercase());
    Some(state.unwrap_or_default())
}

/// The policy text to send: a JSON string prop as written, a map as JSON.
fn policy_text(policy: Option<&Value>) -> Option<String> {
    match policy? {
        Value::String(s) => Some(s.clone()),
        doc => Some(doc.to_string()),
    }
}

describe_one!(describe_vpc_endpoints, vpc_endpoint_ids);

#[async_trait]
impl Description for VpcEndpoint {
    const ATTRIBUTES: &'static [Attr<Item>] = &[
        Attr::new("id", |_, e| json!(e.vpc_endpoint_id())),
        Attr::new("arn", |aws, e| {
            arn(aws, e.owner_id(), "vpc-endpoint", e.vpc_endpoint_id())
        }),
        Attr::new("dns_names", |_, e| {
            let names = e.dns_entries().iter().filter_map(|d| d.dns_name());
            json!(names.collect::<Vec<_>>())
        }),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    /// Set props that mean nothing for the endpoint's type are a mistake AWS would reject.
    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        let (endpoint_type, foreign): (_, &[&str]) = match str_prop(props, "vpc_endpoint_type") {
            "Interface" => ("Interface", &["route_table_ids"]),
            _ => (
                "Gateway",
                &["subnet_ids", "security_group_ids", "private_dns_enabled"],
            ),
        };
        match foreign.iter().find(|k| props.contains_key(**k)) {
            Some(k) => Err(Invalid::form(
                *k,
                format!("does not apply to a `{endpoint_type}` endpoint"),
            )),
            None => Ok(()),
        }
    }

    const FETCH: Option<Fetch<Item>> = fetch!(describe_vpc_endpoints, set_vpc_endpoint_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        let f = stack_filter(stack);
        let mut all = describe!(aws.describe_vpc_endpoints().filters(f), stack)?;
        // Deleted endpoints stay listed for a while; they are not the stack's any more.
        all.retain(|e| !matches!(state_of(Some(e)).as_deref(), Some("deleted" | "deleting")));
        Ok(all)
    }

    /// Only what the type uses, so a declaration that leaves the other type's fields out diffs clean.
    async fn props(&self, _: &Aws, e: &Item) -> Result<Self::Props> {
        let endpoint_type = e.vpc_endpoint_type().map_or("Gateway", |t| t.as_str());
        let interface = endpoint_type == "Interface";
        let groups = e.groups().iter().filter_map(|g| g.group_id());
        let parse = |doc: &str| serde_json::from_str(doc).unwrap_or(json!(doc));
        Ok(VpcEndpointProps {
            vpc_id: Some(e.vpc_id().unwrap_or_default().into()),
            service_name: Some(e.service_name().unwrap_or_default().into()),
            vpc_endpoint_type: Some(endpoint_type.into()),
            subnet_ids: interface.then(|| e.subnet_ids().to_vec()),
            security_group_ids: interface.then(|| groups.map(Into::into).collect()),
            route_table_ids: (!interface).then(|| e.route_table_ids().to_vec()),
            private_dns_enabled: interface.then(|| e.private_dns_enabled().unwrap_or(false)),
            policy: e.policy_document().map(parse),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let endpoint_type = p.vpc_endpoint_type.as_deref().unwrap_or("Gateway");
        let nonempty = |ids: &Option<Vec<String>>| ids.clone().filter(|ids| !ids.is_empty());
        let out = aws
            .ec2()
            .create_vpc_endpoint()
            .set_vpc_id(p.vpc_id.clone())
            .set_service_name(p.service_name.clone())
            .vpc_endpoint_type(VpcEndpointType::from(endpoint_type))
            .set_subnet_ids(nonempty(&p.subnet_ids))
            .set_security_group_ids(nonempty(&p.security_group_ids))
            .set_route_table_ids(nonempty(&p.route_table_ids))
            // AWS turns private DNS on by default; the schema's default is off, so always say which.
            .set_private_dns_enabled(
                (endpoint_type == "Interface").then(|| p.private_dns_enabled.unwrap_or(false)),
            )
            .set_policy_document(policy_text(p.policy.as_ref()))
            .tag_specifications(tags_at_create(ResourceType::VpcEndpoint, tags))
            .send()
            .await
            .map_err(sdk("CreateVpcEndpoint", address))?;
        let id = out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id());
        let id = id.unwrap_or_default();
        let available = settle(aws, &id, CREATE, describe_one, |e| {
            match state_of(e).as_deref() {
                None => WaitState::Pending("not visible yet".into()),
                Some("available") => WaitState::Ready,
                Some(state @ ("failed" | "rejected" | "expired" | "deleted" | "deleting")) => {
                    let why = e.and_then(|e| e.failure_reason()).map(|r| format!(": {r}"));
                    let why = why.unwrap_or_default();
                    WaitState::Failed(format!("the endpoint ended in state `{state}`{why}"))
                }
                Some(state) => WaitState::Pending(state.into()),
            }
        });
        let endpoint = available.await?;
        endpoint.ok_or_else(|| untagged("CreateVpcEndpoint", address, "VPC endpoint"))
    }

    /// One ModifyVpcEndpoint call for every changed field.
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
        let has = |f: &str| changed.iter().any(|c| c == f);
        // A set's (added, removed) ids when it changed.
        let sets = |f: &str, get: fn(&Self::Props) -> &Option<Vec<String>>| {
            has(f)
                .then(|| set_changes(get(current), get(desired)))
                .unzip()
        };
        let (add_rt, rm_rt) = sets("route_table_ids", |p| &p.route_table_ids);
        let (add_sn, rm_sn) = sets("subnet_ids", |p| &p.subnet_ids);
        let (add_sg, rm_sg) = sets("security_group_ids", |p| &p.security_group_ids);
        let dns = has("private_dns_enabled").then(|| desired.private_dns_enabled.unwrap_or(false));
        let policy = has("policy").then(|| policy_text(desired.policy.as_ref()));
        let call = aws
            .ec2()
            .modify_vpc_endpoint()
            .vpc_endpoint_id(&on.id)
            .set_add_route_table_ids(add_rt)
            .set_remove_route_table_ids(rm_rt)
            .set_add_subnet_ids(add_sn)
            .set_remove_subnet_ids(rm_sn)
            .set_add_security_group_ids(add_sg)
            .set_remove_security_group_ids(rm_sg)
            .set_private_dns_enabled(dns)
            .set_policy_document(policy.clone().flatten())
            .set_reset_policy(policy.map(|doc| doc.is_none()).filter(|reset| *reset));
        let sent = call.send().await;
        let out = sent.map_err(sdk("ModifyVpcEndpoint", &on.id))?;
        if out.r#return() == Some(false) {
            let kind = CloudErrorKind::Service("Return".into());
            let why = "AWS did not apply the change";
            return Err(CloudError::new("ModifyVpcEndpoint", &on.id, kind, why));
        }
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        // The batch call reports a per-endpoint failure in its answer, not as an error.
        let call = aws.ec2().delete_vpc_endpoints().vpc_endpoint_ids(id);
        let out = call.send().await.map_err(sdk("DeleteVpcEndpoints", id))?;
        unsuccessful("DeleteVpcEndpoints", id, out.unsuccessful())?;
        let gone = settle(aws, id, DELETE, describe_one, |e| {
            match state_of(e).as_deref() {
                None | Some("deleted") => WaitState::Ready,
                Some(state) => WaitState::Pending(state.into()),
            }
        });
        gone.await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, obj, round_trip};
    use crate::resource::{Observed, Resource};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_vpc_endpoint::CreateVpcEndpointOutput;
    use aws_sdk_ec2::operation::describe_vpc_endpoints::DescribeVpcEndpointsOutput;
    use aws_sdk_ec2::operation::modify_vpc_endpoint::ModifyVpcEndpointOutput;
    use aws_sdk_ec2::types::{DnsEntry, SecurityGroupIdentifier, State};
    use aws_smithy_mocks::mock;

    #[test]
    fn fields_of_the_other_type_are_refused() {
        let gw = obj(json!({"vpc_id": "v", "service_name": "s", "subnet_ids": ["subnet-1"]}));
        assert_eq!(
            VPC_ENDPOINT
                .validate(&gw, &NoOthers)
                .unwrap_err()
                .to_string(),
            "property `subnet_ids` does not apply to a `Gateway` endpoint"
        );
        let iface = obj(
            json!({"vpc_id": "v", "service_name": "s", "vpc_endpoint_type": "Interface", "route_table_ids": ["rtb-1"]}),
        );
        assert!(
            VPC_ENDPOINT
                .validate(&iface, &NoOthers)
                .unwrap_err()
                .to_string()
                .contains("`route_table_ids`")
        );
        let ok = obj(
            json!({"vpc_id": "v", "service_name": "s", "vpc_endpoint_type": "Interface", "subnet_ids": ["subnet-1"]}),
        );
        assert!(VPC_ENDPOINT.validate(&ok, &NoOthers).is_ok());
    }

    #[test]
    fn set_changes_add_and_remove() {
        let ids = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
        let (cur, want) = (ids(&["a", "b"]), ids(&["b", "c"]));
        assert_eq!(
            set_changes(&cur, &want),
            (vec!["c".to_string()], vec!["a".to_string()])
        );
    }

    #[test]
    fn policy_goes_out_as_text() {
        assert_eq!(
            policy_text(obj(json!({"policy": {"Version": "2012-10-17"}})).get("policy")).as_deref(),
            Some(r#"{"Version":"2012-10-17"}"#)
        );
        assert_eq!(
            policy_text(obj(json!({"policy": "{}"})).get("policy")).as_deref(),
            Some("{}")
        );
        assert_eq!(policy_text(obj(json!({})).get("policy")), None);
    }

    #[tokio::test]
    async fn a_created_interface_endpoint_round_trip_as_declared() {
        let create = mock!(Client::create_vpc_endpoint)
            .match_requests(|r| r.private_dns_enabled() == Some(false))
            .then_output(|| {
                CreateVpcEndpointOutput::builder()
                    .vpc_endpoint(Item::builder().vpc_endpoint_id("vpce-1").build())
                    .build()
            });
        let describe = mock!(Client::describe_vpc_endpoints).then_output(|| {
            DescribeVpcEndpointsOutput::builder()
                .vpc_endpoints(
                    Item::builder()
                        .vpc_endpoint_id("vpce-1")
                        .vpc_id("vpc-1")
                        .owner_id("123456789012")
                        .service_name("com.amazonaws.us-east-1.ssm")
                        .vpc_endpoint_type(VpcEndpointType::Interface)
                        .state(State::Available)
                        .subnet_ids("subnet-1")
                        .groups(SecurityGroupIdentifier::builder().group_id("sg-1").build())
                        .private_dns_enabled(false)
                        .policy_document(r#"{"Version":"2012-10-17"}"#)
                        .dns_entries(DnsEntry::builder().dns_name("vpce-1.ssm.example").build())
                        .build(),
                )
                .build()
        });
        let observed = round_trip(&VPC_ENDPOINT, &Aws::mocked(&[&create, &describe]), "ec2.vpc_endpoint.main-ssm",
            json!({"vpc_id": "vpc-1", "service_name": "com.amazonaws.us-east-1.ssm", "vpc_endpoint_type": "Interface",
                   "subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"], "policy": {"Version": "2012-10-17"},
                   "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "vpce-1");
        assert_eq!(
            observed.attrs["arn"],
            "arn:aws:ec2:us-east-1:123456789012:vpc-endpoint/vpce-1"
        );
        assert_eq!(observed.attrs["dns_names"], json!(["vpce-1.ssm.example"]));
    }

    #[tokio::test]
    async fn changed_fields_go_out_in_one_call() {
        let modify = mock!(Client::modify_vpc_endpoint)
            .match_requests(|r| {
                r.add_subnet_ids() == ["subnet-2"]
                    && r.remove_subnet_ids() == ["subnet-1"]
                    && r.private_dns_enabled() == Some(true)
            })
            .then_output(|| ModifyVpcEndpointOutput::builder().r#return(true).build());
        let aws = Aws::mocked(&[&modify]);
        let base =
            json!({"vpc_id": "vpc-1", "service_name": "s", "vpc_endpoint_type": "Interface"});
        let mut current = Observed {
            id: "vpce-1".into(),
            props: obj(base.clone()),
            ..Observed::default()
        };
        current
            .props
            .insert("subnet_ids".into(), json!(["subnet-1"]));
        current
            .props
            .insert("private_dns_enabled".into(), json!(false));
        let mut desired = obj(base);
        desired.insert("subnet_ids".into(), json!(["subnet-2"]));
        desired.insert("private_dns_enabled".into(), json!(true));
        let changed = ["subnet_ids".to_string(), "private_dns_enabled".to_string()];
        VPC_ENDPOINT
            .update(&aws.context(), &current, &desired, &changed)
            .await
            .unwrap();
        assert_eq!(modify.num_calls(), 1);
    }
}
