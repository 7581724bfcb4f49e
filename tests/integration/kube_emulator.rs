//! The contract of the Kubernetes API emulator (tests/support/kube_emulator.py) that the
//! Kubernetes tests rely on: what a real API server does and kmock alone does not.

use kube::api::{Api, DynamicObject, EvictParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

use crate::kube_support::{KubeEmulator, write_kubeconfig};
use crate::support::block_on;

fn names(items: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .map(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

fn resource_version(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric metadata.resourceVersion in {obj}"))
}

/// A failure answer is a one-line `Status` with the code and reason a real server gives.
fn assert_status(answer: &crate::kube_support::KubeAnswer, code: u16, reason: &str) -> Value {
    assert_eq!(answer.status, code, "{answer}");
    let status = answer.json();
    assert_eq!(status["kind"], "Status", "{answer}");
    assert_eq!(status["code"], code, "{answer}");
    assert_eq!(status["reason"], reason, "{answer}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty() && !message.contains('\n') && !message.contains("Traceback"),
        "the message is not one line: {answer}"
    );
    status
}

#[test]
fn apply_creates_a_missing_object_then_merges_and_patches_remove_keys() {
    let k = KubeEmulator::start();
    let path = "/apis/karpenter.sh/v1/nodepools/default";
    assert!(k.get(path).is_none());

    let created = k.apply(
        path,
        &json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "default", "labels": {"team": "platform"}},
            "spec": {"limits": {"cpu": "100"}, "disruption": {"consolidationPolicy": "WhenEmpty"}},
        }),
    );
    let meta = &created["metadata"];
    assert!(
        meta["uid"].as_str().is_some_and(|u| u.len() == 36),
        "{created}"
    );
    assert!(
        meta["creationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{created}"
    );
    assert_eq!(meta["generation"], 1, "{created}");
    assert!(
        meta.get("namespace").is_none(),
        "a NodePool is cluster-scoped: {created}"
    );
    assert_eq!(
        k.get(path).as_ref(),
        Some(&created),
        "a read answers what the apply stored"
    );

    // A label-only apply merges (omitted fields stay) and does not bump the generation.
    let relabelled = k.apply(
        path,
        &json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
                "metadata": {"name": "default", "labels": {"env": "local"}}}),
    );
    assert_eq!(
        relabelled["metadata"]["labels"],
        json!({"team": "platform", "env": "local"})
    );
    assert_eq!(relabelled["spec"], created["spec"]);
    assert_eq!(relabelled["metadata"]["generation"], 1);
    assert!(resource_version(&relabelled) > resource_version(&created));

    // A spec change bumps it; the server-owned fields stay.
    let changed = k.apply(
        path,
        &json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
                "metadata": {"name": "default"}, "spec": {"limits": {"cpu": "200"}}}),
    );
    assert_eq!(changed["metadata"]["generation"], 2);
    assert_eq!(changed["metadata"]["uid"], meta["uid"]);
    assert_eq!(
        changed["metadata"]["creationTimestamp"],
        meta["creationTimestamp"]
    );
    assert_eq!(
        changed["spec"]["disruption"]["consolidationPolicy"],
        "WhenEmpty"
    );

    // The same apply again changes nothing, not even the resourceVersion.
    let again = k.apply(
        path,
        &json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
                "metadata": {"name": "default"}, "spec": {"limits": {"cpu": "200"}}}),
    );
    assert_eq!(again, changed);

    // A merge patch's null removes the key.
    let patched = k.patch(path, &json!({"spec": {"disruption": null}}));
    assert!(patched["spec"].get("disruption").is_none(), "{patched}");
    assert_eq!(patched["metadata"]["generation"], 3);

    // Errors are Status objects.
    let no_manager = k.request(
        "PATCH",
        path,
        Some("application/apply-patch+yaml"),
        Some(&json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "default"}})),
    );
    assert_status(&no_manager, 422, "Invalid");
    let twice = k.request(
        "POST",
        "/apis/karpenter.sh/v1/nodepools",
        None,
        Some(&json!({"metadata": {"name": "default"}})),
    );
    assert_status(&twice, 409, "AlreadyExists");
    let stale = k.request(
        "PATCH",
        path,
        Some("application/merge-patch+json"),
        Some(&json!({"metadata": {"resourceVersion": "1"}, "spec": {"weight": 5}})),
    );
    assert_status(&stale, 409, "Conflict");
    let missing = k.request(
        "PATCH",
        "/apis/karpenter.sh/v1/nodepools/nope",
        Some("application/merge-patch+json"),
        Some(&json!({"spec": {}})),
    );
    let status = assert_status(&missing, 404, "NotFound");
    assert_eq!(
        status["message"],
        "nodepools.karpenter.sh \"nope\" not found"
    );
}

