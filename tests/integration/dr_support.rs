//! What the DR tests share: the two local stacks applied, the controllers played, the release
//! pipeline's image in the DR registry, and independent reads of the rotation controls.

use crate::kube_support::ControlPlane;
use crate::support::*;
use serde_json::{Value, json};

/// The failover runbook.
pub const FAILOVER: &str = "scripts/runbooks/dr-failover.rhai";
/// The failback runbook.
pub const FAILBACK: &str = "scripts/runbooks/dr-failback.rhai";
/// The readiness runbook.
pub const READINESS: &str = "scripts/runbooks/dr-readiness.rhai";
/// The drill runbook.
pub const DRILL: &str = "scripts/runbooks/dr-drill.rhai";
/// payment-service's Rollout, in either cluster.
pub const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service";
/// The repository and tag the local environments' payment-service runs.
const IMAGE: (&str, &str) = ("examplepay/payment-service", "1.0.0");

/// Applies the primary, then the DR stack (with `endpoint` for AWS, e.g. a proxy; moto's own
/// when `None`).
pub fn apply_both(project: &Project, moto: &Moto, endpoint: Option<&str>) {
    for (script, env) in [(US_SCRIPT, LOCAL_US), (EU_SCRIPT, LOCAL_EU)] {
        let mut cmd = eprun(project, &["apply", script, "--env", env, "--yes"]).moto(moto);
        if let Some(url) = endpoint {
            cmd = cmd.env("AWS_ENDPOINT_URL", url);
        }
        cmd.run().expect_success();
    }
}

/// Plays the Argo Rollouts controller: the rollout is healthy with `ready` pods.
pub fn rollout_ready(kube: &ControlPlane, ready: i64) {
    kube.patch_status(
        ROLLOUT,
        &json!({"phase": "Healthy", "message": "", "replicas": ready, "readyReplicas": ready, "availableReplicas": ready}),
    );
}

/// Plays the release pipeline (with ECR replication): the image the primary runs is in the DR
/// region's registry too.
pub fn seed_dr_image(moto: &Moto) {
    let ecr = ecr_client(moto, "eu-west-1");
    block_on(async {
        ecr.create_repository()
            .repository_name(IMAGE.0)
            .send()
            .await
            .expect("CreateRepository");
        let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}, "layers": []});
        ecr.put_image()
            .repository_name(IMAGE.0)
            .image_tag(IMAGE.1)
            .image_manifest(manifest.to_string())
            .send()
            .await
            .expect("PutImage");
    });
}

/// The two local stacks applied, both payment services healthy (the primary at 6 replicas, the
/// DR region at `dr_ready`), and the primary's image in the DR registry: a pair ready to fail
/// over.
pub fn ready_pair(project: &Project, moto: &Moto, dr_ready: i64) {
    apply_both(project, moto, None);
    rollout_ready(&moto.clusters().us, 6);
    rollout_ready(&moto.clusters().eu, dr_ready);
    seed_dr_image(moto);
}

/// `eprun run SCRIPT --env local/eu-west-1 --param verify_dns=false? EXTRA` on moto (the local
/// emulator reports every health check healthy, so Route 53 status is never awaited).
pub fn run_dr(project: &Project, moto: &Moto, script: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", script, "--env", LOCAL_EU];
    if script == FAILOVER {
        args.extend(["--param", "verify_dns=false"]);
    }
    args.extend_from_slice(extra);
    eprun(project, &args).moto(moto).run()
}

/// The rotation alarm of `region`'s record as CloudWatch has it in eu-west-1 (read without
/// eprun): its state.
pub fn rotation_state(moto: &Moto, region: &str) -> String {
    let name = format!("api-examplepay-test-{region}-in-rotation");
    let out = block_on(
        cloudwatch_client(moto, "eu-west-1")
            .describe_alarms()
            .alarm_names(&name)
            .send(),
    )
    .expect("DescribeAlarms");
    let alarm = out.metric_alarms().first().cloned();
    let alarm = alarm.unwrap_or_else(|| panic!("no alarm {name} in eu-west-1"));
    alarm
        .state_value()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// The run id a failed run's resume hint names.
pub fn run_id(out: &Output) -> String {
    let text = out.all();
    let at = text
        .find("--resume ")
        .unwrap_or_else(|| panic!("no resume hint\n{out}"));
    text[at + 9..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The run id a finished run's journal line names (`eprun runs show ID`).
pub fn finished_id(out: &Output) -> String {
    let text = out.all();
    let at = text
        .find("eprun runs show ")
        .unwrap_or_else(|| panic!("no journal line\n{out}"));
    text[at + 16..]
        .split(|c: char| c == '`' || c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The readiness checks of a `--json` run of dr-readiness, by name: `(status, detail)`.
pub fn checks(out: &Output) -> std::collections::BTreeMap<String, (String, String)> {
    let json = out.json();
    let result = &json["steps"][0]["result"];
    let list = result
        .as_array()
        .unwrap_or_else(|| panic!("no checks in the run's first step\n{out}"));
    list.iter()
        .map(|c: &Value| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("check"), (text("status"), text("detail")))
        })
        .collect()
}

/// Plans both stacks with `--detailed-exitcode`: the exit codes.
pub fn plan_codes(project: &Project, moto: &Moto) -> Vec<(String, Output)> {
    [(US_SCRIPT, LOCAL_US), (EU_SCRIPT, LOCAL_EU)]
        .iter()
        .map(|(script, env)| {
            let out = eprun(
                project,
                &["plan", script, "--env", env, "--detailed-exitcode"],
            )
            .moto(moto)
            .run();
            (env.to_string(), out)
        })
        .collect()
}

/// `eprun runs show ID`, which must head its recovery times with the DR environment's RTO: its
/// output.
pub fn recovery_report(project: &Project, id: &str) -> Output {
    let shown = eprun(project, &["runs", "show", id]).run();
    shown.expect_success();
    assert!(
        shown
            .stdout
            .contains("Recovery time (RTO 15 min, from local/eu-west-1)"),
        "{shown}"
    );
    shown
}
