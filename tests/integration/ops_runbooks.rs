//! The operational runbooks — `rollout`, `rotate-secret` and `drain-nodepool` — run end to end
//! through the real binary on the applied primary stack (`local/us-east-1`). For each: a dry run
//! leaves moto and the cluster as they were, a run's every effect is read back without eprun
//! (the cluster's API through `ControlPlane`, the AWS SDK against moto), and the failure
//! an engineer on call would hit stops the run with a message that says why. rotate-secret's
//! successful run also applies the DR stack (`local/eu-west-1`), whose cluster it refreshes too.
//!
//! The clusters are real local control planes (kwok as the kubelets): the ReplicaSet, DaemonSet,
//! disruption and garbage-collector controllers run; the tests play Argo Rollouts, External
//! Secrets and Karpenter through the API while eprun waits.

use std::fs;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::kube_support::ControlPlane;
use crate::support::*;

const ROLLOUT_RUNBOOK: &str = "scripts/runbooks/rollout.rhai";
const ROTATE_RUNBOOK: &str = "scripts/runbooks/rotate-secret.rhai";
const DRAIN_RUNBOOK: &str = "scripts/runbooks/drain-nodepool.rhai";

const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/payment-service";
const ROLLOUT_TARGET: &str = "Rollout payments/payment-service";
const ANALYSIS_RUNS: &str = "/apis/argoproj.io/v1alpha1/namespaces/payments/analysisruns";
const PAYMENT_PODS: &str =
    "/api/v1/namespaces/payments/pods?labelSelector=app.kubernetes.io%2Fname%3Dpayment-service";
const PDB: &str = "/apis/policy/v1/namespaces/payments/poddisruptionbudgets/payment-service";
const EXTERNAL_SECRET: &str =
    "/apis/external-secrets.io/v1/namespaces/payments/externalsecrets/payments-db";
const K8S_SECRET: &str = "/api/v1/namespaces/payments/secrets/payments-db";
const SECRET_NAME: &str = "examplepay/local/payments-db";
/// The annotation External Secrets puts on the Secrets it writes: a hash of their data.
const DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";

/// The version payment-service runs (the stable ReplicaSet's pod template hash).
const STABLE: &str = "6f7b9c";
/// The version waiting in preview.
const NEW: &str = "8d2e4a";

/// How long a test waits for one eprun command.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------------
// fixture

/// The primary stack applied to moto and to its cluster (the us-east-1 control plane).
struct Stack {
    moto: Moto,
    project: Project,
}

impl Stack {
    /// A fresh project, moto and clusters with `scripts/prod/us-east-1.rhai` applied to them.
    fn applied() -> Stack {
        let moto = Moto::start();
        let project = Project::new();
        eprun(&project, &["apply", US_SCRIPT, "--env", LOCAL_US, "--yes"])
            .moto(&moto)
            .run()
            .expect_success();
        Stack { moto, project }
    }

    /// [`Stack::applied`], then the DR stack (`scripts/prod/eu-west-1.rhai`) applied to moto and
    /// to its cluster (the eu-west-1 control plane).
    fn applied_with_dr() -> Stack {
        let stack = Stack::applied();
        eprun(
            &stack.project,
            &["apply", EU_SCRIPT, "--env", LOCAL_EU, "--yes"],
        )
        .moto(&stack.moto)
        .run()
        .expect_success();
        stack
    }

    /// The DR stack's cluster.
    fn dr_kube(&self) -> &ControlPlane {
        &self.moto.clusters().eu
    }

    /// The stack's cluster.
    fn kube(&self) -> &ControlPlane {
        &self.moto.clusters().us
    }

    /// `eprun run RUNBOOK --env local/us-east-1 ARGS…` against moto and the clusters.
    fn runbook(&self, runbook: &str, args: &[&str]) -> Eprun {
        let mut all = vec!["run", runbook, "--env", LOCAL_US];
        all.extend_from_slice(args);
        eprun(&self.project, &all).moto(&self.moto)
    }

    /// [`Stack::runbook`] run to its end.
    fn run(&self, runbook: &str, args: &[&str]) -> Output {
        let out = self.runbook(runbook, args).run();
        out.expect_no_panic();
        out
    }

    /// [`Stack::runbook`] in the background, playing the controllers with `tick` until it ends.
    fn run_playing(&self, runbook: &str, args: &[&str], tick: impl FnMut()) -> Output {
        play(self.runbook(runbook, args).spawn(), tick)
    }

    /// rotate-secret like [`Stack::run_playing`], with `input` piped on stdin (not a terminal).
    fn rotate_playing(&self, args: &[&str], input: &str, tick: impl FnMut()) -> Output {
        play(
            self.runbook(ROTATE_RUNBOOK, args).spawn_with_stdin(input),
            tick,
        )
    }

    /// What the apiserver logged, for failure messages.
    fn kube_log(&self) -> String {
        format!(
            "--- kube-apiserver log ---\n{}",
            self.kube().log_text("kube-apiserver")
        )
    }
}

/// Plays the controllers with `tick` until `running` ends; what it did.
fn play(running: Running, tick: impl FnMut()) -> Output {
    play_while(|| running.finished(), || running.context(), tick);
    let out = running.wait(RUN_TIMEOUT);
    out.expect_no_panic();
    out
}

/// Calls `tick` (a controller's reconcile) until `finished`, or fails after [`RUN_TIMEOUT`].
fn play_while(
    mut finished: impl FnMut() -> bool,
    context: impl FnMut() -> String,
    mut tick: impl FnMut(),
) {
    poll_until(RUN_TIMEOUT, "the run to end", context, || {
        if finished() {
            return Some(());
        }
        tick();
        None
    });
}

/// The records of the journal a run names on its last line (`Journal: PATH · …`).
fn journal(out: &Output) -> Vec<Value> {
    let text = out.all();
    let path = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Journal: "))
        .and_then(|rest| rest.split(" · ").next())
        .unwrap_or_else(|| panic!("the run names no journal\n{out}"));
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read the journal {path}: {e}\n{out}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("journal line {l}: {e}")))
        .collect()
}

/// `(operation, target, outcome)` of every mutating call a run's journal records.
fn mutations(out: &Output) -> Vec<(String, String, String)> {
    journal(out)
        .iter()
        .filter(|r| r["type"] == "mutation")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("operation"), s("target"), s("outcome"))
        })
        .collect()
}

/// One expected journal mutation.
fn mutation(operation: &str, target: &str, outcome: &str) -> (String, String, String) {
    (operation.into(), target.into(), outcome.into())
}

