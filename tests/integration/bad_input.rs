//! Mistakes in scripts, environment files and the AWS setup: each is one clear error (exit 1)
//! that says where and what, and nothing is changed.

use crate::support::*;

const BAD: &str = "scripts/bad.rhai";
const HEADER: &str = "// a deliberately broken stack\nlet env = stack(\"local/us-east-1\");\n";

/// Writes `scripts/bad.rhai` (the two header lines, then `body` from line 3) and plans it offline.
fn plan_bad(body: &str) -> (Project, Output) {
    let project = Project::new();
    project.write(BAD, format!("{HEADER}{body}"));
    let out = eprun(&project, &["plan", BAD])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    (project, out)
}

/// The checks every script error must pass: exit 1, `file:line:column`, the source line shown,
/// each of `what` in the message, no panic, and no state written.
fn assert_script_error(
    project: &Project,
    out: &Output,
    location: &str,
    source_line: &str,
    what: &[&str],
) {
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains(location),
        "the error must name `{location}`\n{out}"
    );
    assert!(
        out.stderr.contains(source_line.trim()),
        "the error must show the source line `{}`\n{out}",
        source_line.trim()
    );
    for w in what {
        assert!(out.stderr.contains(w), "the error must say `{w}`\n{out}");
    }
    project.assert_no_state(out);
}

/// One mistake in a script: the lines around the one that has it, where the error must point,
/// and what it must say.
struct Mistake {
    /// What the case is, for the failure message.
    case: &'static str,
    /// Lines before the faulty one (from line 3, after the header).
    before: &'static str,
    /// The faulty line, which the error must quote.
    line: &'static str,
    /// Lines after it.
    after: &'static str,
    /// `file:line:column` (or a prefix of it) the error must name.
    location: &'static str,
    /// What the message must contain.
    says: &'static [&'static str],
}

const VPC_MAIN: &str = "let vpc = aws::ec2::vpc(\"main\", #{ cidr_block: \"10.0.0.0/16\" });\n";

const MISTAKES: &[Mistake] = &[
    Mistake {
        case: "a syntax error points at the unexpected token",
        before: "",
        line: r#"let v = aws::ec2::vpc("main", #{ cidr_block: "10.0.0.0/16" );"#,
        after: "",
        location: "scripts/bad.rhai:3:60",
        says: &["syntax error"],
    },
    Mistake {
        case: "an unknown function suggests the closest name",
        before: "",
        line: r#"let v = aws::ec2::vcp("main", #{ cidr_block: "10.0.0.0/16" });"#,
        after: "",
        location: "scripts/bad.rhai:3:19",
        says: &["aws::ec2::vcp", "did you mean `aws::ec2::vpc`"],
    },
    Mistake {
        case: "a misspelt property suggests the right one",
        before: "",
        line: r#"let v = aws::ec2::vpc("main", #{ cidr_blok: "10.0.0.0/16" });"#,
        after: "",
        location: "scripts/bad.rhai:3:19",
        says: &["cidr_blok", "cidr_block"],
    },
    Mistake {
        case: "a property of the wrong type is refused",
        before: "",
        line: r#"let v = aws::ec2::vpc("main", #{ cidr_block: "10.0.0.0/16", enable_dns_hostnames: "yes" });"#,
        after: "",
        location: "scripts/bad.rhai:3:19",
        says: &["enable_dns_hostnames", "bool"],
    },
    Mistake {
        case: "an invalid CIDR is refused",
        before: "",
        line: r#"let v = aws::ec2::vpc("main", #{ cidr_block: "10.0.0.0/33" });"#,
        after: "",
        location: "scripts/bad.rhai:3:19",
        says: &["10.0.0.0/33", "CIDR"],
    },
    Mistake {
        case: "a subnet outside its VPC is refused",
        before: VPC_MAIN,
        line: r#"let s = aws::ec2::subnet("a", #{ vpc_id: vpc.id, cidr_block: "10.1.0.0/24", availability_zone: "us-east-1a" });"#,
        after: "",
        location: "scripts/bad.rhai:4:19",
        says: &["10.1.0.0/24", "outside", "10.0.0.0/16"],
    },
    Mistake {
        case: "a duplicate address names the first declaration",
        before: VPC_MAIN,
        line: r#"let b = aws::ec2::vpc("main", #{ cidr_block: "10.1.0.0/16" });"#,
        after: "",
        location: "scripts/bad.rhai:4:19",
        says: &["duplicate address", "ec2.vpc.main", "scripts/bad.rhai:3:"],
    },
    Mistake {
        case: "an endless loop is stopped by the operation limit",
        before: "",
        line: "loop {}",
        after: "",
        location: "scripts/bad.rhai:3:",
        says: &["operations", "help:"],
    },
    // Regression: the error pointed at the outermost call, with no name.
    Mistake {
        case: "a runaway recursion names the function and points at its recursive call",
        before: "fn f(x) {\n",
        line: "    f(x + 1)",
        after: "\n}\nf(0);",
        location: "scripts/bad.rhai:4:5",
        says: &[
            "calls nested deeper than",
            "`f` calls itself without end",
            "in `f`, called at scripts/bad.rhai:6:1",
            "help:",
        ],
    },
];

