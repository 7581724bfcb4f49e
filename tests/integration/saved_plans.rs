//! Saved plans: `eprun plan --out PLAN` writes the reviewed plan, `eprun show PLAN` prints it,
//! and `eprun apply PLAN` applies exactly it, without asking, or refuses it when it went stale:
//! the state was written since, an input changed, or the cloud moved under it.

use crate::support::*;

/// A small stack: a VPC (with `tags`) and one subnet.
const FILE: &str = "scripts/plans.rhai";
/// The saved plan; no extension, since eprun recognises a plan by its content.
const PLAN: &str = "reviewed-plan";

fn script(vpc_tags: &str) -> String {
    format!(
        r#"let env = stack("local/us-east-1");
let vpc = aws::ec2::vpc("plans", #{{ cidr_block: "10.70.0.0/16", tags: #{{ {vpc_tags} }} }});
aws::ec2::subnet("plans-a", #{{ vpc_id: vpc.id, cidr_block: "10.70.1.0/24", availability_zone: "us-east-1a" }});
"#
    )
}

/// A project holding the small stack, and moto.
fn setup() -> (Moto, Project) {
    let moto = Moto::start();
    let project = Project::new();
    project.write(FILE, script(""));
    (moto, project)
}

fn run(project: &Project, moto: &Moto, args: &[&str]) -> Output {
    eprun(project, args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint())
        .run()
}

fn plan_out(project: &Project, moto: &Moto) -> Output {
    let out = run(
        project,
        moto,
        &[
            "plan",
            FILE,
            "--env",
            LOCAL_US,
            "--out",
            PLAN,
            "--detailed-exitcode",
        ],
    );
    out.expect_code(2).expect_no_panic();
    out
}

/// The VPCs of the small stack in moto, read with the SDK.
fn vpcs(moto: &Moto) -> Vec<aws_sdk_ec2::types::Vpc> {
    Inventory::read(moto, "us-east-1", LOCAL_US).vpcs
}

/// Asserts `out` refused the saved plan as stale, with `why` and the command to plan again.
fn assert_stale(out: &Output, why: &str) {
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr
            .contains(&format!("saved plan `{PLAN}` is stale: ")),
        "{out}"
    );
    assert!(
        out.stderr.contains(why),
        "the refusal must say `{why}`\n{out}"
    );
    assert!(
        out.stderr.contains(&format!(
            "hint: plan again and review the new plan: `eprun plan {FILE} --env {LOCAL_US} --out {PLAN}`"
        )),
        "{out}"
    );
    assert!(!out.all().contains("Apply complete"), "{out}");
}

#[test]
fn a_saved_plan_is_shown_then_applied_exactly_without_asking() {
    let (moto, project) = setup();
    let saved = plan_out(&project, &moto);
    assert!(
        saved.stdout.contains("Plan: 2 to create, 0 to update"),
        "{saved}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&project.read(PLAN)).expect("the saved plan is JSON");
    assert_eq!(doc["format"], "eprun-plan");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["stack"], LOCAL_US);
    assert_eq!(doc["environment"], LOCAL_US);
    assert_eq!(doc["script"], FILE);
    assert_eq!(
        doc["state"],
        serde_json::json!({"serial": 0, "lineage": null})
    );
    let files: Vec<&str> = doc["inputs"]["files"]
        .as_object()
        .expect("inputs.files")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        files,
        [
            "environments/local/us-east-1.toml",
            "policy/change_size.rhai",
            "policy/prod_stateful.rhai",
            FILE
        ]
    );
    assert!(
        doc["inputs"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{doc}"
    );
    assert_eq!(
        plan_addresses(&doc["plan"]),
        ["ec2.vpc.plans", "ec2.subnet.plans-a"]
    );
    assert_eq!(doc["plan"]["summary"]["create"], 2);

    // Run like a script, a saved plan says how to apply it, and changes nothing.
    let as_script = run(&project, &moto, &[PLAN]);
    as_script.expect_code(1);
    assert!(
        as_script
            .stderr
            .contains(&format!("hint: `eprun apply {PLAN}`")),
        "{as_script}"
    );

    // `--detailed-exitcode` and `--format markdown` compose with `--out`: the same plan is saved.
    let md = run(
        &project,
        &moto,
        &[
            "plan",
            FILE,
            "--env",
            LOCAL_US,
            "--out",
            "md-plan",
            "--format",
            "markdown",
            "--detailed-exitcode",
        ],
    );
    md.expect_code(2);
    assert!(
        md.stdout
            .starts_with(&format!("### eprun plan: `{LOCAL_US}`\n")),
        "{md}"
    );
    assert!(
        md.stdout
            .contains("**Plan: 2 to create, 0 to update, 0 to replace, 0 to delete.**"),
        "{md}"
    );
    let md_doc: serde_json::Value =
        serde_json::from_str(&project.read("md-plan")).expect("the second saved plan");
    assert_eq!(md_doc["plan"]["changes"], doc["plan"]["changes"]);

    // `show` prints it like `plan`; `--json` prints the file's document.
    let show = run(&project, &moto, &["show", PLAN]);
    show.expect_success();
    assert!(
        show.stdout.contains(&format!(
            "`{FILE}` in environment `{LOCAL_US}`, against no state"
        )),
        "{show}"
    );
    assert!(show.stdout.contains("+ ec2.subnet.plans-a"), "{show}");
    assert!(
        show.stdout
            .contains("Plan: 2 to create, 0 to update, 0 to replace, 0 to delete."),
        "{show}"
    );
    let json = run(&project, &moto, &["show", PLAN, "--json"]);
    json.expect_success();
    assert_eq!(json.json(), doc);

    // Applied with no terminal and no `--yes`: a reviewed plan is not asked about again.
    let apply = run(&project, &moto, &["apply", PLAN]);
    apply.expect_success().expect_no_panic();
    assert!(
        apply
            .all()
            .contains("Apply complete: 2 created, 0 updated, 0 deleted"),
        "{apply}"
    );
    let vpcs = vpcs(&moto);
    assert_eq!(vpcs.len(), 1, "{vpcs:?}");
    assert_eq!(vpcs[0].cidr_block(), Some("10.70.0.0/16"));
    run(
        &project,
        &moto,
        &["plan", FILE, "--env", LOCAL_US, "--detailed-exitcode"],
    )
    .expect_success();

    // Applied once, the plan is stale: the state it was made against is gone.
    let again = run(&project, &moto, &["apply", PLAN]);
    assert_stale(&again, "planned against no state, now serial");
}

#[test]
fn a_saved_plan_is_refused_when_the_state_was_written_since() {
    let (moto, project) = setup();
    plan_out(&project, &moto);
    // Someone applies the script in between.
    run(
        &project,
        &moto,
        &["apply", FILE, "--env", LOCAL_US, "--yes"],
    )
    .expect_success();
    let out = run(&project, &moto, &["apply", PLAN]);
    assert_stale(
        &out,
        "the state of stack `local/us-east-1` changed since it was planned (planned against no state, now serial",
    );
    assert_eq!(vpcs(&moto).len(), 1, "nothing was created twice\n{out}");
}

#[test]
fn a_saved_plan_is_refused_when_the_script_or_the_environment_changed() {
    let (moto, project) = setup();
    plan_out(&project, &moto);
    project.write(FILE, script("team: \"payments\""));
    let out = run(&project, &moto, &["apply", PLAN]);
    assert_stale(
        &out,
        &format!("its inputs changed since it was planned: `{FILE}` changed"),
    );

    project.write(FILE, script(""));
    project.edit("environments/local/us-east-1.toml", |t| {
        t.replace(
            "ManagedBy = \"eprun\"",
            "ManagedBy = \"eprun\"\nTeam = \"payments\"",
        )
    });
    let out = run(&project, &moto, &["apply", PLAN]);
    assert_stale(&out, "`environments/local/us-east-1.toml` changed");
    assert!(vpcs(&moto).is_empty(), "nothing was created\n{out}");
    assert!(
        project.state_json(LOCAL_US).is_none(),
        "no state was written\n{out}"
    );
}

#[test]
fn a_saved_plan_is_refused_when_the_cloud_moved_under_it() {
    let (moto, project) = setup();
    run(
        &project,
        &moto,
        &["apply", FILE, "--env", LOCAL_US, "--yes"],
    )
    .expect_success();
    // The reviewed change: a tag on the VPC.
    project.write(FILE, script("team: \"payments\""));
    let saved = plan_out(&project, &moto);
    assert!(saved.stdout.contains("~ ec2.vpc.plans"), "{saved}");

    // Someone deletes the subnet by hand before the apply.
    let subnet = Inventory::read(&moto, "us-east-1", LOCAL_US).subnets[0]
        .subnet_id()
        .expect("a subnet id")
        .to_string();
    block_on(
        ec2_client(&moto, "us-east-1")
            .delete_subnet()
            .subnet_id(&subnet)
            .send(),
    )
    .expect("DeleteSubnet");

    let out = run(&project, &moto, &["apply", PLAN]);
    assert_stale(
        &out,
        "a refresh shows that the cloud moved under it: `ec2.subnet.plans-a`: now `create`, which the plan does not have",
    );
    let vpcs = vpcs(&moto);
    assert!(
        ec2_tag(vpcs[0].tags(), "team").is_none(),
        "the reviewed tag change must not be applied either\n{out}"
    );
    assert!(
        Inventory::read(&moto, "us-east-1", LOCAL_US)
            .subnets
            .is_empty(),
        "the subnet must not be re-created\n{out}"
    );
}

#[test]
fn a_saved_plan_refuses_another_environment() {
    let (moto, project) = setup();
    plan_out(&project, &moto);
    let out = run(&project, &moto, &["apply", PLAN, "--env", LOCAL_EU]);
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "saved plan `{PLAN}` is for environment `{LOCAL_US}`, not `{LOCAL_EU}`"
        )),
        "{out}"
    );
}
