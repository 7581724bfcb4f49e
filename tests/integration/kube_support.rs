//! A real local Kubernetes control plane for the tests (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok, built from pinned Go modules by
//! `tools/k8s/build` and started by its launcher, `tools/k8s/launcher`): started on free loopback
//! ports and stopped when dropped, a kubeconfig that points eprun at it, and HTTP helpers that
//! read and write it without going through eprun.
//!
//! Controllers that cannot run here (Argo Rollouts, Karpenter) are played by the tests, e.g. with
//! [`ControlPlane::patch_status`]; kwok plays the kubelets (nodes become Ready, pods on them Running).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

use super::support::repo_root;

/// How long a control plane may take to start: the apiserver, the CRDs and the controllers, on a
/// loaded 2-core machine that may be starting others at the same time.
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// The User-Agent of these helpers' requests, so that counts of eprun's leave them out.
const USER_AGENT: &str = "eprun-tests";

/// How long one HTTP exchange with the apiserver may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A local control plane on free loopback ports, stopped when dropped.
pub struct ControlPlane {
    child: Child,
    // Held open: the launcher stops its control plane when this closes (even if the test dies).
    _stdin: ChildStdin,
    server: String,
    ca_pem: String,
    webhook: Option<String>,
    startup_ms: u64,
    dir: tempfile::TempDir,
    client: kube::Client,
}

/// One HTTP answer of the apiserver.
#[derive(Debug, Clone)]
pub struct KubeAnswer {
    /// What was asked (`METHOD PATH`), for messages.
    pub request: String,
    /// The HTTP status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl KubeAnswer {
    /// The body parsed as JSON (panics, showing it, when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the answer to {} is not JSON ({e})\n{self}", self.request))
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Display for KubeAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}\n{}", self.request, self.status, self.body)
    }
}

/// What `tools/k8s/build` reports: the launcher, the binaries, kwok's stages and the CRDs.
fn build() -> &'static BTreeMap<String, String> {
    static BUILT: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = repo_root().join("tools/k8s/build");
        // Cached after the first build, so this takes milliseconds; a cold build shows progress.
        let out = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed ({}): the local control plane cannot be built",
            script.display(),
            out.status
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

fn built(key: &str) -> &'static str {
    build()
        .get(key)
        .unwrap_or_else(|| panic!("tools/k8s/build did not report {key}"))
}

/// The tokio runtime the HTTP helpers and the tests' SDK calls run on (kube's client needs one
/// that outlives it).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime for the Kubernetes helpers")
    })
}

/// How a control plane authenticates AWS callers, as EKS does.
pub struct AwsAuth<'a> {
    /// The STS endpoint (moto's) that `k8s-aws-v1.` tokens must be presigned for.
    pub sts_endpoint: &'a str,
    /// The EKS cluster name a token names.
    pub cluster_name: &'a str,
}

impl ControlPlane {
    /// Starts a control plane and waits until it serves (CRDs established, controllers running).
    /// Panics (never skips) when it cannot start.
    pub fn start() -> ControlPlane {
        ControlPlane::start_with(None)
    }

