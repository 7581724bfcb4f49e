//! Fixtures shared by the integration tests: the AWS emulator (moto), a throw-away copy of the
//! project, a builder that runs the real `eprun` binary in it, and independent AWS SDK clients
//! that check what eprun did without going through eprun.

#![allow(dead_code)]

use crate::kube_support::{AwsAuth, ControlPlane, write_kubeconfig};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};

/// The repository root (where `Cargo.toml` is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The eprun binary cargo built for these tests.
pub fn eprun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_eprun"))
}

/// The Python interpreter of the project's `.venv/`, which `tools/test` creates.
pub fn venv_python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tools/test, which creates .venv",
        python.display()
    );
    python
}

/// Polls `check` until it returns `Some`, or panics with `what` (and `context()`) after `timeout`.
/// This is how tests wait for something: never a fixed sleep.
pub fn poll_until<T>(
    timeout: Duration,
    what: &str,
    mut context: impl FnMut() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {}s waiting for {what}\n{}",
                timeout.as_secs(),
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

// ---------------------------------------------------------------------------------------------
// moto

/// A moto server (`tests/support/moto_server.py`) on a free loopback port, stopped when dropped;
/// with it, the two Kubernetes control planes the local environments' contexts name, started on
/// first use.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    kube: std::sync::OnceLock<Clusters>,
}

/// One Kubernetes control plane per local region (contexts `local-us-east-1`, `local-eu-west-1`),
/// so the two regions never share a cluster, and the kubeconfig naming them.
pub struct Clusters {
    /// Context `local-us-east-1`.
    pub us: ControlPlane,
    /// Context `local-eu-west-1`.
    pub eu: ControlPlane,
    /// The kubeconfig file.
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto's server through `tests/support/moto_server.py` (moto from `<repo>/.venv/`,
    /// plus the Secrets Manager calls it lacks) and waits until it answers.
    /// Panics (never skips) when moto is not installed.
    pub fn start() -> Moto {
        if !repo_root().join(".venv/bin/moto_server").exists() {
            panic!(
                "moto is not installed: run tools/test, which creates .venv (.venv/bin/moto_server is missing)"
            );
        }
        let server = repo_root().join("tests/support/moto_server.py");
        // The free port is picked before moto binds it, so another process may take it first:
        // then moto exits ("in use") and we try another port.
        let mut last_log = String::new();
        for _ in 0..5 {
            match Moto::try_start(&server) {
                Ok(moto) => return moto,
                Err(log) => last_log = log,
            }
        }
        panic!(
            "moto_server could not bind a free port after 5 tries\n--- moto log ---\n{last_log}"
        );
    }

