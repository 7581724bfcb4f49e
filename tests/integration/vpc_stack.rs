//! The VPC stack end to end on moto: apply, check what exists with independent SDK reads,
//! plan again (no changes, batched refresh), outputs, state, destroy.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{LogDestinationType, VpcAttributeName, VpcEndpointType};

use crate::support::*;

/// The addresses of a stack, from an offline plan on a fresh copy of the project.
fn declared_addresses(script: &str, env: &str) -> BTreeSet<String> {
    let fresh = Project::new();
    let out = eprun(&fresh, &["plan", script, "--env", env, "--json"])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    out.expect_success();
    plan_addresses(&out.json()).into_iter().collect()
}

fn apply(project: &Project, moto: &Moto, script: &str, env: &str) -> Output {
    let out = eprun(project, &["apply", script, "--env", env, "--yes"])
        .moto(moto)
        .run();
    out.expect_success().expect_no_panic();
    out
}

/// Checks, with independent SDK reads, the network that `local/us-east-1` (or `-eu-west-1`) builds.
fn check_network(
    moto: &Moto,
    region: &str,
    stack: &str,
    cidr: &str,
    context: &Output,
) -> Inventory {
    let inv = Inventory::read(moto, region, stack);
    let ec2 = ec2_client(moto, region);
    let what = format!("{}\n{context}", inv.summary());

    // One VPC with the environment's CIDR and DNS hostnames on.
    assert_eq!(
        inv.vpcs.len(),
        1,
        "exactly one VPC tagged eprun:stack={stack}: {what}"
    );
    let vpc = &inv.vpcs[0];
    let vpc_id = vpc.vpc_id().expect("vpc id");
    assert_eq!(vpc.cidr_block(), Some(cidr), "the VPC's CIDR");
    let hostnames = block_on(
        ec2.describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(VpcAttributeName::EnableDnsHostnames)
            .send(),
    )
    .expect("DescribeVpcAttribute");
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|a| a.value()),
        Some(true),
        "DNS hostnames must be on"
    );

    // Six subnets in three AZs: a public (public IP on launch) and a private one in each.
    assert_eq!(inv.subnets.len(), 6, "six subnets: {what}");
    let az_of: BTreeMap<&str, &str> = inv
        .subnets
        .iter()
        .map(|s| {
            (
                s.subnet_id().unwrap_or_default(),
                s.availability_zone().unwrap_or_default(),
            )
        })
        .collect();
    let (public, private): (Vec<_>, Vec<_>) = inv
        .subnets
        .iter()
        .partition(|s| s.map_public_ip_on_launch() == Some(true));
    assert_eq!(
        public.len(),
        3,
        "three public subnets (map_public_ip_on_launch): {what}"
    );
    assert_eq!(private.len(), 3, "three private subnets: {what}");
    let azs = |v: &[&aws_sdk_ec2::types::Subnet]| {
        v.iter()
            .map(|s| s.availability_zone().unwrap_or_default().to_string())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(azs(&public).len(), 3, "public subnets in three AZs");
    assert_eq!(
        azs(&private),
        azs(&public),
        "private subnets in the same three AZs"
    );
    for s in &inv.subnets {
        assert_eq!(
            s.vpc_id(),
            Some(vpc_id),
            "every subnet is in the stack's VPC"
        );
    }

    // One internet gateway, attached.
    assert_eq!(
        inv.internet_gateways.len(),
        1,
        "one internet gateway: {what}"
    );
    assert!(
        inv.internet_gateways[0]
            .attachments()
            .iter()
            .any(|a| a.vpc_id() == Some(vpc_id)),
        "the internet gateway is attached to the VPC"
    );

    // Three NAT gateways, each in a public subnet of its own AZ, each with an EIP of the stack.
    assert_eq!(inv.nat_gateways.len(), 3, "three NAT gateways: {what}");
    let public_ids: BTreeSet<&str> = public.iter().filter_map(|s| s.subnet_id()).collect();
    let mut nat_by_az: BTreeMap<&str, &str> = BTreeMap::new();
    let eip_ids: BTreeSet<&str> = inv
        .addresses
        .iter()
        .filter_map(|a| a.allocation_id())
        .collect();
    assert_eq!(eip_ids.len(), 3, "three Elastic IPs: {what}");
    for nat in &inv.nat_gateways {
        let subnet = nat.subnet_id().unwrap_or_default();
        assert!(
            public_ids.contains(subnet),
            "NAT gateway {:?} is not in a public subnet",
            nat.nat_gateway_id()
        );
        let az = az_of[subnet];
        let previous = nat_by_az.insert(az, nat.nat_gateway_id().unwrap_or_default());
        assert!(previous.is_none(), "two NAT gateways in {az}");
        for addr in nat.nat_gateway_addresses() {
            assert!(
                eip_ids.contains(addr.allocation_id().unwrap_or_default()),
                "NAT gateway {:?} uses an EIP the stack does not own",
                nat.nat_gateway_id()
            );
        }
    }

    // Each private route table's default route leaves through the NAT gateway of its own AZ.
    for subnet in &private {
        let subnet_id = subnet.subnet_id().unwrap_or_default();
        let az = subnet.availability_zone().unwrap_or_default();
        let rt = inv
            .route_tables
            .iter()
            .find(|rt| rt.associations().iter().any(|a| a.subnet_id() == Some(subnet_id)))
            .unwrap_or_else(|| panic!("no route table of the stack is associated with private subnet {subnet_id}: {what}"));
        let default = rt
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .unwrap_or_else(|| {
                panic!(
                    "route table {:?} has no 0.0.0.0/0 route",
                    rt.route_table_id()
                )
            });
        assert_eq!(
            default.nat_gateway_id(),
            nat_by_az.get(az).copied(),
            "the private subnet in {az} must leave through the NAT gateway of {az}"
        );
    }
    // The public subnets route to the internet gateway.
    for subnet in &public {
        let subnet_id = subnet.subnet_id().unwrap_or_default();
        let rt = inv
            .route_tables
            .iter()
            .find(|rt| rt.associations().iter().any(|a| a.subnet_id() == Some(subnet_id)))
            .unwrap_or_else(|| panic!("no route table of the stack is associated with public subnet {subnet_id}: {what}"));
        assert!(
            rt.routes()
                .iter()
                .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
                    && r.gateway_id() == inv.internet_gateways[0].internet_gateway_id()),
            "the public subnet {subnet_id} must route 0.0.0.0/0 to the internet gateway"
        );
    }
    assert_eq!(
        inv.route_tables.len(),
        4,
        "one public and three private route tables: {what}"
    );

    // The flow log of the VPC goes to the stack's S3 bucket.
    assert_eq!(inv.flow_logs.len(), 1, "one flow log: {what}");
    let fl = &inv.flow_logs[0];
    assert_eq!(
        fl.resource_id(),
        Some(vpc_id),
        "the flow log watches the VPC"
    );
    assert_eq!(
        fl.log_destination_type(),
        Some(&LogDestinationType::S3),
        "the flow log goes to S3"
    );
    assert_eq!(
        inv.buckets.len(),
        1,
        "one bucket tagged for the stack: {what}"
    );
    let dest = fl.log_destination().unwrap_or_default();
    assert!(
        dest.trim_end_matches('/')
            .starts_with(&format!("arn:aws:s3:::{}", inv.buckets[0])),
        "the flow log's destination `{dest}` is not the stack's bucket `{}`",
        inv.buckets[0]
    );

    // Interface endpoints for ECR (api, dkr), STS, Secrets Manager, and a gateway endpoint for S3.
    let endpoints: BTreeSet<(String, String)> = inv
        .vpc_endpoints
        .iter()
        .map(|e| {
            assert_eq!(
                e.vpc_id(),
                Some(vpc_id),
                "endpoint {:?} is not in the VPC",
                e.vpc_endpoint_id()
            );
            let kind = match e.vpc_endpoint_type() {
                Some(VpcEndpointType::Interface) => "Interface",
                Some(VpcEndpointType::Gateway) => "Gateway",
                other => panic!("endpoint {:?} has type {other:?}", e.vpc_endpoint_id()),
            };
            (
                e.service_name().unwrap_or_default().to_string(),
                kind.to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("ecr.api", "Interface"),
        ("ecr.dkr", "Interface"),
        ("sts", "Interface"),
        ("secretsmanager", "Interface"),
        ("s3", "Gateway"),
    ]
    .iter()
    .map(|(s, k)| (format!("com.amazonaws.{region}.{s}"), k.to_string()))
    .collect();
    assert_eq!(endpoints, expected, "the VPC endpoints");

    // Every resource carries the ownership tags and a Name.
    let mut tagged: Vec<(String, Vec<aws_sdk_ec2::types::Tag>)> = Vec::new();
    tagged.extend(
        inv.vpcs
            .iter()
            .map(|r| (format!("vpc {:?}", r.vpc_id()), r.tags().to_vec())),
    );
    tagged.extend(
        inv.subnets
            .iter()
            .map(|r| (format!("subnet {:?}", r.subnet_id()), r.tags().to_vec())),
    );
    tagged.extend(inv.internet_gateways.iter().map(|r| {
        (
            format!("igw {:?}", r.internet_gateway_id()),
            r.tags().to_vec(),
        )
    }));
    tagged.extend(
        inv.nat_gateways
            .iter()
            .map(|r| (format!("nat {:?}", r.nat_gateway_id()), r.tags().to_vec())),
    );
    tagged.extend(
        inv.addresses
            .iter()
            .map(|r| (format!("eip {:?}", r.allocation_id()), r.tags().to_vec())),
    );
    tagged.extend(inv.route_tables.iter().map(|r| {
        (
            format!("route table {:?}", r.route_table_id()),
            r.tags().to_vec(),
        )
    }));
    tagged.extend(inv.security_groups.iter().map(|r| {
        (
            format!("security group {:?}", r.group_id()),
            r.tags().to_vec(),
        )
    }));
    tagged.extend(inv.vpc_endpoints.iter().map(|r| {
        (
            format!("endpoint {:?}", r.vpc_endpoint_id()),
            r.tags().to_vec(),
        )
    }));
    tagged.extend(
        inv.flow_logs
            .iter()
            .map(|r| (format!("flow log {:?}", r.flow_log_id()), r.tags().to_vec())),
    );
    for (what, tags) in &tagged {
        assert_eq!(
            ec2_tag(tags, "eprun:stack"),
            Some(stack),
            "{what}: eprun:stack"
        );
        let address = ec2_tag(tags, "eprun:address")
            .unwrap_or_else(|| panic!("{what} has no eprun:address tag: {tags:?}"));
        assert!(
            address.starts_with("ec2."),
            "{what}: eprun:address `{address}` is not an EC2 address"
        );
        assert!(
            ec2_tag(tags, "Name").is_some_and(|n| !n.is_empty()),
            "{what} has no Name tag: {tags:?}"
        );
    }
    assert!(
        ec2_tag(vpc.tags(), "eprun:address").is_some_and(|a| a.starts_with("ec2.vpc.")),
        "the VPC's address tag"
    );
    let s3 = s3_client(moto, region);
    let bucket_tags =
        block_on(s3.get_bucket_tagging().bucket(&inv.buckets[0]).send()).expect("GetBucketTagging");
    let bucket_tag = |k: &str| {
        bucket_tags
            .tag_set()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_string())
    };
    assert!(
        bucket_tag("eprun:address").is_some_and(|a| a.starts_with("s3.bucket.")),
        "the bucket's eprun:address tag"
    );
    assert!(bucket_tag("Name").is_some(), "the bucket has no Name tag");
    inv
}