/// The id of a failed run, from the `--resume ID` it prints.
fn resume_id(out: &Output) -> String {
    let text = out.all();
    let at = text
        .find("--resume ")
        .unwrap_or_else(|| panic!("no resume hint\n{out}"));
    text[at + "--resume ".len()..]
        .split_whitespace()
        .next()
        .expect("an id after --resume")
        .to_string()
}

/// The names of a list of objects.
fn names(items: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// A node Karpenter launched for `pool`.
fn node(kube: &ControlPlane, name: &str, pool: &str, zone: &str) {
    kube.create(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {
                    "karpenter.sh/nodepool": pool, "examplepay.io/node-pool": pool,
                    "topology.kubernetes.io/zone": zone, "kubernetes.io/os": "linux"}},
                "spec": {"providerID": format!("aws:///{zone}/i-0{}", name.chars().filter(char::is_ascii_digit).collect::<String>())}}),
    );
}

/// A pod on `node` (kwok runs it), without an owner: the controller a fixture then creates
/// adopts it (see [`adopted`]); a mirror pod (the kubelet's static pod) when `mirror`.
fn pod(kube: &ControlPlane, namespace: &str, name: &str, node: &str, labels: Value, mirror: bool) {
    let mut metadata = json!({"name": name, "labels": labels});
    if mirror {
        metadata["annotations"] = json!({"kubernetes.io/config.mirror": "3f9a1c"});
    }
    kube.create(
        &format!("/api/v1/namespaces/{namespace}/pods"),
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]}}),
    );
}

/// Whether kwok runs `pod` and it is Ready.
fn ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Waits until the pods `namespace/names` run and are Ready.
fn wait_running(kube: &ControlPlane, namespace: &str, names: &[&str]) {
    poll_until(
        Duration::from_secs(60),
        &format!("pods {names:?} in {namespace} to run"),
        || {
            format!(
                "{:#}",
                json!(kube.list(&format!("/api/v1/namespaces/{namespace}/pods")))
            )
        },
        || {
            names
                .iter()
                .all(|n| {
                    kube.get(&format!("/api/v1/namespaces/{namespace}/pods/{n}"))
                        .is_some_and(|p| ready(&p))
                })
                .then_some(())
        },
    );
}

/// Creates the controller `obj` in `collection` and waits until it has adopted the running pods
/// `namespace/pods` (they match its selector); returns it as created.
fn adopted(
    kube: &ControlPlane,
    collection: &str,
    obj: &Value,
    namespace: &str,
    pods: &[&str],
) -> Value {
    wait_running(kube, namespace, pods);
    let created = kube.create(collection, obj);
    let uid = created["metadata"]["uid"].clone();
    poll_until(
        Duration::from_secs(60),
        &format!("{} to adopt {pods:?}", created["metadata"]["name"]),
        || {
            format!(
                "{:#}",
                json!(kube.list(&format!("/api/v1/namespaces/{namespace}/pods")))
            )
        },
        || {
            pods.iter()
                .all(|n| {
                    kube.get(&format!("/api/v1/namespaces/{namespace}/pods/{n}"))
                        .and_then(|p| p["metadata"]["ownerReferences"].as_array().cloned())
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r["uid"] == uid && r["controller"] == true)
                        })
                })
                .then_some(())
        },
    );
    created
}

/// A payment-service pod of the stable version on `node`.
fn payment_pod(kube: &ControlPlane, name: &str, node: &str) {
    pod(kube, "payments", name, node, payment_labels(), false);
}

/// The labels of the pods of the stable version's ReplicaSet.
fn payment_labels() -> Value {
    json!({"app.kubernetes.io/name": "payment-service", "rollouts-pod-template-hash": STABLE})
}

/// Every payment-service pod.
fn payment_pods(kube: &ControlPlane) -> Vec<Value> {
    kube.list(PAYMENT_PODS)
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) {
            found.push(path.display().to_string());
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// rollout: the test plays Argo Rollouts

/// Plays Argo Rollouts: payment-service runs version [`STABLE`], version [`NEW`] waits paused in
/// preview, and the rollout owns one pre-promotion AnalysisRun per `(version, revision, phase,
/// message)`.
fn preview_waiting(kube: &ControlPlane, runs: &[(&str, u32, &str, Option<&str>)]) {
    kube.patch_status(
        ROLLOUT,
        &json!({"phase": "Paused", "message": "BlueGreenPause", "controllerPause": true,
                "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2026-11-20T09:00:00Z"}],
                "replicas": 12, "readyReplicas": 12, "updatedReplicas": 6, "availableReplicas": 12,
                "blueGreen": {"activeSelector": STABLE, "previewSelector": NEW},
                "currentPodHash": NEW, "stableRS": STABLE, "observedGeneration": "3"}),
    );
    let uid = kube.get(ROLLOUT).expect("the applied rollout")["metadata"]["uid"].clone();
    for (version, revision, phase, message) in runs {
        let mut status = json!({"phase": phase});
        if let Some(m) = message {
            status["message"] = json!(m);
        }
        kube.create(
            ANALYSIS_RUNS,
            &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
                    "metadata": {"name": format!("payment-service-{version}-{revision}-pre"),
                                 "labels": {"rollouts-pod-template-hash": version, "rollout-type": "PrePromotion"},
                                 "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                                      "name": "payment-service", "uid": uid, "controller": true,
                                                      "blockOwnerDeletion": true}]},
                    "spec": {"metrics": [metric("p99-latency"), metric("error-rate")]},
                    "status": status}),
        );
    }
}

/// One metric of a pre-promotion AnalysisRun, as the controller copies it from its template.
fn metric(name: &str) -> Value {
    json!({"name": name, "successCondition": "len(result) > 0 && result[0] <= 1",
           "provider": {"prometheus": {"address": "http://prometheus.monitoring:9090",
                                       "query": format!("{name}{{service=\"payment-service-preview\"}}")}}})
}

/// The rollout and its analysis runs, read without eprun.
fn rollout_snapshot(kube: &ControlPlane) -> Value {
    json!({"rollout": kube.get(ROLLOUT).expect("the rollout"), "runs": kube.list(ANALYSIS_RUNS)})
}

/// Plays Argo Rollouts after a promotion: once the pause is gone, the active Service selects the
/// new version, which becomes the stable one.
fn switch_traffic_once_promoted(kube: &ControlPlane) {
    let status = &kube.get(ROLLOUT).expect("the rollout")["status"];
    if status.get("pauseConditions").is_none() && status["stableRS"] != NEW {
        kube.patch_status(
            ROLLOUT,
            &json!({"phase": "Healthy", "message": null, "controllerPause": null,
                    "blueGreen": {"activeSelector": NEW, "previewSelector": NEW},
                    "stableRS": NEW, "updatedReplicas": 6}),
        );
    }
}

