//! Both regions of the ExamplePay stack end to end on moto: the primary (us-east-1) and the DR
//! region (eu-west-1) applied in order, checked with independent SDK reads (EKS, IAM/IRSA, KMS,
//! Transit Gateway peering, Route 53 failover, Secrets Manager replicas), planned clean, a
//! runbook-owned field left alone, then destroyed in reverse order with nothing left behind.
//! Also: an interrupted DR apply converges without duplicates, and the mistakes a platform
//! engineer can make in the environment files are refused before any AWS call.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_route53::types::TagResourceType;
use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// what the environment files say

/// One region of the stack, with the values its local environment file declares.
struct Site {
    region: &'static str,
    stack: &'static str,
    script: &'static str,
    env_file: &'static str,
    /// The cluster name the environment file must declare.
    cluster: &'static str,
}

const PRIMARY: Site = Site {
    region: "us-east-1",
    stack: LOCAL_US,
    script: US_SCRIPT,
    env_file: "environments/local/us-east-1.toml",
    cluster: "examplepay-local",
};

const DR: Site = Site {
    region: "eu-west-1",
    stack: LOCAL_EU,
    script: EU_SCRIPT,
    env_file: "environments/local/eu-west-1.toml",
    cluster: "examplepay-local-eu",
};

/// What §4 of the design fixes for every region.
const EKS_VERSION: &str = "1.29";
const LOG_TYPES: [&str; 5] = [
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];
const HEALTH_CHECK_PATH: &str = "/healthz";
const HEALTH_CHECK_INTERVAL: i32 = 10;
const FAILURE_THRESHOLD: i32 = 3;
/// The IRSA roles the cluster module declares: (namespace, service account).
const IRSA: [(&str, &str); 2] = [("payments", "payment-service"), ("karpenter", "karpenter")];
/// The AWS managed key of Secrets Manager, which AWS (and moto) leave out of `DescribeSecret`.
const SECRETS_MANAGER_DEFAULT_KEY: &str = "alias/aws/secretsmanager";

/// The environment file of a site, parsed from the test's copy of the project.
fn env_of(project: &Project, site: &Site) -> toml::Value {
    let text = project.read(site.env_file);
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", site.env_file));
    toml::Value::Table(table)
}

fn str_at<'a>(env: &'a toml::Value, path: &[&str]) -> &'a str {
    let mut v = env;
    for k in path {
        v = v
            .get(k)
            .unwrap_or_else(|| panic!("the environment file has no `{}`", path.join(".")));
    }
    v.as_str()
        .unwrap_or_else(|| panic!("`{}` is not a string", path.join(".")))
}

fn int_at(env: &toml::Value, path: &[&str]) -> i64 {
    let mut v = env;
    for k in path {
        v = v
            .get(k)
            .unwrap_or_else(|| panic!("the environment file has no `{}`", path.join(".")));
    }
    v.as_integer()
        .unwrap_or_else(|| panic!("`{}` is not an integer", path.join(".")))
}

fn strs_at(env: &toml::Value, path: &[&str]) -> Vec<String> {
    let mut v = env;
    for k in path {
        v = v
            .get(k)
            .unwrap_or_else(|| panic!("the environment file has no `{}`", path.join(".")));
    }
    v.as_array()
        .unwrap_or_else(|| panic!("`{}` is not an array", path.join(".")))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("`{}` holds a non-string", path.join(".")))
                .to_string()
        })
        .collect()
}

/// The names of the secrets the primary's environment file declares.
fn secret_names(env: &toml::Value) -> Vec<String> {
    env["secrets"]["items"]
        .as_array()
        .expect("secrets.items")
        .iter()
        .map(|i| {
            i["name"]
                .as_str()
                .expect("secrets.items[].name")
                .to_string()
        })
        .collect()
}

/// `a.b.c` with a trailing dot, as Route 53 spells names.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

// ---------------------------------------------------------------------------------------------
// running eprun

fn apply(project: &Project, moto: &Moto, site: &Site) -> Output {
    let out = eprun(
        project,
        &["apply", site.script, "--env", site.stack, "--yes"],
    )
    .moto(moto)
    .run();
    out.expect_success().expect_no_panic();
    out
}

fn destroy(project: &Project, moto: &Moto, site: &Site) -> Output {
    let out = eprun(
        project,
        &["destroy", site.script, "--env", site.stack, "--yes"],
    )
    .moto(moto)
    .run();
    out.expect_success().expect_no_panic();
    out
}

/// `plan --detailed-exitcode` must exit 0 and say `No changes`.
fn expect_no_changes(project: &Project, moto: &Moto, site: &Site, when: &str) {
    let plan = eprun(
        project,
        &[
            "plan",
            site.script,
            "--env",
            site.stack,
            "--detailed-exitcode",
        ],
    )
    .moto(moto)
    .run();
    plan.expect_no_panic();
    assert_eq!(
        plan.code, 0,
        "{when}: the plan of {} must have no changes\n{plan}",
        site.stack
    );
    assert!(
        plan.stdout.contains("No changes"),
        "{when}: the plan of {} must say `No changes`\n{plan}",
        site.stack
    );
}

/// The `file.rhai:LINE:COLUMN` locations in a text.
fn rhai_locations(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices(".rhai:") {
        let start = text[..i]
            .rfind(|c: char| c.is_whitespace() || c == '[' || c == '(')
            .map_or(0, |p| p + 1);
        let rest = &text[i + ".rhai:".len()..];
        let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if line.is_empty() || !rest[line.len()..].starts_with(':') {
            continue;
        }
        let col: String = rest[line.len() + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if col.is_empty() {
            continue;
        }
        found.push(format!("{}.rhai:{line}:{col}", &text[start..i]));
    }
    found
}

// ---------------------------------------------------------------------------------------------
// independent reads

/// Whether an AWS state string says deleted or on its way out.
fn gone(state: Option<&str>) -> bool {
    state.is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "deleted" | "deleting"))
}

fn is_available(state: Option<&str>) -> bool {
    state.is_some_and(|s| s.eq_ignore_ascii_case("available"))
}

/// Transit gateways tagged for `stack` in `region` that are not deleted.
fn transit_gateways(
    moto: &Moto,
    region: &str,
    stack: &str,
) -> Vec<aws_sdk_ec2::types::TransitGateway> {
    let out = block_on(ec2_client(moto, region).describe_transit_gateways().send())
        .expect("DescribeTransitGateways");
    out.transit_gateways()
        .iter()
        .filter(|t| owned_by(t.tags(), stack) && !gone(t.state().map(|s| s.as_str())))
        .cloned()
        .collect()
}

/// Every transit gateway in `region` that is not deleted, whoever owns it.
fn all_live_transit_gateways(moto: &Moto, region: &str) -> Vec<aws_sdk_ec2::types::TransitGateway> {
    let out = block_on(ec2_client(moto, region).describe_transit_gateways().send())
        .expect("DescribeTransitGateways");
    out.transit_gateways()
        .iter()
        .filter(|t| !gone(t.state().map(|s| s.as_str())))
        .cloned()
        .collect()
}

/// Transit gateway VPC attachments tagged for `stack` in `region` that are not deleted.
/// (moto lists peering attachments here too, without a VPC: they are left out.)
fn tgw_vpc_attachments(
    moto: &Moto,
    region: &str,
    stack: &str,
) -> Vec<aws_sdk_ec2::types::TransitGatewayVpcAttachment> {
    let out = block_on(
        ec2_client(moto, region)
            .describe_transit_gateway_vpc_attachments()
            .send(),
    )
    .expect("DescribeTransitGatewayVpcAttachments");
    out.transit_gateway_vpc_attachments()
        .iter()
        .filter(|a| a.vpc_id().is_some())
        .filter(|a| owned_by(a.tags(), stack) && !gone(a.state().map(|s| s.as_str())))
        .cloned()
        .collect()
}

/// Every transit gateway peering attachment in `region` that is not deleted.
/// (moto lists VPC attachments here too, without requester or accepter: they are left out.)
fn live_peering_attachments(
    moto: &Moto,
    region: &str,
) -> Vec<aws_sdk_ec2::types::TransitGatewayPeeringAttachment> {
    let out = block_on(
        ec2_client(moto, region)
            .describe_transit_gateway_peering_attachments()
            .send(),
    )
    .expect("DescribeTransitGatewayPeeringAttachments");
    out.transit_gateway_peering_attachments()
        .iter()
        .filter(|a| a.requester_tgw_info().is_some() || a.accepter_tgw_info().is_some())
        .filter(|a| !gone(a.state().map(|s| s.as_str())))
        .cloned()
        .collect()
}