    /// One attempt: Err(log) when moto exited because its port was taken.
    fn try_start(server: &Path) -> Result<Moto, String> {
        let dir = tempfile::Builder::new()
            .prefix("eprun-moto-")
            .tempdir()
            .expect("temp dir for the moto log");
        let log = dir.path().join("moto.log");
        // A port that was free a moment ago.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
            l.local_addr().expect("local address").port()
        };
        let out = fs::File::create(&log).expect("create moto.log");
        let err = out.try_clone().expect("clone moto.log handle");
        let child = Command::new(venv_python())
            .arg(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_remove("AWS_ENDPOINT_URL")
            // The stacks attach AWS managed policies (AmazonEKSClusterPolicy, …), which moto only knows when asked.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("EPRUN_EKS_ENDPOINTS", dir.path().join("eks-endpoints.json"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let mut moto = Moto {
            child,
            port,
            log,
            _dir: dir,
            kube: std::sync::OnceLock::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let log = moto.log_text();
                if log.contains("in use") {
                    return Err(log);
                }
                panic!(
                    "moto_server exited ({status}) before answering on port {port}\n--- moto log ---\n{log}"
                );
            }
            // "Running on" proves that our server bound the port (not some other process).
            if moto.log_text().contains("Running on") && moto.answers() {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                panic!(
                    "moto_server did not answer on port {port} within 30s\n--- moto log ---\n{}",
                    moto.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Makes EKS clusters created from now on under `name` describe `plane`'s endpoint and CA,
    /// so that `[k8s] connect = "eks"` reaches a real apiserver (tests/support/moto_server.py).
    pub fn serve_eks_cluster(&self, name: &str, plane: &ControlPlane) {
        use base64::Engine;
        let path = self._dir.path().join("eks-endpoints.json");
        let mut seams: serde_json::Value = fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        seams[name] = serde_json::json!({
            "endpoint": plane.url(),
            "ca": base64::engine::general_purpose::STANDARD.encode(plane.ca_pem()),
        });
        fs::write(&path, seams.to_string()).expect("write the EKS endpoints seam");
    }

    /// The Kubernetes control planes of both local regions, started side by side on first use.
    /// Each accepts `k8s-aws-v1.` tokens presigned for this moto's STS, as EKS does.
    pub fn clusters(&self) -> &Clusters {
        self.kube.get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("eprun-kubeconfig-")
                .tempdir()
                .expect("temp dir for the kubeconfig");
            let endpoint = self.endpoint();
            let start = |cluster_name: &'static str| {
                let endpoint = endpoint.clone();
                std::thread::spawn(move || {
                    ControlPlane::start_with(Some(AwsAuth {
                        sts_endpoint: &endpoint,
                        cluster_name,
                    }))
                })
            };
            let us = start("examplepay-local");
            let eu = start("examplepay-local-eu");
            let (us, eu) = (
                us.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                eu.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
            let kubeconfig = dir.path().join("config");
            write_kubeconfig(
                &kubeconfig,
                &[("local-us-east-1", &us), ("local-eu-west-1", &eu)],
            );
            Clusters {
                us,
                eu,
                kubeconfig,
                _dir: dir,
            }
        })
    }

    /// What moto printed so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether `GET /moto-api/` gets an HTTP answer.
    fn answers(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// the project

/// A temp dir holding a copy of the repository's `environments/`, `scripts/`, `stdlib/` and `policy/`:
/// tests run the real scripts but never touch the repository's own `.eprun/`.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A fresh copy of the project.
    pub fn new() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("eprun-project-")
            .tempdir()
            .expect("temp project dir");
        for sub in ["environments", "scripts", "stdlib", "policy"] {
            copy_dir(&repo_root().join(sub), &dir.path().join(sub));
        }
        Project { dir }
    }

