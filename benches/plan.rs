//! Benchmarks of the commands people wait on; figures go to BENCHMARKS.md.
//!
//! Runs the real (release) binary on the real scripts against moto on a
//! loopback port. Each figure is the median of several runs, measured in one
//! process so that the numbers are comparable.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_eprun");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
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

struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Moto {
    let server = repo().join(".venv/bin/moto_server");
    assert!(server.exists(), "moto is not installed: run tools/test, which creates .venv");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let child = Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto(child, port)
}

fn eprun(dir: &Path, moto: Option<&Moto>, args: &[&str]) -> (Duration, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null());
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
    assert!(out.status.success(), "eprun {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn median(dir: &Path, moto: Option<&Moto>, args: &[&str], runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| eprun(dir, moto, args).0).collect();
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("eprun-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for d in ["environments", "scripts", "stdlib"] {
        copy_dir(&repo().join(d), &tmp.join(d));
    }
    let moto = start_moto();
    let stack = "scripts/prod/us-east-1.rhai";
    let env = ["--env", "local/us-east-1"];

    let version = median(&tmp, None, &["--version"], 21);
    let check = median(&tmp, None, &["check"], 11);
    let offline = median(&tmp, None, &["plan", "scripts/prod/us-east-1.rhai"], 11);
    let (apply, _) = eprun(&tmp, Some(&moto), &["apply", stack, env[0], env[1], "--yes"]);
    let (_, json) = eprun(&tmp, Some(&moto), &["plan", stack, env[0], env[1], "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&json).expect("plan json");
    let calls = plan["stats"]["api_calls"].as_u64().unwrap_or(0);
    assert_eq!(plan["summary"]["create"], 0, "the no-op plan is not empty: {json}");
    let noop = median(&tmp, Some(&moto), &["plan", stack, env[0], env[1]], 11);
    let state = std::fs::read_to_string(tmp.join(".eprun/state/local/us-east-1.json")).expect("state");
    let state: serde_json::Value = serde_json::from_str(&state).expect("state json");
    let resources = state["state"]["resources"].as_object().map(|m| m.len()).unwrap_or(0);
    let mut types: Vec<&str> = state["state"]["resources"]
        .as_object()
        .map(|m| m.values().filter_map(|r| r["kind"].as_str()).collect())
        .unwrap_or_default();
    types.sort();
    types.dedup();

    let report = format!(
        "# Benchmarks\n\n\
         Measured by `cargo bench --bench plan` (release build, {cores} cores, {date}), \
         against moto 5.2.5 on loopback; each time is the median of the runs shown.\n\n\
         | what | runs | figure |\n|---|---|---|\n\
         | `eprun --version` | 21 | {version} |\n\
         | `eprun check` (all scripts and stdlib modules) | 11 | {check} |\n\
         | offline plan of `scripts/prod/us-east-1.rhai` (empty state, no network) | 11 | {offline} |\n\
         | apply of the VPC stack from scratch (`--env local/us-east-1`, {resources} resources) | 1 | {apply} |\n\
         | no-op plan of the applied VPC stack | 11 | {noop} |\n\
         | API calls of that no-op plan | 1 | {calls} calls for {ntypes} resource types in one region |\n\n\
         The no-op plan makes one paginated Describe/List call per resource type, \
         plus two `DescribeVpcAttribute` calls (DNS support and hostnames are not in \
         `DescribeVpcs`) and, for the flow-log bucket, one read each of its tags, versioning, \
         encryption and public-access block (S3 has no batched read of those).\n",
        cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        date = chrono::Utc::now().format("%Y-%m-%d"),
        version = ms(version),
        check = ms(check),
        offline = ms(offline),
        apply = ms(apply),
        noop = ms(noop),
        ntypes = types.len(),
    );
    std::fs::write(repo().join("BENCHMARKS.md"), &report).expect("write BENCHMARKS.md");
    print!("{report}");
    drop(moto);
    let _ = std::fs::remove_dir_all(&tmp);
}