#[test]
fn rollout_dry_run_then_promote_once_the_previews_analysis_passed() {
    let stack = Stack::applied();
    let kube = stack.kube();
    // An earlier version failed its analysis and was aborted; the one in preview passed.
    preview_waiting(
        kube,
        &[
            (
                "3c1d5e",
                2,
                "Failed",
                Some("Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)"),
            ),
            (NEW, 3, "Successful", None),
        ],
    );
    let before = rollout_snapshot(kube);

    let dry = stack.run(ROLLOUT_RUNBOOK, &["--dry-run"]);
    dry.expect_success();
    assert!(
        dry.stderr.contains(&format!(
            "would promote {ROLLOUT_TARGET}: clear status.pauseConditions"
        )),
        "{dry}"
    );
    assert_eq!(
        rollout_snapshot(kube),
        before,
        "a dry run changes nothing\n{dry}"
    );
    assert_eq!(
        mutations(&dry),
        [mutation("promote", ROLLOUT_TARGET, "skipped")]
    );

    let out = stack.run_playing(ROLLOUT_RUNBOOK, &["--yes"], || {
        switch_traffic_once_promoted(kube)
    });
    out.expect_success();
    for line in [
        "analysis payment-service-3c1d5e-2-pre of version 3c1d5e: Failed",
        "analysis payment-service-8d2e4a-3-pre of version 8d2e4a: Successful",
        "Promote payments/payment-service to version 8d2e4a (traffic moves from 6f7b9c to 8d2e4a)?",
        "phase Healthy",
    ] {
        assert!(out.stderr.contains(line), "missing `{line}`\n{out}");
    }

    // What eprun changed, read back: the pause is gone, the rest of the rollout is as it was.
    let after = kube.get(ROLLOUT).expect("the rollout");
    assert!(after["status"].get("pauseConditions").is_none(), "{after}");
    assert_ne!(after["spec"]["paused"], true, "{after}");
    assert!(after["status"].get("abort").is_none(), "{after}");
    assert_eq!(
        after["spec"], before["rollout"]["spec"],
        "the spec is untouched"
    );
    assert_eq!(after["status"]["blueGreen"]["activeSelector"], NEW);
    assert_eq!(
        kube.list(ANALYSIS_RUNS),
        before["runs"].as_array().unwrap().clone()
    );
    assert_eq!(
        mutations(&out),
        [mutation("promote", ROLLOUT_TARGET, "done")]
    );
}

