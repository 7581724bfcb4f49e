//! `helm::release` against a real control plane and the real, pinned `helm`: a release is
//! installed with its chart's CRD before the objects that need it, re-plans clean, plans a
//! values change as the field-level diff of the objects inside it, sees a `helm rollback`
//! made by hand, and is uninstalled when its declaration goes. The chart is `tests/charts/demo`,
//! written for these tests (no chart can be downloaded here).

use crate::kube_support::{ControlPlane, helm, write_kubeconfig};
use crate::support::*;
use serde_json::Value;
use std::fs;

const FILE: &str = "scripts/releases.rhai";

/// A stack holding the demo release, with `greeting` in its values, and a Widget (the kind the
/// chart's CRD defines) declared by the stack itself.
fn script(greeting: &str) -> String {
    format!(
        r#"let env = stack("local/us-east-1");
let demo = helm::release("demo", #{{
    namespace: "demo",
    chart: "charts/demo",
    values: #{{ greeting: "{greeting}", serviceAccount: #{{ annotations: #{{ "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/demo" }} }} }},
}});
k8s::object(#{{ apiVersion: "demo.eprun.dev/v1", kind: "Widget", metadata: #{{ name: "declared", namespace: "demo" }}, spec: #{{ size: 3 }} }});
output("revision", demo.revision);
"#
    )
}

struct Cluster {
    project: Project,
    kube: ControlPlane,
    kubeconfig: std::path::PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        let project = Project::new();
        copy_dir(
            &repo_root().join("tests/charts/demo"),
            &project.join("charts/demo"),
        );
        let kube = ControlPlane::start();
        let kubeconfig = project.join(".test-scratch/kubeconfig");
        write_kubeconfig(&kubeconfig, &[("local-us-east-1", &kube)]);
        Cluster {
            project,
            kube,
            kubeconfig,
        }
    }

    fn eprun(&self, args: &[&str]) -> Output {
        eprun(&self.project, args)
            .env("KUBECONFIG", &self.kubeconfig.display().to_string())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .helm()
            .run()
    }

    fn helm(&self, args: &[&str]) -> String {
        helm(&self.kubeconfig, args)
    }

    fn releases(&self) -> Vec<Value> {
        let out = self.helm(&["list", "--all-namespaces", "--output", "json"]);
        serde_json::from_str(&out).expect("helm list prints JSON")
    }

    fn greeting(&self) -> Value {
        let cm = self
            .kube
            .get("/api/v1/namespaces/demo/configmaps/demo-config")
            .expect("the release's ConfigMap exists");
        cm["data"]["greeting"].clone()
    }
}