#[test]
fn vpc_stack_applies_plans_clean_and_destroys_on_moto() {
    let moto = Moto::start();
    let project = Project::new();
    let declared = declared_addresses(US_SCRIPT, LOCAL_US);

    let applied = apply(&project, &moto, US_SCRIPT, LOCAL_US);
    let inv = check_network(&moto, "us-east-1", LOCAL_US, "10.10.0.0/16", &applied);
    let vpc_id = inv.vpcs[0].vpc_id().expect("vpc id").to_string();

    // A plan right after the apply has nothing to do.
    let again = eprun(
        &project,
        &["plan", US_SCRIPT, "--env", LOCAL_US, "--detailed-exitcode"],
    )
    .moto(&moto)
    .run();
    again.expect_code(0);
    assert!(
        again.stdout.contains("No changes"),
        "a plan after apply must say `No changes`\n{again}"
    );

    // The state lists every declared address.
    let list = eprun(&project, &["state", "list", "--env", LOCAL_US]).run();
    list.expect_success();
    let listed: BTreeSet<String> = state_list_addresses(&list).into_iter().collect();
    assert_eq!(
        listed, declared,
        "`state list` must list exactly the declared addresses\n{list}"
    );

    // Refresh is batched: one listing per resource type, never one call per resource. A few
    // APIs have no batched read of some fields (VPC DNS attributes, a bucket's settings, a
    // role's tags and policies, a secret's replication), so the bound is "fewer calls than
    // resources", with the figure printed for BENCHMARKS.md.
    let json = eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US, "--json"])
        .moto(&moto)
        .run();
    json.expect_success();
    let plan = json.json();
    let types: BTreeSet<String> = declared.iter().map(|a| address_type(a)).collect();
    let calls = plan["stats"]["api_calls"]
        .as_u64()
        .unwrap_or_else(|| panic!("no stats.api_calls\n{json}"));
    eprintln!(
        "no-op plan: {calls} API calls for {} resources of {} types",
        declared.len(),
        types.len()
    );
    assert!(
        calls < declared.len() as u64,
        "a no-op plan made {calls} API calls for {} resources of {} types: refresh is not batched\n{json}",
        declared.len(),
        types.len()
    );
    assert_eq!(
        plan["summary"]["create"].as_u64(),
        Some(0),
        "no creates after apply\n{json}"
    );

    // Outputs carry the real ids.
    let outputs = eprun(
        &project,
        &["outputs", US_SCRIPT, "--env", LOCAL_US, "--json"],
    )
    .run();
    outputs.expect_success();
    assert_eq!(
        outputs.json()["vpc_id"],
        vpc_id.as_str(),
        "the `vpc_id` output must be the real VPC id\n{outputs}"
    );

    // Destroy removes everything the stack owns.
    let destroyed = eprun(
        &project,
        &["destroy", US_SCRIPT, "--env", LOCAL_US, "--yes"],
    )
    .moto(&moto)
    .run();
    destroyed.expect_success().expect_no_panic();
    let after = Inventory::read(&moto, "us-east-1", LOCAL_US);
    assert!(
        after.is_empty(),
        "after destroy the stack still owns {}\n{destroyed}",
        after.summary()
    );
    let vpcs = block_on(
        ec2_client(&moto, "us-east-1")
            .describe_vpcs()
            .vpc_ids(&vpc_id)
            .send(),
    );
    assert!(
        vpcs.map(|v| v.vpcs().is_empty()).unwrap_or(true),
        "the VPC {vpc_id} still exists after destroy\n{destroyed}"
    );
    let bucket_exists = block_on(
        s3_client(&moto, "us-east-1")
            .head_bucket()
            .bucket(&inv.buckets[0])
            .send(),
    )
    .is_ok();
    assert!(
        !bucket_exists,
        "the flow-log bucket {} still exists after destroy\n{destroyed}",
        inv.buckets[0]
    );
}

