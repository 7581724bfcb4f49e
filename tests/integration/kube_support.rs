//! The Kubernetes API emulator (`tests/support/kube_emulator.py`, built on kmock) for the tests:
//! started on a free loopback port and stopped when dropped, a kubeconfig that points eprun at
//! it, and plain HTTP helpers that read and write it without going through eprun.
//!
//! The emulator has no controllers: a test plays them, e.g. with [`KubeEmulator::patch_status`].

#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{repo_root, venv_python};

/// The bearer token every kubeconfig written here carries (the emulator accepts any).
pub const TOKEN: &str = "kmock-test-token";

/// How long one HTTP exchange with the emulator may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A Kubernetes API emulator on a free loopback port, stopped when dropped.
pub struct KubeEmulator {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// One HTTP answer of the emulator.
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

impl KubeEmulator {
    /// Starts `tests/support/kube_emulator.py` with the venv's Python and waits until it listens.
    /// Panics (never skips) when it cannot start, showing its log.
    pub fn start() -> KubeEmulator {
        let script = repo_root().join("tests/support/kube_emulator.py");
        let python = venv_python();
        let dir = tempfile::Builder::new()
            .prefix("eprun-kube-")
            .tempdir()
            .expect("temp dir for the kube emulator log");
        let log = dir.path().join("kube_emulator.log");
        let err = fs::File::create(&log).expect("create kube_emulator.log");
        // Port 0: the emulator binds a free port itself and says which, so no other process
        // can take it between our choice and its bind.
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} {}: {e}",
                    python.display(),
                    script.display()
                )
            });

        // Its first stdout line is `listening on PORT`; a thread reads it (and drains the rest,
        // so that the emulator never blocks on a full pipe).
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });

        let read_log = |log: &Path| fs::read_to_string(log).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => match line
                    .strip_prefix("listening on ")
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    Some(port) => break port,
                    None => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "the kube emulator said {line:?} instead of `listening on PORT`\n--- kube emulator log ---\n{}",
                            read_log(&log)
                        );
                    }
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                    panic!(
                        "the kube emulator exited ({status}) before listening (is kmock installed in .venv? run tools/test)\n--- kube emulator log ---\n{}",
                        read_log(&log)
                    );
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the kube emulator did not listen within 30s\n--- kube emulator log ---\n{}",
                    read_log(&log)
                );
            }
        };
        let emulator = KubeEmulator {
            child,
            port,
            log,
            _dir: dir,
        };
        let version = emulator.request("GET", "/version", None, None);
        assert_eq!(
            version.status,
            200,
            "the kube emulator does not answer /version\n{version}\n--- kube emulator log ---\n{}",
            emulator.log_text()
        );
        emulator
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it logged so far (one line per request, and tracebacks of its own bugs).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One HTTP request; `body` is sent as JSON text with `content_type`
    /// (default `application/json`). Never panics on an HTTP error status.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) -> KubeAnswer {
        let request = format!("{method} {path}");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/json\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        if !body.is_empty() {
            head.push_str(&format!(
                "Content-Type: {}\r\n",
                content_type.unwrap_or("application/json")
            ));
        }
        head.push_str("\r\n");

        let fail = |what: String| -> ! {
            panic!(
                "{request}: {what}\n--- kube emulator log ---\n{}",
                self.log_text()
            )
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
            .unwrap_or_else(|e| fail(format!("cannot connect: {e}")));
        let _ = stream.set_read_timeout(Some(HTTP_TIMEOUT));
        let _ = stream.set_write_timeout(Some(HTTP_TIMEOUT));
        stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(body.as_bytes()))
            .unwrap_or_else(|e| fail(format!("cannot send: {e}")));
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| fail(format!("cannot read the answer: {e}")));
        let (status, body) = parse_http_answer(&raw).unwrap_or_else(|e| fail(e));
        KubeAnswer {
            request,
            status,
            body,
        }
    }

    /// Panics with the answer and the emulator's log unless the answer is a success.
    fn expect_success(&self, answer: KubeAnswer) -> KubeAnswer {
        if !answer.is_success() {
            panic!(
                "the kube emulator refused {answer}\n--- kube emulator log ---\n{}",
                self.log_text()
            );
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
    /// and returns it as stored. Like a real API server, the emulator drops `status` on create for
    /// resources with a status subresource; when `obj` has a `status`, it is then written through
    /// `/status`, so that a fixture (a PDB with its `disruptionsAllowed`, a running pod) takes one
    /// call.
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

    /// Server-side apply of `obj` at the object's `path`, as kube-rs sends it (JSON body,
    /// `fieldManager=eprun-tests&force=true`): creates a missing object, merges into an existing one.
    pub fn apply(&self, path: &str, obj: &Value) -> Value {
        let path = format!("{path}?fieldManager=eprun-tests&force=true");
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

    /// Deletes the object at `path`. Returns false when it did not exist.
    pub fn delete(&self, path: &str) -> bool {
        let answer = self.request("DELETE", path, None, None);
        if answer.status == 404 {
            return false;
        }
        self.expect_success(answer);
        true
    }
}

impl Drop for KubeEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status code and body of a raw HTTP/1.1 answer (Content-Length, chunked, or until EOF).
fn parse_http_answer(raw: &[u8]) -> Result<(u16, String), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP header in {:?}", String::from_utf8_lossy(raw)))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = &raw[split + 4..];
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad HTTP status line {status_line:?}"))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let mut decoded = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let end = body
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("truncated chunked body")?;
            let size_text = String::from_utf8_lossy(&body[..end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
            body = &body[end + 2..];
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(body.get(..size).ok_or("truncated chunk")?);
            body = body.get(size + 2..).unwrap_or_default();
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        decoded.extend_from_slice(body.get(..len).ok_or("truncated body")?);
    } else {
        decoded.extend_from_slice(body);
    }
    Ok((status, String::from_utf8_lossy(&decoded).into_owned()))
}

/// Writes a kubeconfig with one cluster, user and context per `(name, emulator)` (all three named
/// `name`; the user has a dummy token), `current-context` being the first.
pub fn write_kubeconfig(path: &Path, contexts: &[(&str, &KubeEmulator)]) {
    let servers: Vec<(&str, String)> = contexts.iter().map(|(n, e)| (*n, e.url())).collect();
    write_kubeconfig_servers(path, &servers);
}

/// Like [`write_kubeconfig`], with each context's API server given by URL (e.g. a proxy's).
pub fn write_kubeconfig_servers(path: &Path, contexts: &[(&str, String)]) {
    assert!(
        !contexts.is_empty(),
        "a kubeconfig needs at least one context"
    );
    // JSON strings are YAML strings: quoting through serde_json keeps any name safe.
    let q = |s: &str| Value::from(s).to_string();
    let mut clusters = String::new();
    let mut users = String::new();
    let mut ctxs = String::new();
    for (name, server) in contexts {
        let name = q(name);
        clusters.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {}\n",
            q(server)
        ));
        users.push_str(&format!(
            "- name: {name}\n  user:\n    token: {}\n",
            q(TOKEN)
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