    /// The project root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An absolute path inside the project.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path().join(rel)
    }

    /// Writes a file (creating its folders).
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
        let path = self.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("create folders");
        fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Reads a file as text.
    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        let path = self.join(rel);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Rewrites a text file through `f`; panics when `f` changed nothing.
    pub fn edit(&self, rel: impl AsRef<Path>, f: impl FnOnce(&str) -> String) {
        let rel = rel.as_ref();
        let before = self.read(rel);
        let after = f(&before);
        assert_ne!(
            before,
            after,
            "the edit of {} changed nothing",
            rel.display()
        );
        self.write(rel, after);
    }

    /// `<root>/.eprun/state/<env>.json`.
    pub fn state_path(&self, env: &str) -> PathBuf {
        self.join(".eprun/state").join(format!("{env}.json"))
    }

    /// The state document of an environment, if there is one that parses.
    pub fn state_json(&self, env: &str) -> Option<serde_json::Value> {
        let text = fs::read_to_string(self.state_path(env)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// How many resources the state file of `env` records (pending or created); 0 when there is none.
    pub fn state_resource_count(&self, env: &str) -> usize {
        self.state_json(env)
            .and_then(|v| {
                v.pointer("/state/resources")
                    .and_then(|r| r.as_object())
                    .map(|o| o.len())
            })
            .unwrap_or(0)
    }

    /// Every state file (`*.json`) under `.eprun/state/`.
    pub fn state_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let root = self.join(".eprun/state");
        if root.exists() {
            walk(&root, &mut |p| {
                if p.extension().is_some_and(|e| e == "json") {
                    found.push(p.to_path_buf());
                }
            });
        }
        found
    }

    /// Panics when any state file exists: the command must have changed nothing.
    pub fn assert_no_state(&self, out: &Output) {
        let files = self.state_files();
        assert!(
            files.is_empty(),
            "a state file was written ({files:?}) although nothing should have changed\n{out}"
        );
    }
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

/// Puts stand-ins for the controllers' upstream charts (which cannot be downloaded here) into the
/// chart cache of the project at `root`, where eprun finds a chart it pulled before: for each
/// chart the local environments pin in `[k8s.charts]`, `tests/charts/stand-in` packaged under the
/// upstream chart's name and version. Each stand-in installs one ConfigMap, `<release>-values`,
/// holding the values the release was installed with.
pub fn seed_stand_in_charts(root: &Path) {
    static PACKAGED: OnceLock<tempfile::TempDir> = OnceLock::new();
    let packaged = PACKAGED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir for the stand-in charts");
        for env in ["local/us-east-1", "local/eu-west-1"] {
            let file = repo_root().join(format!("environments/{env}.toml"));
            let text = fs::read_to_string(&file).expect("the environment file");
            let parsed: toml::Value = toml::from_str(&text).expect("valid TOML");
            let Some(charts) = parsed["k8s"].get("charts").and_then(toml::Value::as_table) else {
                continue;
            };
            for pin in charts.values() {
                let text = |k: &str| pin.get(k).and_then(toml::Value::as_str).unwrap_or_default();
                let props = serde_json::json!({
                    "chart": text("chart"), "repository": text("repository"), "version": text("version"),
                });
                let source = eprun_k8s::helm::chart::ChartSource::of(props.as_object().expect("a map"));
                let archive = source.cached(dir.path()).expect("a remote chart");
                if archive.exists() {
                    continue;
                }
                let name = archive
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(&format!("-{}.tgz", text("version"))))
                    .expect("<chart>-<version>.tgz")
                    .to_string();
                let chart = dir.path().join("src").join(&name);
                copy_dir(&repo_root().join("tests/charts/stand-in"), &chart);
                let meta = fs::read_to_string(chart.join("Chart.yaml")).expect("Chart.yaml");
                let meta = meta
                    .replace("name: stand-in", &format!("name: {name}"))
                    .replace("version: 0.0.0", &format!("version: {}", text("version")));
                fs::write(chart.join("Chart.yaml"), meta).expect("write Chart.yaml");
                let out_dir = archive.parent().expect("a folder");
                fs::create_dir_all(out_dir).expect("create the cache folder");
                let status = Command::new(crate::kube_support::helm_bin())
                    .arg("package")
                    .arg(&chart)
                    .arg("--destination")
                    .arg(out_dir)
                    .stdout(Stdio::null())
                    .status()
                    .expect("run helm package");
                assert!(status.success(), "helm package {}", chart.display());
            }
        }
        fs::remove_dir_all(dir.path().join("src")).expect("remove the chart sources");
        dir
    });
    copy_dir(packaged.path(), &root.join(".eprun/charts"));
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    for entry in
        fs::read_dir(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()))
    {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", entry.path().display()));
        }
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, f);
        } else {
            f(&path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// running eprun

/// What a finished command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    fn new(command: String, status: ExitStatus, stdout: String, stderr: String) -> Output {
        Output {
            command,
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }

    /// Both streams, for searching text that may go to either.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics (showing the output) unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit code {code}\n{self}");
        self
    }

    /// Panics (showing the output) unless the command succeeded.
    pub fn expect_success(&self) -> &Self {
        self.expect_code(0)
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }

    /// Panics when the output shows a panic or a backtrace: no panic is reachable from a user's input.
    pub fn expect_no_panic(&self) -> &Self {
        let all = self.all();
        assert!(
            !all.contains("panicked") && !all.contains("stack backtrace"),
            "eprun panicked\n{self}"
        );
        self
    }
}