#[test]
fn namespaces_are_objects_and_hold_namespaced_objects() {
    let k = KubeEmulator::start();
    let default = k
        .get("/api/v1/namespaces/default")
        .expect("a fresh cluster has `default`");
    assert_eq!(default["kind"], "Namespace");
    assert_eq!(default["metadata"]["name"], "default");
    assert!(k.get("/api/v1/namespaces/payments").is_none());

    // Nothing goes into a namespace that does not exist.
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "settings"}, "data": {"mode": "live"}});
    let refused = k.request(
        "POST",
        "/api/v1/namespaces/payments/configmaps",
        None,
        Some(&configmap),
    );
    let status = assert_status(&refused, 404, "NotFound");
    assert_eq!(status["message"], "namespaces \"payments\" not found");

    let ns = k.apply(
        "/api/v1/namespaces/payments",
        &json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "payments", "labels": {"team": "payments"}}}),
    );
    assert_eq!(ns["status"]["phase"], "Active");
    let read = k
        .get("/api/v1/namespaces/payments")
        .expect("the applied namespace");
    assert_eq!(read["metadata"]["labels"]["team"], "payments");
    let listed = k.list("/api/v1/namespaces");
    assert!(
        names(&listed).contains(&"payments".to_string()),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .all(|n| n["kind"] == "Namespace" && n["apiVersion"] == "v1")
    );
    let patched = k.patch(
        "/api/v1/namespaces/payments",
        &json!({"metadata": {"labels": {"tier": "critical"}}}),
    );
    assert_eq!(patched["metadata"]["labels"]["tier"], "critical");

    let stored = k.create("/api/v1/namespaces/payments/configmaps", &configmap);
    assert_eq!(stored["metadata"]["namespace"], "payments");
    assert_eq!(
        k.get("/api/v1/namespaces/payments/configmaps/settings")
            .expect("the configmap")["data"],
        json!({"mode": "live"})
    );
    assert!(
        k.get("/api/v1/namespaces/default/configmaps/settings")
            .is_none()
    );

    assert!(k.delete("/api/v1/namespaces/payments"));
    assert!(k.get("/api/v1/namespaces/payments").is_none());
    assert!(!k.delete("/api/v1/namespaces/payments"));
}

#[test]
fn scale_and_status_subresources_behave_like_a_controller_s() {
    let k = KubeEmulator::start();
    let web = "/apis/apps/v1/namespaces/default/deployments/web";
    let applied = k.apply(
        web,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
                "status": {"replicas": 99}}),
    );
    assert!(
        applied.get("status").is_none(),
        "status is the controller's: {applied}"
    );

    let scale = k.get(&format!("{web}/scale")).expect("the scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(
        scale["status"],
        json!({"replicas": 0, "selector": "app=web"})
    );

    let scaled = k.patch(&format!("{web}/scale"), &json!({"spec": {"replicas": 5}}));
    assert_eq!(scaled["kind"], "Scale");
    assert_eq!(scaled["spec"]["replicas"], 5);
    let deployment = k.get(web).expect("the deployment");
    assert_eq!(deployment["spec"]["replicas"], 5);
    assert_eq!(deployment["metadata"]["generation"], 2);
    let mut put = scaled.clone();
    put["spec"]["replicas"] = json!(3);
    let replaced = k.request("PUT", &format!("{web}/scale"), None, Some(&put));
    assert_eq!(replaced.status, 200, "{replaced}");
    assert_eq!(k.get(web).expect("the deployment")["spec"]["replicas"], 3);

    // The test plays the controller through /status, which changes status only.
    let reported = k.patch_status(web, &json!({"replicas": 3, "readyReplicas": 3}));
    assert_eq!(
        reported["status"],
        json!({"replicas": 3, "readyReplicas": 3})
    );
    assert_eq!(reported["spec"]["replicas"], 3);
    assert_eq!(reported["metadata"]["generation"], 3);
    let ignored = k.request(
        "PATCH",
        &format!("{web}/status"),
        Some("application/merge-patch+json"),
        Some(&json!({"spec": {"replicas": 9}})),
    );
    assert_eq!(ignored.status, 200, "{ignored}");
    assert_eq!(k.get(web).expect("the deployment")["spec"]["replicas"], 3);
    assert_eq!(
        k.get(&format!("{web}/status")).expect("the status")["status"]["readyReplicas"],
        3
    );
    // ... and the main endpoint leaves status alone.
    let reapplied = k.apply(
        web,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"}, "status": {"replicas": 0}}),
    );
    assert_eq!(reapplied["status"]["replicas"], 3);

    // Argo Rollouts have the same subresources.
    let rollout = "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/api";
    k.apply(
        rollout,
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "api"}, "spec": {"replicas": 4}}),
    );
    k.patch(
        &format!("{rollout}/scale"),
        &json!({"spec": {"replicas": 6}}),
    );
    assert_eq!(k.get(rollout).expect("the rollout")["spec"]["replicas"], 6);
    let no_scale = k.request(
        "GET",
        "/apis/apps/v1/namespaces/default/daemonsets/x/scale",
        None,
        None,
    );
    assert_status(&no_scale, 404, "NotFound");
}