#[test]
fn both_regions_in_one_moto_do_not_see_each_other() {
    let moto = Moto::start();
    let project = Project::new();

    let us = apply(&project, &moto, US_SCRIPT, LOCAL_US);
    let eu = apply(&project, &moto, EU_SCRIPT, LOCAL_EU);
    check_network(&moto, "us-east-1", LOCAL_US, "10.10.0.0/16", &us);
    check_network(&moto, "eu-west-1", LOCAL_EU, "10.20.0.0/16", &eu);

    // Neither region holds the other's EC2 resources (S3 bucket names are global: not compared).
    let eu_in_us = Inventory::read(&moto, "us-east-1", LOCAL_EU);
    assert!(
        eu_in_us.ec2_is_empty(),
        "resources of {LOCAL_EU} in us-east-1: {}",
        eu_in_us.summary()
    );
    let us_in_eu = Inventory::read(&moto, "eu-west-1", LOCAL_US);
    assert!(
        us_in_eu.ec2_is_empty(),
        "resources of {LOCAL_US} in eu-west-1: {}",
        us_in_eu.summary()
    );

    // Each stack's plan is clean: neither adopts nor deletes the other's resources.
    for (script, env) in [(US_SCRIPT, LOCAL_US), (EU_SCRIPT, LOCAL_EU)] {
        let plan = eprun(
            &project,
            &["plan", script, "--env", env, "--detailed-exitcode"],
        )
        .moto(&moto)
        .run();
        plan.expect_code(0);
        assert!(
            plan.stdout.contains("No changes"),
            "{env} must have no changes after both applies\n{plan}"
        );
    }
    let us_list = eprun(&project, &["state", "list", "--env", LOCAL_US]).run();
    let eu_list = eprun(&project, &["state", "list", "--env", LOCAL_EU]).run();
    // Kubernetes objects and Helm releases live in each region's own cluster: the same address
    // in both is two objects.
    let aws_only = |out: &Output| -> BTreeSet<String> {
        state_list_addresses(out)
            .into_iter()
            .filter(|a| !a.starts_with("k8s.") && !a.starts_with("helm."))
            .collect()
    };
    let (us_addrs, eu_addrs) = (aws_only(&us_list), aws_only(&eu_list));
    assert!(
        us_addrs.is_disjoint(&eu_addrs),
        "the two states share addresses\n{us_list}\n{eu_list}"
    );
    assert_eq!(
        us_addrs.len(),
        eu_addrs.len(),
        "the same stack in both regions\n{us_list}\n{eu_list}"
    );
}