/// The last `max` lines of `text`, saying how many were left out.
fn tail(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    if lines.len() <= max {
        return lines.join("\n");
    }
    format!(
        "[… {} earlier lines left out …]\n{}",
        lines.len() - max,
        lines[lines.len() - max..].join("\n")
    )
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "exit code: {}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", tail(&self.stdout, 60))?;
        write!(f, "--- stderr ---\n{}", tail(&self.stderr, 60))
    }
}

/// Builds an `eprun` command run in a project, with a clean, test-only AWS environment.
pub struct Eprun {
    cwd: PathBuf,
    args: Vec<OsString>,
    env: BTreeMap<String, Option<String>>,
    logs: PathBuf,
}

/// `eprun ARGS` in `project`: no AWS settings inherited, test credentials, no colour, no TTY.
pub fn eprun(project: &Project, args: &[&str]) -> Eprun {
    let mut env: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("AWS_") || matches!(k.as_str(), "KUBECONFIG" | "EPRUN_LOG" | "EPRUN_HELM")
        {
            env.insert(k, None);
        }
    }
    let scratch = project.join(".test-scratch");
    fs::create_dir_all(&scratch).expect("scratch dir");
    let missing = |name: &str| Some(scratch.join(name).display().to_string());
    env.insert("NO_COLOR".into(), Some("1".into()));
    env.insert("AWS_ACCESS_KEY_ID".into(), Some("testing".into()));
    env.insert("AWS_SECRET_ACCESS_KEY".into(), Some("testing".into()));
    env.insert("AWS_CONFIG_FILE".into(), missing("no-aws-config"));
    env.insert(
        "AWS_SHARED_CREDENTIALS_FILE".into(),
        missing("no-aws-credentials"),
    );
    env.insert("AWS_EC2_METADATA_DISABLED".into(), Some("true".into()));
    Eprun {
        cwd: project.path().to_path_buf(),
        args: args.iter().map(OsString::from).collect(),
        env,
        logs: scratch,
    }
}

impl Eprun {
    /// Talk to this moto (`AWS_ENDPOINT_URL`) and its Kubernetes emulators (`KUBECONFIG`).
    /// Helm releases run with the pinned `helm` and the stand-in charts ([`seed_stand_in_charts`]).
    pub fn moto(self, moto: &Moto) -> Self {
        let kubeconfig = moto.clusters().kubeconfig.display().to_string();
        seed_stand_in_charts(&self.cwd);
        self.env("AWS_ENDPOINT_URL", &moto.endpoint())
            .env("KUBECONFIG", &kubeconfig)
            .helm()
    }