/// The static routes of a transit gateway route table.
fn tgw_static_routes(
    moto: &Moto,
    region: &str,
    route_table: &str,
) -> Vec<aws_sdk_ec2::types::TransitGatewayRoute> {
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("type")
        .values("static")
        .build();
    let out = block_on(
        ec2_client(moto, region)
            .search_transit_gateway_routes()
            .transit_gateway_route_table_id(route_table)
            .filters(filter)
            .send(),
    )
    .expect("SearchTransitGatewayRoutes");
    out.routes().to_vec()
}

/// The IDs of the private subnets (no public IP on launch) of an inventory.
fn private_subnet_ids(inv: &Inventory) -> BTreeSet<String> {
    inv.subnets
        .iter()
        .filter(|s| s.map_public_ip_on_launch() != Some(true))
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect()
}

/// The route tables of an inventory associated with one of `subnets`.
fn route_tables_of<'a>(
    inv: &'a Inventory,
    subnets: &BTreeSet<String>,
) -> Vec<&'a aws_sdk_ec2::types::RouteTable> {
    inv.route_tables
        .iter()
        .filter(|rt| {
            rt.associations()
                .iter()
                .any(|a| a.subnet_id().is_some_and(|s| subnets.contains(s)))
        })
        .collect()
}

/// The roles under an IAM path prefix.
fn roles_under(moto: &Moto, prefix: &str) -> Vec<aws_sdk_iam::types::Role> {
    let iam = iam_client(moto, "us-east-1");
    let mut roles = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = block_on(
            iam.list_roles()
                .path_prefix(prefix)
                .set_marker(marker.clone())
                .send(),
        )
        .expect("ListRoles");
        roles.extend(out.roles().iter().cloned());
        if !out.is_truncated() {
            break;
        }
        marker = out.marker().map(str::to_string);
    }
    roles
}

/// Every IAM OIDC provider: (ARN, its URL, its tags).
fn oidc_providers(moto: &Moto) -> Vec<(String, String, BTreeMap<String, String>)> {
    let iam = iam_client(moto, "us-east-1");
    let list =
        block_on(iam.list_open_id_connect_providers().send()).expect("ListOpenIDConnectProviders");
    list.open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .map(|arn| {
            let p = block_on(
                iam.get_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("GetOpenIDConnectProvider {arn}: {e:?}"));
            let tags = p
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            (
                arn.to_string(),
                p.url().unwrap_or_default().to_string(),
                tags,
            )
        })
        .collect()
}