#[test]
fn a_release_installs_upgrades_sees_a_rollback_and_is_uninstalled() {
    let c = Cluster::start();
    c.project.write(FILE, script("hello"));

    let plan = c.eprun(&["plan", FILE]);
    plan.expect_success();
    for shown in [
        "+ helm.release.demo/demo",
        "+ ConfigMap demo/demo-config",
        "+ Widget demo/demo",
        "+ ServiceAccount demo/demo",
    ] {
        assert!(
            plan.stdout.contains(shown),
            "the plan shows `{shown}`\n{plan}"
        );
    }

    c.eprun(&["apply", FILE, "--yes"]).expect_success();
    let releases = c.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert_eq!(releases[0]["name"], "demo");
    assert_eq!(releases[0]["namespace"], "demo");
    assert_eq!(releases[0]["status"], "deployed");
    assert_eq!(releases[0]["chart"], "demo-0.1.0");
    assert_eq!(c.greeting(), "hello");
    let sa = c
        .kube
        .get("/api/v1/namespaces/demo/serviceaccounts/demo")
        .expect("service account");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/demo"
    );
    // The chart's CRD was installed before its Widget, and the stack's own Widget after the release.
    assert!(
        c.kube
            .get("/apis/demo.eprun.dev/v1/namespaces/demo/widgets/demo")
            .is_some()
    );
    assert!(
        c.kube
            .get("/apis/demo.eprun.dev/v1/namespaces/demo/widgets/declared")
            .is_some()
    );

    let again = c.eprun(&["plan", FILE, "--detailed-exitcode"]);
    again.expect_code(0);
    assert!(again.stdout.contains("No changes"), "{again}");

    c.project.write(FILE, script("bonjour"));
    let change = c.eprun(&["plan", FILE]);
    change.expect_success();
    for shown in [
        "~ helm.release.demo/demo",
        r#"values.greeting: "hello" → "bonjour""#,
        "~ ConfigMap demo/demo-config",
        r#"data.greeting: "hello" → "bonjour""#,
    ] {
        assert!(
            change.stdout.contains(shown),
            "the plan shows `{shown}`\n{change}"
        );
    }
    assert!(
        !change.stdout.contains("ServiceAccount"),
        "unchanged objects are not listed\n{change}"
    );
    c.eprun(&["apply", FILE, "--yes"]).expect_success();
    assert_eq!(c.greeting(), "bonjour");
    let history = c.helm(&["history", "demo", "--namespace", "demo", "--output", "json"]);
    let history: Vec<Value> = serde_json::from_str(&history).expect("JSON history");
    assert_eq!(history.len(), 2, "{history:?}");

    // A rollback by hand is drift: the next plan takes the release back to the script.
    c.helm(&["rollback", "demo", "1", "--namespace", "demo"]);
    assert_eq!(c.greeting(), "hello");
    let drift = c.eprun(&["plan", FILE]);
    assert!(
        drift
            .stdout
            .contains(r#"data.greeting: "hello" → "bonjour""#),
        "{drift}"
    );
    c.eprun(&["apply", FILE, "--yes"]).expect_success();
    assert_eq!(c.greeting(), "bonjour");
    let outputs = c.eprun(&["outputs", FILE, "--json"]);
    assert_eq!(outputs.json()["revision"], 4, "{outputs}");

    // The release's declaration goes: it is uninstalled, with the objects inside it.
    c.project.write(FILE, "stack(\"local/us-east-1\");\n");
    let prune = c.eprun(&["plan", FILE]);
    assert!(prune.stdout.contains("- helm.release.demo/demo"), "{prune}");
    c.eprun(&["apply", FILE, "--yes"]).expect_success();
    assert!(
        c.releases().is_empty(),
        "helm list shows no release after the prune"
    );
    assert!(
        c.kube
            .get("/api/v1/namespaces/demo/configmaps/demo-config")
            .is_none(),
        "the release's objects went with it"
    );
}

