//! Policy over plans: `policy/*.rhai` and `--policy FILE` read the plan as data; `plan` prints
//! their verdicts, `apply` refuses a denied plan naming the `deny` call, a warning does not stop
//! it, a broken policy is located like any script error, and the repository's own policies keep
//! production's stateful resources from deletion.

use crate::support::*;

const FILE: &str = "scripts/guarded.rhai";

/// A VPC and, when `with_subnet`, a subnet in it, in environment `env`.
fn script(env: &str, with_subnet: bool) -> String {
    let mut s = format!(
        "let env = stack(\"{env}\");\nlet vpc = aws::ec2::vpc(\"guarded\", #{{ cidr_block: \"10.80.0.0/16\" }});\n"
    );
    if with_subnet {
        s.push_str("aws::ec2::subnet(\"guarded-a\", #{ vpc_id: vpc.id, cidr_block: \"10.80.1.0/24\", availability_zone: \"us-east-1a\" });\n");
    }
    s
}

/// Denies every subnet create; its `deny` call is at line 4, column 9.
const NO_SUBNETS: &str = "// Subnets come from the network team.\nfor c in plan.changes {\n    if c[\"type\"] == \"ec2.subnet\" && c.action == \"create\" {\n        deny(`no new subnets here: ${c.address}`);\n    }\n}\n";

/// Warns about every plan in a local environment; its `warn` call is at line 2, column 5.
const NOTE: &str = "if environment.starts_with(\"local/\") {\n    warn(`${plan.changes.len()} changes in ${environment}`);\n}\n";

fn run(project: &Project, moto: &Moto, args: &[&str]) -> Output {
    eprun(project, args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint())
        .run()
}

#[test]
fn a_deny_stops_apply_with_the_place_of_the_call_and_nothing_changes() {
    let moto = Moto::start();
    let project = Project::new();
    project.write(FILE, script(LOCAL_US, true));
    project.write("policy/no_subnets.rhai", NO_SUBNETS);

    let plan = run(&project, &moto, &["plan", FILE, "--env", LOCAL_US]);
    plan.expect_success();
    assert!(
        plan.stdout.contains(
            "deny  no new subnets here: ec2.subnet.guarded-a  (policy/no_subnets.rhai:4:9)"
        ),
        "plan prints the verdict after the plan\n{plan}"
    );

    let apply = run(
        &project,
        &moto,
        &["apply", FILE, "--env", LOCAL_US, "--yes"],
    );
    apply.expect_code(1).expect_no_panic();
    assert!(
        apply
            .stderr
            .contains("the policy denies this plan; nothing was changed"),
        "{apply}"
    );
    assert!(
        apply
            .stderr
            .contains("policy/no_subnets.rhai:4:9: no new subnets here: ec2.subnet.guarded-a"),
        "the refusal names the deny call\n{apply}"
    );
    assert!(
        Inventory::read(&moto, "us-east-1", LOCAL_US).is_empty(),
        "a denied apply creates nothing"
    );
    project.assert_no_state(&apply);

    // A saved plan is judged again when applied.
    run(
        &project,
        &moto,
        &["plan", FILE, "--env", LOCAL_US, "--out", "denied.plan"],
    )
    .expect_success();
    let saved = run(&project, &moto, &["apply", "denied.plan"]);
    saved.expect_code(1);
    assert!(
        saved.stderr.contains("policy/no_subnets.rhai:4:9"),
        "{saved}"
    );
    assert!(Inventory::read(&moto, "us-east-1", LOCAL_US).is_empty());
}

#[test]
fn a_warning_is_shown_and_does_not_stop_apply() {
    let moto = Moto::start();
    let project = Project::new();
    project.write(FILE, script(LOCAL_US, false));
    // Outside `policy/`, given with `--policy`.
    project.write("extra/note.rhai", NOTE);
    let args = [FILE, "--env", LOCAL_US, "--policy", "extra/note.rhai"];

    let plan = run(&project, &moto, &[&["plan"][..], &args].concat());
    plan.expect_success();
    assert!(
        plan.stdout
            .contains("warn  1 changes in local/us-east-1  (extra/note.rhai:2:5)"),
        "{plan}"
    );
    let json = run(&project, &moto, &[&["plan", "--json"][..], &args].concat());
    json.expect_success();
    assert_eq!(
        json.json()["verdicts"],
        serde_json::json!([{"severity": "warn", "message": "1 changes in local/us-east-1",
                            "source": "extra/note.rhai", "line": 2, "column": 5}])
    );

    let apply = run(&project, &moto, &[&["apply", "--yes"][..], &args].concat());
    apply.expect_success();
    assert!(
        apply.stdout.contains("warn  1 changes in local/us-east-1"),
        "{apply}"
    );
    assert_eq!(Inventory::read(&moto, "us-east-1", LOCAL_US).vpcs.len(), 1);
}

#[test]
fn a_broken_policy_is_located_like_a_script_error() {
    let project = Project::new();
    project.write(FILE, script(LOCAL_US, false));
    project.write(
        "policy/broken.rhai",
        "// A policy with a typo.\nlet limit = ;\nif plan.changes.len() > limit { warn(\"big\"); }\n",
    );
    let out = eprun(&project, &["plan", FILE, "--env", LOCAL_US])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr
            .contains("error: policy/broken.rhai:2:13: syntax error"),
        "the error names the file, line and column\n{out}"
    );
    assert!(
        out.stderr.contains("let limit = ;"),
        "the error quotes the line\n{out}"
    );
}

/// The repository's `policy/`: in a `prod/` environment, creating is allowed and deleting a
/// VPC is denied; `local/` environments are not judged by them.
#[test]
fn the_shipped_policies_deny_deleting_a_prod_vpc() {
    let moto = Moto::start();
    let project = Project::new();
    let env = "prod/emulated";
    // A prod environment that talks to the emulator: the local one under a `prod/` name.
    project.write(
        format!("environments/{env}.toml"),
        project.read("environments/local/us-east-1.toml"),
    );
    project.write(FILE, script(env, false));
    let created = run(&project, &moto, &["apply", FILE, "--yes"]);
    created.expect_success();
    assert!(
        !created.all().contains("deny"),
        "creates are allowed\n{created}"
    );

    project.write(FILE, format!("stack(\"{env}\");\n"));
    let out = run(&project, &moto, &["apply", FILE, "--yes"]);
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains("policy/prod_stateful.rhai:")
            && out.stderr.contains(
                "ec2.vpc.guarded would be deleted: it is a VPC (every subnet, interface and endpoint in it)"
            ),
        "{out}"
    );
    assert_eq!(
        Inventory::read(&moto, "us-east-1", env).vpcs.len(),
        1,
        "the VPC is still there"
    );
}