    /// Runs Helm releases with the pinned `helm` binary (`EPRUN_HELM`).
    pub fn helm(self) -> Self {
        self.env("EPRUN_HELM", crate::kube_support::helm_bin())
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), Some(value.into()));
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.insert(key.into(), None);
        self
    }

    /// No AWS credentials at all (no keys, no profile files, no instance metadata).
    pub fn no_credentials(self) -> Self {
        self.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
    }

    /// More arguments.
    pub fn args(mut self, more: &[&str]) -> Self {
        self.args.extend(more.iter().map(OsString::from));
        self
    }

    fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let endpoint = match self.env.get("AWS_ENDPOINT_URL") {
            Some(Some(url)) => format!("AWS_ENDPOINT_URL={url} "),
            _ => String::new(),
        };
        format!(
            "(cd {} && {endpoint}eprun {})",
            self.cwd.display(),
            args.join(" ")
        )
    }

    fn command(&self, program: &Path, before: &[OsString]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(before)
            .args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    /// Runs to completion (stdin is null: no terminal).
    pub fn run(self) -> Output {
        let out = self
            .command(&eprun_bin(), &[])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", eprun_bin().display()));
        Output::new(
            self.describe(),
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs to completion with `input` piped on stdin (a pipe, not a terminal).
    pub fn run_with_stdin(self, input: &str) -> Output {
        self.spawn_with_stdin(input).wait(Duration::from_secs(600))
    }

    /// Starts it in the background, stdout and stderr to files.
    pub fn spawn(self) -> Running {
        self.spawn_fed(None)
    }

    /// Starts it in the background with `input` written to its stdin (then closed).
    pub fn spawn_with_stdin(self, input: &str) -> Running {
        self.spawn_fed(Some(input))
    }

    fn spawn_fed(self, input: Option<&str>) -> Running {
        let n = NEXT_LOG.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stdout = self.logs.join(format!("run-{n}.stdout"));
        let stderr = self.logs.join(format!("run-{n}.stderr"));
        let mut cmd = self.command(&eprun_bin(), &[]);
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .stdout(fs::File::create(&stdout).expect("stdout file"))
            .stderr(fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", eprun_bin().display()));
        if let Some(input) = input {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        Running {
            child: child.into(),
            command: self.describe(),
            stdout,
            stderr,
            answer: None,
        }
    }

    /// Starts it in the background with a pseudo-terminal as its stdin (made by a small Python
    /// helper from `.venv`, since the tests have no pty crate): eprun then asks for confirmation
    /// and waits for [`Running::answer`]. stdout and stderr go to files.
    pub fn spawn_with_tty(self) -> Running {
        const HELPER: &str = r#"
import os, subprocess, sys
master, slave = os.openpty()
child = subprocess.Popen(sys.argv[1:], stdin=slave)
os.close(slave)
answer = sys.stdin.buffer.read()   # the test writes its answer, then closes the pipe
if answer:
    os.write(master, answer)
    code = child.wait()
    os.close(master)
else:
    os.close(master)               # no answer (the test went away): hang up the terminal
    code = child.wait()
sys.exit(code if code >= 0 else 128 - code)
"#;
        let n = NEXT_LOG.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stdout = self.logs.join(format!("run-{n}.stdout"));
        let stderr = self.logs.join(format!("run-{n}.stderr"));
        let before = [
            OsString::from("-c"),
            OsString::from(HELPER),
            eprun_bin().into_os_string(),
        ];
        let mut child = self
            .command(&venv_python(), &before)
            .stdin(Stdio::piped())
            .stdout(fs::File::create(&stdout).expect("stdout file"))
            .stderr(fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the pty helper: {e}"));
        let answer = child.stdin.take();
        Running {
            child: child.into(),
            command: format!("{} (stdin: a terminal)", self.describe()),
            stdout,
            stderr,
            answer,
        }
    }
}

static NEXT_LOG: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A command running in the background; killed (SIGKILL) if still running when dropped.
pub struct Running {
    child: std::cell::RefCell<Child>,
    command: String,
    stdout: PathBuf,
    stderr: PathBuf,
    answer: Option<std::process::ChildStdin>,
}

impl Running {
    /// Whether it has exited.
    pub fn finished(&self) -> bool {
        matches!(self.child.borrow_mut().try_wait(), Ok(Some(_)))
    }

    /// What it printed so far.
    pub fn stdout_so_far(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What it printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// A description for failure messages.
    pub fn context(&self) -> String {
        format!(
            "$ {}\n--- stdout so far ---\n{}\n--- stderr so far ---\n{}",
            self.command,
            tail(&self.stdout_so_far(), 60),
            tail(&self.stderr_so_far(), 60)
        )
    }

    /// Types `text` on its terminal (only for [`Eprun::spawn_with_tty`]).
    pub fn answer(&mut self, text: &str) {
        let mut pipe = self
            .answer
            .take()
            .expect("answer() needs spawn_with_tty() and is called once");
        pipe.write_all(text.as_bytes()).expect("write the answer");
    }

    /// Sends SIGKILL (what `kill -9` does) and reaps it. Returns whether it was still running.
    pub fn kill(&self) -> bool {
        let was_running = !self.finished();
        let mut child = self.child.borrow_mut();
        let _ = child.kill();
        let _ = child.wait();
        was_running
    }

    /// Waits for it to exit (at most `timeout`) and returns what it did.
    pub fn wait(mut self, timeout: Duration) -> Output {
        drop(self.answer.take());
        let status = {
            let mut child = self.child.borrow_mut();
            let mut status = None;
            let deadline = Instant::now() + timeout;
            while status.is_none() {
                status = child.try_wait().expect("try_wait");
                if status.is_none() && Instant::now() > deadline {
                    break;
                }
                if status.is_none() {
                    std::thread::sleep(Duration::from_millis(25));
                }
            }
            status
        };
        let Some(status) = status else {
            let context = self.context();
            panic!("still running after {}s\n{context}", timeout.as_secs());
        };
        Output::new(
            self.command.clone(),
            status,
            self.stdout_so_far(),
            self.stderr_so_far(),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.answer.take());
        let child = self.child.get_mut();
        let _ = child.kill();
        let _ = child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// independent AWS clients (not through eprun)

/// The shared tokio runtime for the SDK calls the tests make (the Kubernetes helpers' own).
pub use crate::kube_support::runtime;

/// Runs an async SDK call to completion.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

fn sdk_config(moto: &Moto, region: &str) -> aws_config::SdkConfig {
    let creds =
        aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "eprun-tests");
    block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(moto.endpoint())
            .credentials_provider(creds)
            .load(),
    )
}

/// An EC2 client talking to `moto` in `region`.
pub fn ec2_client(moto: &Moto, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config(moto, region))
}

/// An EKS client talking to `moto` in `region`.
pub fn eks_client(moto: &Moto, region: &str) -> aws_sdk_eks::Client {
    aws_sdk_eks::Client::new(&sdk_config(moto, region))
}

/// An IAM client talking to `moto` (IAM is global: `region` only signs the requests).
pub fn iam_client(moto: &Moto, region: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config(moto, region))
}

/// A KMS client talking to `moto` in `region`.
pub fn kms_client(moto: &Moto, region: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(moto, region))
}

/// A Route 53 client talking to `moto` (Route 53 is global: `region` only signs the requests).
pub fn route53_client(moto: &Moto, region: &str) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&sdk_config(moto, region))
}

/// A Secrets Manager client talking to `moto` in `region`.
pub fn secretsmanager_client(moto: &Moto, region: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(moto, region))
}

