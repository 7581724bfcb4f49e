//! The commands around the stacks: version, check, docs, completions, eval, and the refusal to
//! apply without a terminal or `--yes`.

use crate::support::*;

#[test]
fn version_prints_the_package_version() {
    let project = Project::new();
    let out = eprun(&project, &["--version"]).run();
    out.expect_success();
    assert!(
        out.stdout.trim() == format!("eprun {}", env!("CARGO_PKG_VERSION")),
        "expected `eprun {}`\n{out}",
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn check_compiles_every_script_of_the_project() {
    let project = Project::new();
    let out = eprun(&project, &["check"])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    out.expect_success().expect_no_panic();
    assert!(
        out.all().contains("all compile"),
        "check must say that all scripts compile\n{out}"
    );
}

#[test]
fn check_names_the_broken_script_and_fails() {
    let project = Project::new();
    project.write("scripts/broken.rhai", "// broken on purpose\nlet x = ;\n");
    let out = eprun(&project, &["check"]).no_credentials().run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains("scripts/broken.rhai:2:9"),
        "check must name the broken script with line and column\n{out}"
    );
    assert!(
        out.stderr.contains("let x = ;"),
        "check must show the broken line\n{out}"
    );
}

/// The first paragraph after the heading that names `function` in `eprun docs`.
fn doc_text<'a>(docs: &'a str, function: &str) -> Option<&'a str> {
    let mut lines = docs
        .lines()
        .skip_while(|l| !(l.contains(function) && l.contains('(')));
    lines.next()?;
    lines.map(str::trim).find(|l| !l.is_empty())
}

#[test]
fn docs_lists_functions_with_their_doc_text() {
    let project = Project::new();
    let out = eprun(&project, &["docs"]).run();
    out.expect_success();
    let vpc = doc_text(&out.stdout, "aws::ec2::vpc(")
        .unwrap_or_else(|| panic!("docs has no `aws::ec2::vpc`\n{out}"));
    assert!(
        vpc.contains("VPC"),
        "the doc text of `aws::ec2::vpc` must describe a VPC, got `{vpc}`\n{out}"
    );
    let cidr = doc_text(&out.stdout, "cidr_subnet(")
        .unwrap_or_else(|| panic!("docs has no `cidr_subnet`\n{out}"));
    assert!(
        cidr.to_lowercase().contains("subnet"),
        "the doc text of `cidr_subnet` must describe it, got `{cidr}`\n{out}"
    );
    // An overloaded function is listed once, with all its signatures.
    let headings: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("## ") && l.contains("aws::ec2::describe_vpcs("))
        .collect();
    assert_eq!(
        headings,
        [
            "## `aws::ec2::describe_vpcs() -> Array`, `aws::ec2::describe_vpcs(filters: Map) -> Array`"
        ],
        "{out}"
    );
}

#[test]
fn completions_for_bash_are_a_completion_script() {
    let project = Project::new();
    let out = eprun(&project, &["completions", "bash"]).run();
    out.expect_success();
    assert!(
        out.stdout.contains("complete -F") && out.stdout.contains("eprun"),
        "not a bash completion script for eprun\n{out}"
    );
    for command in ["plan", "apply", "destroy"] {
        assert!(
            out.stdout.contains(command),
            "the completions must offer `{command}`\n{out}"
        );
    }
}

#[test]
fn eval_prints_the_result_as_json() {
    let project = Project::new();
    let out = eprun(&project, &["eval", r#"cidr_subnet("10.10.0.0/16", 4, 2)"#])
        .no_credentials()
        .run();
    out.expect_success();
    assert_eq!(
        out.stdout.trim(),
        r#""10.10.32.0/20""#,
        "eval must print the JSON string\n{out}"
    );
}

#[test]
fn apply_without_a_terminal_or_yes_refuses_and_creates_nothing() {
    let moto = Moto::start();
    let project = Project::new();
    let out = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US])
        .moto(&moto)
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains("--yes"),
        "the refusal must say how to confirm (`--yes`)\n{out}"
    );

    let inventory = Inventory::read(&moto, "us-east-1", LOCAL_US);
    assert!(
        inventory.is_empty(),
        "apply refused, yet the stack owns {}\n{out}",
        inventory.summary()
    );
    let vpcs =
        block_on(ec2_client(&moto, "us-east-1").describe_vpcs().send()).expect("DescribeVpcs");
    let not_default: Vec<_> = vpcs
        .vpcs()
        .iter()
        .filter(|v| v.is_default() != Some(true))
        .map(|v| v.vpc_id())
        .collect();
    assert!(
        not_default.is_empty(),
        "apply refused, yet VPCs exist: {not_default:?}\n{out}"
    );
    assert_eq!(
        project.state_resource_count(LOCAL_US),
        0,
        "apply refused, yet the state records resources\n{out}"
    );
}

#[test]
fn docs_writes_rhai_definition_files_for_editors() {
    let project = Project::new();
    let dir = project.join(".test-scratch/definitions");
    let out = eprun(
        &project,
        &["docs", "--definitions", &dir.display().to_string()],
    )
    .run();
    out.expect_success();
    let aws = std::fs::read_to_string(dir.join("aws.d.rhai"))
        .unwrap_or_else(|e| panic!("no aws.d.rhai ({e})\n{out}"));
    assert!(
        aws.contains("fn describe_vpcs(filters: map) -> array;"),
        "{aws}"
    );
    assert!(
        aws.contains("/// The VPCs of the current region"),
        "the definitions carry the doc comments"
    );
    let k8s = std::fs::read_to_string(dir.join("k8s.d.rhai")).expect("k8s.d.rhai");
    assert!(
        k8s.contains("fn drain(") && k8s.contains("/// Cordons a node"),
        "{k8s}"
    );

    // A path that cannot be a directory is a clear error naming it.
    let file = project.join(".test-scratch/a-file");
    std::fs::write(&file, "x").expect("write a file");
    let bad = eprun(
        &project,
        &["docs", "--definitions", &file.display().to_string()],
    )
    .run();
    bad.expect_code(1).expect_no_panic();
    assert!(
        bad.stderr.contains("cannot write definitions into") && bad.stderr.contains("a-file"),
        "{bad}"
    );
}