    /// Like [`ControlPlane::start`], also accepting `k8s-aws-v1.` bearer tokens checked against
    /// STS, as aws-iam-authenticator does on EKS.
    pub fn start_with(aws: Option<AwsAuth<'_>>) -> ControlPlane {
        let dir = tempfile::Builder::new()
            .prefix("eprun-k8s-")
            .tempdir()
            .expect("temp dir for a control plane");
        let launcher = built("EPRUN_K8S_LAUNCHER");
        let mut cmd = Command::new(launcher);
        cmd.arg("-dir")
            .arg(dir.path())
            .args(["-bin", built("EPRUN_K8S_BIN")])
            .args(["-kwok-config", built("EPRUN_K8S_KWOK_CONFIG")])
            .args(["-crds", built("EPRUN_K8S_CRDS")])
            .arg("-exit-on-stdin-eof");
        if let Some(aws) = &aws {
            cmd.args(["-sts-endpoint", aws.sts_endpoint])
                .args(["-cluster-name", aws.cluster_name]);
        }
        let stderr = fs::File::create(dir.path().join("launcher.log")).expect("launcher.log");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {launcher}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let launcher_log =
            || fs::read_to_string(dir.path().join("launcher.log")).unwrap_or_default();
        let ready: Value = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!(
                    "the control plane launcher said {line:?} ({e})\n{}",
                    launcher_log()
                )
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "a control plane did not start within {}s\n--- launcher ---\n{}",
                    START_TIMEOUT.as_secs(),
                    launcher_log()
                );
            }
        };
        let field = |k: &str| ready[k].as_str().unwrap_or_default().to_string();
        let config = kube::config::Kubeconfig::read_from(dir.path().join("kubeconfig"))
            .expect("the launcher's kubeconfig");
        let client = runtime().block_on(async {
            let mut config = kube::Config::from_custom_kubeconfig(config, &Default::default())
                .await
                .expect("a client config from the launcher's kubeconfig");
            config.read_timeout = Some(HTTP_TIMEOUT);
            kube::Client::try_from(config).expect("a Kubernetes client")
        });
        ControlPlane {
            child,
            _stdin: stdin,
            server: field("server"),
            ca_pem: field("ca"),
            webhook: Some(field("webhook")).filter(|w| !w.is_empty()),
            startup_ms: ready["startup_ms"].as_u64().unwrap_or_default(),
            dir,
            client,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.clone()
    }

    /// The apiserver's port.
    pub fn port(&self) -> u16 {
        self.server
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the launcher's server URL has a port")
    }

    /// The directory with its CA (`ca.crt`) and admin client certificate (`admin.crt`, `admin.key`).
    pub fn pki_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("pki")
    }

    /// How many requests the apiserver served to clients other than these helpers (eprun, curl),
    /// from its audit log.
    pub fn requests_by_others(&self) -> usize {
        self.audit()
            .iter()
            .filter(|e| e["userAgent"].as_str() != Some(USER_AGENT))
            .count()
    }

    /// The cluster CA (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// How long the launcher took to have it serving, in milliseconds.
    pub fn startup_ms(&self) -> u64 {
        self.startup_ms
    }

    /// The webhook token authenticator's URL, when it was started with one.
    pub fn webhook(&self) -> Option<&str> {
        self.webhook.as_deref()
    }

    /// Every request the audit log holds (users' and eprun's; the components' are left out).
    pub fn audit(&self) -> Vec<Value> {
        fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// A file of its PKI (`admin.crt`, `admin.key`, `ca.crt`, ...).
    fn pki(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join("pki").join(name))
            .unwrap_or_else(|e| panic!("cannot read the control plane's {name}: {e}"))
    }

    /// The log of one component (`kube-apiserver`, `kube-controller-manager`, `kwok`, `webhook`, ...).
    pub fn log_text(&self, component: &str) -> String {
        fs::read_to_string(self.dir.path().join(format!("{component}.log"))).unwrap_or_default()
    }

    /// The ends of the logs that explain a failure.
    fn logs(&self) -> String {
        let tail = |name: &str| {
            let text = self.log_text(name);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        format!(
            "--- kube-apiserver log (end) ---\n{}\n--- launcher ---\n{}",
            tail("kube-apiserver"),
            tail("launcher")
        )
    }

    /// One HTTP request as the cluster admin; `body` is sent as JSON text with `content_type`
    /// (default `application/json`). Never panics on an HTTP error status.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) -> KubeAnswer {
        let request = format!("{method} {path}");
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("Accept", "application/json")
            .header("User-Agent", USER_AGENT);
        if body.is_some() {
            builder = builder.header("Content-Type", content_type.unwrap_or("application/json"));
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let req = builder
            .body(kube::client::Body::from(bytes))
            .unwrap_or_else(|e| panic!("{request}: not a valid request: {e}"));
        let answer = runtime().block_on(async {
            let resp = tokio::time::timeout(HTTP_TIMEOUT, self.client.send(req)).await;
            let resp = match resp {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(format!("cannot send: {e}")),
                Err(_) => return Err("no answer within the timeout".to_string()),
            };
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| format!("cannot read the answer: {e}"))?;
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        });
        match answer {
            Ok((status, body)) => KubeAnswer {
                request,
                status,
                body,
            },
            Err(what) => panic!("{request}: {what}\n{}", self.logs()),
        }
    }

    /// Panics with the answer unless it is a success.
    fn expect_success(&self, answer: KubeAnswer) -> KubeAnswer {
        if !answer.is_success() {
            panic!("the apiserver refused {answer}");
        }
        answer
    }

    /// The object at `path` (e.g. `/api/v1/namespaces/default/pods/web`), or None when it does
    /// not exist (404).
    pub fn get(&self, path: &str) -> Option<Value> {
        let answer = self.request("GET", path, None, None);
        if answer.status == 404 {
            return None;
        }
        Some(self.expect_success(answer).json())
    }

    /// The items of the list at `path` (a collection; may carry `?labelSelector=` and
    /// `?fieldSelector=`, URL-encoded).
    pub fn list(&self, path: &str) -> Vec<Value> {
        let list = self
            .expect_success(self.request("GET", path, None, None))
            .json();
        match list.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => panic!("GET {path} answered no `items`: {list}"),
        }
    }

    /// Creates `obj` in the collection at `path` (e.g. `/apis/apps/v1/namespaces/x/deployments`)
    /// and returns it as stored. The apiserver drops `status` on create; when `obj` has one, it is
    /// then written through `/status`, as the controller that owns it would, so that a fixture (a
    /// node's capacity, a Rollout's phase) takes one call.
    pub fn create(&self, path: &str, obj: &Value) -> Value {
        let created = self
            .expect_success(self.request("POST", path, None, Some(obj)))
            .json();
        match obj.get("status") {
            Some(status) if created.get("status") != Some(status) => {
                let name = created["metadata"]["name"]
                    .as_str()
                    .expect("a created object has a name");
                self.patch_status(&format!("{}/{name}", path.trim_end_matches('/')), status)
            }
            _ => created,
        }
    }

    /// Server-side apply of `obj` at the object's `path` as field manager `eprun-tests`, forcing
    /// conflicts: creates a missing object, merges into an existing one.
    pub fn apply(&self, path: &str, obj: &Value) -> Value {
        self.apply_as(path, obj, "eprun-tests", true)
    }

    /// Server-side apply of `obj` as `manager`, forcing conflicts or not. Panics on a refusal.
    pub fn apply_as(&self, path: &str, obj: &Value, manager: &str, force: bool) -> Value {
        let path = format!("{path}?fieldManager={manager}&force={force}");
        self.expect_success(self.request(
            "PATCH",
            &path,
            Some("application/apply-patch+yaml"),
            Some(obj),
        ))
        .json()
    }

    /// A JSON merge patch of the object at `path` (`null` removes a key).
    pub fn patch(&self, path: &str, patch: &Value) -> Value {
        self.expect_success(self.request(
            "PATCH",
            path,
            Some("application/merge-patch+json"),
            Some(patch),
        ))
        .json()
    }

    /// Merges `status` into the status of the object at `path`, through its `/status`
    /// subresource: what a controller does. Returns the object.
    pub fn patch_status(&self, path: &str, status: &Value) -> Value {
        self.expect_success(self.request(
            "PATCH",
            &format!("{path}/status"),
            Some("application/merge-patch+json"),
            Some(&json!({ "status": status })),
        ))
        .json()
    }

    /// Deletes the object at `path` (foreground: gone once its dependents are). Returns false when
    /// it did not exist.
    pub fn delete(&self, path: &str) -> bool {
        let answer = self.request("DELETE", path, None, None);
        if answer.status == 404 {
            return false;
        }
        self.expect_success(answer);
        true
    }

    /// A kubeconfig user entry (admin client certificate) for this cluster.
    fn user_entry(&self) -> (String, String) {
        let b64 = |s: String| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        (b64(self.pki("admin.crt")), b64(self.pki("admin.key")))
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Closing stdin asks the launcher to stop its components; it exits within seconds.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pinned `helm` binary `tools/k8s/build` built.
pub fn helm_bin() -> &'static str {
    built("EPRUN_HELM")
}

