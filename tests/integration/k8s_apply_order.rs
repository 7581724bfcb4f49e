//! One apply of a stack that declares a CustomResourceDefinition, objects of its kind, a
//! namespace and a Deployment: each waits for what it needs (the CRD established and served, the
//! namespace), apply ends only once the Deployment is rolled out (its pods Running on a kwok
//! node), and a destroy removes the objects before their CRD.

use crate::support::*;
use serde_json::json;

const FILE: &str = "scripts/widgets.rhai";

const STACK: &str = r#"let env = stack("local/us-east-1");
let crd = k8s::object(#{
    apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition",
    metadata: #{ name: "widgets.example.com" },
    spec: #{
        group: "example.com", scope: "Namespaced",
        names: #{ plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
        versions: [#{ name: "v1", served: true, storage: true,
            schema: #{ openAPIV3Schema: #{ type: "object", properties: #{
                spec: #{ type: "object", properties: #{ size: #{ type: "integer" } } } } } } }]
    }
});
k8s::object(#{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "shop" } });
k8s::object(#{ apiVersion: "example.com/v1", kind: "Widget",
               metadata: #{ name: "blue", namespace: "shop" }, spec: #{ size: 3 } });
k8s::object(#{ apiVersion: "apps/v1", kind: "Deployment",
    metadata: #{ name: "web", namespace: "shop" },
    spec: #{ replicas: 2, selector: #{ matchLabels: #{ app: "web" } },
             template: #{ metadata: #{ labels: #{ app: "web" } },
                          spec: #{ containers: [#{ name: "web", image: "nginx:1.27" }] } } } });
"#;

#[test]
fn a_crd_its_objects_and_a_deployment_apply_in_one_go_and_wait_until_usable() {
    let moto = Moto::start();
    let kube = &moto.clusters().us;
    // A node for the Deployment's pods: kwok makes it Ready and runs what is scheduled on it.
    kube.create(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"}}),
    );
    let project = Project::new();
    project.write(FILE, STACK);

    let plan = eprun(&project, &["plan", FILE]).moto(&moto).run();
    plan.expect_success();
    assert!(plan.stdout.contains("+ k8s.widget.shop/blue"), "{plan}");

    let apply = eprun(&project, &["apply", FILE, "--yes"]).moto(&moto).run();
    apply.expect_success();
    let widget = kube
        .get("/apis/example.com/v1/namespaces/shop/widgets/blue")
        .expect("the Widget was applied once its CRD was served");
    assert_eq!(widget["spec"]["size"], 3);
    // Apply returned only after the rollout: both replicas are available right now.
    let web = kube
        .get("/apis/apps/v1/namespaces/shop/deployments/web")
        .expect("the deployment");
    assert_eq!(web["status"]["availableReplicas"], 2, "{web}");
    let running = kube
        .list("/api/v1/namespaces/shop/pods")
        .into_iter()
        .filter(|p| p["status"]["phase"] == "Running")
        .count();
    assert_eq!(running, 2);

    eprun(&project, &["plan", FILE, "--detailed-exitcode"])
        .moto(&moto)
        .run()
        .expect_code(0);

    let destroy = eprun(&project, &["destroy", FILE, "--yes"])
        .moto(&moto)
        .run();
    destroy.expect_success();
    poll_until(
        std::time::Duration::from_secs(60),
        "the CRD to be gone",
        || destroy.to_string(),
        || {
            kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
                .is_none()
                .then_some(())
        },
    );
}
