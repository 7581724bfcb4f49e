//! The DR failover runbook side by side with the same procedure as a bash script of AWS CLI
//! calls (`benches/failover.sh`: the AWS CLI from PyPI, curl + jq for the Kubernetes API).
//!
//! Both run against the same emulators: moto and the two regions' Kubernetes control planes, with
//! both local stacks applied. Counting proxies sit in front of all three, so the API calls of
//! each side are counted on the wire. A thread plays the Argo Rollouts controller (ready pods
//! follow the requested replicas) for both sides alike. Each round runs the eprun failover, an
//! eprun failback, the bash failover and another failback, so both start from the same state.

mod common;

use common::kube_support::ControlPlane;
use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const AWSCLI_VERSION: &str = "1.46.3";
const ROUNDS: usize = 3;
const DR: &str = "local/eu-west-1";
const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service";

/// The AWS CLI in its own venv (`.venv/awscli/`, apart from the emulators' botocore), installed
/// from PyPI on first use.
fn awscli() -> PathBuf {
    let venv = repo().join(".venv/awscli");
    let aws = venv.join("bin/aws");
    let installed = Command::new(&aws)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("aws-cli/{AWSCLI_VERSION} ")))
        .unwrap_or(false);
    if !installed {
        eprintln!(
            "failover bench: installing awscli=={AWSCLI_VERSION} into {}",
            venv.display()
        );
        let ok = |c: &mut Command| c.status().map(|s| s.success()).unwrap_or(false);
        assert!(
            ok(Command::new("python3").arg("-m").arg("venv").arg(&venv)),
            "cannot create {}",
            venv.display()
        );
        assert!(
            ok(Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("awscli=={AWSCLI_VERSION}"),
            ])),
            "cannot install awscli=={AWSCLI_VERSION} from PyPI"
        );
    }
    aws
}