#[test]
fn rollout_refuses_to_promote_after_a_failed_analysis_and_aborts_instead() {
    let stack = Stack::applied();
    let kube = stack.kube();
    let why = "Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)";
    preview_waiting(kube, &[(NEW, 3, "Failed", Some(why))]);
    let before = rollout_snapshot(kube);

    // Promoting is refused, says why and what to do instead, and changes nothing.
    let refused = stack.run(ROLLOUT_RUNBOOK, &["--yes"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains(&format!(
            "analysis `payment-service-8d2e4a-3-pre` of version 8d2e4a ended Failed: {why}; do not promote it: abort instead (`--param action=abort`)"
        )),
        "{refused}"
    );
    assert!(!refused.stderr.contains("▸ Step 2/3"), "{refused}");
    assert_eq!(
        rollout_snapshot(kube),
        before,
        "a refused promotion changes nothing"
    );
    assert!(mutations(&refused).is_empty(), "{refused}");

    // A dry run of the abort shows the abort and changes nothing either.
    let dry = stack.run(ROLLOUT_RUNBOOK, &["--param", "action=abort", "--dry-run"]);
    dry.expect_success();
    assert!(
        dry.stderr.contains(&format!(
            "would abort {ROLLOUT_TARGET}: status.abort → true"
        )),
        "{dry}"
    );
    assert_eq!(
        rollout_snapshot(kube),
        before,
        "a dry run changes nothing\n{dry}"
    );

    // The abort: the controller (the test) takes it and keeps traffic on the stable version.
    let out = stack.run_playing(ROLLOUT_RUNBOOK, &["--param", "action=abort", "--yes"], || {
        let status = &kube.get(ROLLOUT).expect("the rollout")["status"];
        if status["abort"] == true && status["phase"] != "Degraded" {
            kube.patch_status(
                ROLLOUT,
                &json!({"phase": "Degraded", "message": "RolloutAborted: Rollout aborted update to revision 3",
                        "pauseConditions": null, "controllerPause": null,
                        "blueGreen": {"previewSelector": STABLE}, "abortedAt": "2026-11-20T09:30:00Z"}),
            );
        }
    });
    out.expect_success();
    assert!(
        out.stderr
            .contains("Abort the update of payments/payment-service to version 8d2e4a (traffic stays on 6f7b9c)?"),
        "{out}"
    );
    let after = kube.get(ROLLOUT).expect("the rollout");
    assert_eq!(after["status"]["abort"], true, "{after}");
    assert_eq!(after["status"]["blueGreen"]["activeSelector"], STABLE);
    assert_eq!(
        after["spec"], before["rollout"]["spec"],
        "the spec is untouched"
    );
    assert_eq!(mutations(&out), [mutation("abort", ROLLOUT_TARGET, "done")]);

    // Aborting again finds nothing to abort.
    let again = stack.run(ROLLOUT_RUNBOOK, &["--param", "action=abort", "--yes"]);
    again.expect_code(1);
    assert!(
        again.stderr.contains(
            "the update of `payments/payment-service` to version 8d2e4a is already aborted"
        ),
        "{again}"
    );
}

/// Regression: the runbook counted every analysis run the rollout owns, so a version in preview
/// that no analysis had checked yet was promoted on the strength of an earlier version's runs.
#[test]
fn promote_refuses_a_version_no_analysis_has_checked_yet() {
    let stack = Stack::applied();
    let kube = stack.kube();
    preview_waiting(kube, &[(STABLE, 1, "Successful", None)]);
    let before = rollout_snapshot(kube);
    let out = stack.run(ROLLOUT_RUNBOOK, &["--yes"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains(
            "no analysis run has checked version 8d2e4a yet: wait for its pre-promotion analyses before promoting"
        ),
        "{out}"
    );
    assert_eq!(rollout_snapshot(kube), before, "nothing changed");
    assert!(mutations(&out).is_empty(), "{out}");
}

/// Regression: the verify step only re-read what the promotion itself had written, so a run
/// ended "verified" while the controller had not moved traffic to the new version.
#[test]
fn promote_is_verified_only_once_traffic_is_on_the_new_version() {
    let stack = Stack::applied();
    let kube = stack.kube();
    preview_waiting(kube, &[(NEW, 3, "Successful", None)]);

    // The controller does not switch traffic: the promotion is made, the verify step fails.
    let failed = stack.run(ROLLOUT_RUNBOOK, &["--yes", "--param", "timeout=1"]);
    failed.expect_code(1);
    assert!(
        failed.stderr.contains(
            "traffic is not on version 8d2e4a after 1s: the rollout is Paused (BlueGreenPause), active 6f7b9c, stable 6f7b9c"
        ),
        "{failed}"
    );
    assert_eq!(
        mutations(&failed),
        [mutation("promote", ROLLOUT_TARGET, "done")]
    );
    assert!(
        kube.get(ROLLOUT).expect("the rollout")["status"]
            .get("pauseConditions")
            .is_none()
    );

    // Once it has, the resumed run verifies without promoting again.
    switch_traffic_once_promoted(kube);
    let id = resume_id(&failed);
    let resumed = stack.run(ROLLOUT_RUNBOOK, &["--resume", &id, "--yes"]);
    resumed.expect_success();
    assert!(resumed.stderr.contains("phase Healthy"), "{resumed}");
    assert_eq!(
        mutations(&resumed),
        [mutation("promote", ROLLOUT_TARGET, "done")],
        "one promotion in all (the resumed run appends to the same journal)"
    );
    let after = kube.get(ROLLOUT).expect("the rollout");
    assert_eq!(after["status"]["blueGreen"]["activeSelector"], NEW);
}

// ---------------------------------------------------------------------------------------------
// rotate-secret: the test plays External Secrets and Argo Rollouts

/// The value the secret holds before the rotation.
const OLD_VALUE: &str = r#"{"username":"payments","password":"0ld-pa55w0rd-f0r-t3sts-only"}"#;
/// The new password; it must never appear in anything eprun prints or writes.
const NEW_PASSWORD: &str = "N3w-pa55w0rd-r0tat3d-by-the-runb00k";

/// The secret's new value: a JSON document, as `dataFrom.extract` reads it.
fn new_value() -> String {
    format!(r#"{{"username":"payments","password":"{NEW_PASSWORD}"}}"#)
}

/// The current value of the payments-db secret in Secrets Manager, at `stage`.
fn secret_value(moto: &Moto, stage: &str) -> String {
    secret_value_in(moto, "us-east-1", stage)
}

/// The value of the payments-db secret (or its replica) in `region`, at `stage`.
fn secret_value_in(moto: &Moto, region: &str, stage: &str) -> String {
    block_on(
        secretsmanager_client(moto, region)
            .get_secret_value()
            .secret_id(SECRET_NAME)
            .version_stage(stage)
            .send(),
    )
    .unwrap_or_else(|e| panic!("GetSecretValue {SECRET_NAME} {stage}: {e:?}"))
    .secret_string()
    .unwrap_or_default()
    .to_string()
}

/// The version ids of the payments-db secret and their stages, sorted.
fn secret_versions(moto: &Moto) -> Vec<(String, Vec<String>)> {
    let listed = block_on(
        secretsmanager_client(moto, "us-east-1")
            .list_secret_version_ids()
            .secret_id(SECRET_NAME)
            .send(),
    )
    .expect("ListSecretVersionIds");
    let mut versions: Vec<(String, Vec<String>)> = listed
        .versions()
        .iter()
        .map(|v| {
            let mut stages = v.version_stages().to_vec();
            stages.sort();
            (v.version_id().unwrap_or_default().to_string(), stages)
        })
        .collect();
    versions.sort();
    versions
}

/// External Secrets, played: syncs the payments-db ExternalSecret from Secrets Manager the way
/// the operator does (`dataFrom.extract`: every key of the JSON document becomes a key of the
/// Secret), and records the sync in the ExternalSecret's status.
struct ExternalSecrets<'a> {
    moto: &'a Moto,
    kube: &'a ControlPlane,
    /// The region whose Secrets Manager (the secret, or its replica) it reads.
    region: &'static str,
    /// The `force-sync` annotation it last acted on.
    handled: Option<String>,
}

impl<'a> ExternalSecrets<'a> {
    /// The operator after its first sync: the Secret holds the current value, the ExternalSecret is Ready.
    fn synced(moto: &'a Moto, kube: &'a ControlPlane) -> ExternalSecrets<'a> {
        ExternalSecrets::synced_in(moto, kube, "us-east-1")
    }

    /// [`ExternalSecrets::synced`] in the cluster `kube` of `region`.
    fn synced_in(
        moto: &'a Moto,
        kube: &'a ControlPlane,
        region: &'static str,
    ) -> ExternalSecrets<'a> {
        let eso = ExternalSecrets {
            moto,
            kube,
            region,
            handled: None,
        };
        // Owned by the ExternalSecret eprun applied (the garbage collector deletes a Secret whose
        // owner does not exist).
        let uid = kube
            .get(EXTERNAL_SECRET)
            .expect("the applied ExternalSecret")["metadata"]["uid"]
            .clone();
        kube.create(
            "/api/v1/namespaces/payments/secrets",
            &json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "payments-db", "labels": {"reconcile.external-secrets.io/managed": "true"},
                                 "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                                                      "name": "payments-db", "uid": uid, "controller": true}]}}),
        );
        eso.sync();
        eso
    }

    /// One sync: reads the secret, writes the Secret's data, and reports success.
    fn sync(&self) {
        let value = secret_value_in(self.moto, self.region, "AWSCURRENT");
        let doc: serde_json::Map<String, Value> =
            serde_json::from_str(&value).expect("the secret is a JSON document");
        let b64 = base64::engine::general_purpose::STANDARD;
        let data: serde_json::Map<String, Value> = doc
            .iter()
            .map(|(k, v)| (k.clone(), json!(b64.encode(v.as_str().unwrap_or_default()))))
            .collect();
        let hash = hex(&Sha256::digest(Value::Object(data.clone()).to_string()));
        self.kube.patch(
            K8S_SECRET,
            &json!({"metadata": {"annotations": {DATA_HASH: hash}}, "data": data}),
        );
        let es = self.kube.get(EXTERNAL_SECRET).expect("the ExternalSecret");
        let meta = &es["metadata"];
        let version = format!(
            "{}-{}",
            meta["generation"],
            &hex(&Sha256::digest(format!(
                "{}{}",
                meta["labels"], meta["annotations"]
            )))[..16]
        );
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.kube.patch_status(
            EXTERNAL_SECRET,
            &json!({"refreshTime": now, "syncedResourceVersion": version, "binding": {"name": "payments-db"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                                    "message": "secret synced", "lastTransitionTime": "2026-11-20T08:00:00Z"}]}),
        );
    }

    /// Reconciles: a new `force-sync` annotation makes it sync at once.
    fn tick(&mut self) {
        let es = self.kube.get(EXTERNAL_SECRET).expect("the ExternalSecret");
        let asked = es["metadata"]["annotations"]["force-sync"]
            .as_str()
            .map(str::to_string);
        if asked.is_some() && asked != self.handled {
            self.sync();
            self.handled = asked;
        }
    }
}

