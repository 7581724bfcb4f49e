//! The DR runbooks on the applied local stacks: a dry run and a run without `--yes` change
//! nothing, a failing step is resumed, the failover's effects are seen through independent reads,
//! and the failback restores everything so both stacks plan empty.

use crate::support::*;
use serde_json::{Value, json};

const FAILOVER: &str = "scripts/runbooks/dr-failover.rhai";
const FAILBACK: &str = "scripts/runbooks/dr-failback.rhai";
const DR: &str = "local/eu-west-1";
const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service";

fn apply_both(project: &Project, moto: &Moto) {
    for (script, env) in [
        ("scripts/prod/us-east-1.rhai", "local/us-east-1"),
        ("scripts/prod/eu-west-1.rhai", DR),
    ] {
        eprun(project, &["apply", script, "--env", env, "--yes"])
            .moto(moto)
            .run()
            .expect_success();
    }
}

/// Plays the Argo Rollouts controller: the rollout is healthy with `ready` pods.
fn rollout_ready(kube: &crate::kube_support::KubeEmulator, ready: i64) {
    kube.patch_status(
        ROLLOUT,
        &json!({"phase": "Healthy", "message": "", "replicas": ready, "readyReplicas": ready, "availableReplicas": ready}),
    );
}

/// Everything the failover may touch, read without eprun.
fn snapshot(moto: &Moto) -> Value {
    let eks = eks_client(moto, "eu-west-1");
    let route53 = route53_client(moto, "us-east-1");
    let (group, checks) = block_on(async {
        let group = eks
            .describe_nodegroup()
            .cluster_name("examplepay-local-eu")
            .nodegroup_name("system")
            .send()
            .await
            .expect("describe the DR node group");
        let checks = route53
            .list_health_checks()
            .send()
            .await
            .expect("list health checks");
        (group, checks)
    });
    let scaling = group
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .expect("scaling");
    let mut inverted: Vec<(String, bool)> = checks
        .health_checks()
        .iter()
        .map(|c| {
            (
                c.id().to_string(),
                c.health_check_config()
                    .and_then(|h| h.inverted())
                    .unwrap_or(false),
            )
        })
        .collect();
    inverted.sort();
    let eu = &moto.clusters().eu;
    let pools: Vec<Value> = ["payments", "batch", "gpu"]
        .iter()
        .map(|p| {
            eu.get(&format!("/apis/karpenter.sh/v1/nodepools/{p}"))
                .unwrap()["spec"]["limits"]
                .clone()
        })
        .collect();
    json!({
        "node_group": [scaling.min_size(), scaling.max_size(), scaling.desired_size()],
        "health_checks": inverted,
        "pools": pools,
        "replicas": eu.get(ROLLOUT).unwrap()["spec"]["replicas"],
    })
}

fn primary_health_check(project: &Project) -> String {
    let out = eprun(
        project,
        &[
            "outputs",
            "scripts/prod/us-east-1.rhai",
            "--env",
            "local/us-east-1",
            "--json",
        ],
    )
    .run();
    out.expect_success();
    out.json()["health_check_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no health_check_id\n{out}"))
        .to_string()
}

fn run(project: &Project, moto: &Moto, script: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", script, "--env", DR, "--param", "verify_dns=false"];
    args.extend_from_slice(extra);
    eprun(project, &args).moto(moto).run()
}

fn run_id(out: &Output) -> String {
    let text = out.all();
    let at = text
        .find("--resume ")
        .unwrap_or_else(|| panic!("no resume hint\n{out}"));
    text[at + 9..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn failover_then_failback_on_the_applied_stacks() {
    let moto = Moto::start();
    let project = Project::new();
    apply_both(&project, &moto);
    let (us, eu) = (&moto.clusters().us, &moto.clusters().eu);
    rollout_ready(us, 6);
    rollout_ready(eu, 2);
    let before = snapshot(&moto);
    assert_eq!(before["replicas"], 2, "the DR region is a warm standby");

    // A dry run reads for real and changes nothing anywhere.
    let dry = run(&project, &moto, FAILOVER, &["--dry-run", "--yes"]);
    dry.expect_success();
    assert!(dry.stderr.contains("would UpdateHealthCheck"), "{dry}");
    assert!(dry.stderr.contains("would scale"), "{dry}");
    assert_eq!(snapshot(&moto), before, "a dry run changes nothing\n{dry}");

    // Without a terminal and without --yes, the run stops at its first confirm.
    let refused = run(&project, &moto, FAILOVER, &[]);
    refused.expect_code(1);
    assert!(refused.stderr.contains("--yes"), "{refused}");
    assert_eq!(
        snapshot(&moto),
        before,
        "nothing changed before the first confirm"
    );

    // The controller is slow: the scaling step times out, and the run says how to resume.
    let failed = run(
        &project,
        &moto,
        FAILOVER,
        &["--yes", "--param", "timeout=2"],
    );
    failed.expect_code(1);
    let id = run_id(&failed);
    let primary_check = primary_health_check(&project);
    let route53 = route53_client(&moto, "us-east-1");
    let inverted = |id: &str| {
        block_on(route53.get_health_check().health_check_id(id).send())
            .expect("get the health check")
            .health_check()
            .and_then(|c| c.health_check_config())
            .and_then(|c| c.inverted())
            .unwrap_or(false)
    };
    assert!(
        !inverted(&primary_check),
        "traffic was not moved by the failed run"
    );

    // The controller catches up; the resumed run skips what was done and finishes.
    rollout_ready(eu, 6);
    let resumed = eprun(
        &project,
        &["run", FAILOVER, "--env", DR, "--resume", &id, "--yes"],
    )
    .moto(&moto)
    .run();
    resumed.expect_success();
    assert!(
        resumed.stderr.contains("skipped"),
        "done steps are skipped\n{resumed}"
    );

    // Independent reads: traffic drained from the primary, DR raised to the primary's capacity.
    assert!(
        inverted(&primary_check),
        "the primary's health check is inverted"
    );
    let after = snapshot(&moto);
    assert_eq!(
        after["replicas"], 6,
        "payment-service at the primary's replicas\n{after}"
    );
    assert_eq!(
        after["pools"][0]["cpu"], "256",
        "payments pool at the primary's limits\n{after}"
    );
    assert_eq!(
        after["node_group"][2], 2,
        "node group at the primary's desired size\n{after}"
    );

    // Both runs are in the journal.
    let runs = eprun(&project, &["runs", "list"]).run();
    runs.expect_success();
    assert!(runs.stdout.contains(&id), "{runs}");

    // Failback: traffic returns, the DR region shrinks, and both stacks plan empty.
    rollout_ready(eu, 2);
    let back = run(&project, &moto, FAILBACK, &["--yes"]);
    back.expect_success();
    assert!(
        !inverted(&primary_check),
        "the primary's health check is restored"
    );
    let restored = snapshot(&moto);
    assert_eq!(restored["replicas"], before["replicas"]);
    assert_eq!(restored["pools"], before["pools"]);
    assert_eq!(restored["node_group"], before["node_group"]);
    for (script, env) in [
        ("scripts/prod/us-east-1.rhai", "local/us-east-1"),
        ("scripts/prod/eu-west-1.rhai", DR),
    ] {
        let plan = eprun(
            &project,
            &["plan", script, "--env", env, "--detailed-exitcode"],
        )
        .moto(&moto)
        .run();
        assert_eq!(
            plan.code, 0,
            "`{env}` plans empty after the failback\n{plan}"
        );
    }
}
