//! `dr-readiness`: read-only, it passes on the applied local stacks and fails, naming the check,
//! when the DR node group is too small, a secret replica is missing, or the DR copy of the
//! primary's outputs is stale.

use crate::dr_support::*;
use crate::support::*;

/// Runs dr-readiness with `--json`.
fn readiness(project: &Project, moto: &Moto) -> Output {
    run_dr(project, moto, READINESS, &["--json"])
}

/// The one check that fails, with its detail; the others pass.
fn only_failing(out: &Output) -> (String, String) {
    out.expect_code(1);
    let failing: Vec<(String, String)> = checks(out)
        .into_iter()
        .filter(|(_, (status, _))| status == "fail")
        .map(|(name, (_, detail))| (name, detail))
        .collect();
    assert_eq!(
        failing.len(),
        1,
        "exactly one check fails: {failing:?}\n{out}"
    );
    let (name, detail) = failing[0].clone();
    assert!(
        out.stderr.contains(&format!("✗ {name}: ")),
        "the failing check is named on stderr\n{out}"
    );
    (name, detail)
}

fn scale_dr_node_group(moto: &Moto, min: i32, desired: i32) {
    let scaling = aws_sdk_eks::types::NodegroupScalingConfig::builder()
        .min_size(min)
        .max_size(2)
        .desired_size(desired)
        .build();
    block_on(
        eks_client(moto, "eu-west-1")
            .update_nodegroup_config()
            .cluster_name("examplepay-local-eu")
            .nodegroup_name("system")
            .scaling_config(scaling)
            .send(),
    )
    .expect("UpdateNodegroupConfig");
}

#[test]
fn readiness_passes_on_the_applied_stacks_and_names_each_failure() {
    let moto = Moto::start();
    let project = Project::new();
    ready_pair(&project, &moto, 1);

    let ok = readiness(&project, &moto);
    ok.expect_success().expect_no_panic();
    let all = checks(&ok);
    for name in [
        "cluster",
        "node-group",
        "payment-service",
        "outputs-copy",
        "node-pools",
        "ec2-quota",
        "secrets",
        "images",
        "irsa-roles",
        "rotation",
    ] {
        let (status, detail) = all
            .get(name)
            .unwrap_or_else(|| panic!("no `{name}` check\n{ok}"));
        assert_eq!(status, "pass", "`{name}` passes: {detail}\n{ok}");
    }
    assert!(
        ok.stderr
            .contains("✓ ec2-quota: 1152 vCPUs allowed, 454 needed"),
        "{ok}"
    );
    let mutations = ok.json()["steps"].to_string();
    assert!(!mutations.contains("\"Mutation\""), "read-only");

    // The DR node group is scaled below its warm standby.
    scale_dr_node_group(&moto, 0, 0);
    let small = readiness(&project, &moto);
    let (name, detail) = only_failing(&small);
    assert_eq!(name, "node-group");
    assert!(
        detail.contains("runs 0 nodes, fewer than the 1"),
        "{detail}"
    );
    scale_dr_node_group(&moto, 1, 1);

    // A secret's replica in the DR region is gone.
    let out = eprun(
        &project,
        &["outputs", US_SCRIPT, "--env", LOCAL_US, "--json"],
    )
    .run();
    let secret = out.json()["secret_names"][0]
        .as_str()
        .unwrap_or_else(|| panic!("a secret name\n{out}"))
        .to_string();
    let primary = secretsmanager_client(&moto, "us-east-1");
    block_on(
        primary
            .remove_regions_from_replication()
            .secret_id(&secret)
            .remove_replica_regions("eu-west-1")
            .send(),
    )
    .expect("RemoveRegionsFromReplication");
    let unreplicated = readiness(&project, &moto);
    let (name, detail) = only_failing(&unreplicated);
    assert_eq!(name, "secrets");
    assert!(detail.contains(&secret), "{detail}");
    block_on(
        primary
            .replicate_secret_to_regions()
            .secret_id(&secret)
            .add_replica_regions(
                aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                    .region("eu-west-1")
                    .build(),
            )
            .send(),
    )
    .expect("ReplicateSecretToRegions");
    readiness(&project, &moto).expect_success();

    // The copy of the primary's outputs lags its state: an apply wrote a newer state, and the
    // copy here is the one before it.
    let copy_path = project.join(".eprun/state/dr-copy/local/us-east-1.json");
    let before = std::fs::read_to_string(&copy_path).expect("the DR copy is written by the apply");
    project.edit(US_SCRIPT, |text| {
        format!("{text}\noutput(\"drill_marker\", \"one\");\n")
    });
    eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run()
        .expect_success();
    std::fs::write(&copy_path, before).expect("put the older copy back");
    let stale = readiness(&project, &moto);
    let (name, detail) = only_failing(&stale);
    assert_eq!(name, "outputs-copy");
    assert!(
        detail.contains("apply local/us-east-1 to write it again"),
        "{detail}"
    );
}