/// `bytes` as lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The DR cluster's payments node.
const DR_NODE: &str = "ip-10-20-64-21.eu-west-1.compute.internal";

/// The payment-service pods before the rotation (stable version, all healthy).
const OLD_PODS: [&str; 3] = [
    "payment-service-6f7b9c-4x2kq",
    "payment-service-6f7b9c-9hjwd",
    "payment-service-6f7b9c-tz5mn",
];

/// Plays Argo Rollouts: payment-service Healthy on its stable version, with [`OLD_PODS`].
fn healthy_payment_service(kube: &ControlPlane) {
    healthy_payment_service_on(kube, "ip-10-10-64-21.ec2.internal", "us-east-1a");
}

/// [`healthy_payment_service`], its pods on the payments node `node_name` in `zone`.
fn healthy_payment_service_on(kube: &ControlPlane, node_name: &str, zone: &str) {
    kube.patch_status(
        ROLLOUT,
        &json!({"phase": "Healthy", "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                "blueGreen": {"activeSelector": STABLE, "previewSelector": STABLE},
                "currentPodHash": STABLE, "stableRS": STABLE}),
    );
    node(kube, node_name, "payments", zone);
    for name in OLD_PODS {
        payment_pod(kube, name, node_name);
    }
}

/// Argo Rollouts' pod restarter, played: once `spec.restartAt` is newer than `status.restartedAt`,
/// every pod is replaced by a new one and the restart is recorded.
fn restart_pods(kube: &ControlPlane, replaced: &mut u32) {
    restart_pods_on(kube, replaced, "ip-10-10-64-21.ec2.internal");
}

/// [`restart_pods`], the new pods on `node_name`.
fn restart_pods_on(kube: &ControlPlane, replaced: &mut u32, node_name: &str) {
    let rollout = kube.get(ROLLOUT).expect("the rollout");
    let Some(asked) = rollout["spec"]["restartAt"].as_str() else {
        return;
    };
    if rollout["status"]["restartedAt"].as_str() == Some(asked) {
        return;
    }
    let old = payment_pods(kube);
    for p in &old {
        let name = p["metadata"]["name"].as_str().expect("a pod name");
        kube.delete(&format!("/api/v1/namespaces/payments/pods/{name}"));
        *replaced += 1;
        payment_pod(
            kube,
            &format!("payment-service-6f7b9c-new{replaced}"),
            node_name,
        );
    }
    // A deleted pod terminates (kwok, as a kubelet, then removes it) before the restart is done.
    poll_until(
        Duration::from_secs(60),
        "the replaced pods to be gone",
        || format!("{:#}", json!(payment_pods(kube))),
        || {
            let left = names(&payment_pods(kube));
            (!old
                .iter()
                .any(|p| left.iter().any(|n| p["metadata"]["name"] == n.as_str())))
            .then_some(())
        },
    );
    kube.patch_status(ROLLOUT, &json!({"restartedAt": asked}));
}

/// Everything the rotation may touch, read without eprun.
fn rotation_snapshot(stack: &Stack) -> Value {
    let kube = stack.kube();
    json!({
        "versions": secret_versions(&stack.moto).iter().map(|(id, stages)| json!([id, stages])).collect::<Vec<_>>(),
        "value": secret_value(&stack.moto, "AWSCURRENT"),
        "external_secret": kube.get(EXTERNAL_SECRET),
        "secret": kube.get(K8S_SECRET),
        "rollout": kube.get(ROLLOUT),
        "pods": names(&payment_pods(kube)),
        "dr": {
            "value": secret_value_in(&stack.moto, "eu-west-1", "AWSCURRENT"),
            "external_secret": stack.dr_kube().get(EXTERNAL_SECRET),
            "secret": stack.dr_kube().get(K8S_SECRET),
            "rollout": stack.dr_kube().get(ROLLOUT),
            "pods": names(&payment_pods(stack.dr_kube())),
        },
    })
}

/// Panics when the new password, as piped in or as the Kubernetes Secret holds it (base64), is in
/// anything eprun printed or wrote.
fn assert_no_leak(stack: &Stack, outputs: &[&Output]) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(NEW_PASSWORD);
    for needle in [NEW_PASSWORD, encoded.as_str()] {
        for o in outputs {
            assert!(
                !o.stdout.contains(needle) && !o.stderr.contains(needle),
                "the secret value leaked into the output\n{o}"
            );
        }
        for dir in [".eprun", ".test-scratch"] {
            let leaked = files_containing(&stack.project.join(dir), needle);
            assert!(leaked.is_empty(), "the secret value is in {leaked:?}");
        }
    }
}