#[test]
fn evictions_respect_disruption_budgets_and_lists_filter_by_selectors() {
    let k = KubeEmulator::start();
    let pods = "/api/v1/namespaces/default/pods";
    for (name, app, node) in [
        ("web-0", "web", "n1"),
        ("web-1", "web", "n1"),
        ("db-0", "db", "n2"),
    ] {
        k.create(
            pods,
            &json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "labels": {"app": app},
                                 "annotations": {"kmock.test/log": format!("{name} started\n{name} ready\n")}},
                    "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
                    "status": {"phase": "Running"}}),
        );
    }
    assert_eq!(
        k.get(&format!("{pods}/web-0")).expect("web-0")["status"]["phase"],
        "Running"
    );
    let sel = |q: &str| names(&k.list(&format!("{pods}?{q}")));
    assert_eq!(sel("labelSelector=app%3Dweb"), ["web-0", "web-1"]);
    assert_eq!(sel("labelSelector=app%21%3Dweb"), ["db-0"]);
    assert_eq!(sel("labelSelector=app"), ["db-0", "web-0", "web-1"]);
    assert_eq!(sel("labelSelector=app%3Dweb%2Ctier").len(), 0);
    assert_eq!(sel("fieldSelector=spec.nodeName%3Dn2"), ["db-0"]);
    assert_eq!(sel("fieldSelector=metadata.name%3Dweb-1"), ["web-1"]);
    assert_eq!(
        names(&k.list("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")),
        ["web-0", "web-1"]
    );
    let list = k.request("GET", pods, None, None).json();
    assert_eq!(list["kind"], "PodList");
    assert!(list["metadata"]["resourceVersion"].is_string(), "{list}");

    let log = k.request("GET", &format!("{pods}/web-0/log"), None, None);
    assert_eq!(
        (log.status, log.body.as_str()),
        (200, "web-0 started\nweb-0 ready\n")
    );

    let pdb = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
    let budget = k.create(
        pdb,
        &json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "web"},
                "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
                "status": {"disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2}}),
    );
    assert_eq!(budget["status"]["disruptionsAllowed"], 0);
    let evict = |name: &str| {
        k.request(
            "POST",
            &format!("{pods}/{name}/eviction"),
            None,
            Some(&json!({"apiVersion": "policy/v1", "kind": "Eviction",
                         "metadata": {"name": name, "namespace": "default"}})),
        )
    };
    let blocked = assert_status(&evict("web-0"), 429, "TooManyRequests");
    assert_eq!(
        blocked["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert!(
        k.get(&format!("{pods}/web-0")).is_some(),
        "a blocked eviction deletes nothing"
    );

    let free = evict("db-0");
    assert_eq!(free.status, 201, "no budget covers db-0: {free}");
    assert!(k.get(&format!("{pods}/db-0")).is_none());

    k.patch_status(&format!("{pdb}/web"), &json!({"disruptionsAllowed": 1}));
    assert_eq!(evict("web-0").status, 201);
    assert!(k.get(&format!("{pods}/web-0")).is_none());
    let used = k.get(&format!("{pdb}/web")).expect("the budget");
    assert_eq!(
        used["status"]["disruptionsAllowed"], 0,
        "the eviction used the disruption up"
    );
    assert_status(&evict("web-1"), 429, "TooManyRequests");
    assert_status(&evict("gone"), 404, "NotFound");
}

