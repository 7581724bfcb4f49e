//! The imperative Kubernetes verbs (`k8s::get`, `list`, `apply`, `patch`, `delete`, `scale`,
//! `wait`, `rollout_*`, `cordon`, `drain`, `logs`): the real binary's `eprun eval` against a real
//! local control plane (kube-apiserver, controller-manager, scheduler; kwok plays the kubelets),
//! reached through a kubeconfig context as `environments/local/us-east-1.toml` says
//! (`[k8s] connect = "kubeconfig"`, `context = "local-us-east-1"`). Results are checked through
//! the apiserver directly. The real controllers (deployments, replica and stateful sets,
//! disruption budgets, garbage collection) do their work; the tests steer them the way an
//! operator would (adding nodes, changing budgets) and play only the controllers that do not run
//! here (Argo Rollouts, Karpenter, finalizers of their own).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::kube_support::{ControlPlane, write_kubeconfig};
use crate::support::{LOCAL_US, Output, Project, Running, eprun, poll_until};

/// How long a test waits for a spawned eprun.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A project copy whose `local/us-east-1` cluster is a local control plane.
struct Cluster {
    kube: ControlPlane,
    project: Project,
    kubeconfig: PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        let kube = ControlPlane::start();
        let project = Project::new();
        let env = project.read("environments/local/us-east-1.toml");
        assert!(
            env.contains("connect = \"kubeconfig\"")
                && env.contains("context = \"local-us-east-1\""),
            "environments/local/us-east-1.toml should reach its cluster through the kubeconfig context `local-us-east-1`"
        );
        let kubeconfig = project.join(".test-scratch/kubeconfig");
        write_kubeconfig(&kubeconfig, &[("local-us-east-1", &kube)]);
        Cluster {
            kube,
            project,
            kubeconfig,
        }
    }

    fn command(&self, expr: &str) -> crate::support::Eprun {
        eprun(&self.project, &["eval", expr, "--env", LOCAL_US])
            .env("KUBECONFIG", &self.kubeconfig.display().to_string())
    }

    /// `eprun eval EXPR --env local/us-east-1`, run to its end.
    fn eval(&self, expr: &str) -> Output {
        let out = self.command(expr).run();
        out.expect_no_panic();
        out
    }

    /// [`Cluster::eval`] that must succeed; its result as JSON.
    fn eval_json(&self, expr: &str) -> Value {
        let out = self.eval(expr);
        out.expect_success();
        out.json()
    }

    /// [`Cluster::eval`] that must fail; its stderr.
    fn eval_err(&self, expr: &str) -> String {
        let out = self.eval(expr);
        out.expect_code(1);
        out.stderr.clone()
    }

    /// `eprun eval` in the background, for verbs that wait for the test to play a controller.
    fn spawn(&self, expr: &str) -> Running {
        self.command(expr).spawn()
    }

    fn namespace(&self, name: &str) {
        self.kube.apply(
            &format!("/api/v1/namespaces/{name}"),
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        );
    }

    /// A node (kwok makes it Ready) with room for any number of pods.
    fn node(&self, name: &str) {
        self.kube.create(
            "/api/v1/nodes",
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}),
        );
    }

    /// A node with room for `pods` pods only: the scheduler leaves the rest Pending.
    fn small_node(&self, name: &str, pods: u32) {
        let room = json!({"cpu": "32", "memory": "256Gi", "pods": pods.to_string()});
        self.kube.create(
            "/api/v1/nodes",
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                    "status": {"capacity": room, "allocatable": room}}),
        );
    }

    /// The pod, or None.
    fn pod(&self, namespace: &str, name: &str) -> Option<Value> {
        self.kube
            .get(&format!("/api/v1/namespaces/{namespace}/pods/{name}"))
    }

    /// The uid of the pod of that name now, if any (a StatefulSet recreates a pod under its name).
    fn pod_uid(&self, namespace: &str, name: &str) -> Option<String> {
        self.pod(namespace, name)
            .and_then(|p| p["metadata"]["uid"].as_str().map(str::to_string))
    }

    /// The node of a Running pod, if it is one.
    fn running_on(&self, namespace: &str, name: &str) -> Option<String> {
        let pod = self.pod(namespace, name)?;
        (pod["status"]["phase"] == "Running")
            .then(|| pod["spec"]["nodeName"].as_str().map(str::to_string))
            .flatten()
    }

    /// `namespace/name` of the pods bound to `node`, sorted.
    fn pods_on(&self, node: &str) -> Vec<String> {
        let mut pods: Vec<String> = self
            .kube
            .list(&format!(
                "/api/v1/pods?fieldSelector=spec.nodeName%3D{node}"
            ))
            .iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    p["metadata"]["namespace"].as_str().unwrap_or_default(),
                    p["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        pods.sort();
        pods
    }

    /// Polls `check` until it holds (the controllers at work), showing the apiserver's log on
    /// a timeout.
    fn wait_for<T>(&self, what: &str, check: impl FnMut() -> Option<T>) -> T {
        poll_until(
            RUN_TIMEOUT,
            what,
            || {
                format!(
                    "--- kube-controller-manager log ---\n{}",
                    self.kube.log_text("kube-controller-manager")
                )
            },
            check,
        )
    }

    /// What the apiserver logged and what eprun printed so far, for failure messages.
    fn context(&self, running: &Running) -> String {
        format!(
            "{}\n--- kube-apiserver log ---\n{}",
            running.context(),
            self.kube.log_text("kube-apiserver")
        )
    }
}

fn names(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

const WEB: &str = "/apis/apps/v1/namespaces/payments/deployments/web";

fn web_manifest(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "payments", "labels": {"app": "web"}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
}

/// A Deployment of one nginx container, its pods labelled `app: NAME`.
fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]}}}})
}

