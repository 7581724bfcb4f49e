//! What the benchmarks share: a project copy, moto and the Kubernetes control planes on loopback, a
//! counting (and optionally slow) proxy, running the real binary, the report file.

#![allow(dead_code)]

#[path = "../../tests/integration/kube_support.rs"]
pub mod kube_support;

use kube_support::{ControlPlane, write_kubeconfig_servers};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const BIN: &str = env!("CARGO_BIN_EXE_eprun");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What `kube_support` (shared with the integration tests) needs from its surroundings.
pub mod support {
    pub use super::repo as repo_root;
}

/// A loopback proxy that counts the requests it forwards and can hold each one for a while.
pub struct Proxy {
    /// The port it listens on.
    pub port: u16,
    requests: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts forwarding `127.0.0.1:<new port>` to `target` on `rt`, holding every request for
    /// `delay` before it goes on.
    pub fn start(rt: &tokio::runtime::Runtime, target: u16, delay: Duration) -> Proxy {
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        rt.spawn(forward(listener, target, delay, requests.clone()));
        Proxy { port, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT`, for a TLS server behind it (the apiserver's certificate names
    /// 127.0.0.1, so TLS passes through).
    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Requests forwarded so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn forward(listener: TcpListener, target: u16, delay: Duration, requests: Arc<AtomicUsize>) {
    while let Ok((client, _)) = listener.accept().await {
        let requests = requests.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let answered = Arc::new(AtomicBool::new(true));
            let a2 = answered.clone();
            let up = async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // A chunk after an answer starts a new request (HTTP/1.1 keep-alive).
                    if a2.swap(false, Ordering::SeqCst) {
                        requests.fetch_add(1, Ordering::SeqCst);
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            let down = async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    answered.store(true, Ordering::SeqCst);
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            tokio::join!(up, down);
        });
    }
}

/// The two local regions' Kubernetes control planes, and the kubeconfig (`<project>/kubeconfig`)
/// that every later `eprun` run in that project uses.
pub struct Clusters {
    pub us: ControlPlane,
    pub eu: ControlPlane,
}

impl Clusters {
    /// Starts both control planes and points the project's kubeconfig at them directly.
    pub fn start(dir: &Path) -> Clusters {
        let clusters = Clusters {
            us: ControlPlane::start(),
            eu: ControlPlane::start(),
        };
        clusters.point(dir, &clusters.us.url(), &clusters.eu.url());
        clusters
    }

    /// Rewrites the project's kubeconfig so that each region's context reaches `us` / `eu`
    /// (the control planes themselves, or proxies in front of them).
    pub fn point(&self, dir: &Path, us: &str, eu: &str) {
        write_kubeconfig_servers(
            &dir.join("kubeconfig"),
            &[
                ("local-us-east-1", &self.us, us.to_string()),
                ("local-eu-west-1", &self.eu, eu.to_string()),
            ],
        );
    }

    /// Requests both apiservers served to eprun or a script (not to these helpers), from their
    /// audit logs: TLS hides requests from a proxy.
    pub fn requests(&self) -> usize {
        self.us.requests_by_others() + self.eu.requests_by_others()
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A moto server on a free loopback port, stopped on drop.
pub struct Moto(Option<Child>, pub u16);

impl Moto {
    /// An endpoint on `port` served by someone else (a proxy): nothing to stop.
    pub fn external(port: u16) -> Self {
        Moto(None, port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts moto through `tests/support/moto_server.py` (the tests' moto, with the Secrets Manager
/// calls it lacks) on a free loopback port.
pub fn start_moto() -> Moto {
    assert!(
        repo().join(".venv/bin/moto_server").exists(),
        "moto is not installed: run tools/test, which creates .venv"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("tests/support/moto_server.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto(Some(child), port)
}

/// Applies and destroys the primary stack once, untimed: moto builds each service's backend
/// (and loads the AWS managed policies) on first use, which takes seconds that are the
/// emulator's, not eprun's.
pub fn warm_up(dir: &Path, moto: &Moto) {
    let env = ["--env", "local/us-east-1", "--yes"];
    eprun(
        dir,
        Some(moto),
        &[
            "apply",
            "scripts/prod/us-east-1.rhai",
            env[0],
            env[1],
            env[2],
        ],
    );
    eprun(
        dir,
        Some(moto),
        &[
            "destroy",
            "scripts/prod/us-east-1.rhai",
            env[0],
            env[1],
            env[2],
        ],
    );
}

pub fn eprun(dir: &Path, moto: Option<&Moto>, args: &[&str]) -> (Duration, String) {
    let (took, stdout, _) = run(dir, moto, args);
    (took, stdout)
}

/// Like `eprun`, with stdout and stderr together (apply's progress goes to stderr).
pub fn eprun_all(dir: &Path, moto: Option<&Moto>, args: &[&str]) -> (Duration, String) {
    let (took, stdout, stderr) = run(dir, moto, args);
    (took, format!("{stdout}{stderr}"))
}

fn run(dir: &Path, moto: Option<&Moto>, args: &[&str]) -> (Duration, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .stdin(Stdio::null());
    emulated_aws(&mut cmd, moto);
    let start = Instant::now();
    let out = cmd.output().expect("run eprun");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "eprun {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        took,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Points `cmd` at moto (or nowhere) with dummy credentials, whatever this shell had set.
pub fn emulated_aws(cmd: &mut Command, moto: Option<&Moto>) {
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        cmd.env_remove(k);
    }
    if let Some(m) = moto {
        cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", m.1))
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench");
    }
}

pub fn median(dir: &Path, moto: Option<&Moto>, args: &[&str], runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| eprun(dir, moto, args).0).collect();
    times.sort();
    times[runs / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A temp copy of the project's environments, scripts and stdlib.
pub fn project_copy(tag: &str) -> PathBuf {
    let tmp = std::env::temp_dir().join(format!("eprun-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for d in ["environments", "scripts", "stdlib", "policy"] {
        copy_dir(&repo().join(d), &tmp.join(d));
    }
    tmp
}

/// Replaces (or appends) the section `name` of BENCHMARKS.md, so each bench owns its part.
pub fn write_section(name: &str, body: &str) {
    let path = repo().join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nWritten by `cargo bench`; each bench owns one section.\n".into()
    });
    let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
    let section = format!("{open}\n{body}{close}\n");
    let text = match (text.find(&open), text.find(&close)) {
        (Some(a), Some(b)) => format!(
            "{}{section}{}",
            &text[..a],
            text[b + close.len()..].trim_start_matches('\n')
        ),
        _ => format!("{}\n{section}", text.trim_end()),
    };
    std::fs::write(&path, text).expect("write BENCHMARKS.md");
}
