//! Plan and apply of both regional stacks with 50 ms of latency added to every AWS and Kubernetes request.
//!
//! Loopback proxies in front of moto and the two Kubernetes control planes hold each
//! request for 50 ms, which is closer to a real region than the emulators'
//! sub-millisecond answers. Reported: the
//! no-op plan's API calls and wall time per region, the apply-from-scratch wall
//! time against the critical path of the dependency graph (the longest chain of
//! dependent creates, each taking the time apply itself measured for it), and
//! the peak RSS of a full plan.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const LATENCY: Duration = Duration::from_millis(50);

/// The longest chain of dependent creates, each weighted by the time apply reported for it.
fn critical_path(dir: &Path, env: &str, apply_output: &str) -> (Duration, usize) {
    let mut took: BTreeMap<String, f64> = BTreeMap::new();
    for line in apply_output.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("+ ") {
            if let Some((addr, tail)) = rest.split_once(": created in ") {
                let secs: f64 = tail
                    .split('s')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0.0);
                took.insert(addr.to_string(), secs);
            }
        }
    }
    let state =
        std::fs::read_to_string(dir.join(format!(".eprun/state/{env}.json"))).expect("state");
    let state: serde_json::Value = serde_json::from_str(&state).expect("state json");
    let resources = state["state"]["resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut memo: BTreeMap<String, f64> = BTreeMap::new();
    fn longest(
        a: &str,
        res: &serde_json::Map<String, serde_json::Value>,
        took: &BTreeMap<String, f64>,
        memo: &mut BTreeMap<String, f64>,
    ) -> f64 {
        if let Some(v) = memo.get(a) {
            return *v;
        }
        let deps: Vec<String> = res[a]["deps"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let before = deps
            .iter()
            .filter(|d| res.contains_key(*d))
            .map(|d| longest(d, res, took, memo))
            .fold(0.0, f64::max);
        let v = before + took.get(a).copied().unwrap_or(0.0);
        memo.insert(a.to_string(), v);
        v
    }
    let cp = resources
        .keys()
        .map(|a| longest(a, &resources, &took, &mut memo))
        .fold(0.0, f64::max);
    (Duration::from_secs_f64(cp), resources.len())
}

/// Peak RSS (KiB) of one eprun run, measured in a fresh copy of this bench process so that no
/// other child (moto, earlier runs) counts towards it.
fn peak_rss_kib(dir: &Path, moto: &Moto, args: &[&str]) -> i64 {
    let out = std::process::Command::new(std::env::current_exe().expect("bench path"))
        .arg(RSS_CHILD)
        .arg(dir)
        .arg(moto.1.to_string())
        .args(args)
        .output()
        .expect("run the RSS probe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("RSS probe failed: {}", String::from_utf8_lossy(&out.stderr)))
}

const RSS_CHILD: &str = "--rss-child";

/// The probe: runs eprun once and prints the largest RSS among this process's children.
fn rss_child(args: &[String]) {
    let dir = Path::new(&args[0]);
    let port: u16 = args[1].parse().expect("port");
    let rest: Vec<&str> = args[2..].iter().map(String::as_str).collect();
    eprun(dir, Some(&Moto::external(port)), &rest);
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    println!("{}", usage.ru_maxrss);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == RSS_CHILD) {
        return rss_child(&args[i + 1..]);
    }
    let moto = start_moto();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let slow = Moto::external(Proxy::start(&rt, moto.1, LATENCY).port);

    let dir = project_copy("latency");
    let clusters = Clusters::start(&dir);
    warm_up(&dir, &moto);
    let (us, eu) = (
        Proxy::start(&rt, clusters.us.port(), LATENCY),
        Proxy::start(&rt, clusters.eu.port(), LATENCY),
    );
    clusters.point(&dir, &us.https_url(), &eu.https_url());
    let mut rows = String::new();
    let mut primary_resources = 0;
    for (script, env) in [
        ("scripts/prod/us-east-1.rhai", "local/us-east-1"),
        ("scripts/prod/eu-west-1.rhai", "local/eu-west-1"),
    ] {
        let (apply, out) = eprun_all(&dir, Some(&slow), &["apply", script, "--env", env, "--yes"]);
        let (cp, resources) = critical_path(&dir, env, &out);
        if primary_resources == 0 {
            primary_resources = resources;
        }
        let (_, json) = eprun(&dir, Some(&slow), &["plan", script, "--env", env, "--json"]);
        let plan: serde_json::Value = serde_json::from_str(&json).expect("plan json");
        assert!(
            plan["changes"].as_array().is_some_and(|c| c.is_empty()),
            "the no-op plan of {env} is not empty: {json}"
        );
        let calls = plan["stats"]["api_calls"].as_u64().unwrap_or(0);
        let noop = median(&dir, Some(&slow), &["plan", script, "--env", env], 5);
        rows.push_str(&format!(
            "| `{env}` | {resources} | {calls} | {} | {} | {} | {:.2}× |\n",
            ms(noop),
            ms(apply),
            ms(cp),
            apply.as_secs_f64() / cp.as_secs_f64().max(0.001)
        ));
    }
    let plan_rss = peak_rss_kib(
        &dir,
        &slow,
        &[
            "plan",
            "scripts/prod/us-east-1.rhai",
            "--env",
            "local/us-east-1",
        ],
    );
    let report = format!(
        "## Regional stacks with 50 ms per request\n\n\
         Measured by `cargo bench --bench latency` (release build, {date}): moto 5.2.5 and the two Kubernetes control planes (kube-apiserver v1.35.4) behind loopback \
         proxies that hold every request for 50 ms, after one untimed apply and destroy that warms moto up. No-op plan: median of 5. Critical path: the longest \
         chain of dependent creates, each weighted by the time apply reported for it.\n\n\
         | stack | resources | no-op plan AWS API calls | no-op plan | apply from scratch | critical path | apply / critical path |\n\
         |---|---|---|---|---|---|---|\n{rows}\n\
         Peak RSS of a full plan (the refreshed no-op plan of the applied primary, {primary_resources} resources): {rss} MiB.\n\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        rss = plan_rss / 1024,
    );
    write_section("latency", &report);
    print!("{report}");
    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);
}