/// An S3 client (path-style) talking to `moto` in `region`.
pub fn s3_client(moto: &Moto, region: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config(moto, region))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An SQS client talking to `moto` in `region`.
pub fn sqs_client(moto: &Moto, region: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(moto, region))
}

/// An EventBridge client talking to `moto` in `region`.
pub fn eventbridge_client(moto: &Moto, region: &str) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&sdk_config(moto, region))
}

/// A CloudWatch client talking to `moto` in `region`.
pub fn cloudwatch_client(moto: &Moto, region: &str) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk_config(moto, region))
}

/// An ECR client talking to `moto` in `region`.
pub fn ecr_client(moto: &Moto, region: &str) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&sdk_config(moto, region))
}

/// A policy document as IAM returns it (URL-encoded JSON), decoded.
pub fn decode_policy(doc: &str) -> String {
    if doc.trim_start().starts_with('{') {
        return doc.to_string();
    }
    let bytes = doc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("a UTF-8 policy document")
}

/// The value of tag `key` in an EC2 tag list.
pub fn ec2_tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// Whether an EC2 tag list says the resource belongs to `stack`.
pub fn owned_by(tags: &[aws_sdk_ec2::types::Tag], stack: &str) -> bool {
    ec2_tag(tags, "eprun:stack") == Some(stack)
}

/// Whether an EC2 state string says the resource is deleted or on its way out (moto spells the
/// states in lower case, which the SDK's enums do not always match).
fn gone(state: Option<&str>) -> bool {
    state.is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "deleted" | "deleting"))
}

