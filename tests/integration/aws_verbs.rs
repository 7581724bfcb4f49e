//! The imperative AWS verbs (`aws::sts::caller_identity()`, `aws::ec2::describe_vpcs(..)`,
//! `aws::eks::update_nodegroup_scaling(..)`, `aws::route53::update_health_check(..)`,
//! `aws::secretsmanager::describe_secret(..)`, …) through the real binary (`eprun eval … --env
//! local/<region>`, and a runbook in a dry run) against moto. What they change is checked with
//! independent SDK reads; what they refuse is refused before any change.
//!
//! moto 5.2.5 does not serve `StopReplicationToReplica`: the tests' moto
//! (`tests/support/moto_server.py`) adds it, as AWS documents it.

use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
use aws_sdk_route53::types::{
    HealthCheckConfig, HealthCheckRegion, HealthCheckType, Tag, TagResourceType,
};
use aws_sdk_secretsmanager::types::ReplicaRegionType;
use serde_json::Value;

use crate::support::*;

/// `eprun eval EXPR --env ENV` against moto.
fn eval(project: &Project, moto: &Moto, env: &str, expr: &str) -> Output {
    let out = eprun(project, &["eval", expr, "--env", env])
        .moto(moto)
        .run();
    out.expect_no_panic();
    out
}

/// `eval` that must succeed, its result as JSON.
fn eval_ok(project: &Project, moto: &Moto, env: &str, expr: &str) -> Value {
    let out = eval(project, moto, env, expr);
    out.expect_success();
    out.json()
}

/// `eval` that must fail; its stderr.
fn eval_err(project: &Project, moto: &Moto, env: &str, expr: &str) -> String {
    let out = eval(project, moto, env, expr);
    out.expect_code(1);
    out.stderr
}

#[test]
fn caller_identity_and_vpcs_by_tag() {
    let moto = Moto::start();
    let project = Project::new();
    let ec2 = ec2_client(&moto, "us-east-1");
    let vpc_id = block_on(async {
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.99.0.0/16")
            .send()
            .await
            .expect("CreateVpc");
        let id = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("a VPC id")
            .to_string();
        ec2.create_tags()
            .resources(&id)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("Name")
                    .value("examplepay-verbs")
                    .build(),
            )
            .send()
            .await
            .expect("CreateTags");
        id
    });

    let me = eval_ok(&project, &moto, LOCAL_US, "aws::sts::caller_identity()");
    let sts = aws_sdk_sts::Client::new(&block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load(),
    ));
    let them = block_on(sts.get_caller_identity().send()).expect("GetCallerIdentity");
    assert_eq!(me["account"], them.account().expect("an account"), "{me}");
    assert_eq!(me["arn"], them.arn().expect("an ARN"), "{me}");
    assert_eq!(me["user_id"], them.user_id().expect("a user id"), "{me}");

    let found = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        r#"aws::ec2::describe_vpcs(#{"tag:Name": "examplepay-verbs"})"#,
    );
    let found = found.as_array().expect("an array of VPCs");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["vpc_id"], vpc_id.as_str());
    assert_eq!(found[0]["cidr_block"], "10.99.0.0/16");
    assert_eq!(found[0]["state"], "available");
    assert_eq!(found[0]["tags"]["Name"], "examplepay-verbs");

    // `#{}` is every VPC of the region, as an independent read sees them.
    let all = eval_ok(&project, &moto, LOCAL_US, "aws::ec2::describe_vpcs(#{})");
    let mut ids: Vec<&str> = all
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|v| v["vpc_id"].as_str())
        .collect();
    ids.sort_unstable();
    let listed = block_on(ec2.describe_vpcs().send()).expect("DescribeVpcs");
    let mut expected: Vec<&str> = listed.vpcs().iter().filter_map(|v| v.vpc_id()).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);

    // A filter of the wrong shape is refused at its line, naming the call.
    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        r#"aws::ec2::describe_vpcs(#{"tag:Name": #{a: 1}})"#,
    );
    assert!(
        err.contains("`DescribeVpcs`") && err.contains("filter `tag:Name`"),
        "{err}"
    );
}