#[test]
fn rotate_secret_dry_run_then_rotate_from_stdin_without_leaking_the_value() {
    let stack = Stack::applied_with_dr();
    let (moto, kube, dr_kube) = (&stack.moto, stack.kube(), stack.dr_kube());
    block_on(
        secretsmanager_client(moto, "us-east-1")
            .put_secret_value()
            .secret_id(SECRET_NAME)
            .secret_string(OLD_VALUE)
            .send(),
    )
    .expect("the secret's first value");
    let mut eso = ExternalSecrets::synced(moto, kube);
    healthy_payment_service(kube);
    // The warm standby: its External Secrets reads the replica in eu-west-1.
    let mut dr_eso = ExternalSecrets::synced_in(moto, dr_kube, "eu-west-1");
    healthy_payment_service_on(dr_kube, DR_NODE, "eu-west-1a");
    let before = rotation_snapshot(&stack);
    let dr_secret_before = dr_kube.get(K8S_SECRET).expect("the DR Secret");

    // A dry run asks for no value, shows every call, and changes nothing.
    let dry = stack.run(
        ROTATE_RUNBOOK,
        &["--param", "secret=payments-db", "--dry-run"],
    );
    dry.expect_success();
    for line in [
        &format!("would PutSecretValue {SECRET_NAME}"),
        "would patch ExternalSecret payments/payments-db",
        "would patch Rollout payments/payment-service",
    ] {
        assert!(dry.stderr.contains(line), "missing `{line}`\n{dry}");
    }
    assert_eq!(
        rotation_snapshot(&stack),
        before,
        "a dry run changes nothing\n{dry}"
    );

    // The rotation, with External Secrets and Argo Rollouts played in both clusters while
    // eprun waits.
    let (mut replaced, mut dr_replaced) = (0, 0);
    let out = stack.rotate_playing(
        &["--param", "secret=payments-db", "--yes"],
        &new_value(),
        || {
            eso.tick();
            restart_pods(kube, &mut replaced);
            dr_eso.tick();
            restart_pods_on(dr_kube, &mut dr_replaced, DR_NODE);
        },
    );
    out.expect_success();
    for line in [
        "3 pod(s) started before the new value",
        "every pod started with the new value",
    ] {
        assert!(out.stderr.contains(line), "missing `{line}`\n{out}");
    }

    // Secrets Manager: the new value is current, the old one previous.
    assert_eq!(secret_value(moto, "AWSCURRENT"), new_value());
    assert_eq!(secret_value(moto, "AWSPREVIOUS"), OLD_VALUE);
    assert_eq!(
        secret_versions(moto).len(),
        before["versions"].as_array().unwrap().len() + 1
    );
    // The ExternalSecret was asked to refresh, and the Secret holds the new password.
    let es = kube.get(EXTERNAL_SECRET).expect("the ExternalSecret");
    assert!(
        es["metadata"]["annotations"]["force-sync"].is_string(),
        "{es}"
    );
    let secret = kube.get(K8S_SECRET).expect("the Secret");
    let password = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["password"].as_str().expect("a password key"))
        .expect("base64");
    assert_eq!(String::from_utf8_lossy(&password), NEW_PASSWORD);
    // payment-service was asked to restart, and none of its pods predates the new value.
    let rollout = kube.get(ROLLOUT).expect("the rollout");
    assert!(rollout["spec"]["restartAt"].is_string(), "{rollout}");
    let pods = names(&payment_pods(kube));
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert!(
        pods.iter().all(|p| !OLD_PODS.contains(&p.as_str())),
        "{pods:?}"
    );
    // The DR standby: the replica holds the new value, its ExternalSecret was asked to refresh,
    // its Secret holds the new password and none of its pods predates the new value.
    assert_eq!(
        secret_value_in(moto, "eu-west-1", "AWSCURRENT"),
        new_value()
    );
    let dr_es = dr_kube.get(EXTERNAL_SECRET).expect("the DR ExternalSecret");
    assert!(
        dr_es["metadata"]["annotations"]["force-sync"].is_string(),
        "{dr_es}"
    );
    let dr_secret = dr_kube.get(K8S_SECRET).expect("the DR Secret");
    assert_ne!(
        dr_secret["metadata"]["annotations"][DATA_HASH],
        dr_secret_before["metadata"]["annotations"][DATA_HASH]
    );
    let dr_password = base64::engine::general_purpose::STANDARD
        .decode(
            dr_secret["data"]["password"]
                .as_str()
                .expect("a password key"),
        )
        .expect("base64");
    assert_eq!(String::from_utf8_lossy(&dr_password), NEW_PASSWORD);
    let dr_rollout = dr_kube.get(ROLLOUT).expect("the DR rollout");
    assert!(dr_rollout["spec"]["restartAt"].is_string(), "{dr_rollout}");
    let dr_pods = names(&payment_pods(dr_kube));
    assert_eq!(dr_pods.len(), 3, "{dr_pods:?}");
    assert!(
        dr_pods.iter().all(|p| !OLD_PODS.contains(&p.as_str())),
        "{dr_pods:?}"
    );
    for line in [
        "the replica of examplepay/local/payments-db in eu-west-1 is InSync",
        "Refresh the DR standby",
    ] {
        assert!(out.stderr.contains(line), "missing `{line}`\n{out}");
    }
    assert_eq!(
        mutations(&out),
        [
            mutation("PutSecretValue", SECRET_NAME, "done"),
            mutation("patch", "ExternalSecret payments/payments-db", "done"),
            mutation("patch", ROLLOUT_TARGET, "done"),
            mutation("patch", "ExternalSecret payments/payments-db", "done"),
            mutation("patch", ROLLOUT_TARGET, "done"),
        ]
    );
    assert_no_leak(&stack, &[&dry, &out]);
}

#[test]
fn rotate_secret_times_out_naming_the_pods_that_never_picked_up_the_new_value() {
    let stack = Stack::applied();
    let (moto, kube) = (&stack.moto, stack.kube());
    block_on(
        secretsmanager_client(moto, "us-east-1")
            .put_secret_value()
            .secret_id(SECRET_NAME)
            .secret_string(OLD_VALUE)
            .send(),
    )
    .expect("the secret's first value");
    healthy_payment_service(kube);

    // External Secrets has not synced the ExternalSecret yet: nothing is put.
    let versions = secret_versions(moto);
    let refused = stack.rotate_playing(
        &["--param", "secret=payments-db", "--yes"],
        &new_value(),
        || {},
    );
    refused.expect_code(1);
    assert!(
        refused.stderr.contains(
            "`ExternalSecret payments/payments-db` is not syncing (no Ready condition yet): fix External Secrets first"
        ),
        "{refused}"
    );
    assert_eq!(secret_versions(moto), versions, "nothing was put");
    assert_eq!(secret_value(moto, "AWSCURRENT"), OLD_VALUE);

    // It syncs; the value is put and refreshed, but payment-service never restarts.
    let mut eso = ExternalSecrets::synced(moto, kube);
    let out = stack.rotate_playing(
        &[
            "--param",
            "secret=payments-db",
            "--param",
            "restart_timeout=2",
            "--yes",
        ],
        &new_value(),
        || eso.tick(),
    );
    out.expect_code(1);
    let stuck: Vec<String> = OLD_PODS.iter().map(|p| format!("`payments/{p}`")).collect();
    assert!(
        out.stderr.contains(&format!(
            "payment-service did not restart onto the new value within 2s: 3 pod(s) still run the old one: {}; the new value is already in `{SECRET_NAME}` and `Secret payments/payments-db`",
            stuck.join(", ")
        )),
        "{out}"
    );
    assert!(out.stderr.contains("3/5 steps done"), "{out}");
    // What was done stays done, and says so: the value is current, the Secret has it.
    assert_eq!(secret_value(moto, "AWSCURRENT"), new_value());
    assert_eq!(names(&payment_pods(kube)), OLD_PODS);
    assert_eq!(
        mutations(&out),
        [
            mutation("PutSecretValue", SECRET_NAME, "done"),
            mutation("patch", "ExternalSecret payments/payments-db", "done"),
            mutation("patch", ROLLOUT_TARGET, "done"),
        ]
    );
    assert_no_leak(&stack, &[&refused, &out]);
}

// ---------------------------------------------------------------------------------------------
// drain-nodepool: the test plays Karpenter (the ReplicaSet and disruption controllers are real)

