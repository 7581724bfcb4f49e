//! `eprun plan --discover` rebuilds a lost state from the ownership tags and shows what it found.

use crate::support::*;

#[test]
fn discover_rebuilds_a_lost_state_from_the_tags() {
    let moto = Moto::start();
    let project = Project::new();
    eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .moto(&moto)
        .run()
        .expect_success();
    let before = project.state_json(LOCAL_US).expect("state after apply");
    let recorded = before["state"]["resources"]
        .as_object()
        .map(|r| r.len())
        .unwrap_or(0);
    assert!(
        recorded > 30,
        "the primary stack should own dozens of resources, state has {recorded}"
    );

    std::fs::remove_file(project.state_path(LOCAL_US)).expect("lose the state");
    let found = eprun(
        &project,
        &["plan", US_SCRIPT, "--env", LOCAL_US, "--discover"],
    )
    .moto(&moto)
    .run();
    found.expect_success().expect_no_panic();
    assert!(
        found.stderr.contains("discover: recorded"),
        "discover says what it recorded\n{found}"
    );
    assert!(
        found.stderr.contains("ec2.vpc.examplepay-local"),
        "the VPC is among what was found\n{found}"
    );
    assert!(
        found.stdout.contains("No changes"),
        "with the state rebuilt, nothing is left to do\n{found}"
    );

    let after = project.state_json(LOCAL_US).expect("a rebuilt state");
    let mut want: Vec<&String> = before["state"]["resources"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    let mut got: Vec<&String> = after["state"]["resources"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "discover must find every resource the lost state held"
    );
    for (address, r) in after["state"]["resources"]
        .as_object()
        .into_iter()
        .flatten()
    {
        assert_eq!(
            r["id"], before["state"]["resources"][address]["id"],
            "`{address}` was rebuilt with another id"
        );
    }
    eprun(
        &project,
        &["plan", US_SCRIPT, "--env", LOCAL_US, "--detailed-exitcode"],
    )
    .moto(&moto)
    .run()
    .expect_success();
}