#[test]
fn a_chart_that_cannot_be_fetched_shows_in_the_plan_instead_of_failing_it() {
    let project = Project::new();
    project.write(
        FILE,
        r#"stack("local/us-east-1");
helm::release("remote", #{ namespace: "remote", chart: "remote", repository: "http://127.0.0.1:9/charts", version: "1.0.0" });
"#,
    );
    let out = eprun(&project, &["plan", FILE])
        .no_credentials()
        .env("KUBECONFIG", "/nonexistent")
        .helm()
        .run();
    out.expect_success().expect_no_panic();
    assert!(out.stdout.contains("+ helm.release.remote/remote"), "{out}");
    assert!(out.stdout.contains("(chart not fetched: "), "{out}");
    assert!(
        !project
            .join(".eprun/charts/http___127.0.0.1_9_charts")
            .exists(),
        "nothing half-fetched is left in the chart cache"
    );
}

#[test]
fn a_remote_chart_without_a_version_is_a_located_error() {
    let project = Project::new();
    project.write(
        FILE,
        "stack(\"local/us-east-1\");\nhelm::release(\"x\", #{ namespace: \"x\", chart: \"karpenter\", repository: \"https://charts.example\" });\n",
    );
    let out = eprun(&project, &["plan", FILE]).no_credentials().run();
    out.expect_code(1).expect_no_panic();
    assert!(out.stderr.contains("scripts/releases.rhai:2:"), "{out}");
    assert!(out.stderr.contains("pinned `version`"), "{out}");
}

/// A Helm repository on a loopback port: serves the files of a folder and counts the requests.
struct ChartRepository {
    url: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ChartRepository {
    /// `tests/charts/demo` packaged and indexed (`helm package`, `helm repo index`), then served.
    fn start(dir: &std::path::Path) -> ChartRepository {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let url = format!(
            "http://{}/charts",
            listener.local_addr().expect("its address")
        );
        let bin = crate::kube_support::helm_bin();
        let run = |args: &[&str]| {
            let status = std::process::Command::new(bin)
                .args(args)
                .status()
                .expect("run helm");
            assert!(status.success(), "helm {args:?}");
        };
        let root = dir.display().to_string();
        let chart = repo_root().join("tests/charts/demo").display().to_string();
        run(&["package", &chart, "--destination", &root]);
        run(&["repo", "index", &root, "--url", &url]);
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (count, files) = (requests.clone(), dir.to_path_buf());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split(' ').nth(1).unwrap_or("/");
                let name = path.rsplit('/').next().unwrap_or_default();
                let mut stream = &stream;
                let _ = match fs::read(files.join(name)) {
                    Ok(body) => stream
                        .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes())
                        .and_then(|_| stream.write_all(&body)),
                    Err(_) => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                };
            }
        });
        ChartRepository { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn a_chart_pulled_from_a_repository_once_is_planned_again_from_the_cache() {
    let project = Project::new();
    let served = tempfile::tempdir().expect("a folder for the repository");
    let repo = ChartRepository::start(served.path());
    project.write(
        FILE,
        format!(
            "stack(\"local/us-east-1\");\nhelm::release(\"demo\", #{{ namespace: \"demo\", chart: \"demo\", repository: \"{}\", version: \"0.1.0\" }});\n",
            repo.url
        ),
    );
    let plan = || {
        let out = eprun(&project, &["plan", FILE])
            .no_credentials()
            .env("KUBECONFIG", "/nonexistent")
            .helm()
            .run();
        out.expect_success();
        out
    };
    let first = plan();
    assert!(
        first.stdout.contains("+ ConfigMap demo/demo-config"),
        "{first}"
    );
    let pulled = repo.requests();
    assert!(
        pulled >= 2,
        "the index and the archive were fetched: {pulled} requests"
    );
    let cached = project.join(format!(
        ".eprun/charts/{}/demo-0.1.0.tgz",
        repo.url.replace([':', '/'], "_")
    ));
    assert!(
        cached.is_file(),
        "the chart is cached at {}",
        cached.display()
    );

    let second = plan();
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(
        repo.requests(),
        pulled,
        "a re-plan makes no network call for the chart"
    );
}

#[test]
fn a_release_a_killed_helm_left_pending_is_rolled_back_and_upgraded() {
    let c = Cluster::start();
    c.project.write(FILE, script("hello"));
    c.eprun(&["apply", FILE, "--yes"]).expect_success();

    // An upgrade that waits for a pod that can never run, killed while it waits: what a killed
    // apply leaves behind. helm refuses every other operation on the release until it is fixed.
    let mut stuck = std::process::Command::new(crate::kube_support::helm_bin())
        .args([
            "upgrade",
            "demo",
            "charts/demo",
            "--namespace",
            "demo",
            "--reuse-values",
        ])
        .args([
            "--set",
            "deployment.enabled=true",
            "--wait",
            "--timeout",
            "10m",
        ])
        .current_dir(c.project.path())
        .env("KUBECONFIG", &c.kubeconfig)
        .spawn()
        .expect("run helm upgrade");
    poll_until(
        std::time::Duration::from_secs(60),
        "helm to start the upgrade",
        || c.helm(&["list", "--all-namespaces", "--output", "json"]),
        || {
            let listed = c.helm(&["list", "--all-namespaces", "--output", "json"]);
            listed.contains("pending-upgrade").then_some(())
        },
    );
    stuck.kill().expect("kill helm");
    let _ = stuck.wait();

    let plan = c.eprun(&["plan", FILE]);
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("status")
                && l.ends_with(r#": "pending-upgrade" → "deployed""#)),
        "{plan}"
    );
    c.eprun(&["apply", FILE, "--yes"]).expect_success();
    let releases = c.releases();
    assert_eq!(releases[0]["status"], "deployed", "{releases:?}");
    assert!(
        c.kube
            .get("/apis/apps/v1/namespaces/demo/deployments/demo")
            .is_none(),
        "the script's values hold again: no Deployment"
    );
    c.eprun(&["plan", FILE, "--detailed-exitcode"])
        .expect_code(0);
}
