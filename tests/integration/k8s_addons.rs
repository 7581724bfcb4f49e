//! The Kubernetes add-ons in the regional stack: applied to the region's own cluster, checked
//! through the emulator's API, planned again with no changes, changed, pruned, and left alone
//! where the runbooks own a field.

use crate::support::*;
use serde_json::{Value, json};

const STACK: &str = "scripts/prod/us-east-1.rhai";
const ENV: &str = "local/us-east-1";

fn apply(project: &Project, moto: &Moto) -> Output {
    let out = eprun(project, &["apply", STACK, "--env", ENV, "--yes"])
        .moto(moto)
        .run();
    out.expect_success();
    out
}

fn plan_exit(project: &Project, moto: &Moto) -> Output {
    eprun(
        project,
        &["plan", STACK, "--env", ENV, "--detailed-exitcode"],
    )
    .moto(moto)
    .run()
}

fn get(moto: &Moto, path: &str) -> Value {
    moto.clusters()
        .us
        .get(path)
        .unwrap_or_else(|| panic!("`{path}` is not in the us-east-1 cluster"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn addons_are_applied_to_the_regions_own_cluster_and_plan_clean_after() {
    let moto = Moto::start();
    let project = Project::new();
    apply(&project, &moto);

    // Karpenter: three pools on one node class, payments reserved by a taint, batch on spot.
    let class = get(&moto, "/apis/karpenter.k8s.aws/v1/ec2nodeclasses/default");
    assert_eq!(
        class["spec"]["metadataOptions"]["httpTokens"], "required",
        "{class}"
    );
    assert!(
        class["spec"]["instanceProfile"]
            .as_str()
            .is_some_and(|p| p.ends_with("-karpenter-node") && !p.contains("eprun:")),
        "the nodes' instance profile is the one the stack declares: {class}"
    );
    assert!(
        class["spec"]["subnetSelectorTerms"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let payments = get(&moto, "/apis/karpenter.sh/v1/nodepools/payments");
    let taints = &payments["spec"]["template"]["spec"]["taints"];
    assert!(
        taints
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "workload" && t["effect"] == "NoSchedule"),
        "{payments}"
    );
    assert_eq!(
        payments["spec"]["template"]["spec"]["nodeClassRef"]["name"],
        "default"
    );
    let batch = get(&moto, "/apis/karpenter.sh/v1/nodepools/batch");
    let capacity = batch["spec"]["template"]["spec"]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "karpenter.sh/capacity-type")
        .cloned()
        .unwrap_or_else(|| panic!("no capacity-type requirement: {batch}"));
    assert_eq!(strings(&capacity["values"]), ["spot"]);
    assert_eq!(
        batch["spec"]["disruption"]["consolidationPolicy"],
        "WhenEmptyOrUnderutilized"
    );
    let gpu = get(&moto, "/apis/karpenter.sh/v1/nodepools/gpu");
    assert!(
        gpu.to_string()
            .contains("karpenter.k8s.aws/instance-family"),
        "{gpu}"
    );

    // The payment service: blue/green with the analyses gating promotion.
    let rollout = get(
        &moto,
        "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service",
    );
    let bg = &rollout["spec"]["strategy"]["blueGreen"];
    assert_eq!(bg["activeService"], "payment-service-active", "{rollout}");
    assert_eq!(bg["previewService"], "payment-service-preview");
    assert_eq!(bg["autoPromotionEnabled"], false);
    let templates: Vec<String> = bg["prePromotionAnalysis"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["templateName"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(templates, ["p99-latency", "error-rate"]);
    for t in ["p99-latency", "error-rate"] {
        let at = get(
            &moto,
            &format!("/apis/argoproj.io/v1alpha1/namespaces/payments/analysistemplates/{t}"),
        );
        assert!(
            at["spec"]["metrics"][0]["provider"]["prometheus"]["query"].is_string(),
            "{at}"
        );
    }
    let sa = get(
        &moto,
        "/api/v1/namespaces/payments/serviceaccounts/payment-service",
    );
    let role_arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        .as_str()
        .unwrap_or_default();
    assert!(
        role_arn.starts_with("arn:aws:iam::") && role_arn.contains(":role/"),
        "IRSA role ARN resolved: {sa}"
    );

    // Policies, secrets, monitoring.
    let policy = get(
        &moto,
        "/apis/kyverno.io/v1/clusterpolicies/verify-image-signatures",
    );
    // The per-rule failure action, not the spec-level one Kyverno deprecated.
    let verify = &policy["spec"]["rules"][0]["verifyImages"][0];
    assert_eq!(verify["failureAction"], "Enforce", "{policy}");
    // (The CRD defaults the deprecated field; eprun does not set it.)
    let fields = &policy["metadata"]["managedFields"];
    let ours = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["manager"] == "eprun");
    let spec = &ours.expect("eprun's managed fields")["fieldsV1"]["f:spec"];
    assert!(spec.get("f:validationFailureAction").is_none(), "{policy}");
    get(
        &moto,
        "/apis/cilium.io/v2/namespaces/payments/ciliumnetworkpolicies/default-deny",
    );
    let store = get(
        &moto,
        "/apis/external-secrets.io/v1/clustersecretstores/aws-secrets-manager",
    );
    assert_eq!(
        store["spec"]["provider"]["aws"]["service"],
        "SecretsManager"
    );
    assert_eq!(store["spec"]["provider"]["aws"]["region"], "us-east-1");
    for name in ["payments-db", "stripe-api-key", "webhook-signing-key"] {
        let es = get(
            &moto,
            &format!("/apis/external-secrets.io/v1/namespaces/payments/externalsecrets/{name}"),
        );
        assert!(
            es.to_string().contains(&format!("examplepay/local/{name}")),
            "{es}"
        );
    }
    let slo = get(
        &moto,
        "/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheusrules/payment-service-slo",
    );
    assert!(
        slo.to_string().contains("14.4"),
        "the fast-burn window: {slo}"
    );

    // Every object carries eprun's labels; the DR region's cluster got nothing.
    assert_eq!(
        payments["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "eprun"
    );
    assert_eq!(
        payments["metadata"]["labels"]["eprun.dev/stack"],
        "local.us-east-1"
    );
    assert!(
        moto.clusters()
            .eu
            .list("/apis/karpenter.sh/v1/nodepools")
            .is_empty()
    );

    // The controllers are real Helm releases. Their upstream charts cannot be downloaded here:
    // stand-ins with the same names and versions (`seed_stand_in_charts`) record their values.
    let releases =
        crate::kube_support::helm_releases(&moto.clusters().kubeconfig, Some("local-us-east-1"));
    assert_eq!(
        releases,
        [
            "argo-rollouts/argo-rollouts argo-rollouts-2.40.5 deployed",
            "external-secrets/external-secrets external-secrets-0.16.2 deployed",
            "karpenter/karpenter karpenter-1.13.1 deployed",
            "kube-system/cilium cilium-1.17.6 deployed",
            "kyverno/kyverno kyverno-3.3.7 deployed",
            "logging/fluent-bit aws-for-fluent-bit-0.1.35 deployed",
            "monitoring/kube-prometheus-stack kube-prometheus-stack-79.12.0 deployed",
            "observability/adot-collector opentelemetry-collector-0.140.0 deployed",
        ]
    );
    let values = |namespace: &str, release: &str| -> Value {
        let cm = get(
            &moto,
            &format!("/api/v1/namespaces/{namespace}/configmaps/{release}-values"),
        );
        serde_json::from_str(cm["data"]["values.json"].as_str().unwrap_or_default())
            .expect("JSON values")
    };
    let karpenter = values("karpenter", "karpenter");
    assert_eq!(
        karpenter["settings"]["clusterName"], "examplepay-local",
        "{karpenter}"
    );
    assert_eq!(
        karpenter["settings"]["interruptionQueue"], "examplepay-local",
        "{karpenter}"
    );
    assert!(
        karpenter["settings"]["clusterEndpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("https://")),
        "the cluster endpoint token was resolved at apply: {karpenter}"
    );
    let role = &karpenter["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"];
    assert!(
        role.as_str()
            .is_some_and(|r| r.starts_with("arn:aws:iam::123456789012:role/")
                && r.ends_with("/examplepay-local-karpenter")),
        "{karpenter}"
    );
    let fluent_bit = values("logging", "fluent-bit");
    assert_eq!(
        fluent_bit["cloudWatchLogs"]["logGroupName"],
        "/aws/eks/examplepay-local/containers"
    );
    assert_eq!(fluent_bit["cloudWatchLogs"]["region"], "us-east-1");
    let cilium = values("kube-system", "cilium");
    assert_eq!(cilium["cni"]["chainingMode"], "aws-cni", "{cilium}");

    let out = plan_exit(&project, &moto);
    assert_eq!(
        out.code, 0,
        "a plan right after apply shows no changes\n{out}"
    );

    // A values change plans as a field-level diff inside the release.
    project.edit("stdlib/k8s/controllers.rhai", |t| {
        t.replace("retention: \"15d\"", "retention: \"30d\"")
    });
    let plan = eprun(&project, &["plan", STACK, "--env", ENV])
        .moto(&moto)
        .run();
    plan.expect_success();
    for shown in [
        "~ helm.release.monitoring/kube-prometheus-stack",
        r#"values.prometheus.prometheusSpec.retention: "15d" → "30d""#,
        "~ ConfigMap monitoring/kube-prometheus-stack-values",
    ] {
        assert!(
            plan.stdout.contains(shown),
            "the plan shows `{shown}`\n{plan}"
        );
    }
}

#[test]
fn changed_and_removed_objects_are_updated_and_pruned_while_runbook_fields_are_left_alone() {
    let moto = Moto::start();
    let project = Project::new();
    apply(&project, &moto);

    // What the DR runbooks change during an incident is theirs: plans ignore it.
    let kube = &moto.clusters().us;
    kube.patch(
        "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service",
        &json!({"spec": {"replicas": 12}}),
    );
    kube.patch(
        "/apis/karpenter.sh/v1/nodepools/payments",
        &json!({"spec": {"limits": {"cpu": "512"}}}),
    );
    let out = plan_exit(&project, &moto);
    assert_eq!(out.code, 0, "runbook-owned fields are ignored\n{out}");

    // A field eprun manages, changed in the environment, is a field-level update.
    project.edit("environments/local/us-east-1.toml", |t| {
        t.replace("consolidate_after = \"1m\"", "consolidate_after = \"5m\"")
    });
    // And the GPU pool, removed from the environment, is pruned.
    project.edit("environments/local/us-east-1.toml", |t| {
        let start = t
            .find("[[k8s.karpenter.node_pools]]\nname = \"gpu\"")
            .expect("the gpu pool");
        let end = t[start..]
            .find("\n\n")
            .map(|e| start + e)
            .unwrap_or(t.len());
        format!("{}{}", &t[..start], &t[end..])
    });
    let plan = eprun(&project, &["plan", STACK, "--env", ENV, "--json"])
        .moto(&moto)
        .run();
    plan.expect_success();
    let changes = plan.json()["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let find = |addr: &str| {
        changes
            .iter()
            .find(|c| c["address"] == addr)
            .cloned()
            .unwrap_or_else(|| panic!("no change for `{addr}`\n{plan}"))
    };
    let batch = find("k8s.nodepool.batch");
    assert_eq!(batch["action"], "update");
    assert!(
        batch
            .to_string()
            .contains("spec.disruption.consolidateAfter"),
        "{batch}"
    );
    assert_eq!(find("k8s.nodepool.gpu")["action"], "delete");
    let others = changes.iter().filter(|c| c["action"] != "noop").count();
    assert_eq!(others, 2, "only those two change\n{plan}");

    apply(&project, &moto);
    assert!(
        kube.get("/apis/karpenter.sh/v1/nodepools/gpu").is_none(),
        "the gpu pool is pruned"
    );
    let batch = kube.get("/apis/karpenter.sh/v1/nodepools/batch").unwrap();
    assert_eq!(batch["spec"]["disruption"]["consolidateAfter"], "5m");
    let rollout = kube
        .get("/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service")
        .unwrap();
    assert_eq!(
        rollout["spec"]["replicas"], 12,
        "an apply never undoes the runbook's scaling"
    );
    let pool = kube
        .get("/apis/karpenter.sh/v1/nodepools/payments")
        .unwrap();
    assert_eq!(pool["spec"]["limits"]["cpu"], "512");
    assert_eq!(plan_exit(&project, &moto).code, 0);
}

#[test]
fn render_prints_the_stacks_objects_as_yaml() {
    let project = Project::new();
    let out = eprun(&project, &["render", STACK, "--local-state"])
        .no_credentials()
        .run();
    out.expect_success();
    let docs = out.stdout.matches("\n---\n").count() + usize::from(out.stdout.starts_with("---\n"));
    assert_eq!(docs, 31, "one document per object\n{out}");
    assert!(out.stdout.contains("kind: NodePool"));
    assert!(
        out.stdout
            .contains("# k8s.rollout.payments/payment-service")
    );
}