const NODE_A: &str = "ip-10-10-100-11.ec2.internal";
const NODE_B: &str = "ip-10-10-140-12.ec2.internal";
const BATCH_NODE: &str = "ip-10-10-200-13.ec2.internal";
/// The node Karpenter launches for the evicted payment pods.
const NEW_NODE: &str = "ip-10-10-101-14.ec2.internal";

/// The payment pod that is unhealthy in [`pool_with_pods`]`(kube, 0)`.
const UNHEALTHY_POD: &str = "payment-service-6f7b9c-b1z";

/// Two payments nodes (two payment-service pods on A, one on B, a DaemonSet pod on each and a
/// static pod on A), a batch node with a job's pod, and the payment-service budget allowing
/// `allowed` (1 or 0) disruptions. The stable version's ReplicaSet (3 replicas, owned by the
/// Rollout) and the `aws-node` DaemonSet are real: their controllers adopt the pods, replace an
/// evicted payment pod, and the disruption controller computes the budget from them (1 allowed
/// with 3 healthy pods of 3; 0 when [`UNHEALTHY_POD`] is not ready).
fn pool_with_pods(kube: &ControlPlane, allowed: i64) {
    node(kube, NODE_A, "payments", "us-east-1a");
    node(kube, NODE_B, "payments", "us-east-1b");
    node(kube, BATCH_NODE, "batch", "us-east-1c");
    let payments = [
        ("payment-service-6f7b9c-a1x", NODE_A),
        ("payment-service-6f7b9c-a2y", NODE_A),
        (UNHEALTHY_POD, NODE_B),
    ];
    for (name, n) in payments {
        payment_pod(kube, name, n);
    }
    let daemons: Vec<String> = [NODE_A, NODE_B, BATCH_NODE]
        .iter()
        .map(|n| format!("aws-node-{}", n.trim_end_matches(".ec2.internal")))
        .collect();
    for (name, n) in daemons.iter().zip([NODE_A, NODE_B, BATCH_NODE]) {
        pod(
            kube,
            "kube-system",
            name,
            n,
            json!({"k8s-app": "aws-node"}),
            false,
        );
    }
    pod(
        kube,
        "kube-system",
        "log-shipper-ip-10-10-100-11",
        NODE_A,
        json!({}),
        true,
    );
    // A job's pod on another pool's node (no Job: the drain never looks at it).
    pod(
        kube,
        "default",
        "nightly-report-28374-kq2",
        BATCH_NODE,
        json!({"job-name": "nightly-report-28374"}),
        false,
    );
    let rollout_uid = kube.get(ROLLOUT).expect("the applied rollout")["metadata"]["uid"].clone();
    let container = json!([{"name": "main", "image": "busybox"}]);
    adopted(
        kube,
        "/apis/apps/v1/namespaces/payments/replicasets",
        &json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": format!("payment-service-{STABLE}"), "labels": payment_labels(),
                             "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                                  "name": "payment-service", "uid": rollout_uid,
                                                  "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"replicas": 3, "selector": {"matchLabels": payment_labels()},
                         "template": {"metadata": {"labels": payment_labels()},
                                      "spec": {"nodeSelector": {"examplepay.io/node-pool": "payments"},
                                               "containers": container}}}}),
        "payments",
        &payments.map(|(name, _)| name),
    );
    let daemons: Vec<&str> = daemons.iter().map(String::as_str).collect();
    adopted(
        kube,
        "/apis/apps/v1/namespaces/kube-system/daemonsets",
        &json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "aws-node"},
                "spec": {"selector": {"matchLabels": {"k8s-app": "aws-node"}},
                         "updateStrategy": {"type": "OnDelete"},
                         "template": {"metadata": {"labels": {"k8s-app": "aws-node"}},
                                      "spec": {"tolerations": [{"operator": "Exists"}], "containers": container}}}}),
        "kube-system",
        &daemons,
    );
    wait_running(kube, "kube-system", &["log-shipper-ip-10-10-100-11"]);
    wait_running(kube, "default", &["nightly-report-28374-kq2"]);
    if allowed == 0 {
        set_ready(kube, UNHEALTHY_POD, false);
    }
    wait_budget(kube, allowed);
    // The node lifecycle controller is done with the new nodes: Ready, and no taint.
    poll_until(
        Duration::from_secs(60),
        "the nodes to be Ready without taints",
        || format!("{:#}", json!(kube.list("/api/v1/nodes"))),
        || {
            kube.list("/api/v1/nodes")
                .iter()
                .all(|n| {
                    n["spec"].get("taints").is_none()
                        && n["status"]["conditions"].as_array().is_some_and(|c| {
                            c.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                })
                .then_some(())
        },
    );
}

/// Makes the payment pod `name` ready or not, as its readiness probe would.
fn set_ready(kube: &ControlPlane, name: &str, ready: bool) {
    let path = format!("/api/v1/namespaces/payments/pods/{name}");
    let pod = kube.get(&path).expect("the pod");
    let status = if ready { "True" } else { "False" };
    let conditions: Vec<Value> = pod["status"]["conditions"]
        .as_array()
        .expect("pod conditions")
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                c["status"] = json!(status);
            }
            c
        })
        .collect();
    kube.patch_status(&path, &json!({"conditions": conditions}));
}

/// Waits until the disruption controller has computed that the payment-service budget allows
/// `allowed` disruptions of its 3 pods.
fn wait_budget(kube: &ControlPlane, allowed: i64) {
    poll_until(
        Duration::from_secs(60),
        &format!("the budget to allow {allowed} disruption(s)"),
        || format!("{:#}", json!(kube.get(PDB))),
        || {
            let pdb = kube.get(PDB).expect("the PodDisruptionBudget");
            let s = &pdb["status"];
            (s["observedGeneration"] == pdb["metadata"]["generation"]
                && s["expectedPods"] == 3
                && s["currentHealthy"] == 2 + allowed
                && s["disruptionsAllowed"] == allowed)
                .then_some(())
        },
    );
}

/// Nodes, pods and the budget, read without eprun.
fn cluster_snapshot(kube: &ControlPlane) -> Value {
    json!({"nodes": kube.list("/api/v1/nodes"), "pods": kube.list("/api/v1/pods"), "pdb": kube.get(PDB)})
}

/// The names of the pods on `node`.
fn pods_on(kube: &ControlPlane, node: &str) -> Vec<String> {
    names(&kube.list(&format!(
        "/api/v1/pods?fieldSelector=spec.nodeName%3D{node}"
    )))
}

/// Whether `node` is cordoned.
fn cordoned(kube: &ControlPlane, node: &str) -> bool {
    kube.get(&format!("/api/v1/nodes/{node}"))
        .expect("the node")["spec"]["unschedulable"]
        == true
}