/// A health check made with the SDK, as the dns_failover module would (tags included).
pub(crate) fn create_health_check(moto: &Moto, name: &str) -> String {
    let r53 = route53_client(moto, "us-east-1");
    block_on(async {
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Https)
            .fully_qualified_domain_name("ingress.us-east-1.examplepay.test")
            .port(443)
            .resource_path("/healthz")
            .request_interval(10)
            .failure_threshold(3)
            .regions(HealthCheckRegion::UsEast1)
            .regions(HealthCheckRegion::EuWest1)
            .regions(HealthCheckRegion::UsWest2)
            .build()
            .expect("a health check config");
        let out = r53
            .create_health_check()
            .caller_reference(format!("verbs-test-{name}"))
            .health_check_config(config)
            .send()
            .await
            .expect("CreateHealthCheck");
        let id = out.health_check().expect("a health check").id().to_string();
        r53.change_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(&id)
            .add_tags(Tag::builder().key("Name").value(name).build())
            .add_tags(
                Tag::builder()
                    .key("eprun:address")
                    .value(format!("route53.health_check.{name}"))
                    .build(),
            )
            .send()
            .await
            .expect("ChangeTagsForResource");
        id
    })
}

/// The health check as Route 53 (moto) has it.
pub(crate) fn health_check_config(moto: &Moto, id: &str) -> HealthCheckConfig {
    let out = block_on(
        route53_client(moto, "us-east-1")
            .get_health_check()
            .health_check_id(id)
            .send(),
    )
    .expect("GetHealthCheck");
    out.health_check()
        .and_then(|h| h.health_check_config())
        .cloned()
        .expect("a health check config")
}

#[test]
fn health_check_found_by_tag_updated_and_verified() {
    let moto = Moto::start();
    let project = Project::new();
    let id = create_health_check(&moto, "ingress-us-east-1");
    let _other = create_health_check(&moto, "ingress-eu-west-1");

    // A runbook finds "the us-east-1 health check" by its tags.
    let found = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        r#"aws::route53::list_health_checks().filter(|c| c.name == "ingress-us-east-1")"#,
    );
    let found = found.as_array().expect("an array");
    assert_eq!(found.len(), 1, "{found:?}");
    let hc = &found[0];
    assert_eq!(hc["id"], id.as_str());
    assert_eq!(hc["address"], "route53.health_check.ingress-us-east-1");
    assert_eq!(hc["type"], "HTTPS");
    assert_eq!(hc["fqdn"], "ingress.us-east-1.examplepay.test");
    assert_eq!(hc["port"], 443);
    assert_eq!(hc["resource_path"], "/healthz");
    assert_eq!(hc["inverted"], false);
    assert_eq!(hc["failure_threshold"], 3);
    assert_eq!(hc["request_interval"], 10);
    assert_eq!(
        hc["regions"],
        serde_json::json!(["us-east-1", "eu-west-1", "us-west-2"])
    );

    let got = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::route53::get_health_check("{id}")"#),
    );
    assert_eq!(&got, hc, "get and list describe the check alike");

    // Drain the region: invert the check (and raise its threshold).
    let updated = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(
            r#"aws::route53::update_health_check("{id}", #{{inverted: true, failure_threshold: 5}})"#
        ),
    );
    assert_eq!(updated["inverted"], true, "{updated}");
    assert_eq!(updated["failure_threshold"], 5, "{updated}");
    assert_eq!(updated["name"], "ingress-us-east-1", "{updated}");
    let live = health_check_config(&moto, &id);
    assert_eq!(live.inverted(), Some(true));
    assert_eq!(live.failure_threshold(), Some(5));
    assert_eq!(
        live.regions().len(),
        3,
        "the update kept the checker regions"
    );
    assert_eq!(live.resource_path(), Some("/healthz"));

    // The status Route 53 routes on is the inverted one.
    let status = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::route53::health_check_status("{id}")"#),
    );
    assert_eq!(status["inverted"], true, "{status}");
    assert_eq!(status["checkers_healthy"], true, "{status}");
    assert_eq!(status["healthy"], false, "{status}");
    assert!(
        !status["observations"]
            .as_array()
            .expect("observations")
            .is_empty(),
        "{status}"
    );

    // Mistakes are refused before any call, and nothing changes.
    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::route53::update_health_check("{id}", #{{invert: false}})"#),
    );
    assert!(
        err.contains(&format!("`UpdateHealthCheck` on `{id}`")) && err.contains("inverted"),
        "{err}"
    );
    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::route53::update_health_check("{id}", #{{failure_threshold: 11}})"#),
    );
    assert!(err.contains("not between 1 and 10"), "{err}");
    let live = health_check_config(&moto, &id);
    assert_eq!(
        (live.inverted(), live.failure_threshold()),
        (Some(true), Some(5))
    );

    // Undo it: the failback.
    let back = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::route53::update_health_check("{id}", #{{inverted: false}})"#),
    );
    assert_eq!(back["inverted"], false);
    assert_eq!(health_check_config(&moto, &id).inverted(), Some(false));

    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        r#"aws::route53::get_health_check("00000000-0000-0000-0000-000000000000")"#,
    );
    assert!(
        err.contains("`GetHealthCheck` on `00000000-0000-0000-0000-000000000000` failed"),
        "{err}"
    );
}

