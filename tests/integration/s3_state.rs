//! The S3 state backend: the state object with its checksum and previous version, and a lock
//! object that a second run respects, that names its holder, and that cannot get stuck.

use std::time::Duration;

use crate::support::*;

const BUCKET: &str = "examplepay-local-state";
const KEY: &str = "local/us-east-1.json";

/// A project whose `local/us-east-1` stack keeps its state in S3, on a moto with the bucket made.
fn s3_project(moto: &Moto) -> Project {
    let project = Project::new();
    project.edit("environments/local/us-east-1.toml", |text| {
        text.replace(
            "[state]\nbackend = \"local\"",
            &format!("[state]\nbackend = \"s3\"\nbucket = \"{BUCKET}\"\nkey = \"{KEY}\""),
        )
    });
    assert!(
        project
            .read("environments/local/us-east-1.toml")
            .contains("backend = \"s3\""),
        "the env file was not switched to S3"
    );
    block_on(
        s3_client(moto, "us-east-1")
            .create_bucket()
            .bucket(BUCKET)
            .send(),
    )
    .expect("CreateBucket for the state");
    project
}

fn object(moto: &Moto, key: &str) -> Option<String> {
    let out = block_on(
        s3_client(moto, "us-east-1")
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send(),
    )
    .ok()?;
    let bytes = block_on(out.body.collect()).ok()?.into_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn put_lock(moto: &Moto, body: serde_json::Value) {
    block_on(
        s3_client(moto, "us-east-1")
            .put_object()
            .bucket(BUCKET)
            .key(format!("{KEY}.lock"))
            .body(body.to_string().into_bytes().into())
            .send(),
    )
    .expect("PutObject of a lock");
}

#[test]
fn second_apply_is_refused_while_the_first_holds_the_s3_lock() {
    let moto = Moto::start();
    let project = s3_project(&moto);
    let mut holder = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .spawn_with_tty();
    poll_until(
        Duration::from_secs(120),
        "the first apply to print its plan and wait at its prompt",
        || holder.context(),
        || (holder.stdout_so_far().contains("Plan:") || holder.finished()).then_some(()),
    );
    assert!(
        !holder.finished(),
        "the first apply should wait at its prompt\n{}",
        holder.context()
    );
    let lock =
        object(&moto, &format!("{KEY}.lock")).expect("the lock object exists while the apply runs");
    assert!(
        lock.contains("\"operation\":\"apply\"") && lock.contains("\"expires\""),
        "lock: {lock}"
    );

    let second = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    second.expect_code(1).expect_no_panic();
    assert!(
        second.stderr.contains("locked by") && second.stderr.contains("`apply`"),
        "{second}"
    );
    assert!(
        second.stderr.contains(&format!("s3://{BUCKET}/{KEY}")),
        "the refusal names the state\n{second}"
    );
    assert!(
        Inventory::read(&moto, "us-east-1", LOCAL_US).is_empty(),
        "the refused run created something"
    );

    holder.answer("no\n");
    holder.wait(Duration::from_secs(60)).expect_success();
    assert!(
        object(&moto, &format!("{KEY}.lock")).is_none(),
        "the lock object must go with its holder"
    );

    let apply = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run();
    apply.expect_success().expect_no_panic();
    let state: serde_json::Value =
        serde_json::from_str(&object(&moto, KEY).expect("the state object")).expect("state JSON");
    assert_eq!(state["format"], "eprun-state");
    assert!(
        state["checksum"]
            .as_str()
            .is_some_and(|c| c.starts_with("sha256:")),
        "{state}"
    );
    assert!(
        state["state"]["resources"]
            .as_object()
            .is_some_and(|r| !r.is_empty()),
        "{state}"
    );
    assert!(
        object(&moto, &format!("{KEY}.backup")).is_some(),
        "the previous version is kept"
    );
    // Its DR copy goes beside the DR peer's state, which is local here (`local/eu-west-1`).
    let local: Vec<_> = project
        .state_files()
        .into_iter()
        .filter(|p| !p.starts_with(project.join(".eprun/state/dr-copy")))
        .collect();
    assert!(
        local.is_empty(),
        "an S3 stack writes no local state: {local:?}"
    );
    assert!(
        project
            .join(".eprun/state/dr-copy/local/us-east-1.json")
            .exists(),
        "the DR copy is beside the DR peer's (local) state"
    );
    eprun(
        &project,
        &["plan", US_SCRIPT, "--env", LOCAL_US, "--detailed-exitcode"],
    )
    .moto(&moto)
    .run()
    .expect_success();
}

#[test]
fn expired_s3_lock_of_a_dead_run_is_taken_over() {
    let moto = Moto::start();
    let project = s3_project(&moto);
    put_lock(
        &moto,
        serde_json::json!({"id": "dead-run", "owner": "ci@gone", "pid": 1, "operation": "apply",
                           "since": "2026-01-01T00:00:00Z", "expires": "2026-01-01T00:01:00Z"}),
    );
    let plan = eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    plan.expect_success().expect_no_panic();
    assert!(
        object(&moto, &format!("{KEY}.lock")).is_none(),
        "the taken-over lock is released at the end"
    );
}

#[test]
fn live_s3_lock_is_refused_until_state_unlock_releases_it() {
    let moto = Moto::start();
    let project = s3_project(&moto);
    put_lock(
        &moto,
        serde_json::json!({"id": "live-run", "owner": "alice@laptop", "pid": 4242, "operation": "destroy",
                           "since": "2026-11-25T10:00:00Z", "expires": "2999-01-01T00:00:00Z"}),
    );
    let refused = eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    refused.expect_code(1);
    for needle in [
        "alice@laptop",
        "4242",
        "`destroy`",
        "eprun state unlock live-run",
    ] {
        assert!(
            refused.stderr.contains(needle),
            "the refusal must mention {needle}\n{refused}"
        );
    }
    let wrong = eprun(
        &project,
        &["state", "unlock", "other-id", "--env", LOCAL_US],
    )
    .moto(&moto)
    .run();
    wrong.expect_code(1);
    assert!(
        wrong.stderr.contains("live-run"),
        "unlocking another id names the real one\n{wrong}"
    );
    eprun(
        &project,
        &["state", "unlock", "live-run", "--env", LOCAL_US],
    )
    .moto(&moto)
    .run()
    .expect_success();
    eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .run()
        .expect_success();
}