/// `helm ARGS` against the clusters of `kubeconfig`, asserted to succeed; its stdout.
pub fn helm(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(helm_bin())
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm: {e}"));
    assert!(
        out.status.success(),
        "helm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The releases `helm list --all-namespaces` shows in `context` of `kubeconfig` (its current
/// context when `None`), as `namespace/name chart status` lines, sorted.
pub fn helm_releases(kubeconfig: &Path, context: Option<&str>) -> Vec<String> {
    let mut args = vec!["list", "--all-namespaces", "--output", "json"];
    args.extend(context.iter().flat_map(|c| ["--kube-context", c]));
    let listed: Vec<Value> =
        serde_json::from_str(&helm(kubeconfig, &args)).expect("helm list prints JSON");
    let text = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    let mut lines: Vec<String> = listed
        .iter()
        .map(|r| {
            let (ns, name) = (text(r, "namespace"), text(r, "name"));
            format!("{ns}/{name} {} {}", text(r, "chart"), text(r, "status"))
        })
        .collect();
    lines.sort();
    lines
}

/// Writes a kubeconfig with one cluster, user and context per `(name, control plane)` (all three
/// named `name`, the user being the cluster's admin), `current-context` being the first.
pub fn write_kubeconfig(path: &Path, contexts: &[(&str, &ControlPlane)]) {
    let servers: Vec<(&str, &ControlPlane, String)> =
        contexts.iter().map(|(n, p)| (*n, *p, p.url())).collect();
    write_kubeconfig_servers(path, &servers);
}

/// Like [`write_kubeconfig`], with each context's API server given by URL (e.g. a proxy's).
pub fn write_kubeconfig_servers(path: &Path, contexts: &[(&str, &ControlPlane, String)]) {
    assert!(
        !contexts.is_empty(),
        "a kubeconfig needs at least one context"
    );
    // JSON strings are YAML strings: quoting through serde_json keeps any name safe.
    let q = |s: &str| Value::from(s).to_string();
    let mut clusters = String::new();
    let mut users = String::new();
    let mut ctxs = String::new();
    for (name, plane, server) in contexts {
        let name = q(name);
        let ca = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(plane.ca_pem())
        };
        let (cert, key) = plane.user_entry();
        clusters.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n",
            q(server)
        ));
        users.push_str(&format!(
            "- name: {name}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n"
        ));
        ctxs.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: \"default\"\n"
        ));
    }
    let text = format!(
        "apiVersion: v1\nkind: Config\npreferences: {{}}\nclusters:\n{clusters}users:\n{users}contexts:\n{ctxs}current-context: {}\n",
        q(contexts[0].0)
    );
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