/// The tags of a Route 53 resource.
fn route53_tags(moto: &Moto, kind: TagResourceType, id: &str) -> BTreeMap<String, String> {
    let r53 = route53_client(moto, "us-east-1");
    let out = block_on(
        r53.list_tags_for_resource()
            .resource_type(kind)
            .resource_id(id)
            .send(),
    )
    .unwrap_or_else(|e| panic!("ListTagsForResource {id}: {e:?}"));
    out.resource_tag_set()
        .map(|s| {
            s.tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every Route 53 health check.
fn all_health_checks(moto: &Moto) -> Vec<aws_sdk_route53::types::HealthCheck> {
    let r53 = route53_client(moto, "us-east-1");
    let mut checks = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = block_on(r53.list_health_checks().set_marker(marker.clone()).send())
            .expect("ListHealthChecks");
        checks.extend(out.health_checks().iter().cloned());
        if !out.is_truncated() {
            break;
        }
        marker = out.next_marker().map(str::to_string);
    }
    checks
}

/// The Route 53 health checks tagged for `stack`.
fn health_checks_of(moto: &Moto, stack: &str) -> Vec<aws_sdk_route53::types::HealthCheck> {
    all_health_checks(moto)
        .into_iter()
        .filter(|h| {
            route53_tags(moto, TagResourceType::Healthcheck, h.id())
                .get("eprun:stack")
                .map(String::as_str)
                == Some(stack)
        })
        .collect()
}

/// The hosted zones named `name` (with its trailing dot).
fn zones_named(moto: &Moto, name: &str) -> Vec<aws_sdk_route53::types::HostedZone> {
    let out = block_on(route53_client(moto, "us-east-1").list_hosted_zones().send())
        .expect("ListHostedZones");
    out.hosted_zones()
        .iter()
        .filter(|z| z.name() == name)
        .cloned()
        .collect()
}

/// The record sets of a zone.
fn record_sets(moto: &Moto, zone_id: &str) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
    let out = block_on(
        route53_client(moto, "us-east-1")
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .send(),
    )
    .expect("ListResourceRecordSets");
    out.resource_record_sets().to_vec()
}

/// The KMS alias `name` in `region`, if any.
fn kms_alias(moto: &Moto, region: &str, name: &str) -> Option<aws_sdk_kms::types::AliasListEntry> {
    let out = block_on(kms_client(moto, region).list_aliases().send()).expect("ListAliases");
    out.aliases()
        .iter()
        .find(|a| a.alias_name() == Some(name))
        .cloned()
}

/// The KMS keys of `region` that carry `eprun:stack = stack`.
fn kms_keys_of(moto: &Moto, region: &str, stack: &str) -> Vec<aws_sdk_kms::types::KeyMetadata> {
    customer_kms_keys(moto, region)
        .into_iter()
        .filter(|(_, tags)| tags.get("eprun:stack").map(String::as_str) == Some(stack))
        .map(|(k, _)| k)
        .collect()
}

/// The customer-managed KMS keys of `region`, with their tags.
fn customer_kms_keys(
    moto: &Moto,
    region: &str,
) -> Vec<(aws_sdk_kms::types::KeyMetadata, BTreeMap<String, String>)> {
    let kms = kms_client(moto, region);
    let keys = block_on(kms.list_keys().send()).expect("ListKeys");
    let mut found = Vec::new();
    for k in keys.keys() {
        let Some(id) = k.key_id() else { continue };
        let meta = block_on(kms.describe_key().key_id(id).send()).expect("DescribeKey");
        let Some(meta) = meta.key_metadata() else {
            continue;
        };
        if meta.key_manager().map(|m| m.as_str()) != Some("CUSTOMER") {
            continue;
        }
        let tags = block_on(kms.list_resource_tags().key_id(id).send()).expect("ListResourceTags");
        let tags = tags
            .tags()
            .iter()
            .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
            .collect();
        found.push((meta.clone(), tags));
    }
    found
}

fn key_state(meta: &aws_sdk_kms::types::KeyMetadata) -> String {
    meta.key_state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// The names of the EKS clusters in `region`.
fn cluster_names(moto: &Moto, region: &str) -> Vec<String> {
    let out = block_on(eks_client(moto, region).list_clusters().send()).expect("ListClusters");
    out.clusters().to_vec()
}

// ---------------------------------------------------------------------------------------------
// what the platform engineer checks after an apply

/// What the EKS checks of one region found, for the checks that follow.
struct ClusterFacts {
    provider_arn: String,
}

/// The EKS cluster of a site: settings, encryption with the module's KMS key (and its alias),
/// node group, OIDC provider and the IRSA roles' trust policies.
fn check_cluster(moto: &Moto, project: &Project, site: &Site, ctx: &str) -> ClusterFacts {
    let env = env_of(project, site);
    let name = str_at(&env, &["eks", "cluster_name"]);
    assert_eq!(name, site.cluster, "{}: eks.cluster_name", site.env_file);
    let eks = eks_client(moto, site.region);
    let inv = Inventory::read(moto, site.region, site.stack);
    let private = private_subnet_ids(&inv);
    assert_eq!(
        private.len(),
        3,
        "{}: three private subnets: {}\n{ctx}",
        site.stack,
        inv.summary()
    );

    // The cluster.
    let described = block_on(eks.describe_cluster().name(name).send())
        .unwrap_or_else(|e| panic!("{}: no EKS cluster `{name}` ({e:?})\n{ctx}", site.region));
    let cluster = described
        .cluster()
        .expect("DescribeCluster returns the cluster");
    assert_eq!(
        cluster.version(),
        Some(EKS_VERSION),
        "{name}: Kubernetes version"
    );
    assert_eq!(
        cluster.status().map(|s| s.as_str()),
        Some("ACTIVE"),
        "{name}: status"
    );
    assert_eq!(
        cluster
            .tags()
            .and_then(|t| t.get("eprun:stack"))
            .map(String::as_str),
        Some(site.stack),
        "{name}: eprun:stack tag"
    );
    let vpc = cluster
        .resources_vpc_config()
        .unwrap_or_else(|| panic!("{name}: no VPC config"));
    assert!(
        vpc.endpoint_private_access(),
        "{name}: the API endpoint must be reachable privately"
    );
    assert!(
        !vpc.endpoint_public_access(),
        "{name}: the API endpoint must not be public"
    );
    let cluster_subnets: BTreeSet<String> = vpc.subnet_ids().iter().cloned().collect();
    assert_eq!(
        cluster_subnets, private,
        "{name}: the cluster must use the VPC's private subnets"
    );
    let mut enabled = BTreeSet::new();
    let mut disabled = BTreeSet::new();
    for setup in cluster
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
    {
        let types = setup.types().iter().map(|t| t.as_str().to_string());
        if setup.enabled() == Some(true) {
            enabled.extend(types)
        } else {
            disabled.extend(types)
        }
    }
    let all_logs: BTreeSet<String> = LOG_TYPES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        enabled, all_logs,
        "{name}: all five control-plane log types enabled (disabled: {disabled:?})"
    );

    // Envelope encryption of secrets with the module's key, which its alias names.
    let encryption = cluster.encryption_config();
    assert_eq!(
        encryption.len(),
        1,
        "{name}: one encryption config: {encryption:?}"
    );
    // The SDK deprecates `resources` (EKS now encrypts all API data by default), but the design
    // asks for envelope encryption of `secrets` with the cluster's own key, and EKS still reports it.
    #[allow(deprecated)]
    let encrypted = encryption[0].resources().to_vec();
    assert_eq!(
        encrypted,
        ["secrets".to_string()],
        "{name}: the encryption config covers `secrets`"
    );
    let key_arn = encryption[0]
        .provider()
        .and_then(|p| p.key_arn())
        .unwrap_or_else(|| panic!("{name}: encryption config without a key"));
    let alias_name = format!("alias/{name}-eks-secrets");
    let alias = kms_alias(moto, site.region, &alias_name)
        .unwrap_or_else(|| panic!("{}: no KMS alias {alias_name}\n{ctx}", site.region));
    let kms = kms_client(moto, site.region);
    let key = block_on(kms.describe_key().key_id(key_arn).send())
        .unwrap_or_else(|e| panic!("DescribeKey {key_arn}: {e:?}"));
    let key = key.key_metadata().expect("key metadata");
    assert_eq!(
        alias.target_key_id(),
        Some(key.key_id()),
        "{alias_name} must point at the cluster's encryption key {key_arn}"
    );
    assert_eq!(key.arn(), Some(key_arn), "the cluster's key ARN");
    assert_eq!(key_state(key), "Enabled", "{key_arn}: key state");
    let rotation = block_on(kms.get_key_rotation_status().key_id(key_arn).send())
        .expect("GetKeyRotationStatus");
    assert!(
        rotation.key_rotation_enabled(),
        "{key_arn}: key rotation must be on"
    );
    let key_tags =
        block_on(kms.list_resource_tags().key_id(key_arn).send()).expect("ListResourceTags");
    assert!(
        key_tags
            .tags()
            .iter()
            .any(|t| t.tag_key() == "eprun:stack" && t.tag_value() == site.stack),
        "{key_arn}: eprun:stack tag: {:?}",
        key_tags.tags()
    );

    // The managed node group, sized as the environment file says.
    let ng_name = str_at(&env, &["eks", "node_group", "name"]);
    let groups = block_on(eks.list_nodegroups().cluster_name(name).send()).expect("ListNodegroups");
    assert_eq!(
        groups.nodegroups(),
        [ng_name.to_string()],
        "{name}: exactly the one managed node group"
    );
    let ng = block_on(
        eks.describe_nodegroup()
            .cluster_name(name)
            .nodegroup_name(ng_name)
            .send(),
    )
    .expect("DescribeNodegroup");
    let ng = ng.nodegroup().expect("the node group");
    let scaling = ng
        .scaling_config()
        .unwrap_or_else(|| panic!("{name}/{ng_name}: no scaling config"));
    assert_eq!(
        scaling.min_size(),
        Some(int_at(&env, &["eks", "node_group", "min_size"]) as i32),
        "{name}/{ng_name}: min size"
    );
    assert_eq!(
        scaling.max_size(),
        Some(int_at(&env, &["eks", "node_group", "max_size"]) as i32),
        "{name}/{ng_name}: max size"
    );
    assert_eq!(
        scaling.desired_size(),
        Some(int_at(&env, &["eks", "node_group", "desired_size"]) as i32),
        "{name}/{ng_name}: desired size"
    );
    assert_eq!(
        ng.instance_types(),
        strs_at(&env, &["eks", "node_group", "instance_types"]),
        "{name}/{ng_name}: instance types"
    );
    let ng_subnets: BTreeSet<String> = ng.subnets().iter().cloned().collect();
    assert_eq!(
        ng_subnets, private,
        "{name}/{ng_name}: nodes in the private subnets"
    );

    // The cluster's OIDC provider.
    let issuer = cluster
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .unwrap_or_else(|| panic!("{name}: no OIDC issuer"));
    let host = issuer
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let providers: Vec<_> = oidc_providers(moto)
        .into_iter()
        .filter(|(arn, _, _)| arn.ends_with(&format!(":oidc-provider/{host}")))
        .collect();
    assert_eq!(
        providers.len(),
        1,
        "{name}: exactly one IAM OIDC provider for the issuer {issuer}: {providers:?}\n{ctx}"
    );
    let (provider_arn, url, tags) = &providers[0];
    assert_eq!(
        url.trim_start_matches("https://"),
        host,
        "{provider_arn}: URL"
    );
    assert_eq!(
        tags.get("eprun:stack").map(String::as_str),
        Some(site.stack),
        "{provider_arn}: eprun:stack tag"
    );
    let iam = iam_client(moto, "us-east-1");
    let provider = block_on(
        iam.get_open_id_connect_provider()
            .open_id_connect_provider_arn(provider_arn)
            .send(),
    )
    .expect("GetOpenIDConnectProvider");
    assert_eq!(
        provider.client_id_list(),
        ["sts.amazonaws.com".to_string()],
        "{provider_arn}: audiences"
    );

    // IRSA roles trusted only by their own service account, through this provider, for STS.
    for (namespace, sa) in IRSA {
        let role_name = format!("{name}-{sa}");
        let role = block_on(iam.get_role().role_name(&role_name).send())
            .unwrap_or_else(|e| panic!("no IRSA role {role_name} ({e:?})\n{ctx}"));
        let role = role.role().expect("the role");
        assert_eq!(
            role.path(),
            format!("/eprun/{}/", site.stack),
            "{role_name}: path"
        );
        let raw = role
            .assume_role_policy_document()
            .unwrap_or_else(|| panic!("{role_name}: no trust policy"));
        let text = decode_policy(raw);
        assert!(
            !text.contains("${"),
            "{role_name}: the trust policy still holds an unresolved token: {text}"
        );
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{role_name}: the trust policy is not JSON ({e}): {text}"));
        let statements = doc["Statement"]
            .as_array()
            .unwrap_or_else(|| panic!("{role_name}: no Statement list: {doc}"));
        assert_eq!(statements.len(), 1, "{role_name}: one statement: {doc}");
        let st = &statements[0];
        assert_eq!(st["Effect"], "Allow", "{role_name}: Effect: {doc}");
        assert_eq!(
            st["Action"], "sts:AssumeRoleWithWebIdentity",
            "{role_name}: Action: {doc}"
        );
        assert_eq!(
            st["Principal"],
            json!({ "Federated": provider_arn }),
            "{role_name}: the principal must be the cluster's OIDC provider: {doc}"
        );
        let mut expected = serde_json::Map::new();
        expected.insert(
            format!("{host}:sub"),
            json!(format!("system:serviceaccount:{namespace}:{sa}")),
        );
        expected.insert(format!("{host}:aud"), json!("sts.amazonaws.com"));
        assert_eq!(
            st["Condition"],
            json!({ "StringEquals": Value::Object(expected) }),
            "{role_name}: the trust must be scoped to exactly {namespace}/{sa}, for STS, with the issuer host resolved: {doc}"
        );
    }

    ClusterFacts {
        provider_arn: provider_arn.clone(),
    }
}

/// No policy document of a role the stacks own holds an unresolved token.
fn check_no_unresolved_tokens(moto: &Moto, ctx: &str) {
    let iam = iam_client(moto, "us-east-1");
    let roles = roles_under(moto, "/eprun/");
    assert!(!roles.is_empty(), "no role under /eprun/\n{ctx}");
    for role in &roles {
        let mut docs = vec![(
            "trust policy".to_string(),
            decode_policy(role.assume_role_policy_document().unwrap_or_default()),
        )];
        let inline = block_on(iam.list_role_policies().role_name(role.role_name()).send())
            .expect("ListRolePolicies");
        for policy in inline.policy_names() {
            let p = block_on(
                iam.get_role_policy()
                    .role_name(role.role_name())
                    .policy_name(policy)
                    .send(),
            )
            .expect("GetRolePolicy");
            docs.push((
                format!("inline policy {policy}"),
                decode_policy(p.policy_document()),
            ));
        }
        for (what, text) in docs {
            assert!(
                !text.contains("${eprun:")
                    && !text.contains("${")
                    && !text.contains("known after apply"),
                "role {}: its {what} holds an unresolved token: {text}",
                role.arn()
            );
        }
    }
}

/// The transit gateways of both regions, the VPC attachments, the peering (requested from the DR
/// region, accepted in the primary's), the static routes over it and the VPC routes to the peer.
/// Returns the IDs of the two transit gateways and of the peering attachment.
fn check_transit(moto: &Moto, project: &Project, ctx: &str) -> (String, String, String) {
    let mut tgw_of: BTreeMap<&str, aws_sdk_ec2::types::TransitGateway> = BTreeMap::new();
    for site in [&PRIMARY, &DR] {
        let env = env_of(project, site);
        let tgws = transit_gateways(moto, site.region, site.stack);
        assert_eq!(
            tgws.len(),
            1,
            "{}: exactly one transit gateway tagged for {}: {tgws:?}\n{ctx}",
            site.region,
            site.stack
        );
        let tgw = &tgws[0];
        let tgw_id = tgw.transit_gateway_id().expect("tgw id");
        assert!(
            is_available(tgw.state().map(|s| s.as_str())),
            "{tgw_id}: state {:?}",
            tgw.state()
        );
        let options = tgw
            .options()
            .unwrap_or_else(|| panic!("{tgw_id}: no options"));
        assert_eq!(
            options.amazon_side_asn(),
            Some(int_at(&env, &["transit_gateway", "amazon_side_asn"])),
            "{tgw_id}: ASN"
        );

        // Attached to the VPC on its private subnets.
        let inv = Inventory::read(moto, site.region, site.stack);
        assert_eq!(
            inv.vpcs.len(),
            1,
            "{}: one VPC: {}\n{ctx}",
            site.stack,
            inv.summary()
        );
        let vpc_id = inv.vpcs[0].vpc_id().expect("vpc id");
        let private = private_subnet_ids(&inv);
        let attachments = tgw_vpc_attachments(moto, site.region, site.stack);
        assert_eq!(
            attachments.len(),
            1,
            "{}: one VPC attachment: {attachments:?}\n{ctx}",
            site.stack
        );
        let att = &attachments[0];
        assert_eq!(
            att.transit_gateway_id(),
            Some(tgw_id),
            "the VPC attachment's transit gateway"
        );
        assert_eq!(att.vpc_id(), Some(vpc_id), "the VPC attachment's VPC");
        assert!(
            is_available(att.state().map(|s| s.as_str())),
            "the VPC attachment's state: {:?}",
            att.state()
        );
        let att_subnets: BTreeSet<String> = att.subnet_ids().iter().cloned().collect();
        assert_eq!(
            att_subnets, private,
            "{}: the VPC attachment must be on the private subnets",
            site.stack
        );

        // Every private route table sends the peer's block to the transit gateway.
        let peer_cidr = str_at(&env, &["transit_gateway", "peer_cidr"]);
        let private_rts = route_tables_of(&inv, &private);
        assert_eq!(
            private_rts.len(),
            3,
            "{}: three private route tables\n{ctx}",
            site.stack
        );
        for rt in private_rts {
            let to_peer: Vec<_> = rt
                .routes()
                .iter()
                .filter(|r| r.destination_cidr_block() == Some(peer_cidr))
                .collect();
            assert_eq!(
                to_peer.len(),
                1,
                "{}: route table {:?} needs one route to {peer_cidr}: {:?}",
                site.stack,
                rt.route_table_id(),
                rt.routes()
            );
            assert_eq!(
                to_peer[0].transit_gateway_id(),
                Some(tgw_id),
                "{}: the route to {peer_cidr} in {:?} must go through {tgw_id}",
                site.stack,
                rt.route_table_id()
            );
        }
        tgw_of.insert(site.region, tgw.clone());
    }
    let us_tgw = tgw_of[PRIMARY.region]
        .transit_gateway_id()
        .expect("tgw id")
        .to_string();
    let eu_tgw = tgw_of[DR.region]
        .transit_gateway_id()
        .expect("tgw id")
        .to_string();

    // The peering: requested from eu-west-1 by the DR stack, accepted in us-east-1; available in both.
    let requested: Vec<_> = live_peering_attachments(moto, DR.region)
        .into_iter()
        .filter(|a| owned_by(a.tags(), DR.stack))
        .collect();
    assert_eq!(
        requested.len(),
        1,
        "eu-west-1: one peering attachment tagged for {}: {requested:?}\n{ctx}",
        DR.stack
    );
    let peering = &requested[0];
    let peering_id = peering
        .transit_gateway_attachment_id()
        .expect("attachment id")
        .to_string();
    let requester = peering
        .requester_tgw_info()
        .unwrap_or_else(|| panic!("{peering_id}: no requester"));
    let accepter = peering
        .accepter_tgw_info()
        .unwrap_or_else(|| panic!("{peering_id}: no accepter"));
    assert_eq!(
        (requester.transit_gateway_id(), requester.region()),
        (Some(eu_tgw.as_str()), Some(DR.region)),
        "{peering_id}: the requester"
    );
    assert_eq!(
        (accepter.transit_gateway_id(), accepter.region()),
        (Some(us_tgw.as_str()), Some(PRIMARY.region)),
        "{peering_id}: the accepter"
    );
    for region in [DR.region, PRIMARY.region] {
        let seen: Vec<_> = live_peering_attachments(moto, region)
            .into_iter()
            .filter(|a| a.transit_gateway_attachment_id() == Some(peering_id.as_str()))
            .collect();
        assert_eq!(
            seen.len(),
            1,
            "{region}: the peering attachment {peering_id} must be visible\n{ctx}"
        );
        assert!(
            is_available(seen[0].state().map(|s| s.as_str())),
            "{region}: the peering attachment {peering_id} must be `available`, not {:?} ({:?})",
            seen[0].state(),
            seen[0].status()
        );
    }

    // Static routes to the peer's block over the peering, in both transit gateway route tables.
    for (site, tgw_id) in [(&PRIMARY, &us_tgw), (&DR, &eu_tgw)] {
        let env = env_of(project, site);
        let peer_cidr = str_at(&env, &["transit_gateway", "peer_cidr"]);
        let rt_id = tgw_of[site.region]
            .options()
            .and_then(|o| o.association_default_route_table_id())
            .unwrap_or_else(|| panic!("{tgw_id}: no default route table"));
        let routes = tgw_static_routes(moto, site.region, rt_id);
        let to_peer: Vec<_> = routes
            .iter()
            .filter(|r| r.destination_cidr_block() == Some(peer_cidr))
            .collect();
        assert_eq!(
            to_peer.len(),
            1,
            "{}: the route table {rt_id} of {tgw_id} needs a static route to {peer_cidr}: {routes:?}\n{ctx}",
            site.region
        );
        let route = to_peer[0];
        assert_eq!(
            route.state().map(|s| s.as_str()),
            Some("active"),
            "{rt_id}: the route to {peer_cidr} must be active: {route:?}"
        );
        // moto does not report the route's attachment; when it is reported, it is the peering.
        for a in route.transit_gateway_attachments() {
            assert_eq!(
                a.transit_gateway_attachment_id(),
                Some(peering_id.as_str()),
                "{rt_id}: the route to {peer_cidr} must go over the peering: {route:?}"
            );
        }
    }
    (us_tgw, eu_tgw, peering_id)
}

/// The hosted zone (once), a health check per region and a latency record per region.
fn check_dns(moto: &Moto, project: &Project, ctx: &str) {
    let us_env = env_of(project, &PRIMARY);
    let zone_name = fqdn(str_at(&us_env, &["dns", "zone"]));
    let zones = zones_named(moto, &zone_name);
    assert_eq!(
        zones.len(),
        1,
        "exactly one hosted zone {zone_name}: {zones:?}\n{ctx}"
    );
    let zone_id = zones[0].id().trim_start_matches("/hostedzone/").to_string();
    let zone_tags = route53_tags(moto, TagResourceType::Hostedzone, &zone_id);
    assert_eq!(
        zone_tags.get("eprun:stack").map(String::as_str),
        Some(PRIMARY.stack),
        "the zone belongs to the primary: {zone_tags:?}"
    );

    let records = record_sets(moto, &zone_id);
    for site in [&PRIMARY, &DR] {
        let env = env_of(project, site);
        let ingress = str_at(&env, &["dns", "ingress"]);
        let checks = health_checks_of(moto, site.stack);
        assert_eq!(
            checks.len(),
            3,
            "three health checks tagged for {} (ingress, rotation, serving): {checks:?}\n{ctx}",
            site.stack
        );
        let of_type = |t: &str| {
            let found = checks
                .iter()
                .find(|c| c.health_check_config().map(|h| h.r#type().as_str()) == Some(t));
            found.unwrap_or_else(|| panic!("no {t} check for {}: {checks:?}", site.stack))
        };
        let check = of_type("HTTPS");
        let serving = of_type("CALCULATED");
        let rotation = of_type("CLOUDWATCH_METRIC");
        let serving_config = serving.health_check_config().expect("a config");
        let mut children = serving_config.child_health_checks().to_vec();
        children.sort();
        let mut expected_children = vec![check.id().to_string(), rotation.id().to_string()];
        expected_children.sort();
        assert_eq!(
            children, expected_children,
            "the serving check combines ingress and rotation"
        );
        assert_eq!(
            serving_config.health_threshold(),
            Some(2),
            "both must be healthy"
        );
        let alarm = rotation
            .health_check_config()
            .and_then(|c| c.alarm_identifier())
            .expect("the rotation check follows an alarm");
        assert_eq!(
            (alarm.region().as_str(), alarm.name().to_string()),
            (
                "eu-west-1",
                format!("api-examplepay-test-{}-in-rotation", site.region)
            ),
            "the rotation alarm lives in the DR region"
        );
        let config = check
            .health_check_config()
            .unwrap_or_else(|| panic!("health check {} has no config", check.id()));
        let what = format!("the health check of {} ({})", site.region, check.id());
        assert_eq!(config.r#type().as_str(), "HTTPS", "{what}: type");
        assert_eq!(
            config.fully_qualified_domain_name(),
            Some(ingress),
            "{what}: checks this region's ingress"
        );
        assert_eq!(config.port(), Some(443), "{what}: port");
        assert_eq!(
            config.resource_path(),
            Some(HEALTH_CHECK_PATH),
            "{what}: path"
        );
        assert_eq!(
            config.request_interval(),
            Some(HEALTH_CHECK_INTERVAL),
            "{what}: request interval"
        );
        assert_eq!(
            config.failure_threshold(),
            Some(FAILURE_THRESHOLD),
            "{what}: failure threshold"
        );
        let regions: BTreeSet<String> = config
            .regions()
            .iter()
            .map(|r| r.as_str().to_string())
            .collect();
        let expected: BTreeSet<String> = strs_at(&env, &["dns", "health_check_regions"])
            .into_iter()
            .collect();
        assert_eq!(
            expected.len(),
            3,
            "{}: three checker regions in dns.health_check_regions",
            site.env_file
        );
        assert_eq!(regions, expected, "{what}: checked from three regions");

        let record_name = fqdn(str_at(&env, &["dns", "record"]));
        let mine: Vec<_> = records
            .iter()
            .filter(|r| r.name() == record_name && r.set_identifier() == Some(site.region))
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "one latency record {record_name} for {}: {records:?}\n{ctx}",
            site.region
        );
        let record = mine[0];
        assert_eq!(
            record.region().map(|r| r.as_str()),
            Some(site.region),
            "{record_name} ({}): latency region",
            site.region
        );
        assert_eq!(
            record.health_check_id(),
            Some(serving.id()),
            "{record_name} ({}): must answer only while its serving check passes",
            site.region
        );
    }
    let latency_records = records
        .iter()
        .filter(|r| r.name() == fqdn(str_at(&us_env, &["dns", "record"])))
        .count();
    assert_eq!(
        latency_records, 2,
        "two records for the shared name, one per region: {records:?}"
    );
}

/// The payment secrets: metadata, KMS key, tags, a replica in eu-west-1, and no value.
fn check_secrets(moto: &Moto, project: &Project, ctx: &str) {
    let env = env_of(project, &PRIMARY);
    let names = secret_names(&env);
    assert!(!names.is_empty(), "the primary declares secrets");
    let key = str_at(&env, &["secrets", "kms_key_id"]);
    let replicas = strs_at(&env, &["secrets", "replica_regions"]);
    assert_eq!(
        replicas,
        [DR.region.to_string()],
        "the secrets replicate to the DR region"
    );
    let key_ok = |k: Option<&str>| match k {
        // AWS (and moto) leave the AWS managed key of Secrets Manager out of their answers.
        None => key == SECRETS_MANAGER_DEFAULT_KEY,
        Some(k) => k == key,
    };
    let primary = secretsmanager_client(moto, PRIMARY.region);
    let replica = secretsmanager_client(moto, DR.region);
    for name in &names {
        let d = poll_until(
            Duration::from_secs(60),
            &format!("the replica of {name} in {} to be in sync", DR.region),
            || ctx.to_string(),
            || {
                let d = block_on(primary.describe_secret().secret_id(name).send())
                    .unwrap_or_else(|e| panic!("no secret {name} ({e:?})\n{ctx}"));
                d.replication_status()
                    .iter()
                    .any(|r| {
                        r.region() == Some(DR.region)
                            && r.status().map(|s| s.as_str()) == Some("InSync")
                    })
                    .then_some(d)
            },
        );
        assert!(
            key_ok(d.kms_key_id()),
            "{name}: KMS key {:?}, expected {key}",
            d.kms_key_id()
        );
        assert!(d.deleted_date().is_none(), "{name}: scheduled for deletion");
        let tags: BTreeMap<&str, &str> = d
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?)))
            .collect();
        assert_eq!(
            tags.get("eprun:stack").copied(),
            Some(PRIMARY.stack),
            "{name}: eprun:stack tag: {tags:?}"
        );
        assert_eq!(
            tags.get("examplepay:reader").copied(),
            Some("external-secrets"),
            "{name}: examplepay:reader tag: {tags:?}"
        );
        assert!(
            tags.get("eprun:address")
                .is_some_and(|a| a.starts_with("secretsmanager.secret.")),
            "{name}: eprun:address tag: {tags:?}"
        );
        let status: Vec<_> = d.replication_status().iter().collect();
        assert_eq!(status.len(), 1, "{name}: one replica: {status:?}");
        assert!(
            key_ok(status[0].kms_key_id()),
            "{name}: the replica's KMS key {:?}, expected {key}",
            status[0].kms_key_id()
        );

        // The replica is readable (as metadata) in the DR region.
        let r = block_on(replica.describe_secret().secret_id(name).send())
            .unwrap_or_else(|e| panic!("{}: no replica of {name} ({e:?})\n{ctx}", DR.region));
        assert_eq!(
            r.primary_region(),
            Some(PRIMARY.region),
            "{name}: the replica's primary region"
        );

        // No value was ever put: no version, and reading the value fails with "not found".
        for (region, client) in [(PRIMARY.region, &primary), (DR.region, &replica)] {
            let versions = block_on(client.list_secret_version_ids().secret_id(name).send())
                .expect("ListSecretVersionIds");
            assert!(
                versions.versions().is_empty(),
                "{region}: {name} has versions, so a value was set: {:?}",
                versions.versions()
            );
            match block_on(client.get_secret_value().secret_id(name).send()) {
                Ok(v) => panic!(
                    "{region}: {name} has a value (version {:?}): eprun must never set one",
                    v.version_id()
                ),
                Err(e) => {
                    let e = e.into_service_error();
                    assert!(
                        e.is_resource_not_found_exception(),
                        "{region}: GetSecretValue {name} must fail for want of a value, not with {e:?}"
                    );
                }
            }
        }
    }
}

