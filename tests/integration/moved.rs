//! Refactors without re-creation: `moved(from, to)` in a script, and `eprun state mv`, re-address
//! a resource; the plan says `moved` (never a delete and a create), apply records the new address
//! and re-tags the resource, and the next plan is empty. Each refusal names both addresses.

use crate::support::*;

/// The small stacks of these tests live here; `local/us-east-1` keeps their state locally.
const SCRIPT: &str = "scripts/refactor.rhai";

/// A VPC, a subnet named `subnet`, a route table and the subnet's association named `assoc`;
/// `extra` goes at the end of the script.
fn network(subnet: &str, assoc: &str, extra: &str) -> String {
    format!(
        r#"let env = stack("local/us-east-1");
let vpc = aws::ec2::vpc("refactor", #{{ cidr_block: "10.70.0.0/16" }});
let table = aws::ec2::route_table("refactor", #{{ vpc_id: vpc.id }});
let subnet = aws::ec2::subnet("{subnet}", #{{ vpc_id: vpc.id, cidr_block: "10.70.1.0/24", availability_zone: "us-east-1a" }});
let assoc = aws::ec2::route_table_association("{assoc}", #{{ subnet_id: subnet.id, route_table_id: table.id }});
{extra}
"#
    )
}

/// `eprun ARGS` on the test stack against moto (no Kubernetes: the stack declares no objects).
fn run(project: &Project, moto: &Moto, args: &[&str]) -> Output {
    let mut all = vec![args[0], SCRIPT, "--env", LOCAL_US];
    all.extend(&args[1..]);
    let out = eprun(project, &all)
        .env("AWS_ENDPOINT_URL", &moto.endpoint())
        .run();
    out.expect_no_panic();
    out
}

/// `eprun state ARGS --env local/us-east-1` (no network: the state is local).
fn state(project: &Project, args: &[&str]) -> Output {
    let mut all = vec!["state"];
    all.extend(args);
    all.extend(["--env", LOCAL_US]);
    let out = eprun(project, &all).no_credentials().run();
    out.expect_no_panic();
    out
}

/// The plan's JSON, checking that nothing is created, deleted or replaced.
fn plan_without_recreation(project: &Project, moto: &Moto) -> serde_json::Value {
    let out = run(project, moto, &["plan", "--json"]);
    out.expect_success();
    let plan = out.json();
    for action in ["create", "delete", "replace"] {
        assert_eq!(plan["summary"][action], 0, "{action}\n{out}");
    }
    plan
}

/// The change the plan makes to `address`.
fn change<'p>(plan: &'p serde_json::Value, address: &str) -> &'p serde_json::Value {
    plan["changes"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["address"] == address))
        .unwrap_or_else(|| panic!("the plan has no change for `{address}`: {plan:#}"))
}

/// After an apply, the plan is empty (`--detailed-exitcode` says 0).
fn expect_no_changes(project: &Project, moto: &Moto, when: &str) {
    let out = run(project, moto, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "the plan must be empty {when}\n{out}");
    assert!(out.stdout.contains("No changes."), "{when}\n{out}");
}

/// The stack's subnets in moto, read with the SDK: (id, `eprun:address` tag, `Name` tag).
fn subnets(moto: &Moto) -> Vec<(String, String, String)> {
    let ec2 = ec2_client(moto, "us-east-1");
    let out = block_on(ec2.describe_subnets().send()).expect("DescribeSubnets");
    out.subnets()
        .iter()
        .filter(|s| owned_by(s.tags(), LOCAL_US))
        .map(|s| {
            let tag = |k| ec2_tag(s.tags(), k).unwrap_or_default().to_string();
            (
                s.subnet_id().unwrap_or_default().to_string(),
                tag("eprun:address"),
                tag("Name"),
            )
        })
        .collect()
}

/// The id the state of `local/us-east-1` records at `address`, if any.
fn recorded_id(project: &Project, address: &str) -> Option<String> {
    let state = project.state_json(LOCAL_US)?;
    let id = state["state"]["resources"][address]["id"].as_str()?;
    Some(id.to_string())
}

#[test]
fn a_rename_with_moved_plans_no_recreation_and_the_resource_keeps_its_id() {
    let moto = Moto::start();
    let project = Project::new();
    project.write(SCRIPT, network("old-name", "old-name", ""));
    run(&project, &moto, &["apply", "--yes"]).expect_success();
    let before = subnets(&moto);
    assert_eq!(before.len(), 1, "{before:?}");
    let subnet_id = before[0].0.clone();
    let assoc_id = recorded_id(&project, "ec2.route_table_association.old-name")
        .expect("the association is recorded");

    // Both renamed; `to` as an address string, and as the new declaration's handle.
    let moves = r#"moved("ec2.subnet.old-name", "ec2.subnet.new-name");
moved("ec2.route_table_association.old-name", assoc);"#;
    project.write(SCRIPT, network("new-name", "new-name", moves));
    let plan = plan_without_recreation(&project, &moto);
    assert_eq!(plan["summary"]["moved"], 2, "{plan:#}");
    let subnet = change(&plan, "ec2.subnet.new-name");
    assert_eq!(subnet["moved_from"], "ec2.subnet.old-name", "{subnet:#}");
    // Its ownership tag (and the `Name` it had from its address) follow it.
    assert_eq!(subnet["action"], "update", "{subnet:#}");
    let tags = &subnet["fields"][0];
    assert_eq!(tags["name"], "tags", "{subnet:#}");
    assert_eq!(tags["before"]["eprun:address"], "ec2.subnet.old-name");
    assert_eq!(tags["after"]["eprun:address"], "ec2.subnet.new-name");
    // The association carries no tags: recorded at its new address, nothing else.
    let assoc = change(&plan, "ec2.route_table_association.new-name");
    assert_eq!(assoc["action"], "noop", "{assoc:#}");
    assert_eq!(assoc["moved_from"], "ec2.route_table_association.old-name");

    let text = run(&project, &moto, &["plan", "--detailed-exitcode"]);
    assert_eq!(text.code, 2, "a move is a change to apply\n{text}");
    assert!(
        text.stdout
            .contains("~ ec2.subnet.new-name  (moved from ec2.subnet.old-name)"),
        "{text}"
    );
    assert!(
        text.stdout.contains(
            "ec2.route_table_association.new-name  (moved from ec2.route_table_association.old-name)"
        ),
        "{text}"
    );
    assert!(
        text.stdout
            .contains("Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 2 moved."),
        "{text}"
    );

    let apply = run(&project, &moto, &["apply", "--yes"]);
    apply.expect_success();
    assert!(
        apply
            .stdout
            .contains("0 created, 1 updated, 0 deleted, 2 moved"),
        "{apply}"
    );
    expect_no_changes(
        &project,
        &moto,
        "after the move was applied (the `moved` kept)",
    );

    // The same subnet, re-tagged, and recorded only under its new address.
    assert_eq!(
        subnets(&moto),
        vec![(
            subnet_id.clone(),
            "ec2.subnet.new-name".to_string(),
            "new-name".to_string()
        )]
    );
    assert_eq!(
        recorded_id(&project, "ec2.subnet.new-name"),
        Some(subnet_id)
    );
    assert_eq!(recorded_id(&project, "ec2.subnet.old-name"), None);
    assert_eq!(
        recorded_id(&project, "ec2.route_table_association.new-name"),
        Some(assoc_id)
    );

    // Once applied, the `moved` lines may go: the tags find the subnet under its new address.
    project.write(SCRIPT, network("new-name", "new-name", ""));
    expect_no_changes(&project, &moto, "after the `moved` lines were removed");
}

#[test]
fn a_declaration_moved_into_a_module_keeps_its_resource() {
    let moto = Moto::start();
    let project = Project::new();
    project.write(SCRIPT, network("app-a", "app-a", ""));
    run(&project, &moto, &["apply", "--yes"]).expect_success();
    let subnet_id = subnets(&moto)[0].0.clone();

    // The subnet and its association now come from a module, under the module's names.
    project.write(
        "scripts/app_net.rhai",
        r#"/// The application subnet of `vpc`, routed through `table`.
fn subnet(vpc, table) {
    let s = aws::ec2::subnet("app-net-a", #{ vpc_id: vpc.id, cidr_block: "10.70.1.0/24", availability_zone: "us-east-1a" });
    aws::ec2::route_table_association("app-net-a", #{ subnet_id: s.id, route_table_id: table.id });
    s
}
"#,
    );
    project.write(
        SCRIPT,
        r#"import "./app_net" as app_net;
let env = stack("local/us-east-1");
let vpc = aws::ec2::vpc("refactor", #{ cidr_block: "10.70.0.0/16" });
let table = aws::ec2::route_table("refactor", #{ vpc_id: vpc.id });
let subnet = app_net::subnet(vpc, table);
moved("ec2.subnet.app-a", subnet);
moved("ec2.route_table_association.app-a", "ec2.route_table_association.app-net-a");
"#,
    );
    let plan = plan_without_recreation(&project, &moto);
    assert_eq!(plan["summary"]["moved"], 2, "{plan:#}");
    let moved = change(&plan, "ec2.subnet.app-net-a");
    assert_eq!(moved["moved_from"], "ec2.subnet.app-a", "{moved:#}");

    run(&project, &moto, &["apply", "--yes"]).expect_success();
    expect_no_changes(&project, &moto, "after the move into the module");
    assert_eq!(
        subnets(&moto),
        vec![(
            subnet_id.clone(),
            "ec2.subnet.app-net-a".to_string(),
            "app-net-a".to_string()
        )]
    );
    assert_eq!(
        recorded_id(&project, "ec2.subnet.app-net-a"),
        Some(subnet_id)
    );
}

/// Plans `body` (after `stack(…)` and a VPC with subnet `a`) on a fresh project, where the state
/// is empty and no AWS call is made; returns the failed command, which wrote no state.
fn refused_offline(body: &str) -> Output {
    let project = Project::new();
    let script = format!(
        r#"let env = stack("local/us-east-1");
let vpc = aws::ec2::vpc("refactor", #{{ cidr_block: "10.70.0.0/16" }});
let a = aws::ec2::subnet("a", #{{ vpc_id: vpc.id, cidr_block: "10.70.1.0/24", availability_zone: "us-east-1a" }});
{body}
"#
    );
    project.write(SCRIPT, script);
    let out = eprun(&project, &["plan", SCRIPT, "--env", LOCAL_US])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .run();
    out.expect_code(1).expect_no_panic();
    project.assert_no_state(&out);
    out
}

#[test]
fn moved_to_an_undeclared_address_is_refused_at_its_line() {
    let out = refused_offline(r#"moved("ec2.subnet.old", "ec2.subnet.b");"#);
    assert!(
        out.stderr.contains(&format!(
            "{SCRIPT}:4:1: `moved` to `ec2.subnet.b`, which is not declared; did you mean `ec2.subnet.a`?"
        )),
        "{out}"
    );
}

#[test]
fn moved_from_an_address_still_declared_is_refused_at_its_line() {
    let out = refused_offline(r#"moved("ec2.subnet.a", "ec2.vpc.refactor");"#);
    assert!(
        out.stderr
            .contains("cannot move `ec2.subnet.a` to `ec2.vpc.refactor`: a `ec2.subnet` cannot become a `ec2.vpc`"),
        "other types are refused where `moved` is called\n{out}"
    );
    assert!(out.stderr.contains(&format!("{SCRIPT}:4:")), "{out}");

    let out = refused_offline(
        r#"let b = aws::ec2::subnet("b", #{ vpc_id: vpc.id, cidr_block: "10.70.2.0/24", availability_zone: "us-east-1a" });
moved("ec2.subnet.a", b);"#,
    );
    assert!(
        out.stderr.contains(&format!(
            "{SCRIPT}:5:1: `moved` from `ec2.subnet.a`, which is still declared at {SCRIPT}:3:"
        )) && out
            .stderr
            .contains("hint: remove that declaration: the resource now lives at `ec2.subnet.b`"),
        "{out}"
    );
}

#[test]
fn moved_kubernetes_objects_and_twice_moved_addresses_are_refused_at_their_line() {
    let out = refused_offline(r#"moved("k8s.namespace.payments", "k8s.namespace.payments-v2");"#);
    assert!(
        out.stderr.contains("cannot move `k8s.namespace.payments`")
            && out.stderr.contains(&format!("{SCRIPT}:4:")),
        "{out}"
    );

    let out = refused_offline(
        r#"moved("ec2.subnet.old", "ec2.subnet.a");
moved("ec2.subnet.older", "ec2.subnet.a");"#,
    );
    assert!(
        out.stderr.contains(&format!(
            "`ec2.subnet.a` is already moved by the `moved` at {SCRIPT}:4:1"
        )) && out.stderr.contains(&format!("{SCRIPT}:5:")),
        "{out}"
    );
}

#[test]
fn state_mv_re_addresses_in_state_and_refuses_what_would_lose_a_resource() {
    let moto = Moto::start();
    let project = Project::new();
    let two = |first: &str| {
        format!(
            r#"let env = stack("local/us-east-1");
let vpc = aws::ec2::vpc("refactor", #{{ cidr_block: "10.70.0.0/16" }});
aws::ec2::subnet("{first}", #{{ vpc_id: vpc.id, cidr_block: "10.70.1.0/24", availability_zone: "us-east-1a" }});
aws::ec2::subnet("b", #{{ vpc_id: vpc.id, cidr_block: "10.70.2.0/24", availability_zone: "us-east-1b" }});
"#
        )
    };
    project.write(SCRIPT, two("a"));
    run(&project, &moto, &["apply", "--yes"]).expect_success();
    let a_id = recorded_id(&project, "ec2.subnet.a").expect("`a` is recorded");
    let serial = || {
        project.state_json(LOCAL_US).expect("the state")["state"]["serial"]
            .as_u64()
            .expect("a serial")
    };
    let applied = serial();
    let untouched = |out: &Output| {
        assert_eq!(serial(), applied, "a refused move wrote the state\n{out}");
        assert_eq!(recorded_id(&project, "ec2.subnet.a"), Some(a_id.clone()));
    };

    // A `moved` onto an address the state records too would lose one of them.
    project.write(
        SCRIPT,
        r#"let env = stack("local/us-east-1");
let vpc = aws::ec2::vpc("refactor", #{ cidr_block: "10.70.0.0/16" });
aws::ec2::subnet("b", #{ vpc_id: vpc.id, cidr_block: "10.70.2.0/24", availability_zone: "us-east-1b" });
moved("ec2.subnet.a", "ec2.subnet.b");
"#,
    );
    let both = run(&project, &moto, &["plan"]);
    both.expect_code(1);
    assert!(
        both.stderr.contains(&format!(
            "{SCRIPT}:4:1: cannot move `ec2.subnet.a` to `ec2.subnet.b`: the state of `{LOCAL_US}` records both"
        )),
        "{both}"
    );
    untouched(&both);

    // `state mv` refuses the same, and an unknown `from`, and another type.
    let taken = state(&project, &["mv", "ec2.subnet.a", "ec2.subnet.b"]);
    taken.expect_code(1);
    assert!(
        taken.stderr.contains(&format!(
            "`ec2.subnet.b` is already in the state of `{LOCAL_US}`"
        )),
        "{taken}"
    );
    untouched(&taken);
    let absent = state(&project, &["mv", "ec2.subnet.aa", "ec2.subnet.c"]);
    absent.expect_code(1);
    assert!(
        absent.stderr.contains(&format!(
            "`ec2.subnet.aa` is not in the state of `{LOCAL_US}`; did you mean `ec2.subnet.a`?"
        )),
        "{absent}"
    );
    untouched(&absent);
    let kinds = state(&project, &["mv", "ec2.subnet.a", "ec2.vpc.a"]);
    kinds.expect_code(1);
    assert!(
        kinds
            .stderr
            .contains("a `ec2.subnet` cannot become a `ec2.vpc`"),
        "{kinds}"
    );
    untouched(&kinds);

    // The move itself: recorded at `c`, same id, serial bumped, nothing in AWS touched.
    let mv = state(&project, &["mv", "ec2.subnet.a", "ec2.subnet.c"]);
    mv.expect_success();
    assert!(
        mv.stderr.contains("moved `ec2.subnet.a` to `ec2.subnet.c`"),
        "{mv}"
    );
    assert_eq!(serial(), applied + 1);
    assert_eq!(recorded_id(&project, "ec2.subnet.c"), Some(a_id.clone()));
    assert_eq!(recorded_id(&project, "ec2.subnet.a"), None);
    let listed = state(&project, &["list"]);
    assert!(
        state_list_addresses(&listed).contains(&"ec2.subnet.c".to_string()),
        "{listed}"
    );

    // The script renamed to match: no recreation, only the ownership tag follows.
    project.write(SCRIPT, two("c"));
    let plan = plan_without_recreation(&project, &moto);
    let c = change(&plan, "ec2.subnet.c");
    assert_eq!(c["action"], "update", "{plan:#}");
    assert_eq!(c["fields"][0]["after"]["eprun:address"], "ec2.subnet.c");
    run(&project, &moto, &["apply", "--yes"]).expect_success();
    expect_no_changes(&project, &moto, "after `state mv` and an apply");
    let tagged: Vec<_> = subnets(&moto)
        .into_iter()
        .filter(|(id, ..)| *id == a_id)
        .map(|(_, address, _)| address)
        .collect();
    assert_eq!(tagged, vec!["ec2.subnet.c".to_string()]);
}