#[test]
fn kube_rs_reads_the_kubeconfig_discovers_and_drives_the_emulator() {
    let us = KubeEmulator::start();
    let eu = KubeEmulator::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(
        &kubeconfig,
        &[("local-us-east-1", &us), ("local-eu-west-1", &eu)],
    );
    us.create(
        "/api/v1/namespaces/default/pods",
        &json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-0", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}}),
    );
    us.create(
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
        &json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                "spec": {"selector": {"matchLabels": {"app": "web"}}}, "status": {"disruptionsAllowed": 0}}),
    );

    block_on(async {
        let client = |context: Option<&str>| {
            let kubeconfig = Kubeconfig::read_from(&kubeconfig).expect("the kubeconfig parses");
            let options = KubeConfigOptions {
                context: context.map(str::to_string),
                ..Default::default()
            };
            async move {
                let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .expect("a client config from the kubeconfig");
                // kube-rs retries a 429 up to 15 times by default, honouring Retry-After (10 s
                // for an eviction a budget blocks, as on a real server): minutes before the error.
                config.default_retry = false;
                kube::Client::try_from(config).expect("a client")
            }
        };
        let client_us = client(None).await; // the current context is the first one
        let client_eu = client(Some("local-eu-west-1")).await;

        for discovery in [
            Discovery::new(client_us.clone())
                .run()
                .await
                .expect("discovery"),
            Discovery::new(client_us.clone())
                .run_aggregated()
                .await
                .expect("aggregated discovery"),
        ] {
            let (_, caps) = discovery
                .resolve_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"))
                .expect("rollouts are served");
            assert_eq!(caps.scope, Scope::Namespaced);
            let subresources: Vec<String> = caps
                .subresources
                .iter()
                .map(|(ar, _)| ar.plural.clone())
                .collect();
            assert!(
                subresources.contains(&"scale".to_string()),
                "{subresources:?}"
            );
            let (_, caps) = discovery
                .resolve_gvk(&GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"))
                .expect("nodepools are served");
            assert_eq!(caps.scope, Scope::Cluster);
            assert!(
                discovery
                    .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
                    .is_some()
            );
        }

        let discovery = Discovery::new(client_us.clone())
            .run()
            .await
            .expect("discovery");
        let (deployments, _) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .expect("deployments are served");
        let api: Api<DynamicObject> =
            Api::namespaced_with(client_us.clone(), "default", &deployments);
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
        }))
        .expect("a DynamicObject");
        let applied = api
            .patch(
                "web",
                &PatchParams::apply("eprun").force(),
                &Patch::Apply(&obj),
            )
            .await
            .expect("server-side apply creates");
        assert!(applied.metadata.uid.is_some());
        assert!(api.get_opt("missing").await.expect("get_opt").is_none());
        let listed = api
            .list(&ListParams::default().labels("app=web"))
            .await
            .expect("a list");
        assert_eq!(listed.items.len(), 1);
        assert_eq!(
            api.get_scale("web")
                .await
                .expect("the scale")
                .spec
                .and_then(|s| s.replicas),
            Some(2)
        );
        api.patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("patch the scale");
        assert_eq!(
            us.get("/apis/apps/v1/namespaces/default/deployments/web")
                .expect("web")["spec"]["replicas"],
            4
        );

        let pods: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(client_us.clone(), "default");
        match pods.evict("web-0", &EvictParams::default()).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 429, "{status:?}");
                assert_eq!(status.reason, "TooManyRequests", "{status:?}");
            }
            other => panic!("the budget should block the eviction, got {other:?}"),
        }
        let deleted = api
            .delete("web", &Default::default())
            .await
            .expect("delete");
        assert!(deleted.is_left(), "the deleted object comes back");

        // The other context reaches the other emulator.
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client_eu.clone());
        assert!(namespaces.get_opt("default").await.expect("get").is_some());
        let eu_deployments: Api<DynamicObject> =
            Api::namespaced_with(client_eu, "default", &deployments);
        assert!(
            eu_deployments
                .get_opt("web")
                .await
                .expect("get_opt")
                .is_none()
        );
    });
}
