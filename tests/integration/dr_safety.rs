//! The DR safety rules, each refusing with nothing changed: never both regions out of rotation
//! (checked before and after every step of the DR runbooks, and by `rotation::drain` in
//! `eprun eval`), never a failover to a region whose readiness fails unless `--force` gives a
//! reason (which the journal keeps), and a failback only when the primary's readiness passes.

use crate::dr_support::*;
use crate::support::*;
use serde_json::json;

/// `eprun eval CODE --env local/eu-west-1` on moto.
/// `eprun eval CODE --env local/eu-west-1` on moto, refused by the safety rule that says `rule`.
fn eval_refused(project: &Project, moto: &Moto, code: &str, rule: &str) {
    let out = eprun(project, &["eval", code, "--env", LOCAL_EU])
        .moto(moto)
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(out.stderr.contains(rule), "{out}");
}

fn set_alarm(moto: &Moto, region: &str, state: aws_sdk_cloudwatch::types::StateValue) {
    block_on(
        cloudwatch_client(moto, "eu-west-1")
            .set_alarm_state()
            .alarm_name(format!("api-examplepay-test-{region}-in-rotation"))
            .state_value(state)
            .state_reason("set by the test")
            .send(),
    )
    .expect("SetAlarmState");
}

#[test]
fn a_failover_to_a_region_that_is_not_ready_is_refused_unless_forced_with_a_reason() {
    let moto = Moto::start();
    let project = Project::new();
    ready_pair(&project, &moto, 6);
    // payment-service in the DR region is degraded.
    moto.clusters().eu.patch_status(
        ROLLOUT,
        &json!({"phase": "Degraded", "message": "ProgressDeadlineExceeded"}),
    );

    let refused = run_dr(&project, &moto, FAILOVER, &["--yes"]);
    refused.expect_code(1).expect_no_panic();
    assert!(
        refused
            .stderr
            .contains("refused: local/eu-west-1 is not ready"),
        "{refused}"
    );
    assert!(
        refused
            .stderr
            .contains("payment-service: payment-service is Degraded"),
        "{refused}"
    );
    assert!(
        refused.stderr.contains("--force"),
        "the way past it is named\n{refused}"
    );
    assert_ne!(rotation_state(&moto, "us-east-1"), "ALARM", "nothing moved");

    // The same rule holds in `eprun eval`.
    eval_refused(
        &project,
        &moto,
        "rotation::drain(\"local/us-east-1\")",
        "never move traffic to a region that is not ready",
    );
    assert_ne!(rotation_state(&moto, "us-east-1"), "ALARM");

    // Forced, with a reason: the failover runs, and the journal keeps why.
    let why = "game day: DR payment-service degraded on purpose";
    let forced = run_dr(&project, &moto, FAILOVER, &["--yes", "--force", why]);
    forced.expect_success();
    assert_eq!(rotation_state(&moto, "us-east-1"), "ALARM");
    let id = finished_id(&forced);
    let journal = project.read(format!(".eprun/runs/{id}.jsonl"));
    assert!(journal.contains(&format!("--force: {why}")), "{journal}");
    assert!(
        journal.contains("forced past failing readiness of local/eu-west-1"),
        "{journal}"
    );
}

#[test]
fn both_regions_out_and_a_failback_to_an_unready_primary_are_refused() {
    let moto = Moto::start();
    let project = Project::new();
    ready_pair(&project, &moto, 6);
    run_dr(&project, &moto, FAILOVER, &["--yes"]).expect_success();
    assert_eq!(rotation_state(&moto, "us-east-1"), "ALARM");

    // Draining the DR region now would leave DNS with no region: refused in eval.
    eval_refused(
        &project,
        &moto,
        "rotation::drain(\"local/eu-west-1\")",
        "never both regions out of rotation: `local/us-east-1` is out already",
    );
    assert_ne!(
        rotation_state(&moto, "eu-west-1"),
        "ALARM",
        "nothing changed"
    );

    // The primary's payment-service is degraded: the failback refuses before any change.
    moto.clusters().us.patch_status(
        ROLLOUT,
        &json!({"phase": "Degraded", "message": "ProgressDeadlineExceeded"}),
    );
    let back = run_dr(&project, &moto, FAILBACK, &["--yes"]);
    back.expect_code(1);
    assert!(
        back.stderr
            .contains("refused: local/us-east-1 is not ready"),
        "{back}"
    );
    assert_eq!(rotation_state(&moto, "us-east-1"), "ALARM", "still out");
    eval_refused(
        &project,
        &moto,
        "rotation::restore(\"local/us-east-1\")",
        "a region goes back in rotation only when it is ready",
    );
    assert_eq!(rotation_state(&moto, "us-east-1"), "ALARM");

    // Someone took the DR region out by hand as well: every DR runbook stops before its first
    // step, naming the broken invariant.
    set_alarm(
        &moto,
        "eu-west-1",
        aws_sdk_cloudwatch::types::StateValue::Alarm,
    );
    rollout_ready(&moto.clusters().us, 6);
    let stopped = run_dr(&project, &moto, FAILBACK, &["--yes"]);
    stopped.expect_code(1);
    assert!(
        stopped.stderr.contains("invariant fails before this step")
            && stopped.stderr.contains("no region is in rotation"),
        "{stopped}"
    );
}