#[test]
fn each_script_mistake_is_one_error_that_says_where_and_what() {
    for m in MISTAKES {
        let (project, out) = plan_bad(&format!("{}{}{}", m.before, m.line, m.after));
        let result = std::panic::catch_unwind(|| {
            assert_script_error(&project, &out, m.location, m.line, m.says)
        });
        assert!(result.is_ok(), "case failed: {}", m.case);
    }
}

#[test]
fn dependency_cycle_names_both_addresses() {
    let body = r#"let vpc = aws::ec2::vpc("main", #{ cidr_block: "10.0.0.0/16" });
let a = aws::ec2::subnet("a", #{ vpc_id: vpc.id, cidr_block: "10.0.1.0/24", availability_zone: "us-east-1a", depends_on: ["ec2.subnet.b"] });
let b = aws::ec2::subnet("b", #{ vpc_id: vpc.id, cidr_block: "10.0.2.0/24", availability_zone: "us-east-1a", depends_on: ["ec2.subnet.a"] });"#;
    let (project, out) = plan_bad(body);
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains("scripts/bad.rhai:"),
        "the error must name the script\n{out}"
    );
    assert!(
        out.stderr.contains("cycle"),
        "the error must say it is a dependency cycle\n{out}"
    );
    for address in ["ec2.subnet.a", "ec2.subnet.b"] {
        assert!(
            out.stderr.contains(address),
            "the cycle must name `{address}`\n{out}"
        );
    }
    project.assert_no_state(&out);
}

#[test]
fn missing_environment_suggests_an_existing_one() {
    let project = Project::new();
    let line = r#"let env = stack("prod/us-east-2");"#;
    project.write(
        BAD,
        format!("// a stack naming an environment that does not exist\n\n{line}\n"),
    );
    let out = eprun(&project, &["plan", BAD]).no_credentials().run();
    assert_script_error(
        &project,
        &out,
        "scripts/bad.rhai:3:11",
        line,
        &["prod/us-east-2", "not found", "prod/us-east-1"],
    );
}

#[test]
fn unknown_key_in_an_environment_file_names_the_file_key_and_line() {
    let project = Project::new();
    let env_file = "environments/local/us-east-1.toml";
    project.edit(env_file, |t| t.replacen("\ncidr = ", "\ncidrr = ", 1));
    let line = project
        .read(env_file)
        .lines()
        .position(|l| l.starts_with("cidrr"))
        .expect("the edited line")
        + 1;
    let out = eprun(&project, &["plan", US_SCRIPT, "--env", LOCAL_US])
        .no_credentials()
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains(env_file),
        "the error must name `{env_file}`\n{out}"
    );
    assert!(
        out.stderr.contains("cidrr"),
        "the error must name the unknown key `cidrr`\n{out}"
    );
    assert!(
        out.stderr.contains(&format!("{env_file}:{line}"))
            || out.stderr.contains(&format!("{env_file}: {line}:")),
        "the error must give the key's line {line}\n{out}"
    );
    project.assert_no_state(&out);
}

#[test]
fn error_inside_a_stdlib_module_shows_the_call_chain() {
    let body = r#"import "vpc" as vpc;
let cfg = env.vpc;
cfg.remove("azs");
let net = vpc::network(cfg);"#;
    let project = Project::new();
    project.write(BAD, format!("{HEADER}{body}\n"));
    let out = eprun(&project, &["plan", BAD]).no_credentials().run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains("stdlib/vpc.rhai:"),
        "the error must point into `stdlib/vpc.rhai`\n{out}"
    );
    assert!(
        out.stderr.contains("called at scripts/bad.rhai:6:"),
        "the error must show the call from the script (line 6)\n{out}"
    );
    project.assert_no_state(&out);
}

/// The one `error:` line of a failed command, checked to be a readable sentence.
fn one_error_line(out: &Output) -> String {
    out.expect_code(1).expect_no_panic();
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("error"))
        .collect();
    assert_eq!(errors.len(), 1, "expected exactly one error line\n{out}");
    let line = errors[0].to_string();
    assert!(
        !line.contains("} }") && !line.contains("Error {") && !line.contains("DispatchFailure"),
        "the error must be a sentence, not a debug dump of the SDK's error\n{out}"
    );
    line
}

#[test]
fn unreachable_endpoint_is_one_line_naming_the_operation() {
    let project = Project::new();
    let out = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    let line = one_error_line(&out);
    assert!(
        line.contains("Describe"),
        "the error must name the AWS operation (e.g. `DescribeVpcs`)\n{out}"
    );
    assert!(
        line.contains("could not reach"),
        "the error must say the endpoint could not be reached\n{out}"
    );
    assert_eq!(
        project.state_resource_count(LOCAL_US),
        0,
        "nothing may be recorded\n{out}"
    );
}

#[test]
fn missing_credentials_is_one_line_saying_so() {
    let project = Project::new();
    let out = eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    let line = one_error_line(&out);
    assert!(
        line.contains("no AWS credentials"),
        "the error must say there are no AWS credentials\n{out}"
    );
    assert_eq!(
        project.state_resource_count(LOCAL_US),
        0,
        "nothing may be recorded\n{out}"
    );
}