/// A snapshot of the EC2 and S3 resources one stack owns, read with the independent clients.
/// Ownership is checked on the client side (the emulator ignores some tag filters).
#[derive(Debug, Default)]
pub struct Inventory {
    pub vpcs: Vec<aws_sdk_ec2::types::Vpc>,
    pub subnets: Vec<aws_sdk_ec2::types::Subnet>,
    pub internet_gateways: Vec<aws_sdk_ec2::types::InternetGateway>,
    /// NAT gateways that are not `deleted`/`deleting`.
    pub nat_gateways: Vec<aws_sdk_ec2::types::NatGateway>,
    pub addresses: Vec<aws_sdk_ec2::types::Address>,
    pub route_tables: Vec<aws_sdk_ec2::types::RouteTable>,
    pub security_groups: Vec<aws_sdk_ec2::types::SecurityGroup>,
    /// VPC endpoints that are not deleted.
    pub vpc_endpoints: Vec<aws_sdk_ec2::types::VpcEndpoint>,
    pub flow_logs: Vec<aws_sdk_ec2::types::FlowLog>,
    /// Buckets tagged for the stack.
    pub buckets: Vec<String>,
}

impl Inventory {
    /// Reads everything `stack` owns in `region`.
    pub fn read(moto: &Moto, region: &str, stack: &str) -> Inventory {
        let ec2 = ec2_client(moto, region);
        let s3 = s3_client(moto, region);
        block_on(async {
            let mut inv = Inventory::default();
            let vpcs = ec2.describe_vpcs().send().await.expect("DescribeVpcs");
            inv.vpcs = vpcs
                .vpcs()
                .iter()
                .filter(|v| owned_by(v.tags(), stack))
                .cloned()
                .collect();
            let subnets = ec2
                .describe_subnets()
                .send()
                .await
                .expect("DescribeSubnets");
            inv.subnets = subnets
                .subnets()
                .iter()
                .filter(|s| owned_by(s.tags(), stack))
                .cloned()
                .collect();
            let igws = ec2
                .describe_internet_gateways()
                .send()
                .await
                .expect("DescribeInternetGateways");
            inv.internet_gateways = igws
                .internet_gateways()
                .iter()
                .filter(|g| owned_by(g.tags(), stack))
                .cloned()
                .collect();
            let nats = ec2
                .describe_nat_gateways()
                .send()
                .await
                .expect("DescribeNatGateways");
            inv.nat_gateways = nats
                .nat_gateways()
                .iter()
                .filter(|n| owned_by(n.tags(), stack))
                .filter(|n| !gone(n.state().map(|s| s.as_str())))
                .cloned()
                .collect();
            let addrs = ec2
                .describe_addresses()
                .send()
                .await
                .expect("DescribeAddresses");
            inv.addresses = addrs
                .addresses()
                .iter()
                .filter(|a| owned_by(a.tags(), stack))
                .cloned()
                .collect();
            let rts = ec2
                .describe_route_tables()
                .send()
                .await
                .expect("DescribeRouteTables");
            inv.route_tables = rts
                .route_tables()
                .iter()
                .filter(|r| owned_by(r.tags(), stack))
                .cloned()
                .collect();
            let sgs = ec2
                .describe_security_groups()
                .send()
                .await
                .expect("DescribeSecurityGroups");
            inv.security_groups = sgs
                .security_groups()
                .iter()
                .filter(|g| owned_by(g.tags(), stack))
                .cloned()
                .collect();
            let eps = ec2
                .describe_vpc_endpoints()
                .send()
                .await
                .expect("DescribeVpcEndpoints");
            inv.vpc_endpoints = eps
                .vpc_endpoints()
                .iter()
                .filter(|e| owned_by(e.tags(), stack))
                .filter(|e| !gone(e.state().map(|s| s.as_str())))
                .cloned()
                .collect();
            let fls = ec2
                .describe_flow_logs()
                .send()
                .await
                .expect("DescribeFlowLogs");
            inv.flow_logs = fls
                .flow_logs()
                .iter()
                .filter(|f| owned_by(f.tags(), stack))
                .cloned()
                .collect();
            let buckets = s3.list_buckets().send().await.expect("ListBuckets");
            for b in buckets.buckets() {
                let Some(name) = b.name() else { continue };
                let Ok(tagging) = s3.get_bucket_tagging().bucket(name).send().await else {
                    continue;
                };
                if tagging
                    .tag_set()
                    .iter()
                    .any(|t| t.key() == "eprun:stack" && t.value() == stack)
                {
                    inv.buckets.push(name.to_string());
                }
            }
            inv
        })
    }

