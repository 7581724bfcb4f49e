//! A us-east-1 outage, played by a proxy that fails every request signed for us-east-1 (Route 53
//! and IAM included, as they sign for it) and counts the rest: the failover with
//! `primary_reachable=false` runs from eu-west-1 alone. The team state of both stacks is in S3, a
//! bucket per region; the primary's outputs come from the DR copy its apply wrote to the
//! eu-west-1 bucket, and traffic moves through the rotation alarm in eu-west-1.

use crate::dr_support::*;
use crate::region_proxy::RegionProxy;
use crate::support::*;

/// Switches both local environments to the S3 backend, a bucket in each region (made here).
fn team_state_in_s3(project: &Project, moto: &Moto) {
    for (env, region) in [(LOCAL_US, "us-east-1"), (LOCAL_EU, "eu-west-1")] {
        let bucket = format!("examplepay-local-state-{region}");
        project.edit(format!("environments/{env}.toml"), |text| {
            text.replace(
                "[state]\nbackend = \"local\"",
                &format!(
                    "[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\nkey = \"{env}.json\"\nregion = \"{region}\""
                ),
            )
        });
        let s3 = s3_client(moto, region);
        let create = s3
            .create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                    .build(),
            );
        let create = if region == "us-east-1" {
            s3.create_bucket().bucket(&bucket)
        } else {
            create
        };
        block_on(create.send()).unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e:?}"));
    }
}

/// The requests `kube` served to clients that are neither its own components nor these tests'
/// helpers: what eprun (or Helm) sent it, from its audit log.
fn outside_requests(kube: &crate::kube_support::ControlPlane) -> usize {
    let audit = kube.audit();
    let outside = audit.iter().filter(|e| {
        let user = e["user"]["username"].as_str().unwrap_or_default();
        !user.starts_with("system:") && e["userAgent"].as_str() != Some("eprun-tests")
    });
    outside.count()
}

/// The health check a record in the zone follows, for `region`'s latency record.
fn record_check(moto: &Moto, region: &str) -> String {
    let r53 = route53_client(moto, "us-east-1");
    block_on(async {
        let zones = r53
            .list_hosted_zones()
            .send()
            .await
            .expect("ListHostedZones");
        let zone = zones
            .hosted_zones()
            .first()
            .expect("the zone")
            .id()
            .to_string();
        let records = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .expect("ListResourceRecordSets");
        records
            .resource_record_sets()
            .iter()
            .find(|r| r.set_identifier() == Some(region))
            .and_then(|r| r.health_check_id())
            .unwrap_or_else(|| panic!("no latency record for {region}"))
            .to_string()
    })
}

#[test]
fn failover_during_a_us_east_1_outage_asks_nothing_of_us_east_1() {
    let moto = Moto::start();
    let proxy = RegionProxy::start(&moto.endpoint());
    let project = Project::new();
    team_state_in_s3(&project, &moto);
    apply_both(&project, &moto, Some(&proxy.endpoint()));
    let (us, eu) = (&moto.clusters().us, &moto.clusters().eu);
    rollout_ready(us, 6);
    rollout_ready(eu, 6);
    seed_dr_image(&moto);

    // The primary's apply wrote its DR copy to the eu-west-1 bucket.
    let copy = block_on(
        s3_client(&moto, "eu-west-1")
            .get_object()
            .bucket("examplepay-local-state-eu-west-1")
            .key("dr-copy/local/us-east-1.json")
            .send(),
    );
    assert!(
        copy.is_ok(),
        "the DR copy is in the eu-west-1 bucket: {copy:?}"
    );
    let names: Vec<String> = {
        let out = eprun(
            &project,
            &["outputs", US_SCRIPT, "--env", LOCAL_US, "--json"],
        )
        .moto(&moto)
        .run();
        out.expect_success();
        let names = out.json()["secret_names"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    };
    assert!(!names.is_empty(), "the primary declares secrets");

    proxy.take_down("us-east-1");
    let primary_cluster_before = outside_requests(us);
    assert!(
        primary_cluster_before > 0,
        "the applies reached the primary cluster, and its audit counts them"
    );
    let over = eprun(
        &project,
        &[
            "run",
            FAILOVER,
            "--env",
            LOCAL_EU,
            "--yes",
            "--param",
            "primary_reachable=false",
            "--param",
            "verify_dns=false",
        ],
    )
    .moto(&moto)
    .env("AWS_ENDPOINT_URL", &proxy.endpoint())
    .run();
    over.expect_success().expect_no_panic();
    assert_eq!(
        proxy.count_since_down("us-east-1"),
        0,
        "no request to us-east-1 during the outage: {:?}\n{over}",
        proxy.requests_since_down()
    );
    let by_region = proxy.by_region();
    assert!(
        by_region.get("eu-west-1").copied().unwrap_or(0) > 10,
        "the failover worked through the proxy, in eu-west-1: {by_region:?}"
    );
    assert!(
        over.stderr
            .contains("unreachable: using its environment file"),
        "{over}"
    );
    assert!(
        over.stderr
            .contains("– irsa-roles: IAM answers from us-east-1"),
        "{over}"
    );

    // Independent reads, straight from moto. Traffic: the primary's rotation alarm is in ALARM,
    // the DR region's is not, and the primary's record follows a calculated check that combines
    // its HTTPS check with a check of that alarm in eu-west-1.
    assert_eq!(rotation_state(&moto, "us-east-1"), "ALARM");
    assert_ne!(rotation_state(&moto, "eu-west-1"), "ALARM");
    let r53 = route53_client(&moto, "us-east-1");
    let config = |id: &str| {
        block_on(r53.get_health_check().health_check_id(id).send())
            .expect("GetHealthCheck")
            .health_check()
            .and_then(|h| h.health_check_config())
            .cloned()
            .expect("a config")
    };
    let serving = config(&record_check(&moto, "us-east-1"));
    assert_eq!(serving.r#type().as_str(), "CALCULATED");
    assert_eq!(serving.health_threshold(), Some(2));
    let alarm_checks: Vec<_> = serving
        .child_health_checks()
        .iter()
        .map(|id| config(id))
        .filter(|c| c.r#type().as_str() == "CLOUDWATCH_METRIC")
        .collect();
    assert_eq!(
        alarm_checks.len(),
        1,
        "one child follows the rotation alarm"
    );
    let alarm = alarm_checks[0]
        .alarm_identifier()
        .expect("the alarm it follows");
    assert_eq!(
        (alarm.region().as_str(), alarm.name()),
        ("eu-west-1", "api-examplepay-test-us-east-1-in-rotation")
    );

    // Capacity: the DR node group and payment-service at the primary's (from its file).
    let group = block_on(
        eks_client(&moto, "eu-west-1")
            .describe_nodegroup()
            .cluster_name("examplepay-local-eu")
            .nodegroup_name("system")
            .send(),
    )
    .expect("DescribeNodegroup");
    let scaling = group
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .expect("scaling");
    assert_eq!(
        scaling.desired_size(),
        Some(2),
        "the primary's desired size"
    );
    assert_eq!(eu.get(ROLLOUT).unwrap()["spec"]["replicas"], 6);

    // Secrets: every replica here is a standalone secret now.
    let sm = secretsmanager_client(&moto, "eu-west-1");
    for name in &names {
        let here = block_on(sm.describe_secret().secret_id(name).send()).expect("DescribeSecret");
        assert_eq!(here.primary_region(), None, "{name} is promoted");
    }

    // `runs show` measures the failover against the DR environment's RTO.
    let shown = recovery_report(&project, &finished_id(&over));
    assert!(shown.stdout.contains("traffic moved"), "{shown}");
}