const CLUSTER: &str = "examplepay-verbs";
const NODEGROUP: &str = "system";

/// An EKS cluster with a node group (min 1, max 2, desired 1), made with the SDK.
fn create_cluster_and_nodegroup(moto: &Moto) {
    let eks = eks_client(moto, "us-east-1");
    block_on(async {
        eks.create_cluster()
            .name(CLUSTER)
            .version("1.29")
            .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
            .resources_vpc_config(
                VpcConfigRequest::builder()
                    .subnet_ids("subnet-aaaa")
                    .subnet_ids("subnet-bbbb")
                    .build(),
            )
            .send()
            .await
            .expect("CreateCluster");
        eks.create_nodegroup()
            .cluster_name(CLUSTER)
            .nodegroup_name(NODEGROUP)
            .node_role("arn:aws:iam::123456789012:role/eks-node")
            .subnets("subnet-aaaa")
            .subnets("subnet-bbbb")
            .instance_types("t3.medium")
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(1)
                    .max_size(2)
                    .desired_size(1)
                    .build(),
            )
            .send()
            .await
            .expect("CreateNodegroup");
    });
}

/// The node group's (min, max, desired) as EKS (moto) has them.
fn sizes(moto: &Moto) -> (Option<i32>, Option<i32>, Option<i32>) {
    let out = block_on(
        eks_client(moto, "us-east-1")
            .describe_nodegroup()
            .cluster_name(CLUSTER)
            .nodegroup_name(NODEGROUP)
            .send(),
    )
    .expect("DescribeNodegroup");
    let s = out
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .expect("a scaling config");
    (s.min_size(), s.max_size(), s.desired_size())
}

