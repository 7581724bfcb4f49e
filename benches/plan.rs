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
    let stack = "scripts/prod/us-east-1.rhai";
    let env = ["--env", "local/us-east-1"];

    let version = median(&tmp, None, &["--version"], 21);
    let check = median(&tmp, None, &["check"], 11);
    let offline = median(&tmp, None, &["plan", "scripts/prod/us-east-1.rhai"], 11);
    let (apply, _) = eprun(
        &tmp,
        Some(&moto),
        &["apply", stack, env[0], env[1], "--yes"],
    );
    let (_, json) = eprun(
        &tmp,
        Some(&moto),
        &["plan", stack, env[0], env[1], "--json"],
    );
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

    let report = format!(
        "## VPC stack and commands\n\n\
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
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        date = chrono::Utc::now().format("%Y-%m-%d"),
        version = ms(version),
        check = ms(check),
        offline = ms(offline),
        apply = ms(apply),
        noop = ms(noop),
        ntypes = types.len(),
    );
    write_section("plan", &report);
    print!("{report}");
    drop(moto);
    let _ = std::fs::remove_dir_all(&tmp);
}
