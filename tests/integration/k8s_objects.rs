//! `k8s::object` on its own: mistakes in manifests are located script errors before any call,
//! a kind the cluster does not serve is named by discovery, and an unreachable cluster is one line.

use crate::kube_support::{ControlPlane, write_kubeconfig};
use crate::support::*;

const FILE: &str = "scripts/objects.rhai";
const HEADER: &str = "// Kubernetes objects only\nlet env = stack(\"local/us-east-1\");\n";

fn script(project: &Project, body: &str) {
    project.write(FILE, format!("{HEADER}{body}\n"));
}

/// Plans offline (no cluster, no AWS) and expects a located script error.
fn expect_located(body: &str, column_line: &str, what: &[&str]) {
    let project = Project::new();
    script(&project, body);
    let out = eprun(&project, &["plan", FILE])
        .no_credentials()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("KUBECONFIG", "/nonexistent")
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(
        out.stderr.contains(column_line),
        "the error names `{column_line}`\n{out}"
    );
    assert!(
        out.stderr.contains(body.trim()),
        "the error shows the source line\n{out}"
    );
    for w in what {
        assert!(out.stderr.contains(w), "the error says `{w}`\n{out}");
    }
    project.assert_no_state(&out);
}

#[test]
fn a_manifest_without_kind_is_a_located_error() {
    expect_located(
        r#"k8s::object(#{ apiVersion: "v1", metadata: #{ name: "x", namespace: "default" } });"#,
        "scripts/objects.rhai:3:",
        &["no `kind`"],
    );
}

#[test]
fn a_namespaced_kind_without_namespace_is_a_located_error() {
    expect_located(
        r#"k8s::object(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "x" } });"#,
        "scripts/objects.rhai:3:",
        &["namespaced kind", "metadata.namespace"],
    );
}

#[test]
fn a_wrong_type_in_a_well_known_field_is_a_located_error() {
    expect_located(
        r#"k8s::object(#{ apiVersion: "apps/v1", kind: "Deployment", metadata: #{ name: "web", namespace: "payments" }, spec: #{ replicas: "three" } });"#,
        "scripts/objects.rhai:3:",
        &["`spec.replicas` must be an integer"],
    );
}

#[test]
fn a_kind_the_cluster_does_not_serve_is_named_by_discovery() {
    let project = Project::new();
    let kube = ControlPlane::start();
    let config = project.join(".test-scratch/kubeconfig");
    write_kubeconfig(&config, &[("local-us-east-1", &kube)]);
    let line = r#"k8s::object(#{ apiVersion: "karpenter.sh/v1", kind: "NodePoool", metadata: #{ name: "payments" } });"#;
    script(&project, line);
    let out = eprun(&project, &["plan", FILE])
        .no_credentials()
        .env("KUBECONFIG", &config.display().to_string())
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(out.stderr.contains("scripts/objects.rhai:3:"), "{out}");
    assert!(
        out.stderr.contains("does not serve kind `NodePoool`"),
        "{out}"
    );
    assert!(out.stderr.contains("did you mean `NodePool`"), "{out}");
    project.assert_no_state(&out);
}

#[test]
fn an_unreachable_cluster_is_one_clear_line() {
    let moto = Moto::start();
    let project = Project::new();
    script(
        &project,
        r#"k8s::object(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "settings", namespace: "default" }, data: #{ mode: "live" } });"#,
    );
    // A kubeconfig whose context points at a closed port.
    let closed = ControlPlane::start();
    let config = project.join(".test-scratch/kubeconfig");
    write_kubeconfig(&config, &[("local-us-east-1", &closed)]);
    drop(closed);
    let out = eprun(&project, &["apply", FILE, "--yes"])
        .moto(&moto)
        .env("KUBECONFIG", &config.display().to_string())
        .run();
    out.expect_code(1).expect_no_panic();
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("could not reach the Kubernetes API"))
        .unwrap_or_else(|| panic!("no line says the cluster is unreachable\n{out}"));
    assert!(
        line.contains("local-us-east-1"),
        "the line names the context: {line}"
    );
    assert!(!out.all().contains("panicked"));
}

#[test]
fn an_object_removed_from_the_script_is_deleted_from_the_cluster() {
    let moto = Moto::start();
    let project = Project::new();
    let two = r#"k8s::object(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "a", namespace: "default" }, data: #{ k: "1" } });
k8s::object(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "b", namespace: "default" }, data: #{ k: "2" } });"#;
    script(&project, two);
    eprun(&project, &["apply", FILE, "--yes"])
        .moto(&moto)
        .run()
        .expect_success();
    let kube = &moto.clusters().us;
    let a = kube
        .get("/api/v1/namespaces/default/configmaps/a")
        .expect("a exists");
    assert_eq!(a["data"]["k"], "1");
    assert_eq!(
        a["metadata"]["annotations"]["eprun.dev/address"],
        "k8s.configmap.default/a"
    );
    assert!(
        kube.get("/api/v1/namespaces/default/configmaps/b")
            .is_some()
    );

    script(&project, two.lines().next().unwrap());
    let plan = eprun(&project, &["plan", FILE]).moto(&moto).run();
    plan.expect_success();
    assert!(plan.stdout.contains("- k8s.configmap.default/b"), "{plan}");
    eprun(&project, &["apply", FILE, "--yes"])
        .moto(&moto)
        .run()
        .expect_success();
    assert!(
        kube.get("/api/v1/namespaces/default/configmaps/b")
            .is_none(),
        "b is pruned"
    );
    assert!(
        kube.get("/api/v1/namespaces/default/configmaps/a")
            .is_some(),
        "a stays"
    );
}