#[test]
fn nodegroup_scaling_is_partial_checked_and_verified() {
    let moto = Moto::start();
    let project = Project::new();
    create_cluster_and_nodegroup(&moto);

    let cluster = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::eks::describe_cluster("{CLUSTER}")"#),
    );
    assert_eq!(cluster["name"], CLUSTER);
    assert_eq!(cluster["version"], "1.29");
    assert!(
        cluster["arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:eks:")),
        "{cluster}"
    );
    assert!(cluster["status"].is_string(), "{cluster}");

    let names = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::eks::list_nodegroups("{CLUSTER}")"#),
    );
    assert_eq!(names, serde_json::json!([NODEGROUP]));

    let ng = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::eks::describe_nodegroup("{CLUSTER}", "{NODEGROUP}")"#),
    );
    assert_eq!(ng["name"], NODEGROUP);
    assert_eq!(
        (&ng["min_size"], &ng["max_size"], &ng["desired_size"]),
        (&Value::from(1), &Value::from(2), &Value::from(1)),
        "{ng}"
    );
    assert_eq!(ng["instance_types"], serde_json::json!(["t3.medium"]));

    // Scale up: max and desired given, min kept; then wait for ACTIVE.
    let result = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(
            r#"let u = aws::eks::update_nodegroup_scaling("{CLUSTER}", "{NODEGROUP}", #{{max_size: 4, desired_size: 3}});
               let ng = aws::eks::wait_nodegroup_active("{CLUSTER}", "{NODEGROUP}", 60);
               #{{update: u, nodegroup: ng}}"#
        ),
    );
    let update = &result["update"];
    assert!(update["update_id"].is_string(), "{update}");
    assert_eq!(update["changed"], true, "{update}");
    assert_eq!(update["dry_run"], false, "{update}");
    assert_eq!(
        (
            &update["min_size"],
            &update["max_size"],
            &update["desired_size"]
        ),
        (&Value::from(1), &Value::from(4), &Value::from(3)),
        "{update}"
    );
    assert_eq!(result["nodegroup"]["status"], "ACTIVE", "{result}");
    assert_eq!(sizes(&moto), (Some(1), Some(4), Some(3)));

    // A size outside the kept bounds is refused before the call, naming the call and the target.
    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        &format!(
            r#"aws::eks::update_nodegroup_scaling("{CLUSTER}", "{NODEGROUP}", #{{desired_size: 9}})"#
        ),
    );
    assert!(
        err.contains(&format!(
            "`UpdateNodegroupConfig` on `{CLUSTER}/{NODEGROUP}` failed: desired_size 9 is above max_size 4 (current)"
        )),
        "{err}"
    );
    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        &format!(
            r#"aws::eks::update_nodegroup_scaling("{CLUSTER}", "{NODEGROUP}", #{{desired: 2}})"#
        ),
    );
    assert!(err.contains("did you mean `desired_size`"), "{err}");
    assert_eq!(sizes(&moto), (Some(1), Some(4), Some(3)), "nothing changed");

    // Scale back down in one call.
    let result = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(
            r#"aws::eks::update_nodegroup_scaling("{CLUSTER}", "{NODEGROUP}", #{{max_size: 2, desired_size: 1}})"#
        ),
    );
    assert_eq!(result["changed"], true);
    assert_eq!(sizes(&moto), (Some(1), Some(2), Some(1)));

    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::eks::describe_nodegroup("{CLUSTER}", "missing")"#),
    );
    assert!(
        err.contains(&format!(
            "`DescribeNodegroup` on `{CLUSTER}/missing` failed"
        )),
        "{err}"
    );
}

const SECRET: &str = "examplepay/local/verbs-db";
const SECRET_VALUE: &str = "s3cr3t-never-printed";

#[test]
fn secret_with_a_replica_described_in_both_regions_and_replicated() {
    let moto = Moto::start();
    let project = Project::new();
    let sm = secretsmanager_client(&moto, "us-east-1");
    block_on(
        sm.create_secret()
            .name(SECRET)
            .secret_string(SECRET_VALUE)
            .add_replica_regions(ReplicaRegionType::builder().region("eu-west-1").build())
            .send(),
    )
    .expect("CreateSecret");
    let truth = block_on(sm.describe_secret().secret_id(SECRET).send()).expect("DescribeSecret");

    let primary = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::secretsmanager::describe_secret("{SECRET}")"#),
    );
    assert_eq!(primary["name"], SECRET);
    assert_eq!(primary["arn"], truth.arn().expect("an ARN"));
    assert_eq!(primary["primary_region"], "us-east-1");
    assert_eq!(primary["is_replica"], false);
    let replication = primary["replication"].as_array().expect("replication");
    assert_eq!(replication.len(), 1, "{primary}");
    assert_eq!(replication[0]["region"], "eu-west-1");
    assert_eq!(replication[0]["status"], "InSync");
    assert!(replication[0].get("status_message").is_some(), "{primary}");
    assert!(!primary.to_string().contains(SECRET_VALUE));

    // Read in the DR region, it is the replica.
    let replica = eval_ok(
        &project,
        &moto,
        LOCAL_EU,
        &format!(r#"aws::secretsmanager::describe_secret("{SECRET}")"#),
    );
    assert_eq!(replica["is_replica"], true, "{replica}");
    assert_eq!(replica["primary_region"], "us-east-1", "{replica}");
    assert_eq!(replica["region"], "eu-west-1", "{replica}");

    // Promoting is done in the replica's region: in the primary it is refused before any call.
    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::secretsmanager::stop_replication_to_replica("{SECRET}")"#),
    );
    assert!(
        err.contains(&format!("`StopReplicationToReplica` on `{SECRET}` failed"))
            && err.contains("is not a replica"),
        "{err}"
    );

    // Replicate to one more region (regions already replicated are left out), then wait.
    let out = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(
            r#"aws::secretsmanager::replicate("{SECRET}", ["eu-west-1", "us-west-2"]);
               aws::secretsmanager::wait_replicated("{SECRET}", 60)"#
        ),
    );
    let regions: Vec<&str> = out["replication"]
        .as_array()
        .expect("replication")
        .iter()
        .filter_map(|r| r["region"].as_str())
        .collect();
    assert_eq!(regions, ["eu-west-1", "us-west-2"], "{out}");
    let truth = block_on(sm.describe_secret().secret_id(SECRET).send()).expect("DescribeSecret");
    let mut live: Vec<&str> = truth
        .replication_status()
        .iter()
        .filter_map(|r| r.region())
        .collect();
    live.sort_unstable();
    assert_eq!(live, ["eu-west-1", "us-west-2"]);
}