/// Karpenter, played: once the ReplicaSet controller has replaced an evicted payment pod and the
/// new pod has no node to run on (the pool's nodes are cordoned), a new payments node is launched.
struct Replacer<'a> {
    kube: &'a ControlPlane,
    launched: bool,
}

impl Replacer<'_> {
    fn tick(&mut self) {
        if self.launched {
            return;
        }
        let pending = payment_pods(self.kube)
            .iter()
            .any(|p| p["spec"].get("nodeName").is_none());
        if pending {
            node(self.kube, NEW_NODE, "payments", "us-east-1a");
            self.launched = true;
        }
    }
}

/// The state after a drain of the payments pool, read without eprun.
fn assert_drained(kube: &ControlPlane, out: &Output) {
    assert!(cordoned(kube, NODE_A) && cordoned(kube, NODE_B), "{out}");
    assert!(
        !cordoned(kube, BATCH_NODE) && !cordoned(kube, NEW_NODE),
        "{out}"
    );
    assert_eq!(
        pods_on(kube, NODE_A),
        ["aws-node-ip-10-10-100-11", "log-shipper-ip-10-10-100-11"],
        "only the DaemonSet and mirror pods stay\n{out}"
    );
    assert_eq!(pods_on(kube, NODE_B), ["aws-node-ip-10-10-140-12"], "{out}");
    assert_eq!(
        pods_on(kube, BATCH_NODE),
        ["aws-node-ip-10-10-200-13", "nightly-report-28374-kq2"],
        "another pool's node is left alone\n{out}"
    );
    // The ReplicaSet controller replaces the last evicted pod, the scheduler puts it on the new
    // node, kwok runs it.
    poll_until(
        Duration::from_secs(60),
        "3 payment pods running on the new node",
        || format!("{out}\n{:#}", json!(payment_pods(kube))),
        || {
            let payments = payment_pods(kube);
            (payments.len() == 3
                && payments
                    .iter()
                    .all(|p| p["spec"]["nodeName"] == NEW_NODE && ready(p)))
            .then_some(())
        },
    );
}

/// Also a regression test: the verify step counted the mirror pod the drain leaves on node A as
/// a pod still to move, and failed every drain of a node with a static pod.
#[test]
fn drain_nodepool_dry_run_then_drain_within_the_payment_service_budget() {
    let stack = Stack::applied();
    let kube = stack.kube();
    pool_with_pods(kube, 1);
    let before = cluster_snapshot(kube);

    // Regression: the dry run failed its verify step on the nodes it had not cordoned.
    let dry = stack.run(DRAIN_RUNBOOK, &["--param", "pool=payments", "--dry-run"]);
    dry.expect_success();
    for line in [
        "2 node(s): [\"ip-10-10-100-11.ec2.internal\", \"ip-10-10-140-12.ec2.internal\"]",
        "3 pod(s) to evict",
        "PodDisruptionBudget payments/payment-service allows 1 disruption(s) now",
        "would cordon Node ip-10-10-100-11.ec2.internal",
        "would evict pod payments/payment-service-6f7b9c-b1z",
    ] {
        assert!(dry.stderr.contains(line), "missing `{line}`\n{dry}");
    }
    assert_eq!(
        cluster_snapshot(kube),
        before,
        "a dry run changes nothing\n{dry}"
    );
    assert!(mutations(&dry).iter().all(|m| m.2 == "skipped"), "{dry}");

    let mut replacer = Replacer {
        kube,
        launched: false,
    };
    let out = stack.run_playing(
        DRAIN_RUNBOOK,
        &["--param", "pool=payments", "--yes"],
        || replacer.tick(),
    );
    out.expect_success();
    assert!(
        out.stderr.contains("drained 2 node(s)"),
        "{out}\n{}",
        stack.kube_log()
    );
    assert_drained(kube, &out);
    let evicted = |pod: &str| mutation("evict", &format!("pod payments/{pod}"), "done");
    let mut done = mutations(&out);
    done[2..].sort();
    assert_eq!(
        done,
        [
            mutation("cordon", &format!("Node {NODE_A}"), "done"),
            mutation("cordon", &format!("Node {NODE_B}"), "done"),
            evicted("payment-service-6f7b9c-a1x"),
            evicted("payment-service-6f7b9c-a2y"),
            evicted("payment-service-6f7b9c-b1z"),
        ]
    );
}

#[test]
fn drain_nodepool_stops_at_a_budget_that_allows_no_disruption_and_resumes_once_it_does() {
    let stack = Stack::applied();
    let kube = stack.kube();
    // The payment pod on node B is unhealthy: the budget allows no disruption.
    pool_with_pods(kube, 0);

    let failed = stack.run(
        DRAIN_RUNBOOK,
        &["--param", "pool=payments", "--param", "timeout=2", "--yes"],
    );
    failed.expect_code(1);
    for part in [
        &format!(
            "`drain` on `Node {NODE_A}` failed: PodDisruptionBudgets still block the eviction of"
        ),
        "payments/payment-service-6f7b9c-a1x",
        "The disruption budget payment-service needs 2 healthy pods and has 2 currently",
        "the node stays cordoned",
        "2/4 steps done",
    ] {
        assert!(failed.stderr.contains(part), "missing `{part}`\n{failed}");
    }
    // Both nodes are cordoned (nothing new lands there), and every pod is still running.
    assert!(cordoned(kube, NODE_A) && cordoned(kube, NODE_B), "{failed}");
    assert_eq!(payment_pods(kube).len(), 3, "nothing was evicted\n{failed}");
    let evictions: Vec<_> = mutations(&failed)
        .into_iter()
        .filter(|m| m.0 == "evict")
        .collect();
    assert_eq!(evictions.len(), 2, "node A's two payment pods\n{failed}");
    assert!(evictions.iter().all(|m| m.2 == "failed"), "{evictions:?}");

    // The unhealthy pod recovers; the resumed run drains both nodes within the budget (with the
    // default timeout again: a resumed run keeps the failed run's parameters unless given).
    set_ready(kube, UNHEALTHY_POD, true);
    wait_budget(kube, 1);
    let id = resume_id(&failed);
    let mut replacer = Replacer {
        kube,
        launched: false,
    };
    let args = ["--resume", &id, "--param", "timeout=600", "--yes"];
    let out = stack.run_playing(DRAIN_RUNBOOK, &args, || replacer.tick());
    assert!(
        out.stderr.contains("params: pool=payments, timeout=600"),
        "{out}"
    );
    out.expect_success();
    assert!(
        out.stderr
            .contains("Cordon them all — done in an earlier attempt, skipped"),
        "{out}"
    );
    assert_drained(kube, &out);
}
