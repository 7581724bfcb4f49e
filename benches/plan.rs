//! Benchmarks of the commands people wait on; figures go to BENCHMARKS.md.
//!
//! Runs the real (release) binary on the real scripts against moto on a
//! loopback port. Each figure is the median of several runs, measured in one
//! process so that the numbers are comparable.

mod common;

use common::*;

fn main() {
    let tmp = project_copy("plan");
    let moto = start_moto();
    let clusters = Clusters::start(&tmp);
    warm_up(&tmp, &moto);
    // The Kubernetes reads are counted on the wire; the AWS ones by eprun itself.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let kube = Proxy::start(&rt, clusters.us.port(), std::time::Duration::ZERO);
    clusters.point(&tmp, &kube.https_url(), &clusters.eu.url());
    let stack = "scripts/prod/us-east-1.rhai";
    let env = ["--env", "local/us-east-1"];

    let version = median(&tmp, None, &["--version"], 21);
    let check = median(&tmp, None, &["check"], 11);
    let offline = median(
        &tmp,
        None,
        &["plan", "scripts/prod/us-east-1.rhai", "--local-state"],
        11,
    );
    let (apply, _) = eprun(
        &tmp,
        Some(&moto),
        &["apply", stack, env[0], env[1], "--yes"],
    );
    let before = clusters.us.requests_by_others();
    let (_, json) = eprun(
        &tmp,
        Some(&moto),
        &["plan", stack, env[0], env[1], "--json"],
    );
    let kube_calls = clusters.us.requests_by_others() - before;
    let plan: serde_json::Value = serde_json::from_str(&json).expect("plan json");
    let calls = plan["stats"]["api_calls"].as_u64().unwrap_or(0);
    assert_eq!(
        plan["summary"]["create"], 0,
        "the no-op plan is not empty: {json}"
    );
    let noop = median(&tmp, Some(&moto), &["plan", stack, env[0], env[1]], 11);
    let state =
        std::fs::read_to_string(tmp.join(".eprun/state/local/us-east-1.json")).expect("state");
    let state: serde_json::Value = serde_json::from_str(&state).expect("state json");
    let resources = state["state"]["resources"]
        .as_object()
        .map(|m| m.len())
        .unwrap_or(0);
    let mut types: Vec<&str> = state["state"]["resources"]
        .as_object()
        .map(|m| m.values().filter_map(|r| r["kind"].as_str()).collect())
        .unwrap_or_default();
    types.sort();
    types.dedup();
    let kinds = types.iter().filter(|t| t.starts_with("k8s.")).count();

    let report = format!(
        "## Commands and the primary stack\n\n\
         Measured by `cargo bench --bench plan` (release build, {cores} cores, {date}), \
         against moto 5.2.5 and a Kubernetes control plane (kube-apiserver v1.35.4, Kubernetes calls counted from its audit log) on loopback, after one untimed apply and destroy that warms moto up; each time is the median of the runs shown.\n\n\
         | what | runs | figure |\n|---|---|---|\n\
         | `eprun --version` | 21 | {version} |\n\
         | `eprun check` (all scripts and stdlib modules) | 11 | {check} |\n\
         | offline plan of `scripts/prod/us-east-1.rhai` (empty state, no network) | 11 | {offline} |\n\
         | apply of the primary stack from scratch (`--env local/us-east-1`, {resources} resources) | 1 | {apply} |\n\
         | no-op plan of the applied primary stack | 11 | {noop} |\n\
         | API calls of that no-op plan | 1 | {calls} AWS calls for {aws_types} AWS resource types, {kube_calls} Kubernetes calls for {kinds} kinds |\n\n\
         The no-op plan lists each Kubernetes kind once (plus API discovery) and makes one paginated Describe/List call per AWS resource type and region; \
         the other calls are reads that AWS offers only per resource: the VPC's two DNS attributes \
         (`DescribeVpcAttribute`), the flow-log bucket's tags, versioning, encryption and \
         public-access block, each IAM role's tags and attached policies, the KMS key's \
         description, rotation, policy and tags, each secret's replication (`DescribeSecret`), \
         the EKS cluster and node group (`Describe*` after `List*`), and the Route 53 zone's tags.\n",
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        date = chrono::Utc::now().format("%Y-%m-%d"),
        version = ms(version),
        check = ms(check),
        offline = ms(offline),
        apply = ms(apply),
        noop = ms(noop),
        aws_types = types.len() - kinds,
    );
    write_section("plan", &report);
    print!("{report}");
    drop(moto);
    let _ = std::fs::remove_dir_all(&tmp);
}
