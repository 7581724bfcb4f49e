//! A damaged state file is refused and left exactly as it was.

use crate::support::*;

/// Writes `damaged` as the state of `local/us-east-1`, runs `args`, and checks the command fails
/// saying the state is corrupt, and that the file is byte-identical afterwards.
fn refused_and_untouched(damaged: &[u8], args: &[&str]) {
    let project = Project::new();
    let path = project.state_path(LOCAL_US);
    project.write(&path, damaged);
    let out = eprun(&project, args)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains("corrupt"),
        "the error must say the state is corrupt\n{out}"
    );
    assert!(
        out.stderr.contains("us-east-1.json"),
        "the error must name the state file\n{out}"
    );
    let after = std::fs::read(&path).expect("the state file must still be there");
    assert_eq!(after, damaged, "the corrupt state file was changed\n{out}");
}

#[test]
fn garbage_state_file_makes_plan_fail_and_is_left_byte_identical() {
    refused_and_untouched(
        b"\x00\x17 this is not a state file {{{\n",
        &["plan", US_SCRIPT, "--env", LOCAL_US],
    );
}

#[test]
fn truncated_state_file_makes_plan_fail_and_is_left_byte_identical() {
    let truncated = br#"{
  "format": "eprun-state",
  "checksum": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
  "state": {
    "version": 1,
    "stack": "local/us-east-1",
    "serial": 3,
    "lineage": "0b0e5e1e-0000-4000-8000-000000000000",
    "resources": {
      "ec2.vpc.examplepay-local": {
        "kind": "ec2.vpc",
        "region": "us-east-1",
        "stat"#;
    refused_and_untouched(truncated, &["plan", US_SCRIPT, "--env", LOCAL_US]);
}

#[test]
fn corrupt_state_file_makes_apply_refuse_and_is_left_byte_identical() {
    refused_and_untouched(
        b"{\"format\": \"eprun-state\", \"checksum\": \"sha256:00\", \"state\": {}}\n",
        &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"],
    );
}