/// Plays the Argo Rollouts controller on both clusters until `stop`: the rollout is Healthy
/// with as many ready pods as it asks for.
fn controller(clusters: &Clusters, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        for kube in [&clusters.us, &clusters.eu] {
            let Some(rollout) = kube.get(ROLLOUT) else {
                continue;
            };
            let want = &rollout["spec"]["replicas"];
            if rollout["status"]["readyReplicas"] != *want
                || rollout["status"]["phase"] != "Healthy"
            {
                kube.patch_status(
                    ROLLOUT,
                    &json!({"phase": "Healthy", "message": "", "replicas": want,
                            "readyReplicas": want, "availableReplicas": want}),
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The calls counted so far: (AWS, Kubernetes).
fn counted(aws: &Proxy, clusters: &Clusters) -> (usize, usize) {
    (aws.requests(), clusters.requests())
}

/// What a failover must have done, read from the emulators themselves (not through a proxy).
fn check_failed_over(aws: &Path, moto: &Moto, eu: &ControlPlane, alarm: &str, who: &str) {
    let replicas = &eu.get(ROLLOUT).expect("the DR rollout")["spec"]["replicas"];
    assert_eq!(
        replicas, 6,
        "{who}: payment-service at the primary's replicas"
    );
    let mut cmd = Command::new(aws);
    cmd.args([
        "cloudwatch",
        "describe-alarms",
        "--region",
        "eu-west-1",
        "--alarm-names",
        alarm,
        "--query",
        "MetricAlarms[0].StateValue",
        "--output",
        "text",
    ]);
    emulated_aws(&mut cmd, Some(moto));
    let out = cmd.output().expect("run aws");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ALARM",
        "{who}: the primary's rotation alarm is in ALARM\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn runbook(dir: &Path, moto: &Moto, script: &str) -> Duration {
    eprun(
        dir,
        Some(moto),
        &[
            "run",
            script,
            "--env",
            DR,
            "--param",
            "verify_dns=false",
            "--yes",
        ],
    )
    .0
}

/// The rotation alarm of `region`'s record (stdlib/dns_failover.rhai names it).
fn alarm(region: &str) -> String {
    format!("api-examplepay-test-{region}-in-rotation")
}

/// Plays the release pipeline: the image the primary runs is in the DR registry too, as the
/// runbook's readiness checks want.
fn seed_dr_image(aws: &Path, moto: &Moto) {
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"layers":[]}"#;
    for args in [
        vec![
            "ecr",
            "create-repository",
            "--region",
            "eu-west-1",
            "--repository-name",
            "examplepay/payment-service",
        ],
        vec![
            "ecr",
            "put-image",
            "--region",
            "eu-west-1",
            "--repository-name",
            "examplepay/payment-service",
            "--image-tag",
            "1.0.0",
            "--image-manifest",
            manifest,
        ],
    ] {
        let mut cmd = Command::new(aws);
        cmd.args(&args);
        emulated_aws(&mut cmd, Some(moto));
        let out = cmd.output().expect("run aws");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn bash_failover(
    dir: &Path,
    aws: &Path,
    moto: &Moto,
    kube: [&Proxy; 2],
    clusters: &Clusters,
    alarms: [&str; 2],
) -> Duration {
    let script = repo().join("benches/failover.sh");
    let path = format!(
        "{}:{}",
        aws.parent().expect("venv bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .current_dir(dir)
        .env("PATH", path)
        .env("DR_REGION", "eu-west-1")
        .env("PRIMARY_REGION", "us-east-1")
        .env("DR_CLUSTER", "examplepay-local-eu")
        .env("PRIMARY_CLUSTER", "examplepay-local")
        .env("NODE_GROUP", "system")
        .env("PRIMARY_KUBE", kube[0].https_url())
        .env("DR_KUBE", kube[1].https_url())
        .env("PRIMARY_KUBE_PKI", clusters.us.pki_dir())
        .env("DR_KUBE_PKI", clusters.eu.pki_dir())
        .env("PRIMARY_ALARM", alarms[0])
        .env("DR_ALARM", alarms[1])
        .env("NAMESPACE", "payments")
        .env("ROLLOUT", "payment-service")
        .env("NODE_POOLS", "payments batch gpu")
        .stdin(Stdio::null());
    emulated_aws(&mut cmd, Some(moto));
    let start = Instant::now();
    let out = cmd.output().expect("run bash");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "the bash failover failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Median of `xs`, which holds at least one.
fn mid<T: Ord + Copy>(mut xs: Vec<T>) -> T {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    for tool in ["bash", "curl", "jq"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "the failover bench needs `{tool}` on PATH (e.g. `apt-get install {tool}`)"
        );
    }
    let aws = awscli();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let moto = start_moto();
    let dir = project_copy("failover");
    let clusters = Clusters::start(&dir);
    warm_up(&dir, &moto);
    for (script, env) in [
        ("scripts/prod/us-east-1.rhai", "local/us-east-1"),
        ("scripts/prod/eu-west-1.rhai", DR),
    ] {
        eprun(&dir, Some(&moto), &["apply", script, "--env", env, "--yes"]);
    }
    let alarms = [alarm("us-east-1"), alarm("eu-west-1")];
    seed_dr_image(&aws, &moto);

    let aws_proxy = Proxy::start(&rt, moto.1, Duration::ZERO);
    let kube = [
        Proxy::start(&rt, clusters.us.port(), Duration::ZERO),
        Proxy::start(&rt, clusters.eu.port(), Duration::ZERO),
    ];
    let kube = [&kube[0], &kube[1]];
    clusters.point(&dir, &kube[0].https_url(), &kube[1].https_url());
    let via_proxy = Moto::external(aws_proxy.port);

    let stop = AtomicBool::new(false);
    let (mut eprun_runs, mut bash_runs) = (Vec::new(), Vec::new());
    let one_aws_start = std::thread::scope(|s| {
        s.spawn(|| controller(&clusters, &stop));
        // A panic below must still end the controller, or the scope waits for it forever.
        let _stop = StopOnDrop(&stop);
        let healthy = |kube: &ControlPlane| {
            kube.get(ROLLOUT)
                .is_some_and(|r| r["status"]["phase"] == "Healthy")
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(healthy(&clusters.us) && healthy(&clusters.eu)) {
            assert!(
                Instant::now() < deadline,
                "the controller never reported the rollouts healthy"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Every round starts from the warm standby: failback after each failover.
        for round in 0..ROUNDS {
            let before = counted(&aws_proxy, &clusters);
            let took = runbook(&dir, &via_proxy, "scripts/runbooks/dr-failover.rhai");
            let after = counted(&aws_proxy, &clusters);
            eprun_runs.push((took, after.0 - before.0, after.1 - before.1));
            check_failed_over(&aws, &moto, &clusters.eu, &alarms[0], "eprun");
            runbook(&dir, &via_proxy, "scripts/runbooks/dr-failback.rhai");

            let before = counted(&aws_proxy, &clusters);
            let took = bash_failover(
                &dir,
                &aws,
                &via_proxy,
                kube,
                &clusters,
                [&alarms[0], &alarms[1]],
            );
            let after = counted(&aws_proxy, &clusters);
            bash_runs.push((took, after.0 - before.0, after.1 - before.1));
            check_failed_over(&aws, &moto, &clusters.eu, &alarms[0], "bash");
            runbook(&dir, &via_proxy, "scripts/runbooks/dr-failback.rhai");
            eprintln!(
                "round {}: eprun {:?}, bash {:?}",
                round + 1,
                eprun_runs[round].0,
                bash_runs[round].0
            );
        }
        // What one `aws` process costs before it sends anything.
        let starts: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                let ok = Command::new(&aws)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
                assert!(ok, "aws --version failed");
                start.elapsed()
            })
            .collect();
        mid(starts)
    });

    let time = |runs: &[(Duration, usize, usize)]| mid(runs.iter().map(|r| r.0).collect());
    let calls = |runs: &[(Duration, usize, usize)],
                 pick: fn(&(Duration, usize, usize)) -> usize| {
        let (lo, hi) = (
            runs.iter().map(pick).min().unwrap_or(0),
            runs.iter().map(pick).max().unwrap_or(0),
        );
        if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}–{hi}")
        }
    };
    let (e, b) = (time(&eprun_runs), time(&bash_runs));
    let report = format!(
        "## DR failover: the runbook against a bash script of AWS CLI calls\n\n\
         Measured by `cargo bench --bench failover` (release build, {date}): both local stacks applied to moto 5.2.5 \
         and the two regions' Kubernetes control planes (kube-apiserver v1.35.4 with kwok), AWS calls counted by a proxy and Kubernetes calls by the apiservers' audit logs. \
         `eprun run scripts/runbooks/dr-failover.rhai --env local/eu-west-1 --param verify_dns=false --yes` \
         against `benches/failover.sh`, the same six steps and checks written with the AWS CLI {AWSCLI_VERSION} (PyPI) \
         and curl + jq for the Kubernetes API. A thread plays the rollout controller for both; each failover is \
         followed by a failback, so every run starts from the same state. {ROUNDS} rounds, one of each per round; medians.\n\n\
         | procedure | wall time | AWS API calls | Kubernetes API calls |\n|---|---|---|---|\n\
         | `eprun run dr-failover.rhai` | {et} | {ea} | {ek} |\n\
         | `benches/failover.sh` (AWS CLI + curl) | {bt} | {ba} | {bk} |\n\n\
         eprun is **{ratio:.1}× faster** here. One `aws` process costs {start} before it sends anything \
         (`aws --version`, median of 5); the script starts one per AWS call. eprun does more than the script: \
         its first step runs the ten readiness checks of `dr-readiness`, it checks that a region stays in rotation \
         before and after every step, it reads the STS caller for the journal, resolves the Kubernetes kinds \
         through API discovery, and its verbs re-read what they change (the node group around its scaling, the \
         rotation alarm around its change).\n\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        et = ms(e),
        bt = ms(b),
        ea = calls(&eprun_runs, |r| r.1),
        ek = calls(&eprun_runs, |r| r.2),
        ba = calls(&bash_runs, |r| r.1),
        bk = calls(&bash_runs, |r| r.2),
        ratio = b.as_secs_f64() / e.as_secs_f64().max(1e-9),
        start = ms(one_aws_start),
    );
    write_section("failover", &report);
    print!("{report}");
    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);
}
