//! `kill -9` in the middle of an apply: the next run converges to the same infrastructure with
//! nothing created twice, and the lock of the dead run does not block anyone. A second run while
//! the first one holds the lock is refused.

use std::time::Duration;

use crate::support::*;

/// Starts an apply of the primary stack on moto and kills it (SIGKILL) once its state file
/// records at least `k` resources, or lets it finish if it gets there first. Returns whether
/// it was killed, and how many resources the state recorded at that moment.
fn apply_and_kill_after(project: &Project, moto: &Moto, k: usize) -> (bool, usize) {
    let run = eprun(project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(moto)
        .spawn();
    let recorded = poll_until(
        APPLY_TIMEOUT,
        &format!("the state to record {k} resources"),
        || run_context(project, &run),
        || {
            let n = project.state_resource_count(LOCAL_US);
            (n >= k || run.finished()).then_some(n)
        },
    );
    let killed = run.kill();
    (killed, recorded)
}

fn run_context(project: &Project, run: &Running) -> String {
    format!(
        "{}\nstate records {} resources",
        run.context(),
        project.state_resource_count(LOCAL_US)
    )
}

/// After an interrupted apply, a second apply must finish and leave exactly one of everything.
fn rerun_converges_without_duplicates(k: usize) {
    let moto = Moto::start();
    let project = Project::new();
    let (killed, recorded) = apply_and_kill_after(&project, &moto, k);
    eprintln!("round k={k}: killed={killed}, state recorded {recorded} resources at that moment");

    let rerun = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    rerun.expect_success().expect_no_panic();

    let inv = Inventory::read(&moto, "us-east-1", LOCAL_US);
    let what = format!("(killed after {recorded} recorded resources)\n{rerun}");
    inv.assert_one_network(&moto, "us-east-1", &what);
    let route_count: usize = inv
        .route_tables
        .iter()
        .map(|rt| {
            rt.routes()
                .iter()
                .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .count()
        })
        .sum();
    assert_eq!(route_count, 4, "one default route per route table {what}");

    // And the stack has converged: nothing left to do.
    let plan = eprun(
        &project,
        &["plan", US_SCRIPT, "--env", LOCAL_US, "--detailed-exitcode"],
    )
    .moto(&moto)
    .run();
    plan.expect_code(0);
}

#[test]
fn apply_killed_after_first_resource_reruns_without_duplicates() {
    rerun_converges_without_duplicates(1);
}

#[test]
fn apply_killed_after_5_resources_reruns_without_duplicates() {
    rerun_converges_without_duplicates(5);
}

#[test]
fn apply_killed_after_15_resources_reruns_without_duplicates() {
    rerun_converges_without_duplicates(15);
}

#[test]
fn lock_of_a_killed_apply_does_not_block_the_next_run() {
    let moto = Moto::start();
    let project = Project::new();
    let (killed, recorded) = apply_and_kill_after(&project, &moto, 1);
    assert!(
        killed,
        "the apply finished before it recorded one resource ({recorded}): nothing to test"
    );

    // The dead process's OS lock is gone with it; its lock record may remain but must not block.
    let plan = eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    plan.expect_success();
    assert!(
        !plan.stderr.contains("locked by"),
        "a killed run's lock must not block the next one\n{plan}"
    );
    let apply = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    apply.expect_success();
    assert!(
        !apply.stderr.contains("locked by"),
        "a killed run's lock must not block the next one\n{apply}"
    );
}

/// How the lock is held for long enough to observe, without timing: an apply on moto may finish
/// in a second, so racing a plan against a running `apply --yes` would be flaky. Instead the
/// holder is a real `eprun apply` (no `--yes`) whose stdin is a terminal (a pty made by a small
/// Python helper): it plans, then waits at its confirmation prompt, holding the lock for as long
/// as the test does not answer. Once its plan is printed, the lock is certainly held.
#[test]
fn plan_is_refused_while_an_apply_holds_the_lock() {
    let moto = Moto::start();
    let project = Project::new();
    let mut holder = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .spawn_with_tty();
    poll_until(
        Duration::from_secs(120),
        "the apply to print its plan and ask for confirmation",
        || holder.context(),
        || (holder.stdout_so_far().contains("Plan:") || holder.finished()).then_some(()),
    );
    assert!(
        !holder.finished(),
        "the apply (stdin a terminal) should wait at its prompt\n{}",
        holder.context()
    );

    let second = eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    second.expect_code(1).expect_no_panic();
    assert!(
        second.stderr.contains("locked by"),
        "a second run must be refused while the lock is held\n{second}"
    );
    assert!(
        second.stderr.contains("`apply`"),
        "the refusal must name the holder's operation `apply`\n{second}"
    );
    assert!(
        !holder.finished(),
        "the holder should still be waiting\n{}",
        holder.context()
    );

    // Anything but `yes` changes nothing, and the lock goes with the holder.
    holder.answer("no\n");
    let held = holder.wait(Duration::from_secs(60));
    held.expect_success();
    let inv = Inventory::read(&moto, "us-east-1", LOCAL_US);
    assert!(
        inv.is_empty(),
        "answering `no` must change nothing, yet the stack owns {}\n{held}",
        inv.summary()
    );
    let after = eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    after.expect_success();
}

/// Regression: an apply killed between `CreateBucket` and `PutBucketTagging` leaves a bucket
/// without its ownership tags and a pending entry in state. The next apply adopts the bucket by
/// name, and must then give it the `eprun:stack`, `eprun:address` and `Name` tags; otherwise a
/// lost state could never find it again. The crash is reproduced exactly: the bucket is made
/// untagged with the SDK, and the state holds the pending entry the applier writes before a create.
#[test]
fn bucket_created_before_a_crash_gets_its_ownership_tags_on_the_next_apply() {
    use sha2::Digest;
    let moto = Moto::start();
    let project = Project::new();
    let bucket = "examplepay-local-vpc-flow-logs-us-east-1";
    let address = "s3.bucket.examplepay-local-flow-logs";
    let s3 = s3_client(&moto, "us-east-1");
    block_on(s3.create_bucket().bucket(bucket).send()).expect("CreateBucket");

    let state = serde_json::json!({
        "version": 1,
        "stack": LOCAL_US,
        "serial": 1,
        "lineage": "5b1c1c0e-7d0a-4c55-9a51-0c6d1f3e2a10",
        "resources": {
            address: {
                "kind": "s3.bucket",
                "region": "us-east-1",
                "status": "pending",
                "natural_key": bucket,
                "props": {}, "attrs": {}, "deps": [], "protect": false, "ignore_changes": []
            }
        },
        "outputs": {}
    });
    let text = serde_json::to_string(&state).expect("state text");
    let sum: String = sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let envelope = serde_json::json!({ "format": "eprun-state", "checksum": format!("sha256:{sum}"), "state": state });
    project.write(
        project.state_path(LOCAL_US),
        serde_json::to_string_pretty(&envelope).expect("envelope"),
    );

    let out = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    out.expect_success().expect_no_panic();

    let tags = block_on(s3.get_bucket_tagging().bucket(bucket).send()).expect("GetBucketTagging");
    let tag = |k: &str| {
        tags.tag_set()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_string())
    };
    let all: Vec<String> = tags
        .tag_set()
        .iter()
        .map(|t| format!("{}={}", t.key(), t.value()))
        .collect();
    assert_eq!(
        tag("eprun:stack").as_deref(),
        Some(LOCAL_US),
        "the adopted bucket must carry eprun:stack; its tags: {all:?}\n{out}"
    );
    assert_eq!(
        tag("eprun:address").as_deref(),
        Some(address),
        "the adopted bucket must carry eprun:address; its tags: {all:?}\n{out}"
    );
    assert!(
        tag("Name").is_some(),
        "the adopted bucket must carry a Name tag; its tags: {all:?}\n{out}"
    );
    let inv = Inventory::read(&moto, "us-east-1", LOCAL_US);
    assert_eq!(
        inv.buckets,
        vec![bucket.to_string()],
        "exactly the one bucket, found by its tags: {}\n{out}",
        inv.summary()
    );
}
