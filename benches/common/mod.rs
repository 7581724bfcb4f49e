//! What the benchmarks share: a project copy, moto on loopback, running the real binary, the report file.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_eprun");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

pub fn start_moto() -> Moto {
    let server = repo().join(".venv/bin/moto_server");
    assert!(
        server.exists(),
        "moto is not installed: run tools/test, which creates .venv"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(server)
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
        .stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        cmd.env_remove(k);
    }
    if let Some(m) = moto {
        cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", m.1))
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench");
    }
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
    for d in ["environments", "scripts", "stdlib"] {
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