    /// Asserts the regional network holds exactly one of everything a local stack builds (after a
    /// crash, a re-run must not have made a second of anything), and that moto holds no other VPC
    /// than its default one, tagged or not.
    pub fn assert_one_network(&self, moto: &Moto, region: &str, context: &str) {
        let what = format!("{}\n{context}", self.summary());
        let expected = [
            ("VPC", self.vpcs.len(), 1),
            ("subnets", self.subnets.len(), 6),
            ("internet gateway", self.internet_gateways.len(), 1),
            ("NAT gateways", self.nat_gateways.len(), 3),
            ("EIPs", self.addresses.len(), 3),
            (
                "route tables (1 public, 3 private)",
                self.route_tables.len(),
                4,
            ),
            ("endpoint security group", self.security_groups.len(), 1),
            ("VPC endpoints", self.vpc_endpoints.len(), 5),
            ("flow log", self.flow_logs.len(), 1),
            ("flow-log bucket", self.buckets.len(), 1),
        ];
        for (name, got, want) in expected {
            assert_eq!(got, want, "exactly {want} {name} in {region}: {what}");
        }
        let all_vpcs =
            block_on(ec2_client(moto, region).describe_vpcs().send()).expect("DescribeVpcs");
        let extra = all_vpcs
            .vpcs()
            .iter()
            .filter(|v| v.is_default() != Some(true))
            .count();
        assert_eq!(extra, 1, "VPCs besides the default one in {region}: {what}");
    }

    /// A one-line count of everything, for messages.
    pub fn summary(&self) -> String {
        format!(
            "vpcs={} subnets={} internet_gateways={} nat_gateways={} eips={} route_tables={} security_groups={} vpc_endpoints={} flow_logs={} buckets={:?}",
            self.vpcs.len(),
            self.subnets.len(),
            self.internet_gateways.len(),
            self.nat_gateways.len(),
            self.addresses.len(),
            self.route_tables.len(),
            self.security_groups.len(),
            self.vpc_endpoints.len(),
            self.flow_logs.len(),
            self.buckets
        )
    }

    /// Whether the stack owns nothing at all.
    pub fn is_empty(&self) -> bool {
        self.ec2_is_empty() && self.buckets.is_empty()
    }

    /// Whether the stack owns no EC2 resource in this region.
    pub fn ec2_is_empty(&self) -> bool {
        self.vpcs.is_empty()
            && self.subnets.is_empty()
            && self.internet_gateways.is_empty()
            && self.nat_gateways.is_empty()
            && self.addresses.is_empty()
            && self.route_tables.is_empty()
            && self.security_groups.is_empty()
            && self.vpc_endpoints.is_empty()
            && self.flow_logs.is_empty()
    }
}

/// The addresses in the output of `eprun state list` (the first word of each line).
pub fn state_list_addresses(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.contains('.'))
        .map(str::to_string)
        .collect()
}

/// The addresses of a `plan --json` document's changes.
pub fn plan_addresses(plan: &serde_json::Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["address"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource type of an address (`ec2.subnet.x` → `ec2.subnet`).
pub fn address_type(address: &str) -> String {
    address.splitn(3, '.').take(2).collect::<Vec<_>>().join(".")
}

/// The stack of the local environments these tests use.
pub const LOCAL_US: &str = "local/us-east-1";
/// The DR stack of the local environments.
pub const LOCAL_EU: &str = "local/eu-west-1";
/// The primary region's stack script.
pub const US_SCRIPT: &str = "scripts/prod/us-east-1.rhai";
/// The DR region's stack script.
pub const EU_SCRIPT: &str = "scripts/prod/eu-west-1.rhai";
/// How long an apply on moto may take before a test gives up.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(300);