/// Promoting needs a replica: on a standalone secret or on the primary, the error names the call
/// and the secret and says what the secret is, before any change; in the replica's region the
/// replica becomes a standalone secret.
#[test]
fn promoting_a_secret_that_is_not_a_replica_says_why() {
    let moto = Moto::start();
    let project = Project::new();
    let eu = secretsmanager_client(&moto, "eu-west-1");
    block_on(
        eu.create_secret()
            .name(SECRET)
            .secret_string(SECRET_VALUE)
            .send(),
    )
    .expect("CreateSecret");

    let err = eval_err(
        &project,
        &moto,
        LOCAL_EU,
        &format!(r#"aws::secretsmanager::stop_replication_to_replica("{SECRET}")"#),
    );
    assert!(
        err.contains(&format!(
            "`StopReplicationToReplica` on `{SECRET}` failed: the secret in `eu-west-1` is not a replica: it is a standalone secret with no replicas"
        )) && err.contains("nothing to promote"),
        "{err}"
    );
    assert!(!err.contains(SECRET_VALUE), "{err}");
    // The emulator refuses it too, as AWS does (a client error, not a bare 500).
    let refused = block_on(eu.stop_replication_to_replica().secret_id(SECRET).send())
        .expect_err("StopReplicationToReplica on a standalone secret");
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidRequestException"),
        "{refused:?}"
    );

    // A primary with a replica: refused in the primary's region, done in the replica's.
    let replicated = "examplepay/local/verbs-replicated";
    block_on(
        secretsmanager_client(&moto, "us-east-1")
            .create_secret()
            .name(replicated)
            .secret_string(SECRET_VALUE)
            .add_replica_regions(ReplicaRegionType::builder().region("eu-west-1").build())
            .send(),
    )
    .expect("CreateSecret with a replica");
    let err = eval_err(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::secretsmanager::stop_replication_to_replica("{replicated}")"#),
    );
    assert!(
        err.contains(&format!(
            "`StopReplicationToReplica` on `{replicated}` failed: the secret in `us-east-1` is not a replica: it is the primary, with replicas in `eu-west-1`"
        )),
        "{err}"
    );
    let promoted = eval_ok(
        &project,
        &moto,
        LOCAL_EU,
        &format!(r#"aws::secretsmanager::stop_replication_to_replica("{replicated}")"#),
    );
    let here = block_on(eu.describe_secret().secret_id(replicated).send()).expect("DescribeSecret");
    assert_eq!(here.primary_region(), None, "standalone now: {here:?}");
    assert_eq!(promoted["arn"], here.arn().expect("an ARN"), "{promoted}");
    assert!(
        here.arn().is_some_and(|a| a.contains(":eu-west-1:")),
        "{here:?}"
    );
}

/// Regression: `replicate` skipped a region listed in the primary's replication even when that
/// replication had failed (a secret of that name was already there), so the failback's
/// `replicate(.., #{force_overwrite: true})` after such a failure did nothing. A failed region is
/// now dropped from the replication and added again.
#[test]
fn replicate_retries_a_region_whose_replication_failed() {
    let moto = Moto::start();
    let project = Project::new();
    let name = "examplepay/local/verbs-failed";
    let (us, eu) = (
        secretsmanager_client(&moto, "us-east-1"),
        secretsmanager_client(&moto, "eu-west-1"),
    );
    block_on(async {
        eu.create_secret()
            .name(name)
            .secret_string("dr-value")
            .send()
            .await
            .expect("CreateSecret in eu-west-1");
        us.create_secret()
            .name(name)
            .secret_string("primary-value")
            .send()
            .await
            .expect("CreateSecret in us-east-1");
    });

    // Without force_overwrite the secret already in eu-west-1 makes the replication fail.
    let first = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(r#"aws::secretsmanager::replicate("{name}", ["eu-west-1"])"#),
    );
    assert_eq!(first["replication"][0]["region"], "eu-west-1", "{first}");
    assert_eq!(first["replication"][0]["status"], "Failed", "{first}");

    let again = eval_ok(
        &project,
        &moto,
        LOCAL_US,
        &format!(
            r#"aws::secretsmanager::replicate("{name}", ["eu-west-1"], #{{force_overwrite: true}});
               aws::secretsmanager::wait_replicated("{name}", 60)"#
        ),
    );
    assert_eq!(again["replication"][0]["status"], "InSync", "{again}");
    let primary = block_on(us.describe_secret().secret_id(name).send()).expect("DescribeSecret");
    let listed: Vec<(Option<&str>, Option<&str>)> = primary
        .replication_status()
        .iter()
        .map(|r| (r.region(), r.status().map(|s| s.as_str())))
        .collect();
    assert_eq!(listed, [(Some("eu-west-1"), Some("InSync"))], "one replica");
    let here = block_on(eu.describe_secret().secret_id(name).send()).expect("DescribeSecret");
    assert_eq!(here.primary_region(), Some("us-east-1"), "{here:?}");
    let value = block_on(eu.get_secret_value().secret_id(name).send()).expect("GetSecretValue");
    assert_eq!(value.secret_string(), Some("primary-value"));
}

/// The DR moves of a runbook in a dry run: reads happen, every mutating verb prints what it would
/// do, and nothing changes.
#[test]
fn a_dry_run_changes_nothing() {
    let moto = Moto::start();
    let project = Project::new();
    create_cluster_and_nodegroup(&moto);
    let id = create_health_check(&moto, "ingress-us-east-1");
    project.write(
        "scripts/runbooks/drain.rhai",
        format!(
            r#"
runbook(#{{ name: "drain", summary: "Scale and drain (verbs test)" }});
step("Scale", || {{
    let u = aws::eks::update_nodegroup_scaling("{CLUSTER}", "{NODEGROUP}", #{{max_size: 4, desired_size: 3}});
    if !u.dry_run {{ throw "not a dry run"; }}
}});
step("Drain", || {{
    let hc = aws::route53::list_health_checks().filter(|c| c.name == "ingress-us-east-1")[0];
    aws::route53::update_health_check(hc.id, #{{inverted: true}});
}});
"#
        ),
    );
    let out = eprun(
        &project,
        &[
            "run",
            "scripts/runbooks/drain.rhai",
            "--env",
            LOCAL_US,
            "--dry-run",
        ],
    )
    .moto(&moto)
    .run();
    out.expect_success().expect_no_panic();
    assert!(
        out.stderr.contains(&format!(
            "would UpdateNodegroupConfig {CLUSTER}/{NODEGROUP}: min_size 1, max_size 2→4, desired_size 1→3"
        )),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!(
            "would UpdateHealthCheck {id}: inverted false→true"
        )),
        "{out}"
    );
    assert_eq!(sizes(&moto), (Some(1), Some(2), Some(1)));
    assert_eq!(health_check_config(&moto, &id).inverted(), Some(false));
}