/// A Karpenter NodePool (its controller does not run here) with CPU `limits`, on the default
/// EC2NodeClass.
fn node_pool(limits: Value) -> Value {
    json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "payments"},
           "spec": {"limits": limits,
                    "template": {"spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In",
                                          "values": ["on-demand"]}]}}}})
}

#[test]
fn get_list_apply_patch_and_delete_objects() {
    let c = Cluster::start();
    c.namespace("payments");

    // apply creates (server-side apply on a missing object) and returns the stored object.
    let applied = c.eval_json(
        r#"k8s::apply(#{
            apiVersion: "apps/v1", kind: "Deployment",
            metadata: #{ name: "web", namespace: "payments", labels: #{ app: "web" } },
            spec: #{ replicas: 2, selector: #{ matchLabels: #{ app: "web" } },
                     template: #{ metadata: #{ labels: #{ app: "web" } },
                                  spec: #{ containers: [#{ name: "web", image: "nginx:1.27" }] } } }
        })"#,
    );
    assert_eq!(applied["kind"], "Deployment");
    assert!(applied["metadata"]["uid"].is_string(), "{applied}");
    let stored = c.kube.get(WEB).expect("apply created the deployment");
    assert_eq!(stored["spec"]["replicas"], 2);
    assert_eq!(stored["metadata"]["labels"]["app"], "web");
    assert_eq!(stored["metadata"]["uid"], applied["metadata"]["uid"]);

    // A second apply of the whole manifest changes the object in place, leaving what another
    // field manager set (server-side apply: eprun owns only the fields it declares).
    c.kube.patch(
        WEB,
        &json!({"metadata": {"annotations": {"team": "payments"}}}),
    );
    c.eval_json(
        r#"k8s::apply(#{
            apiVersion: "apps/v1", kind: "Deployment",
            metadata: #{ name: "web", namespace: "payments", labels: #{ app: "web" } },
            spec: #{ replicas: 3, selector: #{ matchLabels: #{ app: "web" } },
                     template: #{ metadata: #{ labels: #{ app: "web" } },
                                  spec: #{ containers: [#{ name: "web", image: "nginx:1.27" }] } } }
        })"#,
    );
    let stored = c.kube.get(WEB).expect("the deployment");
    assert_eq!(stored["spec"]["replicas"], 3);
    assert_eq!(stored["metadata"]["uid"], applied["metadata"]["uid"]);
    assert_eq!(
        stored["metadata"]["annotations"]["team"], "payments",
        "apply kept another manager's field: {stored}"
    );
    assert_eq!(
        stored["spec"]["selector"]["matchLabels"]["app"], "web",
        "{stored}"
    );

    // get: the object, or () when absent.
    let got = c.eval_json(r#"k8s::get("Deployment", "payments", "web")"#);
    assert_eq!(got["spec"]["replicas"], 3);
    assert_eq!(got["apiVersion"], "apps/v1");
    assert!(got["metadata"].get("managedFields").is_none());
    assert_eq!(
        c.eval_json(r#"k8s::get("Deployment", "payments", "nope")"#),
        Value::Null
    );
    // The same kind by group/version/Kind.
    let got = c.eval_json(r#"k8s::get("apps/v1/Deployment", "payments", "web").metadata.name"#);
    assert_eq!(got, "web");

    // list: a namespace, all namespaces, label selectors as text or as a map.
    c.kube.create(
        "/apis/apps/v1/namespaces/payments/deployments",
        &deployment("worker", 1),
    );
    c.kube.create(
        "/apis/apps/v1/namespaces/default/deployments",
        &deployment("web", 1),
    );
    assert_eq!(
        names(&c.eval_json(r#"k8s::list("Deployment", "payments")"#)),
        ["web", "worker"]
    );
    let everywhere = c.eval_json(r#"k8s::list("Deployment", "")"#);
    assert_eq!(everywhere.as_array().map(Vec::len), Some(3), "{everywhere}");
    let by_text = c.eval_json(r#"k8s::list("Deployment", "", "app=web")"#);
    assert_eq!(names(&by_text), ["web", "web"]);
    assert!(
        by_text
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["kind"] == "Deployment")
    );
    let by_map = c.eval_json(r#"k8s::list("Deployment", "payments", #{ app: "worker" })"#);
    assert_eq!(names(&by_map), ["worker"]);
    let namespaces = c.eval_json(r#"k8s::list("Namespace", "").map(|n| n.metadata.name)"#);
    assert!(
        namespaces.as_array().unwrap().contains(&json!("payments")),
        "{namespaces}"
    );

    // patch: a JSON merge patch, e.g. a NodePool's limits during an incident.
    let mut pool = node_pool(json!({"cpu": "256", "memory": "1024Gi"}));
    pool["spec"]["weight"] = json!(10);
    c.kube.create("/apis/karpenter.sh/v1/nodepools", &pool);
    let patched = c.eval_json(
        r#"k8s::patch("NodePool", "", "payments", #{ spec: #{ limits: #{ cpu: "512" } } })"#,
    );
    assert_eq!(patched["spec"]["limits"]["cpu"], "512");
    let pool = c
        .kube
        .get("/apis/karpenter.sh/v1/nodepools/payments")
        .expect("the node pool");
    assert_eq!(
        pool["spec"]["limits"],
        json!({"cpu": "512", "memory": "1024Gi"})
    );
    assert_eq!(pool["spec"]["weight"], 10);
    // `()` removes a key.
    c.eval_json(r#"k8s::patch("NodePool", "", "payments", #{ spec: #{ weight: () } })"#);
    let pool = c
        .kube
        .get("/apis/karpenter.sh/v1/nodepools/payments")
        .expect("the node pool");
    assert!(pool["spec"].get("weight").is_none(), "{pool}");

    // A Secret's values never come back (its keys do).
    c.kube.create(
        "/api/v1/namespaces/payments/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                "type": "Opaque", "data": {"password": "aHVudGVyMg=="}}),
    );
    let out = c.eval(r#"k8s::get("Secret", "payments", "db")"#);
    out.expect_success();
    assert_eq!(out.json()["data"], json!({"password": "<redacted>"}));
    assert!(!out.all().contains("aHVudGVyMg"), "{out}");
    let out = c.eval(r#"k8s::list("Secret", "payments")"#);
    out.expect_success();
    assert!(!out.all().contains("aHVudGVyMg"), "{out}");

    // delete: true when it was there, false when already gone.
    assert_eq!(
        c.eval_json(r#"k8s::delete("Deployment", "payments", "worker")"#),
        true
    );
    assert!(
        c.kube
            .get("/apis/apps/v1/namespaces/payments/deployments/worker")
            .is_none()
    );
    assert_eq!(
        c.eval_json(r#"k8s::delete("Deployment", "payments", "worker")"#),
        false
    );

    // Errors name the operation and the object, or the mistake, before any call.
    let err =
        c.eval_err(r#"k8s::patch("Deployment", "payments", "nope", #{ spec: #{ replicas: 1 } })"#);
    assert!(
        err.contains("`patch` on `Deployment payments/nope` failed"),
        "{err}"
    );
    assert!(err.contains("not found"), "{err}");
    let err = c.eval_err(r#"k8s::get("Deployment", "", "web")"#);
    assert!(err.contains("`Deployment` is a namespaced kind"), "{err}");
    let err = c.eval_err(r#"k8s::get("Node", "default", "n1")"#);
    assert!(err.contains("`Node` is cluster-scoped"), "{err}");
    let err = c.eval_err(r#"k8s::get("deploy", "payments", "web")"#);
    assert!(err.contains("did you mean `Deployment`?"), "{err}");
    let err = c.eval_err(r#"k8s::list("example.com/v1/Widget", "")"#);
    assert!(
        err.contains("`discovery` on `example.com/v1 Widget` failed"),
        "{err}"
    );
    assert!(err.contains("does not serve `example.com/v1`"), "{err}");
    let err = c.eval_err(r#"k8s::get("argoproj.io/v1alpha1/Experiment", "payments", "x")"#);
    assert!(err.contains("does not serve kind `Experiment`"), "{err}");
    let err = c.eval_err(
        r#"k8s::apply(#{ apiVersion: "apps/v1", kind: "Deployment", metadata: #{ name: "x" } })"#,
    );
    assert!(err.contains("set `metadata.namespace`"), "{err}");
}

#[test]
fn scale_then_wait_for_a_closure_a_condition_and_a_deletion() {
    let c = Cluster::start();
    c.namespace("payments");
    // Room for 3 pods: of 5 replicas, the scheduler leaves 2 Pending until another node joins.
    c.small_node("n1", 3);
    c.kube.apply(WEB, &web_manifest(2));
    c.wait_for("web's 2 pods to be ready", || {
        (c.kube.get(WEB)?["status"]["readyReplicas"] == 2).then_some(())
    });

    // eprun scales, then waits for the pods to be ready; the real controllers and scheduler
    // create and place them, kwok runs them.
    let running = c.spawn(
        r#"let scaled = k8s::scale("Deployment", "payments", "web", 5);
           let d = k8s::wait("Deployment", "payments", "web", |d| d.status?.readyReplicas == 5, 60);
           #{ scaled: scaled, ready: d.status.readyReplicas }"#,
    );
    poll_until(
        RUN_TIMEOUT,
        "eprun to scale web to 5, and 3 of its pods to be ready on n1",
        || c.context(&running),
        || {
            let d = c.kube.get(WEB)?;
            (d["spec"]["replicas"] == 5
                && d["status"]["replicas"] == 5
                && d["status"]["readyReplicas"] == 3)
                .then_some(())
        },
    );
    assert!(
        !running.finished(),
        "3 of 5 ready is not 5 (n1 is full, 2 pods are Pending)\n{}",
        c.context(&running)
    );
    c.node("n2");
    let out = running.wait(RUN_TIMEOUT);
    out.expect_success();
    assert_eq!(
        out.json(),
        json!({"scaled": {"previous": 2, "replicas": 5}, "ready": 5})
    );

    // A named condition must be True for the latest generation: the deployment controller
    // reports Available once the pods are, for the generation the scale made.
    let generation = c.kube.get(WEB).expect("web")["metadata"]["generation"]
        .as_i64()
        .expect("a generation");
    assert_eq!(
        c.eval_json(
            r#"k8s::wait("Deployment", "payments", "web", "Available", 60).status.observedGeneration"#
        ),
        generation
    );

    // A timeout says what was last seen (a deployment that never failed has no ReplicaFailure).
    let err = c.eval_err(r#"k8s::wait("Deployment", "payments", "web", "ReplicaFailure", 1)"#);
    assert!(
        err.contains("`wait` on `Deployment payments/web` failed: timed out after 1s waiting for condition `ReplicaFailure` to be True"),
        "{err}"
    );
    assert!(
        err.contains("Available=True (MinimumReplicasAvailable"),
        "{err}"
    );
    assert!(err.contains("(no `ReplicaFailure` among them)"), "{err}");
    let err =
        c.eval_err(r#"k8s::wait("Deployment", "payments", "web", |d| d.spec.replicas == 9, 1)"#);
    assert!(
        err.contains("timed out after 1s waiting for the condition closure to return true"),
        "{err}"
    );
    let err = c.eval_err(r#"k8s::wait("Deployment", "payments", "web", |d| 1, 5)"#);
    assert!(err.contains("must return a bool"), "{err}");

    // "deleted": a finalizer holds the object until the test (its controller) removes it.
    c.kube.patch(
        WEB,
        &json!({"metadata": {"finalizers": ["example.com/cleanup"]}}),
    );
    let running = c.spawn(
        r#"let there = k8s::delete("Deployment", "payments", "web");
           #{ there: there, after: k8s::wait("Deployment", "payments", "web", "deleted", 60) }"#,
    );
    poll_until(
        RUN_TIMEOUT,
        "eprun to delete web",
        || c.context(&running),
        || {
            c.kube.get(WEB)?["metadata"]["deletionTimestamp"]
                .as_str()
                .map(|_| ())
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !running.finished(),
        "the finalizer still holds web\n{}",
        c.context(&running)
    );
    c.kube
        .patch(WEB, &json!({"metadata": {"finalizers": null}}));
    let out = running.wait(RUN_TIMEOUT);
    out.expect_success();
    assert_eq!(out.json(), json!({"there": true, "after": null}));
    assert!(c.kube.get(WEB).is_none());

    // Scaling a kind without /scale says so.
    c.kube.create(
        "/apis/apps/v1/namespaces/payments/daemonsets",
        &json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                "spec": {"selector": {"matchLabels": {"app": "agent"}},
                         "template": {"metadata": {"labels": {"app": "agent"}},
                                      "spec": {"containers": [{"name": "agent", "image": "busybox"}]}}}}),
    );
    let err = c.eval_err(r#"k8s::scale("DaemonSet", "payments", "agent", 2)"#);
    assert!(
        err.contains("`scale` on `DaemonSet payments/agent` failed"),
        "{err}"
    );
    assert!(err.contains("no `/scale` subresource"), "{err}");
    let err = c.eval_err(r#"k8s::scale("Deployment", "payments", "web", -1)"#);
    assert!(err.contains("replicas must be"), "{err}");
}

#[test]
fn drain_waits_for_a_disruption_budget_then_evicts() {
    let c = Cluster::start();
    c.namespace("payments");
    // n1 has room for an aws-node pod and two web pods, n2 for web-2 and an aws-node pod: the
    // pods the drain evicts from n1 can go nowhere until n3 joins.
    c.small_node("n1", 3);
    let aws_node = json!({"k8s-app": "aws-node"});
    c.kube.create(
        "/apis/apps/v1/namespaces/kube-system/daemonsets",
        &json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "aws-node"},
                "spec": {"selector": {"matchLabels": aws_node},
                         "template": {"metadata": {"labels": aws_node},
                                      "spec": {"containers": [{"name": "aws-node", "image": "amazon-k8s-cni"}]}}}}),
    );
    let daemon_pod_on = |node: &str| {
        c.wait_for(&format!("the aws-node pod on {node}"), || {
            c.pods_on(node)
                .into_iter()
                .find(|p| p.starts_with("kube-system/aws-node-"))
        })
    };
    let aws_node_n1 = daemon_pod_on("n1");
    // A StatefulSet creates web-0, web-1, web-2 in order, each once the previous is ready.
    c.kube.create(
        "/apis/apps/v1/namespaces/payments/statefulsets",
        &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                "spec": {"replicas": 3, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}),
    );
    for pod in ["web-0", "web-1"] {
        c.wait_for(&format!("{pod} to run on n1"), || {
            (c.running_on("payments", pod)? == "n1").then_some(())
        });
    }
    c.small_node("n2", 2);
    c.wait_for("web-2 to run on n2", || {
        (c.running_on("payments", "web-2")? == "n2").then_some(())
    });
    daemon_pod_on("n2");
    // A static pod's mirror, as the kubelet posts it.
    c.kube.create(
        "/api/v1/namespaces/kube-system/pods",
        &json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "kube-proxy-n1",
                             "annotations": {"kubernetes.io/config.mirror": "3f1c"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "kube-proxy", "image": "kube-proxy"}]}}),
    );
    let pdb = "/apis/policy/v1/namespaces/payments/poddisruptionbudgets/web";
    c.kube.create(
        "/apis/policy/v1/namespaces/payments/poddisruptionbudgets",
        &json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}),
    );
    c.wait_for("the disruption controller to allow one disruption", || {
        (c.kube.get(pdb)?["status"]["disruptionsAllowed"] == 1).then_some(())
    });
    let uids: Vec<(&str, String)> = ["web-0", "web-1", "web-2"]
        .into_iter()
        .map(|p| (p, c.pod_uid("payments", p).expect("a web pod")))
        .collect();
    let original_left = |pods: &[&str]| {
        uids.iter()
            .filter(|(p, uid)| {
                pods.contains(p) && c.pod_uid("payments", p).as_deref() == Some(uid.as_str())
            })
            .count()
    };

    let running = c.spawn(r#"k8s::drain("n1", #{ timeout: 60, grace_period: 30 })"#);
    // The budget lets one pod go; its replacement stays Pending (n1 is cordoned, n2 full), so the
    // budget refuses the second eviction until n3 joins and the replacement is ready.
    poll_until(
        RUN_TIMEOUT,
        "the first eviction",
        || c.context(&running),
        || (original_left(&["web-0", "web-1"]) == 1).then_some(()),
    );
    let node = c.kube.get("/api/v1/nodes/n1").expect("n1");
    assert_eq!(
        node["spec"]["unschedulable"], true,
        "drain cordons first: {node}"
    );
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        !running.finished(),
        "the budget blocks the second pod\n{}",
        c.context(&running)
    );
    assert_eq!(
        original_left(&["web-0", "web-1"]),
        1,
        "the budget blocks the second pod"
    );
    c.node("n3");
    let out = running.wait(RUN_TIMEOUT);
    out.expect_success();
    assert_eq!(
        out.json(),
        json!({"node": "n1", "evicted": ["payments/web-0", "payments/web-1"],
               "skipped": [{"pod": aws_node_n1, "reason": "DaemonSet"},
                           {"pod": "kube-system/kube-proxy-n1", "reason": "mirror pod"}]})
    );
    assert_eq!(
        original_left(&["web-0", "web-1"]),
        0,
        "both evicted pods are gone"
    );
    assert_eq!(original_left(&["web-2"]), 1, "a pod on another node stays");
    assert_eq!(
        c.pods_on("n1"),
        [aws_node_n1.as_str(), "kube-system/kube-proxy-n1"],
        "the DaemonSet and mirror pods stay"
    );
    for pod in ["web-0", "web-1"] {
        c.wait_for(&format!("{pod}'s replacement to run on n3"), || {
            (c.running_on("payments", pod)? == "n3").then_some(())
        });
    }

    // A budget that never allows it: the drain fails at its timeout naming the pod, cordoned.
    c.kube.patch(pdb, &json!({"spec": {"minAvailable": 3}}));
    c.wait_for("the disruption controller to allow none", || {
        let status = c.kube.get(pdb)?["status"].clone();
        (status["desiredHealthy"] == 3 && status["disruptionsAllowed"] == 0).then_some(())
    });
    let out = c.eval(r#"k8s::drain("n2", #{ timeout: 1 })"#);
    out.expect_code(1);
    assert!(out.stderr.contains("`drain` on `Node n2` failed"), "{out}");
    assert!(
        out.stderr
            .contains("still block the eviction of payments/web-2"),
        "{out}"
    );
    assert!(out.stderr.contains("stays cordoned"), "{out}");
    assert_eq!(original_left(&["web-2"]), 1);
    assert_eq!(
        c.kube.get("/api/v1/nodes/n2").expect("n2")["spec"]["unschedulable"],
        true
    );

    // uncordon (and cordon) change only what needs changing.
    assert_eq!(
        c.eval_json(r#"k8s::uncordon("n2")"#),
        json!({"node": "n2", "unschedulable": false, "changed": true})
    );
    assert!(
        c.kube.get("/api/v1/nodes/n2").expect("n2")["spec"]
            .get("unschedulable")
            .is_none()
    );
    assert_eq!(c.eval_json(r#"k8s::uncordon("n2")"#)["changed"], false);
    assert_eq!(c.eval_json(r#"k8s::cordon("n2")"#)["changed"], true);
    assert_eq!(
        c.kube.get("/api/v1/nodes/n2").expect("n2")["spec"]["unschedulable"],
        true
    );
    let err = c.eval_err(r#"k8s::drain("n1", #{ timeout: 5, grace: 3 })"#);
    assert!(err.contains("unknown option `grace`"), "{err}");
    assert!(err.contains("did you mean `grace_period`?"), "{err}");
    let err = c.eval_err(r#"k8s::cordon("n9")"#);
    assert!(err.contains("`cordon` on `Node n9` failed"), "{err}");
}

#[test]
fn rollout_status_promote_and_abort() {
    let c = Cluster::start();
    c.namespace("payments");
    let path = "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service";
    let rollout = c.kube.create(
        "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts",
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "payment-service"},
                "spec": {"replicas": 6, "paused": true,
                         "selector": {"matchLabels": {"app": "payment-service"}},
                         "strategy": {"blueGreen": {"activeService": "payment-service-active",
                                                    "previewService": "payment-service-preview",
                                                    "autoPromotionEnabled": false}}},
                "status": {"phase": "Paused", "message": "BlueGreenPause", "controllerPause": true,
                           "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2024-05-01T10:00:00Z"}],
                           "replicas": 12, "readyReplicas": 12, "updatedReplicas": 6, "availableReplicas": 12,
                           "blueGreen": {"activeSelector": "6f7b9c", "previewSelector": "8d2e4a"},
                           "currentPodHash": "8d2e4a", "stableRS": "6f7b9c"}}),
    );
    let uid = rollout["metadata"]["uid"]
        .as_str()
        .expect("a uid")
        .to_string();
    // Another Rollout's run (a real owner: the garbage collector deletes runs whose owner is not).
    let checkout = c.kube.create(
        "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts",
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "checkout"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "checkout"}},
                         "strategy": {"blueGreen": {"activeService": "checkout-active"}}}}),
    );
    let checkout_uid = checkout["metadata"]["uid"]
        .as_str()
        .expect("a uid")
        .to_string();
    let runs = "/apis/argoproj.io/v1alpha1/namespaces/payments/analysisruns";
    for (name, owner, owner_uid, phase) in [
        (
            "payment-service-8d2e4a-pre",
            "payment-service",
            uid.as_str(),
            "Successful",
        ),
        (
            "checkout-1a2b-pre",
            "checkout",
            checkout_uid.as_str(),
            "Failed",
        ),
    ] {
        c.kube.create(
            runs,
            &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
                    "metadata": {"name": name, "labels": {"rollouts-pod-template-hash": "8d2e4a"},
                                 "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1",
                                 "kind": "Rollout", "name": owner, "uid": owner_uid, "controller": true}]},
                    "spec": {"metrics": []},
                    "status": {"phase": phase}}),
        );
    }

    let status = c.eval_json(r#"k8s::rollout_status("payments", "payment-service")"#);
    assert_eq!(
        status,
        json!({"phase": "Paused", "message": "BlueGreenPause", "paused": true, "aborted": false,
               "replicas": 12, "ready_replicas": 12, "updated_replicas": 6, "available_replicas": 12,
               "active_selector": "6f7b9c", "preview_selector": "8d2e4a",
               "current_pod_hash": "8d2e4a", "stable_pod_hash": "6f7b9c",
               "analysis_runs": [{"name": "payment-service-8d2e4a-pre", "phase": "Successful",
                                  "pod_hash": "8d2e4a", "message": null}]})
    );

    let promoted = c.eval_json(r#"k8s::rollout_promote("payments", "payment-service")"#);
    assert_eq!(promoted["promoted"], true, "{promoted}");
    assert_eq!(promoted["unpaused"], true, "{promoted}");
    assert_eq!(promoted["pause_conditions_cleared"], true, "{promoted}");
    let after = c.kube.get(path).expect("the rollout");
    assert_eq!(after["spec"]["paused"], false, "{after}");
    assert!(after["status"].get("pauseConditions").is_none(), "{after}");
    assert_eq!(
        after["status"]["blueGreen"]["previewSelector"], "8d2e4a",
        "the rest of status stays"
    );
    // Promoting again finds nothing paused and changes nothing.
    let version = after["metadata"]["resourceVersion"].clone();
    assert_eq!(
        c.eval_json(r#"k8s::rollout_promote("payments", "payment-service")"#)["promoted"],
        false
    );
    assert_eq!(
        c.kube.get(path).expect("the rollout")["metadata"]["resourceVersion"],
        version
    );

    let aborted = c.eval_json(r#"k8s::rollout_abort("payments", "payment-service")"#);
    assert_eq!(
        aborted,
        json!({"rollout": "payments/payment-service", "aborted": true})
    );
    let after = c.kube.get(path).expect("the rollout");
    assert_eq!(after["status"]["abort"], true, "{after}");
    assert_eq!(after["spec"]["replicas"], 6);
    assert_eq!(
        c.eval_json(r#"k8s::rollout_status("payments", "payment-service").aborted"#),
        true
    );

    // Rollouts scale through /scale like Deployments.
    assert_eq!(
        c.eval_json(r#"k8s::scale("Rollout", "payments", "payment-service", 9)"#),
        json!({"previous": 6, "replicas": 9})
    );
    assert_eq!(
        c.kube.get(path).expect("the rollout")["spec"]["replicas"],
        9
    );

    let err = c.eval_err(r#"k8s::rollout_status("payments", "nope")"#);
    assert!(err.contains("`Rollout payments/nope`"), "{err}");
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn logs_of_a_pod() {
    let c = Cluster::start();
    c.node("n1");
    c.kube.create(
        "/api/v1/namespaces/default/pods",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0"},
                "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "nginx"}]}}),
    );
    c.wait_for("web-0 to run on n1", || {
        (c.running_on("default", "web-0")? == "n1").then_some(())
    });
    // The apiserver fetches logs from the node's kubelet API, which kwok serves: every container's
    // log is the one the launcher gives kwok (tools/k8s/launcher/kubelet.go).
    assert_eq!(
        c.eval_json(r#"k8s::logs("default", "web-0")"#),
        "starting\nlistening on :8080\nready\n"
    );
    assert_eq!(
        c.eval_json(r#"k8s::logs("default", "web-0", #{ tail_lines: 2, container: "web" })"#),
        "listening on :8080\nready\n"
    );
    assert_eq!(
        c.eval_json(
            r#"k8s::logs("default", "web-0").split("\n").filter(|l| l.contains("ready")).len()"#
        ),
        1
    );
    let err = c.eval_err(r#"k8s::logs("default", "web-0", #{ container: "sidecar" })"#);
    assert!(
        err.contains("`logs` on `Pod default/web-0 (container sidecar)` failed"),
        "{err}"
    );
    assert!(
        err.contains("container sidecar is not valid for pod web-0"),
        "{err}"
    );
    let err = c.eval_err(r#"k8s::logs("default", "nope")"#);
    assert!(err.contains("`logs` on `Pod default/nope` failed"), "{err}");
    let err = c.eval_err(r#"k8s::logs("default", "web-0", #{ tail: 2 })"#);
    assert!(err.contains("did you mean `tail_lines`?"), "{err}");
    let err = c.eval_err(r#"k8s::logs("", "web-0")"#);
    assert!(err.contains("`Pod` is a namespaced kind"), "{err}");
}

#[test]
fn verbs_need_an_environment_with_a_cluster() {
    let c = Cluster::start();
    let out = eprun(&c.project, &["eval", r#"k8s::get("Node", "", "n1")"#]).run();
    out.expect_code(1).expect_no_panic();
    assert!(out.stderr.contains("--env"), "{out}");
    // A kubeconfig without the environment's context names the context.
    let other = c.project.join(".test-scratch/other-kubeconfig");
    write_kubeconfig(&other, &[("somewhere-else", &c.kube)]);
    let out = c
        .command(r#"k8s::get("Node", "", "n1")"#)
        .env("KUBECONFIG", &other.display().to_string())
        .run();
    out.expect_code(1).expect_no_panic();
    assert!(out.stderr.contains("no context `local-us-east-1`"), "{out}");
}

/// A runbook making every mutating Kubernetes call, for the dry run.
const MUTATIONS: &str = r#"
runbook(#{ name: "k8s-mutations", summary: "Every mutating Kubernetes verb once" });
step("Mutate", || {
    log(#{ scaled: k8s::scale("Deployment", "payments", "web", 5) });
    log(#{ patched: k8s::patch("NodePool", "", "payments", #{ spec: #{ limits: #{ cpu: "512" } } }) });
    log(#{ applied: k8s::apply(#{ apiVersion: "v1", kind: "ConfigMap",
                                  metadata: #{ name: "flags", namespace: "payments" }, data: #{ mode: "dr" } }) });
    log(#{ drained: k8s::drain("n1", #{ timeout: 5 }) });
    log(#{ promoted: k8s::rollout_promote("payments", "payment-service") });
    log(#{ aborted: k8s::rollout_abort("payments", "payment-service") });
    log(#{ deleted: k8s::delete("Deployment", "payments", "web") });
    let d = k8s::wait("Deployment", "payments", "web", |d| d.spec.replicas == 5, 600);
    log(#{ waited: d.spec.replicas });
});
"#;
const MUTATIONS_PATH: &str = "scripts/runbooks/k8s-mutations.rhai";

#[test]
fn a_dry_run_reads_the_cluster_and_changes_nothing() {
    let c = Cluster::start();
    let moto = crate::support::Moto::start(); // for the journal's caller identity
    c.namespace("payments");
    c.node("n1");
    c.kube.apply(WEB, &web_manifest(2));
    c.wait_for("web's 2 pods to be ready on n1", || {
        let d = c.kube.get(WEB)?;
        (d["status"]["readyReplicas"] == 2
            && d["status"]["observedGeneration"] == d["metadata"]["generation"])
            .then_some(())
    });
    // What a drain of n1 would evict: web's two pods.
    let on_n1 = c.pods_on("n1");
    assert_eq!(on_n1.len(), 2, "{on_n1:?}");
    let pool = "/apis/karpenter.sh/v1/nodepools/payments";
    c.kube.apply(pool, &node_pool(json!({"cpu": "256"})));
    let rollout = "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service";
    c.kube.create(
        "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts",
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "payment-service"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "payment-service"}},
                         "strategy": {"blueGreen": {"activeService": "payment-service-active"}}},
                "status": {"pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2024-05-01T10:00:00Z"}],
                           "phase": "Paused"}}),
    );
    // What a change would show: the spec and metadata of every object; the whole of those no
    // controller here writes (a Rollout, a NodePool). The status of the others is their
    // controllers' (kwok's heartbeats, the deployment controller).
    let objects: Vec<String> = [WEB, pool, rollout, "/api/v1/nodes/n1"]
        .into_iter()
        .map(str::to_string)
        .chain(on_n1.iter().map(|p| {
            let (ns, name) = p.split_once('/').expect("namespace/name");
            format!("/api/v1/namespaces/{ns}/pods/{name}")
        }))
        .collect();
    let snapshot = || -> Vec<Value> {
        objects
            .iter()
            .map(|path| {
                let mut obj = c.kube.get(path).unwrap_or_else(|| panic!("{path}"));
                if path != pool && path != rollout {
                    obj.as_object_mut().expect("an object").remove("status");
                    obj["metadata"]
                        .as_object_mut()
                        .expect("metadata")
                        .retain(|k, _| k != "resourceVersion" && k != "managedFields");
                }
                obj
            })
            .collect()
    };
    let before = snapshot();
    // Every write that reaches the apiserver from a user (the controllers' are not audited).
    let writes = || {
        c.kube
            .log_text("audit")
            .lines()
            .filter(|l| {
                let e: Value = serde_json::from_str(l).unwrap_or_default();
                matches!(
                    e["verb"].as_str(),
                    Some("create" | "update" | "patch" | "delete" | "deletecollection")
                )
            })
            .count()
    };
    let writes_before = writes();

    c.project.write(MUTATIONS_PATH, MUTATIONS);
    let started = std::time::Instant::now();
    let out = eprun(
        &c.project,
        &["run", MUTATIONS_PATH, "--env", LOCAL_US, "--dry-run"],
    )
    .moto(&moto)
    .env("KUBECONFIG", &c.kubeconfig.display().to_string())
    .run();
    out.expect_success().expect_no_panic();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a dry run does not wait for what it skipped\n{out}"
    );
    let all = out.all();
    for line in on_n1.iter().map(|p| format!("would evict pod {p}")) {
        assert!(all.contains(&line), "missing `{line}`\n{out}");
    }
    let drained = format!(
        r#""drained":{{"dry_run":true,"evicted":{},"node":"n1","skipped":[]}}"#,
        json!(on_n1)
    );
    assert!(all.contains(&drained), "missing `{drained}`\n{out}");
    for line in [
        "would scale Deployment payments/web: replicas 2 → 5",
        r#"would patch NodePool payments: {"spec":{"limits":{"cpu":"512"}}}"#,
        "would server-side apply ConfigMap payments/flags",
        "would cordon Node n1",
        "would promote Rollout payments/payment-service: clear status.pauseConditions",
        "would abort Rollout payments/payment-service: status.abort → true",
        "would delete Deployment payments/web",
        "would wait for the condition closure to return true on Deployment payments/web (up to 600s)",
        r#""scaled":{"dry_run":true,"previous":2,"replicas":5}"#,
        r#""deleted":true"#,
        r#""waited":2"#,
    ] {
        assert!(all.contains(line), "missing `{line}`\n{out}");
    }
    // Nothing changed: no write reached the apiserver, and the objects are as they were.
    assert_eq!(writes(), writes_before, "a dry run writes nothing\n{out}");
    assert_eq!(snapshot(), before, "a dry run changes nothing");
    assert!(
        c.kube
            .get("/api/v1/namespaces/payments/configmaps/flags")
            .is_none()
    );

    // The journal records each skipped call with its target.
    let runs = c.project.join(".eprun/runs");
    let journal = std::fs::read_dir(&runs)
        .unwrap_or_else(|e| panic!("{}: {e}\n{out}", runs.display()))
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).expect("the journal"))
        .unwrap_or_else(|| panic!("no journal\n{out}"));
    let mutations: Vec<(String, String, String)> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a journal line"))
        .filter(|r| r["type"] == "mutation")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("operation"), s("target"), s("outcome"))
        })
        .collect();
    let skipped =
        |op: &str, target: &str| (op.to_string(), target.to_string(), "skipped".to_string());
    let mut expected = vec![
        skipped("scale", "Deployment payments/web"),
        skipped("patch", "NodePool payments"),
        skipped("server-side apply", "ConfigMap payments/flags"),
        skipped("cordon", "Node n1"),
    ];
    expected.extend(on_n1.iter().map(|p| skipped("evict", &format!("pod {p}"))));
    expected.extend([
        skipped("promote", "Rollout payments/payment-service"),
        skipped("abort", "Rollout payments/payment-service"),
        skipped("delete", "Deployment payments/web"),
    ]);
    assert_eq!(mutations, expected);
}

#[test]
fn drain_refuses_unmanaged_pods_and_emptydir_data_unless_told_like_kubectl_drain() {
    let c = Cluster::start();
    c.namespace("jobs");
    c.node("n7");
    // The label a kubelet sets on its node (kwok does not).
    c.kube.patch(
        "/api/v1/nodes/n7",
        &json!({"metadata": {"labels": {"kubernetes.io/hostname": "n7"}}}),
    );
    // A bare pod (nothing recreates it) and a ReplicaSet's pod with scratch data in an emptyDir.
    c.kube.create(
        "/api/v1/namespaces/jobs/pods",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one-off"},
                "spec": {"nodeName": "n7", "containers": [{"name": "main", "image": "busybox"}]}}),
    );
    let cache = json!({"app": "cache"});
    c.kube.create(
        "/apis/apps/v1/namespaces/jobs/replicasets",
        &json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "cache"},
                "spec": {"replicas": 1, "selector": {"matchLabels": cache},
                         "template": {"metadata": {"labels": cache},
                                      "spec": {"nodeSelector": {"kubernetes.io/hostname": "n7"},
                                               "containers": [{"name": "cache", "image": "redis"}],
                                               "volumes": [{"name": "scratch", "emptyDir": {}}]}}}}),
    );
    let cache_pod = c.wait_for("the cache pod running on n7", || {
        c.pods_on("n7")
            .into_iter()
            .find(|p| p.starts_with("jobs/cache-"))
            .filter(|p| {
                c.running_on("jobs", p.trim_start_matches("jobs/"))
                    .is_some()
            })
    });
    c.wait_for("the one-off pod running", || {
        c.running_on("jobs", "one-off")
    });

    let err = c.eval_err(r#"k8s::drain("n7", #{ timeout: 60 })"#);
    assert!(
        err.contains("`drain` on `Node n7` failed")
            && err.contains("jobs/one-off: no controller would recreate it (`force: true`")
            && err.contains(&format!("{cache_pod}: its emptyDir data would be lost"))
            && err.contains("nothing was changed"),
        "{err}"
    );
    let node = c.kube.get("/api/v1/nodes/n7").expect("n7");
    assert!(
        node["spec"].get("unschedulable").is_none(),
        "a refused drain does not even cordon: {node}"
    );
    assert_eq!(c.pods_on("n7"), [cache_pod.clone(), "jobs/one-off".into()]);

    // Told, it evicts both, as `kubectl drain --force --delete-emptydir-data` does.
    let done = c.eval_json(
        r#"k8s::drain("n7", #{ timeout: 60, force: true, delete_emptydir_data: true })"#,
    );
    let mut evicted: Vec<String> = done["evicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    evicted.sort();
    assert_eq!(evicted, [cache_pod.clone(), "jobs/one-off".into()]);
    assert!(
        c.pod("jobs", "one-off").is_none(),
        "the bare pod is gone for good"
    );
    assert!(
        !c.pods_on("n7").contains(&cache_pod),
        "the cache pod left n7 (its replacement waits for a schedulable node)"
    );
    let err = c.eval_err(r#"k8s::drain("n7", #{ force: "yes" })"#);
    assert!(err.contains("`force` must be true or false"), "{err}");
}

#[test]
fn rollout_status_of_a_deployment_follows_its_real_replica_sets() {
    let c = Cluster::start();
    c.namespace("payments");
    c.node("n1");
    c.kube.apply(WEB, &web_manifest(2));
    let rolled_out = |revision: i64| {
        c.wait_for(&format!("revision {revision} rolled out"), || {
            let s = c.eval_json(r#"k8s::rollout_status("Deployment", "payments", "web")"#);
            (s["done"] == true && s["revision"] == revision).then_some(s)
        })
    };
    let first = rolled_out(1);
    assert_eq!(first["message"], "successfully rolled out");
    assert_eq!(first["available_replicas"], 2);
    let sets = first["replica_sets"].as_array().expect("replica sets");
    assert_eq!(sets.len(), 1, "{first}");
    assert_eq!(sets[0]["current"], true);

    // A new image makes the deployment controller start a second ReplicaSet.
    let mut next = web_manifest(2);
    next["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    c.kube.apply(WEB, &next);
    let second = rolled_out(2);
    let sets = second["replica_sets"].as_array().expect("replica sets");
    assert_eq!(sets.len(), 2, "{second}");
    assert_eq!(
        (sets[0]["revision"].clone(), sets[0]["current"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(
        (sets[1]["revision"].clone(), sets[1]["replicas"].clone()),
        (json!(1), json!(0))
    );
    let hash = sets[0]["pod_template_hash"]
        .as_str()
        .expect("a pod-template-hash");
    let pods = c
        .kube
        .list("/api/v1/namespaces/payments/pods?labelSelector=app%3Dweb");
    assert!(
        pods.iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .all(|p| p["metadata"]["labels"]["pod-template-hash"] == hash),
        "the live pods are the new revision's"
    );

    let err = c.eval_err(r#"k8s::rollout_status("StatefulSet", "payments", "web")"#);
    assert!(err.contains("knows `Deployment` and `Rollout`"), "{err}");
}
