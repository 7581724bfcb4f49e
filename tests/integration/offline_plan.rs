//! `eprun plan --local-state` on a fresh project needs no credentials and no network, although the
//! prod stacks keep their state in S3: the local state is empty, so every declared resource is a
//! create, and the plan says which state it used and that nothing was refreshed.

use crate::support::*;

/// A port nothing listens on: a call that reached it would fail the command.
const CLOSED_PORT: &str = "http://127.0.0.1:9";

fn offline_plan(project: &Project, script: &str, extra: &[&str]) -> Output {
    eprun(project, &["plan", script, "--local-state"])
        .args(extra)
        .no_credentials()
        .env("AWS_ENDPOINT_URL", CLOSED_PORT)
        .run()
}

/// Checks the human plan and the JSON plan of `script` on a fresh project, and returns the JSON.
fn check_offline_plan(script: &str, vpc_address: &str, vpc_cidr: &str) -> serde_json::Value {
    let project = Project::new();

    // The human plan.
    let text = offline_plan(&project, script, &[]);
    text.expect_success().expect_no_panic();
    assert!(
        text.all().contains("nothing was refreshed"),
        "the plan must say that nothing was refreshed (empty state, no AWS call)\n{text}"
    );
    let env = script
        .trim_start_matches("scripts/")
        .trim_end_matches(".rhai");
    let region = env.trim_start_matches("prod/");
    let team = format!("s3://examplepay-prod-eprun-state-{region}/{env}.json");
    assert!(
        text.stderr
            .contains("--local-state: planned against the local state")
            && text.stderr.contains(&team),
        "the plan must say it used the local state instead of the team's `{team}`\n{text}"
    );

    // The JSON plan: one object with stack, changes, summary and stats.
    let json_out = offline_plan(&project, script, &["--json"]);
    json_out.expect_success();
    let plan = json_out.json();
    assert_eq!(plan["stack"], env, "stack name\n{json_out}");
    let changes = plan["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("`changes` is not an array\n{json_out}"));
    assert!(
        !changes.is_empty(),
        "a fresh stack must have changes\n{json_out}"
    );
    for c in changes {
        let address = c["address"]
            .as_str()
            .unwrap_or_else(|| panic!("a change without `address`: {c}"));
        let kind = c["type"]
            .as_str()
            .unwrap_or_else(|| panic!("a change without `type`: {c}"));
        assert_eq!(
            c["action"], "create",
            "on an empty state every change is a create: {c}"
        );
        assert!(c["fields"].is_array(), "a change without `fields`: {c}");
        assert_eq!(
            address_type(address),
            kind,
            "the address `{address}` must start with its type `{kind}`"
        );
    }
    assert_eq!(
        plan["summary"]["create"].as_u64(),
        Some(changes.len() as u64),
        "summary.create must count the changes\n{json_out}"
    );
    for action in ["update", "replace", "delete"] {
        assert_eq!(
            plan["summary"][action].as_u64(),
            Some(0),
            "summary.{action}\n{json_out}"
        );
    }
    assert_eq!(
        plan["stats"]["api_calls"].as_u64(),
        Some(0),
        "a plan on an empty state makes no AWS call\n{json_out}"
    );

    // The human plan shows a create for every resource, and the summary line.
    let addresses = plan_addresses(&plan);
    for address in &addresses {
        assert!(
            text.stdout
                .lines()
                .any(|l| l.trim() == format!("+ {address}")),
            "the plan shows no create for `{address}`\n{text}"
        );
    }
    let summary = format!(
        "Plan: {} to create, 0 to update, 0 to replace, 0 to delete.",
        addresses.len()
    );
    assert!(
        text.stdout.contains(&summary),
        "missing the summary line `{summary}`\n{text}"
    );

    // A few addresses a user looks for.
    let name = vpc_address.trim_start_matches("ec2.vpc.");
    for wanted in [
        vpc_address.to_string(),
        format!("ec2.subnet.{name}-private-a"),
        format!("ec2.flow_log.{name}"),
        format!("ec2.vpc_endpoint.{name}-s3"),
    ] {
        assert!(
            addresses.contains(&wanted),
            "the plan has no `{wanted}`; it has {addresses:#?}"
        );
    }
    let nats = addresses
        .iter()
        .filter(|a| a.starts_with("ec2.nat_gateway."))
        .count();
    assert_eq!(
        nats, 3,
        "one NAT gateway per AZ; the plan has {addresses:#?}"
    );

    // The VPC gets the environment's CIDR.
    let vpc = changes
        .iter()
        .find(|c| c["address"] == vpc_address)
        .expect("the VPC change");
    let cidr = vpc["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == "cidr_block"))
        .unwrap_or_else(|| panic!("the VPC change has no cidr_block field: {vpc}"));
    assert_eq!(cidr["after"], vpc_cidr, "the VPC's CIDR: {vpc}");

    // The controllers' releases are planned too; with no chart fetched (no helm here, and no
    // network), the plan says so for each instead of failing.
    let releases = addresses
        .iter()
        .filter(|a| a.starts_with("helm.release."))
        .count();
    assert_eq!(releases, 8, "one release per controller: {addresses:#?}");
    assert_eq!(
        text.stdout.matches("inside: (chart not fetched: ").count(),
        8,
        "{text}"
    );

    // --detailed-exitcode: 2 when there are changes.
    let detailed = offline_plan(&project, script, &["--detailed-exitcode"]);
    detailed.expect_code(2);

    // A plan changes nothing.
    project.assert_no_state(&detailed);
    plan
}

#[test]
fn plan_of_us_east_1_on_a_fresh_project_needs_no_credentials_and_no_network() {
    check_offline_plan(US_SCRIPT, "ec2.vpc.examplepay-prod", "10.10.0.0/16");
}

/// The DR stack peers with the primary's transit gateway and hosted zone, found in the primary's
/// outputs: before the primary is applied, its plan says which stack to apply first.
#[test]
fn plan_of_eu_west_1_before_the_primary_says_which_stack_to_apply_first() {
    let project = Project::new();
    let out = offline_plan(&project, EU_SCRIPT, &[]);
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr
            .contains("apply the `prod/us-east-1` stack first"),
        "the error must name the stack to apply first\n{out}"
    );
    assert!(
        out.stderr.contains("scripts/prod/eu-west-1.rhai:"),
        "the error must point at the script line\n{out}"
    );
    project.assert_no_state(&out);
}

/// Without `--local-state`, a plan of a prod stack needs the team's state in S3: with no
/// credentials it fails before planning anything, and says how to plan without it.
#[test]
fn plan_of_a_prod_stack_without_credentials_names_the_team_state_and_the_flag() {
    let project = Project::new();
    let out = eprun(&project, &["plan", US_SCRIPT])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", CLOSED_PORT)
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr
            .contains("s3://examplepay-prod-eprun-state-us-east-1/prod/us-east-1.json"),
        "the error must name the team's state\n{out}"
    );
    assert!(
        out.stderr.contains(&format!(
            "hint: to plan without the team's state, `eprun plan {US_SCRIPT} --local-state`"
        )),
        "the error must name the flag\n{out}"
    );
    assert!(!out.stdout.contains("Plan:"), "nothing is planned\n{out}");
    project.assert_no_state(&out);
}
