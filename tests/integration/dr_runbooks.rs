//! The DR runbooks on the applied local stacks: a dry run and a run without `--yes` change
//! nothing, a failing step is resumed, the failover's effects are seen through independent reads,
//! and the failback restores everything so both stacks plan empty.

use crate::dr_support::*;
use crate::support::*;
use serde_json::{Value, json};

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
        "rotation": [rotation_state(moto, "us-east-1"), rotation_state(moto, "eu-west-1")],
        "pools": pools,
        "replicas": eu.get(ROLLOUT).unwrap()["spec"]["replicas"],
    })
}

#[test]
fn failover_then_failback_on_the_applied_stacks() {
    let moto = Moto::start();
    let project = Project::new();
    ready_pair(&project, &moto, 2);
    let eu = &moto.clusters().eu;
    let before = snapshot(&moto);
    assert_eq!(before["replicas"], 2, "the DR region is a warm standby");

    // A dry run reads for real and changes nothing anywhere.
    let dry = run_dr(&project, &moto, FAILOVER, &["--dry-run", "--yes"]);
    dry.expect_success();
    assert!(dry.stderr.contains("would SetAlarmState"), "{dry}");
    assert!(dry.stderr.contains("would scale"), "{dry}");
    assert_eq!(snapshot(&moto), before, "a dry run changes nothing\n{dry}");

    // Without a terminal and without --yes, the run stops at its first confirm.
    let refused = run_dr(&project, &moto, FAILOVER, &[]);
    refused.expect_code(1);
    assert!(refused.stderr.contains("--yes"), "{refused}");
    assert_eq!(
        snapshot(&moto),
        before,
        "nothing changed before the first confirm"
    );

    // The controller is slow: the scaling step times out, and the run says how to resume.
    let failed = run_dr(
        &project,
        &moto,
        FAILOVER,
        &["--yes", "--param", "timeout=2"],
    );
    failed.expect_code(1);
    let id = run_id(&failed);
    assert_ne!(
        rotation_state(&moto, "us-east-1"),
        "ALARM",
        "traffic was not moved by the failed run"
    );

    // The controller catches up; the resumed run skips what was done and finishes.
    rollout_ready(eu, 6);
    let resumed = eprun(
        &project,
        &["run", FAILOVER, "--env", LOCAL_EU, "--resume", &id, "--yes"],
    )
    .moto(&moto)
    .run();
    resumed.expect_success();
    assert!(
        resumed.stderr.contains("skipped"),
        "done steps are skipped\n{resumed}"
    );

    // Independent reads: the primary out of rotation, DR raised to the primary's capacity, and
    // no health check touched (traffic moves through the rotation alarms).
    let after = snapshot(&moto);
    assert_eq!(after["rotation"][0], "ALARM", "the primary is out\n{after}");
    assert_ne!(
        after["rotation"][1], "ALARM",
        "the DR region serves\n{after}"
    );
    assert_eq!(after["health_checks"], before["health_checks"]);
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
    let back = run_dr(&project, &moto, FAILBACK, &["--yes"]);
    back.expect_success();
    let restored = snapshot(&moto);
    assert_eq!(
        restored["rotation"][0], "OK",
        "the primary is back in rotation"
    );
    assert_eq!(restored["replicas"], before["replicas"]);
    assert_eq!(restored["pools"], before["pools"]);
    assert_eq!(restored["node_group"], before["node_group"]);
    for (env, plan) in plan_codes(&project, &moto) {
        assert_eq!(
            plan.code, 0,
            "`{env}` plans empty after the failback\n{plan}"
        );
    }
}

/// The primary's secret names, from its outputs.
fn secret_names(project: &Project) -> Vec<String> {
    let out = eprun(
        project,
        &["outputs", US_SCRIPT, "--env", LOCAL_US, "--json"],
    )
    .run();
    out.expect_success();
    let names: Vec<String> = out.json()["secret_names"]
        .as_array()
        .unwrap_or_else(|| panic!("no secret_names output\n{out}"))
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    assert!(!names.is_empty(), "the primary declares secrets\n{out}");
    names
}

/// A secret as Secrets Manager (moto) has it in `region`: its primary region (`None` when it is
/// not a replica), the regions it replicates to (with their status), its ARN and current value.
#[derive(Debug, PartialEq)]
struct SecretSeen {
    primary_region: Option<String>,
    replicas: Vec<(String, String)>,
    arn: String,
    value: String,
}

fn secret_in(moto: &Moto, region: &str, name: &str) -> SecretSeen {
    let sm = secretsmanager_client(moto, region);
    block_on(async {
        let d = sm
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeSecret {name} in {region}: {e:?}"));
        let v = sm
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetSecretValue {name} in {region}: {e:?}"));
        SecretSeen {
            primary_region: d.primary_region().map(str::to_string),
            replicas: d
                .replication_status()
                .iter()
                .map(|r| {
                    (
                        r.region().unwrap_or_default().to_string(),
                        r.status().map(|s| s.as_str()).unwrap_or("").to_string(),
                    )
                })
                .collect(),
            arn: d.arn().unwrap_or_default().to_string(),
            value: v.secret_string().unwrap_or_default().to_string(),
        }
    })
}

fn put_value(moto: &Moto, region: &str, name: &str, value: &str) {
    block_on(
        secretsmanager_client(moto, region)
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send(),
    )
    .unwrap_or_else(|e| panic!("PutSecretValue {name} in {region}: {e:?}"));
}

fn plan_code(project: &Project, moto: &Moto, script: &str, env: &str) -> Output {
    eprun(
        project,
        &["plan", script, "--env", env, "--detailed-exitcode"],
    )
    .moto(moto)
    .run()
}