/// Nothing tagged for either stack is left in either region.
fn check_nothing_left(moto: &Moto, tgw_ids: &[String], provider_arns: &[String], ctx: &str) {
    let cluster_names_of_both: Vec<&str> = vec![PRIMARY.cluster, DR.cluster];
    for region in [PRIMARY.region, DR.region] {
        for site in [&PRIMARY, &DR] {
            let stack = site.stack;
            let inv = Inventory::read(moto, region, stack);
            assert!(
                inv.is_empty(),
                "{region}: {stack} still owns {}\n{ctx}",
                inv.summary()
            );
            let tgws = transit_gateways(moto, region, stack);
            assert!(
                tgws.is_empty(),
                "{region}: transit gateways of {stack} not deleted: {tgws:?}\n{ctx}"
            );
            let atts = tgw_vpc_attachments(moto, region, stack);
            assert!(
                atts.is_empty(),
                "{region}: VPC attachments of {stack} not deleted: {atts:?}\n{ctx}"
            );
            let keys: Vec<_> = kms_keys_of(moto, region, stack)
                .into_iter()
                .filter(|k| key_state(k) != "PendingDeletion")
                .collect();
            assert!(
                keys.is_empty(),
                "{region}: KMS keys of {stack} not scheduled for deletion: {keys:?}\n{ctx}"
            );
        }
        let peerings: Vec<_> = live_peering_attachments(moto, region)
            .into_iter()
            .filter(|a| {
                owned_by(a.tags(), PRIMARY.stack)
                    || owned_by(a.tags(), DR.stack)
                    || a.requester_tgw_info()
                        .and_then(|i| i.transit_gateway_id())
                        .is_some_and(|t| tgw_ids.iter().any(|x| x == t))
                    || a.accepter_tgw_info()
                        .and_then(|i| i.transit_gateway_id())
                        .is_some_and(|t| tgw_ids.iter().any(|x| x == t))
            })
            .collect();
        assert!(
            peerings.is_empty(),
            "{region}: peering attachments not deleted: {peerings:?}\n{ctx}"
        );
        let clusters: Vec<_> = cluster_names(moto, region)
            .into_iter()
            .filter(|c| cluster_names_of_both.contains(&c.as_str()))
            .collect();
        assert!(
            clusters.is_empty(),
            "{region}: EKS clusters left: {clusters:?}\n{ctx}"
        );
        for cluster in &cluster_names_of_both {
            let alias = format!("alias/{cluster}-eks-secrets");
            assert!(
                kms_alias(moto, region, &alias).is_none(),
                "{region}: the KMS alias {alias} is left\n{ctx}"
            );
        }
        let sm = secretsmanager_client(moto, region);
        let secrets = block_on(sm.list_secrets().send()).expect("ListSecrets");
        let left: Vec<_> = secrets
            .secret_list()
            .iter()
            .filter(|s| s.deleted_date().is_none())
            .filter(|s| {
                s.tags().iter().any(|t| {
                    t.key() == Some("eprun:stack")
                        && matches!(t.value(), Some(v) if v == PRIMARY.stack || v == DR.stack)
                })
            })
            .filter_map(|s| s.name())
            .collect();
        assert!(left.is_empty(), "{region}: secrets left: {left:?}\n{ctx}");
    }
    let roles: Vec<String> = roles_under(moto, "/eprun/")
        .iter()
        .map(|r| r.arn().to_string())
        .collect();
    assert!(
        roles.is_empty(),
        "IAM roles left under /eprun/: {roles:?}\n{ctx}"
    );
    let providers: Vec<_> = oidc_providers(moto)
        .into_iter()
        .filter(|(arn, _, tags)| {
            provider_arns.contains(arn)
                || matches!(tags.get("eprun:stack"), Some(s) if s == PRIMARY.stack || s == DR.stack)
        })
        .collect();
    assert!(
        providers.is_empty(),
        "OIDC providers left: {providers:?}\n{ctx}"
    );
    let zones = zones_named(moto, "examplepay.test.");
    assert!(zones.is_empty(), "hosted zones left: {zones:?}\n{ctx}");
    for stack in [PRIMARY.stack, DR.stack] {
        let checks = health_checks_of(moto, stack);
        assert!(
            checks.is_empty(),
            "health checks of {stack} left: {checks:?}\n{ctx}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// the tests

#[test]
fn both_regions_apply_check_replan_and_destroy_in_reverse_order() {
    let moto = Moto::start();
    let project = Project::new();

    let us = apply(&project, &moto, &PRIMARY);
    let eu = apply(&project, &moto, &DR);
    let ctx = format!("--- primary apply ---\n{us}\n--- DR apply ---\n{eu}");

    let mut provider_arns = Vec::new();
    for site in [&PRIMARY, &DR] {
        provider_arns.push(check_cluster(&moto, &project, site, &ctx).provider_arn);
    }
    check_no_unresolved_tokens(&moto, &ctx);
    let (us_tgw, eu_tgw, _peering) = check_transit(&moto, &project, &ctx);
    check_dns(&moto, &project, &ctx);
    check_secrets(&moto, &project, &ctx);

    // Both stacks have converged.
    expect_no_changes(&project, &moto, &PRIMARY, "after both applies");
    expect_no_changes(&project, &moto, &DR, "after both applies");
    for site in [&PRIMARY, &DR] {
        let releases = helm_releases(&moto, site);
        assert_eq!(
            releases.len(),
            8,
            "{}: one release per controller: {releases:?}",
            site.stack
        );
        assert!(
            releases.iter().all(|r| r.ends_with(" deployed")),
            "{releases:?}"
        );
    }

    // A DR runbook drains us-east-1 by setting its rotation alarm (in eu-west-1) to ALARM. The
    // alarm's state is the runbooks': the primary's plan shows no change and an apply keeps it.
    let cw = cloudwatch_client(&moto, "eu-west-1");
    let alarm = "api-examplepay-test-us-east-1-in-rotation";
    let state = || {
        let out = block_on(cw.describe_alarms().alarm_names(alarm).send()).expect("DescribeAlarms");
        let first = out.metric_alarms().first().cloned();
        first.and_then(|a| a.state_value().map(|v| v.as_str().to_string()))
    };
    let set = cw
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("a DR runbook drained us-east-1");
    block_on(set.send()).expect("SetAlarmState ALARM");
    expect_no_changes(
        &project,
        &moto,
        &PRIMARY,
        "after a runbook took the primary out of rotation",
    );
    let during = apply(&project, &moto, &PRIMARY);
    assert_eq!(
        state().as_deref(),
        Some("ALARM"),
        "an apply during an incident must not undo the failover (alarm {alarm} was reset)\n{during}"
    );
    expect_no_changes(
        &project,
        &moto,
        &PRIMARY,
        "after an apply with the primary out of rotation",
    );

    // Destroy in reverse order: the DR region first (it holds the peering), then the primary.
    let eu_gone = destroy(&project, &moto, &DR);
    let us_gone = destroy(&project, &moto, &PRIMARY);
    let ctx = format!("--- DR destroy ---\n{eu_gone}\n--- primary destroy ---\n{us_gone}");
    check_nothing_left(&moto, &[us_tgw, eu_tgw], &provider_arns, &ctx);
    for site in [&PRIMARY, &DR] {
        let releases = helm_releases(&moto, site);
        assert!(
            releases.is_empty(),
            "{}: releases left: {releases:?}",
            site.stack
        );
    }
}

/// The releases in the cluster of `site`, as `namespace/name chart status` lines.
fn helm_releases(moto: &Moto, site: &Site) -> Vec<String> {
    let context = format!("local-{}", site.region);
    crate::kube_support::helm_releases(&moto.clusters().kubeconfig, Some(&context))
}

#[test]
fn dr_apply_killed_mid_way_converges_without_duplicates() {
    let moto = Moto::start();
    let project = Project::new();
    apply(&project, &moto, &PRIMARY);

    // Kill the DR apply (SIGKILL) once its state records about 20 resources.
    const KILL_AT: usize = 20;
    let run = eprun(&project, &["apply", DR.script, "--env", DR.stack, "--yes"])
        .moto(&moto)
        .spawn();
    let recorded = poll_until(
        APPLY_TIMEOUT,
        &format!("the DR state to record {KILL_AT} resources"),
        || {
            format!(
                "{}\nstate records {} resources",
                run.context(),
                project.state_resource_count(DR.stack)
            )
        },
        || {
            let n = project.state_resource_count(DR.stack);
            (n >= KILL_AT || run.finished()).then_some(n)
        },
    );
    let killed = run.kill();
    assert!(
        killed,
        "the DR apply finished before its state recorded {KILL_AT} resources ({recorded}): nothing was interrupted\n{}",
        run.context()
    );
    eprintln!("DR apply killed with {recorded} resources recorded in its state");

    let rerun = apply(&project, &moto, &DR);
    // A create the killed run had sent may still land (regression: a second KMS key when the
    // re-run read before it did): the re-run waits for it before reading.
    assert!(
        rerun.stderr.contains("did not finish; waiting"),
        "the re-run waits for the killed run's requests in flight\n{rerun}"
    );
    let inv = Inventory::read(&moto, DR.region, DR.stack);
    let what = format!(
        "(killed after {recorded} recorded resources) {}\n{rerun}",
        inv.summary()
    );
    // The network: exactly one of everything.
    inv.assert_one_network(&moto, DR.region, &what);

    // Transit: one gateway, one VPC attachment, one live peering (seen from both regions).
    let tgws = all_live_transit_gateways(&moto, DR.region);
    assert_eq!(
        tgws.len(),
        1,
        "exactly one transit gateway in {} (tagged or not): {tgws:?} {what}",
        DR.region
    );
    assert!(
        owned_by(tgws[0].tags(), DR.stack),
        "the transit gateway is tagged for {}: {:?}",
        DR.stack,
        tgws[0].tags()
    );
    let atts = tgw_vpc_attachments(&moto, DR.region, DR.stack);
    assert_eq!(atts.len(), 1, "exactly one VPC attachment {atts:?} {what}");
    for region in [DR.region, PRIMARY.region] {
        let peerings = live_peering_attachments(&moto, region);
        assert_eq!(
            peerings.len(),
            1,
            "{region}: exactly one peering attachment not deleted: {peerings:?} {what}"
        );
        assert!(
            is_available(peerings[0].state().map(|s| s.as_str())),
            "{region}: the peering is {:?} {what}",
            peerings[0].state()
        );
    }
    let private = private_subnet_ids(&inv);
    for rt in route_tables_of(&inv, &private) {
        let n = rt
            .routes()
            .iter()
            .filter(|r| r.destination_cidr_block() == Some("10.10.0.0/16"))
            .count();
        assert_eq!(
            n,
            1,
            "route table {:?}: one route to the primary's block {what}",
            rt.route_table_id()
        );
    }

    // EKS: one cluster, one node group, one key (with its alias), one OIDC provider, four roles.
    assert_eq!(
        cluster_names(&moto, DR.region),
        [DR.cluster.to_string()],
        "exactly one EKS cluster in {} {what}",
        DR.region
    );
    let groups = block_on(
        eks_client(&moto, DR.region)
            .list_nodegroups()
            .cluster_name(DR.cluster)
            .send(),
    )
    .expect("ListNodegroups");
    assert_eq!(
        groups.nodegroups().len(),
        1,
        "exactly one node group: {:?} {what}",
        groups.nodegroups()
    );
    let keys: Vec<_> = customer_kms_keys(&moto, DR.region)
        .into_iter()
        .filter(|(k, _)| key_state(k) != "PendingDeletion")
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "exactly one customer KMS key in {} (tagged or not): {keys:?} {what}",
        DR.region
    );
    assert_eq!(
        keys[0].1.get("eprun:stack").map(String::as_str),
        Some(DR.stack),
        "the KMS key's eprun:stack tag"
    );
    let alias = kms_alias(
        &moto,
        DR.region,
        &format!("alias/{}-eks-secrets", DR.cluster),
    )
    .unwrap_or_else(|| panic!("no KMS alias {what}"));
    assert_eq!(
        alias.target_key_id(),
        Some(keys[0].0.key_id()),
        "the alias points at the one key {what}"
    );
    let providers: Vec<_> = oidc_providers(&moto)
        .into_iter()
        .filter(|(_, url, _)| url.contains(&format!("oidc.eks.{}.", DR.region)))
        .collect();
    assert_eq!(
        providers.len(),
        1,
        "exactly one OIDC provider for the DR cluster: {providers:?} {what}"
    );
    let roles: BTreeSet<String> = roles_under(&moto, &format!("/eprun/{}/", DR.stack))
        .iter()
        .map(|r| r.role_name().to_string())
        .collect();
    let expected: BTreeSet<String> = [
        "cluster",
        "node",
        "payment-service",
        "karpenter",
        "external-secrets",
        "fluent-bit",
        "adot-collector",
    ]
    .iter()
    .map(|s| format!("{}-{s}", DR.cluster))
    .collect();
    assert_eq!(roles, expected, "the DR stack's IAM roles {what}");

    // DNS: three health checks per region in all, one latency record for eu-west-1.
    let checks = all_health_checks(&moto);
    assert_eq!(
        checks.len(),
        6,
        "exactly six health checks (tagged or not), three per region: {checks:?} {what}"
    );
    assert_eq!(
        health_checks_of(&moto, DR.stack).len(),
        3,
        "three health checks tagged for {} {what}",
        DR.stack
    );
    let zones = zones_named(&moto, "examplepay.test.");
    assert_eq!(zones.len(), 1, "one hosted zone {what}");
    let records = record_sets(&moto, zones[0].id().trim_start_matches("/hostedzone/"));
    let eu_records = records
        .iter()
        .filter(|r| r.set_identifier() == Some(DR.region))
        .count();
    assert_eq!(
        eu_records, 1,
        "one latency record for {} {records:?} {what}",
        DR.region
    );

    // Converged: nothing left to do, on either side.
    expect_no_changes(
        &project,
        &moto,
        &DR,
        "after the interrupted DR apply was re-run",
    );
    expect_no_changes(
        &project,
        &moto,
        &PRIMARY,
        "after the interrupted DR apply was re-run",
    );
}

#[test]
fn overlapping_vpc_cidrs_between_regions_are_refused_before_any_call() {
    let moto = Moto::start();
    let project = Project::new();
    apply(&project, &moto, &PRIMARY);

    // The DR VPC moves into the primary's 10.10.0.0/16.
    let overlapping = "10.10.128.0/17";
    project.edit(DR.env_file, |text| {
        text.replace(
            "cidr = \"10.20.0.0/16\"",
            &format!("cidr = \"{overlapping}\""),
        )
        .replace(
            "public_subnets = [\"10.20.0.0/20\", \"10.20.16.0/20\", \"10.20.32.0/20\"]",
            "public_subnets = [\"10.10.128.0/20\", \"10.10.144.0/20\", \"10.10.160.0/20\"]",
        )
        .replace(
            "private_subnets = [\"10.20.64.0/18\", \"10.20.128.0/18\", \"10.20.192.0/18\"]",
            "private_subnets = [\"10.10.192.0/20\", \"10.10.208.0/20\", \"10.10.224.0/20\"]",
        )
    });
    let env = env_of(&project, &DR);
    assert_eq!(
        str_at(&env, &["vpc", "cidr"]),
        overlapping,
        "the edit moved the DR VPC block"
    );
    assert!(
        !project.read(DR.env_file).contains("\"10.20."),
        "the edit left a 10.20.x block in the DR file"
    );

    let check_refusal = |out: &Output| {
        out.expect_no_panic();
        assert_eq!(out.code, 1, "overlapping VPC blocks must be refused\n{out}");
        assert!(
            out.stderr.contains(overlapping),
            "the error must name the DR block {overlapping}\n{out}"
        );
        assert!(
            out.stderr.contains("10.10.0.0/16"),
            "the error must name the primary's block 10.10.0.0/16\n{out}"
        );
        assert!(
            out.stderr.contains("overlap"),
            "the error must say the blocks overlap\n{out}"
        );
        let locations = rhai_locations(&out.stderr);
        assert!(
            !locations.is_empty(),
            "the error must be located (file:line:column)\n{out}"
        );
        assert!(
            locations.iter().any(|l| l.starts_with(DR.script))
                || out.stderr.contains(&format!("{}:", DR.script)),
            "the error must lead to the DR script's line ({locations:?})\n{out}"
        );
    };
    let plan = eprun(&project, &["plan", DR.script, "--env", DR.stack])
        .moto(&moto)
        .run();
    check_refusal(&plan);
    let applied = eprun(&project, &["apply", DR.script, "--env", DR.stack, "--yes"])
        .moto(&moto)
        .run();
    check_refusal(&applied);
    // Refused before any AWS call: the same refusal with no AWS endpoint reachable.
    let offline = eprun(&project, &["plan", DR.script, "--env", DR.stack])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    check_refusal(&offline);

    // Nothing of the DR stack exists anywhere, and it has no state.
    let ctx = format!("{plan}\n{applied}");
    let inv = Inventory::read(&moto, DR.region, DR.stack);
    assert!(
        inv.is_empty(),
        "the refused DR stack owns {}\n{ctx}",
        inv.summary()
    );
    for region in [DR.region, PRIMARY.region] {
        assert!(
            transit_gateways(&moto, region, DR.stack).is_empty(),
            "{region}: a transit gateway of the refused stack\n{ctx}"
        );
        assert!(
            live_peering_attachments(&moto, region).is_empty(),
            "{region}: a peering attachment was made\n{ctx}"
        );
    }
    assert!(
        cluster_names(&moto, DR.region).is_empty(),
        "an EKS cluster in {}\n{ctx}",
        DR.region
    );
    assert!(
        health_checks_of(&moto, DR.stack).is_empty(),
        "a health check of the refused stack\n{ctx}"
    );
    assert!(
        roles_under(&moto, &format!("/eprun/{}/", DR.stack)).is_empty(),
        "IAM roles of the refused stack\n{ctx}"
    );
    assert_eq!(
        project.state_resource_count(DR.stack),
        0,
        "the refused stack's state records resources\n{ctx}"
    );
    expect_no_changes(&project, &moto, &PRIMARY, "after the refused DR run");
}

#[test]
fn irsa_role_for_an_unknown_service_account_is_flagged() {
    let moto = Moto::start();
    let project = Project::new();
    project.edit(PRIMARY.env_file, |text| {
        format!("{text}\n[[eks.service_accounts]]\nname = \"ledger-service\"\nnamespace = \"payments\"\nmanaged_policy_arns = []\n")
    });
    let accounts = env_of(&project, &PRIMARY)["eks"]["service_accounts"]
        .as_array()
        .map(|a| a.len());
    assert_eq!(accounts, Some(6), "the edit added a sixth IRSA entry");

    for args in [
        vec!["plan", PRIMARY.script, "--env", PRIMARY.stack],
        vec!["apply", PRIMARY.script, "--env", PRIMARY.stack, "--yes"],
    ] {
        let out = eprun(&project, &args).moto(&moto).run();
        out.expect_no_panic();
        assert_eq!(
            out.code, 1,
            "an IRSA role for a service account the cluster does not define must be refused\n{out}"
        );
        assert!(
            out.stderr.contains("payments/ledger-service"),
            "the error must name the service account `payments/ledger-service`\n{out}"
        );
        assert!(
            out.stderr.contains("service_accounts"),
            "the error must name the setting (`eks.service_accounts`)\n{out}"
        );
        assert!(
            !rhai_locations(&out.stderr).is_empty(),
            "the error must be located (file:line:column)\n{out}"
        );
        project.assert_no_state(&out);
    }
    let inv = Inventory::read(&moto, PRIMARY.region, PRIMARY.stack);
    assert!(
        inv.is_empty(),
        "the refused apply created {}",
        inv.summary()
    );
    assert!(
        roles_under(&moto, "/eprun/").is_empty(),
        "the refused apply created IAM roles"
    );
    assert!(
        cluster_names(&moto, PRIMARY.region).is_empty(),
        "the refused apply created an EKS cluster"
    );
}

#[test]
fn dr_plan_names_the_primary_when_it_is_not_applied() {
    let moto = Moto::start();
    let project = Project::new();
    let out = eprun(&project, &["plan", DR.script, "--env", DR.stack])
        .moto(&moto)
        .run();
    out.expect_no_panic();
    assert_eq!(
        out.code, 1,
        "the DR plan needs the primary's outputs\n{out}"
    );
    assert!(
        out.stderr.contains(&format!("`{}`", PRIMARY.stack))
            && out.stderr.contains("apply")
            && out.stderr.contains("first"),
        "the error must say to apply `{}` first\n{out}",
        PRIMARY.stack
    );
    assert!(
        !out.all().contains("prod/us-east-1"),
        "a local DR stack must never name the prod primary\n{out}"
    );
    assert!(
        out.stderr.contains(&format!("{}:", DR.script)),
        "the error must point at the DR script's line\n{out}"
    );
    project.assert_no_state(&out);
    let inv = Inventory::read(&moto, DR.region, DR.stack);
    assert!(inv.is_empty(), "the refused plan created {}", inv.summary());
}

/// Regression: a replica whose replication had failed (a same-named secret was in the way) was
/// counted as a replica, so the plan was empty while the DR region held no copy. Now the plan
/// re-adds it; apply says why it cannot while the other secret is there, and succeeds once it
/// is gone.
#[test]
fn plan_shows_a_replica_whose_replication_failed() {
    let moto = Moto::start();
    let project = Project::new();
    let name = "examplepay/local/drifted-replica";
    let script = "scripts/replicated.rhai";
    project.write(
        script,
        format!(
            r#"let env = stack("{LOCAL_US}");
aws::secretsmanager::secret("drifted", #{{ name: "{name}", replica: [#{{ region: "{}" }}] }});
"#,
            DR.region
        ),
    );
    let plan = |project: &Project| {
        eprun(
            project,
            &["plan", script, "--env", LOCAL_US, "--detailed-exitcode"],
        )
        .moto(&moto)
        .run()
    };
    eprun(&project, &["apply", script, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run()
        .expect_success();
    plan(&project).expect_code(0);

    // The DR copy is promoted and the primary replicated again without overwriting: failed.
    let (us, eu) = (
        secretsmanager_client(&moto, PRIMARY.region),
        secretsmanager_client(&moto, DR.region),
    );
    let status = |client: &aws_sdk_secretsmanager::Client| {
        block_on(client.describe_secret().secret_id(name).send())
            .expect("DescribeSecret")
            .replication_status()
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r.region().unwrap_or("?"),
                    r.status().map(|s| s.as_str()).unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
    };
    block_on(async {
        eu.stop_replication_to_replica()
            .secret_id(name)
            .send()
            .await
            .expect("StopReplicationToReplica");
        us.replicate_secret_to_regions()
            .secret_id(name)
            .add_replica_regions(
                aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                    .region(DR.region)
                    .build(),
            )
            .send()
            .await
            .expect("ReplicateSecretToRegions");
    });
    assert_eq!(status(&us), ["eu-west-1:Failed"], "the replication failed");

    let drift = plan(&project);
    drift.expect_code(2);
    assert!(
        drift.stdout.contains("replica") && drift.stdout.contains(DR.region),
        "the plan re-adds the replica\n{drift}"
    );

    // The promoted secret is still in the way: apply says so instead of overwriting it.
    let refused = eprun(&project, &["apply", script, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    refused.expect_code(1).expect_no_panic();
    assert!(
        refused.stderr.contains("ReplicateSecretToRegions") && refused.stderr.contains(name),
        "the error names the operation and the secret\n{refused}"
    );

    // Once the engineer removes it, apply replicates and the plan is empty.
    block_on(
        eu.delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send(),
    )
    .expect("DeleteSecret in the DR region");
    eprun(&project, &["apply", script, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run()
        .expect_success();
    assert_eq!(status(&us), ["eu-west-1:InSync"], "replicated again");
    plan(&project).expect_code(0);
}
