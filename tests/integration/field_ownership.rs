//! Server-side apply against a real API server: a field removed from a manifest is planned and
//! applied as a removal (eprun's managed fields), a field another manager took is a conflict the
//! plan shows and apply refuses without `--force-conflicts`, and unknown fields are refused by
//! strict validation.

use crate::support::*;
use serde_json::json;

const FILE: &str = "scripts/objects.rhai";
const HEADER: &str = "let env = stack(\"local/us-east-1\");\n";
const CONFIG_MAP: &str = "/api/v1/namespaces/default/configmaps/settings";

fn script(project: &Project, body: &str) {
    project.write(FILE, format!("{HEADER}{body}\n"));
}

fn config_map(data: &str) -> String {
    format!(
        r#"k8s::object(#{{ apiVersion: "v1", kind: "ConfigMap", metadata: #{{ name: "settings", namespace: "default" }}, data: #{{ {data} }} }});"#
    )
}

fn run(project: &Project, moto: &Moto, args: &[&str]) -> Output {
    let out = eprun(project, args).moto(moto).run();
    out.expect_no_panic();
    out
}

#[test]
fn a_field_removed_from_the_manifest_is_planned_and_applied_as_a_removal() {
    let moto = Moto::start();
    let project = Project::new();
    script(
        &project,
        &config_map(r#"mode: "live", region: "us-east-1""#),
    );
    run(&project, &moto, &["apply", FILE, "--yes"]).expect_success();
    let kube = &moto.clusters().us;
    assert_eq!(
        kube.get(CONFIG_MAP).expect("applied")["data"],
        json!({"mode": "live", "region": "us-east-1"})
    );

    script(&project, &config_map(r#"mode: "live""#));
    let plan = run(&project, &moto, &["plan", FILE]);
    plan.expect_success();
    assert!(
        plan.stdout.contains("~ k8s.configmap.default/settings"),
        "{plan}"
    );
    let line = plan
        .stdout
        .lines()
        .find(|l| l.contains("data.region"))
        .unwrap_or_else(|| panic!("the plan names the removed field\n{plan}"));
    assert!(line.contains("(removed)"), "{line}");

    run(&project, &moto, &["apply", FILE, "--yes"]).expect_success();
    assert_eq!(
        kube.get(CONFIG_MAP).expect("still there")["data"],
        json!({"mode": "live"}),
        "the server removed the field eprun no longer applies"
    );
    let again = run(&project, &moto, &["plan", FILE, "--detailed-exitcode"]);
    again.expect_code(0);
}

#[test]
fn a_field_another_manager_took_is_a_conflict_that_apply_takes_only_when_forced() {
    let moto = Moto::start();
    let project = Project::new();
    script(&project, &config_map(r#"mode: "live""#));
    run(&project, &moto, &["apply", FILE, "--yes"]).expect_success();
    let kube = &moto.clusters().us;
    // Someone edits the field with their own server-side apply, taking it over.
    kube.apply_as(
        CONFIG_MAP,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "default"},
                "data": {"mode": "maintenance"}}),
        "oncall-kubectl",
        true,
    );

    let plan = run(&project, &moto, &["plan", FILE]);
    plan.expect_success();
    let line = plan
        .stdout
        .lines()
        .find(|l| l.contains("data.mode"))
        .unwrap_or_else(|| panic!("the plan shows the drifted field\n{plan}"));
    assert!(
        line.contains("conflict") && line.contains("oncall-kubectl"),
        "the plan names the other manager: {line}"
    );
    assert!(line.contains("--force-conflicts"), "{line}");

    let refused = run(&project, &moto, &["apply", FILE, "--yes"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("server-side apply")
            && refused.stderr.contains("ConfigMap default/settings")
            && refused.stderr.contains("oncall-kubectl")
            && refused.stderr.contains("--force-conflicts"),
        "the error names the operation, the object, the other manager and the way out\n{refused}"
    );
    assert_eq!(
        kube.get(CONFIG_MAP).expect("there")["data"]["mode"],
        "maintenance",
        "a refused apply changes nothing"
    );

    run(
        &project,
        &moto,
        &["apply", FILE, "--yes", "--force-conflicts"],
    )
    .expect_success();
    assert_eq!(kube.get(CONFIG_MAP).expect("there")["data"]["mode"], "live");
    run(&project, &moto, &["plan", FILE, "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn a_field_the_schema_does_not_know_is_refused_by_strict_validation() {
    let moto = Moto::start();
    let project = Project::new();
    script(
        &project,
        r#"k8s::object(#{ apiVersion: "karpenter.sh/v1", kind: "NodePool", metadata: #{ name: "payments" },
    spec: #{ template: #{ spec: #{ nodeClassRef: #{ group: "karpenter.k8s.aws", kind: "EC2NodeClass", name: "default" },
                                  requirements: [] } },
             weigth: 10 } });"#,
    );
    let out = run(&project, &moto, &["apply", FILE, "--yes"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("NodePool payments") && out.stderr.contains("spec.weigth"),
        "the server's strict validation names the unknown field\n{out}"
    );
    assert!(
        moto.clusters()
            .us
            .get("/apis/karpenter.sh/v1/nodepools/payments")
            .is_none(),
        "nothing was created"
    );
}