/// The primary region is down: the failover promotes the DR region's secret replicas to standalone
/// secrets (StopReplicationToReplica, served by tests/support/moto_server.py), and the failback
/// replaces them with replicas of the primary again, so both stacks plan empty.
#[test]
fn failover_with_the_primary_down_promotes_the_secrets_and_failback_replicates_them_again() {
    let moto = Moto::start();
    let project = Project::new();
    // The DR controller is at the primary's replicas by the time the failover waits for them.
    ready_pair(&project, &moto, 6);
    let eu = &moto.clusters().eu;
    let names = secret_names(&project);
    let mut replica_arns = Vec::new();
    for name in &names {
        put_value(&moto, "us-east-1", name, &format!("{name}-v1"));
        let here = secret_in(&moto, "eu-west-1", name);
        assert_eq!(
            here.primary_region.as_deref(),
            Some("us-east-1"),
            "{name} starts as a replica in eu-west-1: {here:?}"
        );
        assert_eq!(here.value, format!("{name}-v1"), "{here:?}");
        replica_arns.push(here.arn);
    }

    let over = run_dr(
        &project,
        &moto,
        FAILOVER,
        &["--param", "primary_reachable=false", "--yes"],
    );
    over.expect_success().expect_no_panic();
    assert!(
        over.stderr
            .contains("unreachable: using its environment file"),
        "{over}"
    );

    // Independent reads: each eu-west-1 copy is standalone, same ARN and value; the primary no
    // longer replicates to eu-west-1; traffic is drained from the primary.
    for (name, arn) in names.iter().zip(&replica_arns) {
        assert!(
            over.stderr.contains(&format!(
                "{name} promoted to a standalone secret in eu-west-1"
            )),
            "{over}"
        );
        let here = secret_in(&moto, "eu-west-1", name);
        assert_eq!(here.primary_region, None, "{name} is standalone: {here:?}");
        assert_eq!(&here.arn, arn, "the promoted secret keeps its ARN");
        assert_eq!(here.value, format!("{name}-v1"), "same value: {here:?}");
        let primary = secret_in(&moto, "us-east-1", name);
        assert!(
            primary.replicas.iter().all(|(r, _)| r != "eu-west-1"),
            "the primary no longer lists eu-west-1: {primary:?}"
        );
        // Standalone, it takes writes of its own (a replica refuses them): rotated during the outage.
        put_value(&moto, "eu-west-1", name, &format!("{name}-rotated-in-dr"));
    }
    assert_eq!(
        rotation_state(&moto, "us-east-1"),
        "ALARM",
        "the primary is out"
    );
    let drifted = plan_code(&project, &moto, US_SCRIPT, LOCAL_US);
    assert_eq!(
        drifted.code, 2,
        "the primary's plan sees its missing replicas\n{drifted}"
    );

    // Failback: the primary's copies replace the promoted ones, and both stacks plan empty.
    rollout_ready(eu, 2);
    let back = run_dr(&project, &moto, FAILBACK, &["--yes"]);
    back.expect_success().expect_no_panic();
    for (name, arn) in names.iter().zip(&replica_arns) {
        let here = secret_in(&moto, "eu-west-1", name);
        assert_eq!(
            here.primary_region.as_deref(),
            Some("us-east-1"),
            "{name} is a replica of us-east-1 again: {here:?}"
        );
        assert_eq!(&here.arn, arn);
        assert_eq!(
            here.value,
            format!("{name}-v1"),
            "the primary's value wins over the one rotated in the DR region"
        );
        let primary = secret_in(&moto, "us-east-1", name);
        assert_eq!(
            primary.replicas,
            [("eu-west-1".to_string(), "InSync".to_string())],
            "{primary:?}"
        );
    }
    assert_eq!(
        rotation_state(&moto, "us-east-1"),
        "OK",
        "the primary is back"
    );
    for (script, env) in [(US_SCRIPT, LOCAL_US), (EU_SCRIPT, LOCAL_EU)] {
        let plan = plan_code(&project, &moto, script, env);
        assert_eq!(
            plan.code, 0,
            "`{env}` plans empty after the failback\n{plan}"
        );
    }
}

/// A drill: the failover and the failback on purpose, timed; `runs show` prints the time to
/// traffic moved and to capacity ready against the DR environment's RTO, and both stacks plan
/// empty afterwards.
#[test]
fn a_drill_records_its_recovery_time_against_the_rto_and_leaves_both_stacks_as_applied() {
    let moto = Moto::start();
    let project = Project::new();
    ready_pair(&project, &moto, 6);
    let drill = run_dr(&project, &moto, DRILL, &["--yes", "--param", "timeout=5"]);
    drill.expect_success().expect_no_panic();
    assert_eq!(
        rotation_state(&moto, "us-east-1"),
        "OK",
        "the primary serves again"
    );
    let id = finished_id(&drill);
    let journal = project.read(format!(".eprun/runs/{id}.jsonl"));
    for name in [
        "capacity ready",
        "traffic moved",
        "traffic returned",
        "drill complete",
    ] {
        let recorded = journal.lines().any(|l| {
            l.contains("\"type\":\"milestone\"") && l.contains(&format!("\"name\":\"{name}\""))
        });
        assert!(recorded, "milestone `{name}` in the journal\n{journal}");
    }
    let shown = recovery_report(&project, &id);
    for name in ["capacity ready", "traffic moved"] {
        let line = shown
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains("after the start"))
            .unwrap_or_else(|| panic!("no `{name}` line\n{shown}"));
        assert!(line.contains("within the RTO"), "{line}");
    }
    for (env, plan) in plan_codes(&project, &moto) {
        assert_eq!(plan.code, 0, "`{env}` plans empty after the drill\n{plan}");
    }
}
