//! The imperative Kubernetes verbs in the `k8s` module (`k8s::get`, `k8s::scale`, `k8s::drain`, …),
//! for runbooks and the REPL. They act on the cluster of the session's current environment and
//! return plain maps, arrays and strings; every mutating call goes through the mutation gate.

use super::fail;
use crate::aws::{CloudError, CloudErrorKind};
use crate::k8s::Kube;
use crate::k8s::api_error;
use crate::k8s::verbs::wait::{self, Condition, PollError, poll};
use crate::k8s::verbs::{
    self, KindRef, Target, VerbError, brief, deployment, logs, node, object_value, objects,
    rollout, scale,
};
use crate::session::Session;
use crate::value::{to_dynamic, to_json};
use rhai::{
    Dynamic, EvalAltResult, FnPtr, FuncRegistration, INT, Module, NativeCallContext, Position,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Registers the verbs into the `k8s` module.
pub(super) fn register(k8s: &mut Module, session: &Session) {
    register_objects(k8s, session);
    register_scale_and_wait(k8s, session);
    register_rollouts(k8s, session);
    register_nodes(k8s, session);
    register_logs(k8s, session);
}

// ---------------------------------------------------------------------------------------------
// Shared plumbing

/// The current environment's cluster.
fn kube(session: &Session, function: &str, pos: Position) -> Result<Arc<Kube>> {
    let cx = session
        .context()
        .map_err(|e| fail(format!("`k8s::{function}`: {e}"), pos))?;
    Kube::of(&cx).map_err(|e| fail(e.to_string(), pos))
}

/// A verb's error as a script error (Ctrl-C as an interruption, which exits with 130).
fn verb_error(function: &str, e: VerbError, pos: Position) -> Box<EvalAltResult> {
    if matches!(e, VerbError::Interrupted) || crate::interrupt::requested() {
        return Box::new(EvalAltResult::ErrorTerminated(
            "interrupted by Ctrl-C".into(),
            pos,
        ));
    }
    match e {
        VerbError::Usage(m) => fail(format!("`k8s::{function}`: {m}"), pos),
        other => fail(other.to_string(), pos),
    }
}

fn kind_arg(function: &str, kind: &str, pos: Position) -> Result<KindRef> {
    KindRef::parse(kind).map_err(|m| fail(format!("`k8s::{function}`: {m}"), pos))
}

/// Runs one verb to its end on the session's runtime (Rhai's native functions are synchronous).
fn run<T>(
    session: &Session,
    function: &str,
    pos: Position,
    verb: impl std::future::Future<Output = std::result::Result<T, VerbError>>,
) -> Result<T> {
    session
        .runtime
        .block_on(verb)
        .map_err(|e| verb_error(function, e, pos))
}

/// [`run`] for a read, which Ctrl-C stops at once (a mutating call runs to its end, so that the
/// journal records what was done).
fn read<T>(
    session: &Session,
    function: &str,
    pos: Position,
    verb: impl std::future::Future<Output = std::result::Result<T, VerbError>>,
) -> Result<T> {
    run(session, function, pos, async {
        let watch = async {
            while !crate::interrupt::requested() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            result = verb => result,
            () = watch => Err(VerbError::Interrupted),
        }
    })
}

/// A map argument as JSON.
fn json_map(
    function: &str,
    what: &str,
    map: rhai::Map,
    pos: Position,
) -> Result<Map<String, Value>> {
    match to_json(&Dynamic::from_map(map)) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(fail(
            format!("`k8s::{function}`: {what} must be a map"),
            pos,
        )),
        Err(m) => Err(fail(format!("`k8s::{function}`: in {what}: {m}"), pos)),
    }
}

/// `#{dry_run: true, target: …}`: what a verb returns when a dry run skipped it.
fn dry_run_result(target: &str) -> Dynamic {
    to_dynamic(&json!({ "dry_run": true, "target": target }))
}

/// Refuses option keys a function does not take, suggesting a near one.
fn check_keys(
    function: &str,
    options: &Map<String, Value>,
    known: &[&str],
    pos: Position,
) -> Result<()> {
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            let hint = crate::schema::suggest(key, known)
                .or_else(|| known.iter().copied().find(|k| k.starts_with(key.as_str())))
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(fail(
                format!(
                    "`k8s::{function}`: unknown option `{key}`; {hint}it takes {}",
                    crate::schema::backticked(known)
                ),
                pos,
            ));
        }
    }
    Ok(())
}

/// A number of seconds from an options map.
fn seconds_option(
    function: &str,
    options: &Map<String, Value>,
    key: &str,
    pos: Position,
) -> Result<Option<Duration>> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => wait::seconds(n.as_f64().unwrap_or(-1.0), &format!("`{key}`"))
            .map(Some)
            .map_err(|m| fail(format!("`k8s::{function}`: {m}"), pos)),
        Some(other) => Err(fail(
            format!(
                "`k8s::{function}`: `{key}` must be a number of seconds, not `{}`",
                brief(other, 60)
            ),
            pos,
        )),
    }
}

fn timeout_arg(function: &str, secs: INT, pos: Position) -> Result<Duration> {
    #[allow(clippy::cast_precision_loss)]
    let secs = secs as f64;
    wait::seconds(secs, "the timeout").map_err(|m| fail(format!("`k8s::{function}`: {m}"), pos))
}

// ---------------------------------------------------------------------------------------------
// get, list, apply, patch, delete

const KIND_HELP: &str = "/// `kind` is `\"Deployment\"` for the kinds eprun knows, else `\"group/version/Kind\"` (`\"v1/Kind\"` for the core group); `namespace` is `\"\"` for cluster-scoped kinds.";

fn register_objects(k8s: &mut Module, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("get")
        .with_comments([
            "/// The object `name` of `kind` in `namespace`, as a map (`apiVersion`, `kind`, `metadata`, `spec`, `status`), or `()` when it does not exist.",
            KIND_HELP,
        ])
        .with_params_info(["kind: &str", "namespace: &str", "name: &str", "Dynamic"])
        .set_into_module(k8s, move |ctx: NativeCallContext, kind: &str, namespace: &str, name: &str| -> Result<Dynamic> {
            let pos = ctx.call_position();
            let k = kind_arg("get", kind, pos)?;
            let kube = kube(&s, "get", pos)?;
            let found = read(&s, "get", pos, objects::get(&kube, &k, namespace, name))?;
            Ok(found.map_or(Dynamic::UNIT, |v| to_dynamic(&v)))
        });

    let list_comments = [
        "/// The objects of `kind` in `namespace` (`\"\"`: in every namespace), as an array of maps;",
        "/// `selector` keeps those whose labels match: a label selector (`\"app=web,tier!=batch\"`) or a map (`#{app: \"web\"}`).",
        KIND_HELP,
    ];
    let s = session.clone();
    FuncRegistration::new("list")
        .with_comments(list_comments)
        .with_params_info(["kind: &str", "namespace: &str", "Array"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, kind: &str, namespace: &str| -> Result<rhai::Array> {
                list(&ctx, &s, kind, namespace, None)
            },
        );
    let s = session.clone();
    FuncRegistration::new("list")
        .with_comments(list_comments)
        .with_params_info(["kind: &str", "namespace: &str", "selector: &str", "Array"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext,
                  kind: &str,
                  namespace: &str,
                  selector: &str|
                  -> Result<rhai::Array> {
                list(&ctx, &s, kind, namespace, Some(selector.to_string()))
            },
        );
    let s = session.clone();
    FuncRegistration::new("list")
        .with_comments(list_comments)
        .with_params_info(["kind: &str", "namespace: &str", "selector: Map", "Array"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext,
                  kind: &str,
                  namespace: &str,
                  labels: rhai::Map|
                  -> Result<rhai::Array> {
                let pos = ctx.call_position();
                let labels = json_map("list", "the label selector", labels, pos)?;
                let selector = verbs::label_selector(&labels)
                    .map_err(|m| fail(format!("`k8s::list`: {m}"), pos))?;
                list(&ctx, &s, kind, namespace, Some(selector))
            },
        );

    let s = session.clone();
    FuncRegistration::new("apply")
        .with_comments([
            "/// Server-side applies a manifest (a map in Kubernetes shape: `apiVersion`, `kind`, `metadata: #{name, namespace}`, …)",
            "/// with field manager `eprun`, taking over conflicting fields; creates the object when it is missing.",
            "/// Returns the object as stored; in a dry run, `#{dry_run: true, target}`.",
        ])
        .with_params_info(["manifest: Map", "Map"])
        .set_into_module(k8s, move |ctx: NativeCallContext, manifest: rhai::Map| -> Result<Dynamic> {
            let pos = ctx.call_position();
            let manifest = json_map("apply", "the manifest", manifest, pos)?;
            let kube = kube(&s, "apply", pos)?;
            let applied = run(&s, "apply", pos, objects::apply(&kube, &s.mutations, &manifest))?;
            Ok(match applied.object {
                Some(v) => to_dynamic(&v),
                None => dry_run_result(&applied.target),
            })
        });

    let s = session.clone();
    FuncRegistration::new("patch")
        .with_comments([
            "/// Merge-patches one object (JSON merge patch: the map's keys replace the object's, `()` removes one),",
            "/// e.g. `k8s::patch(\"NodePool\", \"\", \"payments\", #{spec: #{limits: #{cpu: \"512\"}}})`.",
            "/// Returns the patched object; in a dry run, `#{dry_run: true, target}`.",
            KIND_HELP,
        ])
        .with_params_info(["kind: &str", "namespace: &str", "name: &str", "patch: Map", "Map"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, kind: &str, namespace: &str, name: &str, patch: rhai::Map| -> Result<Dynamic> {
                let pos = ctx.call_position();
                let k = kind_arg("patch", kind, pos)?;
                let patch = Value::Object(json_map("patch", "the patch", patch, pos)?);
                let kube = kube(&s, "patch", pos)?;
                let patched = run(&s, "patch", pos, objects::patch(&kube, &s.mutations, &k, namespace, name, &patch))?;
                Ok(match patched {
                    Some(v) => to_dynamic(&v),
                    None => dry_run_result(&objects::name_of(&k, namespace, name)),
                })
            },
        );

    let s = session.clone();
    FuncRegistration::new("delete")
        .with_comments([
            "/// Deletes one object; returns `true` when it was there, `false` when it was already gone.",
            "/// It does not wait for finalizers: follow with `k8s::wait(kind, namespace, name, \"deleted\", secs)`.",
            KIND_HELP,
        ])
        .with_params_info(["kind: &str", "namespace: &str", "name: &str", "bool"])
        .set_into_module(k8s, move |ctx: NativeCallContext, kind: &str, namespace: &str, name: &str| -> Result<bool> {
            let pos = ctx.call_position();
            let k = kind_arg("delete", kind, pos)?;
            let kube = kube(&s, "delete", pos)?;
            run(&s, "delete", pos, objects::delete(&kube, &s.mutations, &k, namespace, name))
        });
}

fn list(
    ctx: &NativeCallContext,
    session: &Session,
    kind: &str,
    namespace: &str,
    selector: Option<String>,
) -> Result<rhai::Array> {
    let pos = ctx.call_position();
    let k = kind_arg("list", kind, pos)?;
    let kube = kube(session, "list", pos)?;
    let items = read(
        session,
        "list",
        pos,
        objects::list(&kube, &k, namespace, selector.as_deref()),
    )?;
    Ok(items.iter().map(to_dynamic).collect())
}

// ---------------------------------------------------------------------------------------------
// scale, wait

fn register_scale_and_wait(k8s: &mut Module, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("scale")
        .with_comments([
            "/// Sets the replicas of a Deployment, StatefulSet or Argo Rollout through its `/scale` subresource.",
            "/// Returns `#{previous, replicas}` (and `dry_run: true` in a dry run).",
            KIND_HELP,
        ])
        .with_params_info(["kind: &str", "namespace: &str", "name: &str", "replicas: INT", "Map"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, kind: &str, namespace: &str, name: &str, replicas: INT| -> Result<Dynamic> {
                let pos = ctx.call_position();
                let k = kind_arg("scale", kind, pos)?;
                let kube = kube(&s, "scale", pos)?;
                let done = run(&s, "scale", pos, scale::scale(&kube, &s.mutations, &k, namespace, name, replicas))?;
                let mut out = json!({ "previous": done.previous, "replicas": done.replicas });
                if done.dry_run {
                    out["dry_run"] = json!(true);
                }
                Ok(to_dynamic(&out))
            },
        );

    let wait_comments = [
        "/// Polls an object (200 ms, backing off to 2 s) until `condition` holds, for at most `timeout_secs`; Ctrl-C stops it.",
        "/// `condition`: a status condition type that must be `\"True\"` for the object's latest generation (`\"Available\"`, `\"Ready\"`, `\"Healthy\"`),",
        "/// `\"deleted\"`, or a closure `|obj| bool` called with the object (while it does not exist, the closure is not called and the wait goes on).",
        "/// Returns the object as last fetched (`()` for `\"deleted\"`); a timeout is an error saying what was last seen.",
        "/// In a dry run, a condition not met at once (it may wait on a skipped change) is shown as `would wait …` and not waited for.",
        KIND_HELP,
    ];
    let s = session.clone();
    FuncRegistration::new("wait")
        .with_comments(wait_comments)
        .with_params_info([
            "kind: &str",
            "namespace: &str",
            "name: &str",
            "condition: &str",
            "timeout_secs: INT",
            "Dynamic",
        ])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext,
                  kind: &str,
                  namespace: &str,
                  name: &str,
                  condition: &str,
                  timeout_secs: INT|
                  -> Result<Dynamic> {
                let pos = ctx.call_position();
                let condition = Condition::parse(condition)
                    .map_err(|m| fail(format!("`k8s::wait`: {m}"), pos))?;
                let what = condition.describe();
                wait_for(
                    &ctx,
                    &s,
                    (kind, namespace, name),
                    timeout_secs,
                    &what,
                    |object, _| {
                        let v = wait::evaluate(&condition, object);
                        Ok((v.met, v.seen))
                    },
                )
            },
        );
    let s = session.clone();
    FuncRegistration::new("wait")
        .with_comments(wait_comments)
        .with_params_info(["kind: &str", "namespace: &str", "name: &str", "condition: FnPtr", "timeout_secs: INT", "Dynamic"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, kind: &str, namespace: &str, name: &str, condition: FnPtr, timeout_secs: INT| -> Result<Dynamic> {
                let pos = ctx.call_position();
                let what = "the condition closure to return true";
                wait_for(&ctx, &s, (kind, namespace, name), timeout_secs, what, |object, arg| {
                    let Some(o) = object else {
                        return Ok((false, "the object does not exist".to_string()));
                    };
                    let answer: Dynamic = condition.call_within_context(&ctx, (arg.clone(),))?;
                    let met = answer.as_bool().map_err(|t| {
                        fail(format!("`k8s::wait`: the condition closure must return a bool, not `{t}`"), pos)
                    })?;
                    let seen = match o.get("status") {
                        Some(status) => format!("status {}", brief(status, 300)),
                        None => brief(o, 300),
                    };
                    Ok((met, seen))
                })
            },
        );
}

/// Polls `kind namespace/name` until `check(object, object as a script value)` says it is met
/// (`check` also says what it saw, for the message when `what` never happens).
fn wait_for(
    ctx: &NativeCallContext,
    session: &Session,
    (kind, namespace, name): (&str, &str, &str),
    timeout_secs: INT,
    what: &str,
    mut check: impl FnMut(Option<&Value>, &Dynamic) -> Result<(bool, String)>,
) -> Result<Dynamic> {
    let pos = ctx.call_position();
    let k = kind_arg("wait", kind, pos)?;
    let timeout = timeout_arg("wait", timeout_secs, pos)?;
    let kube = kube(session, "wait", pos)?;
    let t = read(
        session,
        "wait",
        pos,
        Target::resolve(&kube, &k, namespace, name),
    )?;
    let target = t.describe();
    let mut last = String::new();
    let mut now = Dynamic::UNIT;
    // A dry run looks once: what it would wait for may hang on a change it skipped.
    let dry_run = session.mutations.dry_run();
    let limit = if dry_run { Duration::ZERO } else { timeout };
    let outcome = poll(limit, || -> Result<Option<Dynamic>> {
        let found = read(session, "wait", pos, async {
            t.api
                .get_opt(&t.name)
                .await
                .map_err(|e| VerbError::from(api_error("wait", &target, e)))
        })?;
        let object = found.map(|o| object_value(&o, &k));
        let arg = object.as_ref().map_or(Dynamic::UNIT, to_dynamic);
        let (met, seen) = check(object.as_ref(), &arg)?;
        last = seen;
        if met {
            return Ok(Some(arg));
        }
        now = arg;
        Ok(None)
    });
    match outcome {
        Ok(v) => Ok(v),
        Err(PollError::TimedOut) if dry_run => {
            eprintln!(
                "    {} wait for {what} on {target} (up to {}s); now: {last}",
                crate::style::yellow("would"),
                timeout.as_secs_f64()
            );
            Ok(now)
        }
        Err(PollError::Failed(e)) => Err(e),
        Err(PollError::Interrupted) => Err(verb_error("wait", VerbError::Interrupted, pos)),
        Err(PollError::TimedOut) => {
            let e = CloudError::new(
                "wait",
                &target,
                CloudErrorKind::Wait,
                format!(
                    "timed out after {}s waiting for {what}; last seen: {last}",
                    timeout.as_secs_f64()
                ),
            );
            Err(fail(e.to_string(), pos))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Argo Rollouts

fn register_rollouts(k8s: &mut Module, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("rollout_status")
        .with_comments([
            "/// The status of an Argo Rollout: `#{phase, message, paused, aborted, replicas, ready_replicas, updated_replicas,",
            "/// available_replicas, active_selector, preview_selector, current_pod_hash, stable_pod_hash, analysis_runs: [#{name, phase, pod_hash, message}]}`",
            "/// (the AnalysisRuns the rollout owns, oldest first; `pod_hash` is the version each analysed: compare it with `current_pod_hash`).",
        ])
        .with_params_info(["namespace: &str", "name: &str", "Map"])
        .set_into_module(k8s, move |ctx: NativeCallContext, namespace: &str, name: &str| -> Result<Dynamic> {
            let pos = ctx.call_position();
            let kube = kube(&s, "rollout_status", pos)?;
            let status = read(&s, "rollout_status", pos, rollout::status(&kube, namespace, name))?;
            Ok(to_dynamic(&status))
        });

    let s = session.clone();
    FuncRegistration::new("rollout_status")
        .with_comments([
            "/// The rollout status of a `\"Deployment\"` (from its ReplicaSets, as `kubectl rollout status` reports it):",
            "/// `#{done, message, revision, replicas, updated_replicas, ready_replicas, available_replicas,",
            "/// replica_sets: [#{name, revision, pod_template_hash, replicas, ready_replicas, current}]}`, newest revision first;",
            "/// or of an Argo `\"Rollout\"`, as `rollout_status(namespace, name)`.",
        ])
        .with_params_info(["kind: &str", "namespace: &str", "name: &str", "Map"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, kind: &str, namespace: &str, name: &str| -> Result<Dynamic> {
                let pos = ctx.call_position();
                let kube = kube(&s, "rollout_status", pos)?;
                let status = match kind.rsplit('/').next().unwrap_or(kind) {
                    "Deployment" => read(&s, "rollout_status", pos, deployment::status(&kube, namespace, name))?,
                    "Rollout" => read(&s, "rollout_status", pos, rollout::status(&kube, namespace, name))?,
                    other => {
                        return Err(fail(
                            format!("`k8s::rollout_status` knows `Deployment` and `Rollout`, not `{other}`"),
                            pos,
                        ));
                    }
                };
                Ok(to_dynamic(&status))
            },
        );

    let s = session.clone();
    FuncRegistration::new("rollout_promote")
        .with_comments([
            "/// Promotes a paused Argo Rollout, as `kubectl argo rollouts promote`: clears `status.pauseConditions` through `/status`",
            "/// (a blue/green preview becomes active) and sets `spec.paused` to false; a canary without a pause moves to its next step.",
            "/// Returns `#{rollout, promoted, unpaused, pause_conditions_cleared, current_step_index}`; a rollout that is not paused is left alone.",
        ])
        .with_params_info(["namespace: &str", "name: &str", "Map"])
        .set_into_module(k8s, move |ctx: NativeCallContext, namespace: &str, name: &str| -> Result<Dynamic> {
            let pos = ctx.call_position();
            let kube = kube(&s, "rollout_promote", pos)?;
            let done = run(&s, "rollout_promote", pos, rollout::promote(&kube, &s.mutations, namespace, name))?;
            Ok(to_dynamic(&done))
        });

    let s = session.clone();
    FuncRegistration::new("rollout_abort")
        .with_comments([
            "/// Aborts an Argo Rollout, as `kubectl argo rollouts abort`: sets `status.abort` through `/status`, and the controller",
            "/// sends traffic back to the stable version. Returns `#{rollout, aborted}`.",
        ])
        .with_params_info(["namespace: &str", "name: &str", "Map"])
        .set_into_module(k8s, move |ctx: NativeCallContext, namespace: &str, name: &str| -> Result<Dynamic> {
            let pos = ctx.call_position();
            let kube = kube(&s, "rollout_abort", pos)?;
            let done = run(&s, "rollout_abort", pos, rollout::abort(&kube, &s.mutations, namespace, name))?;
            Ok(to_dynamic(&done))
        });
}

// ---------------------------------------------------------------------------------------------
// Nodes

fn register_nodes(k8s: &mut Module, session: &Session) {
    for (function, unschedulable, comment) in [
        (
            "cordon",
            true,
            "/// Marks a node unschedulable (`spec.unschedulable`); its pods keep running. Returns `#{node, unschedulable, changed}`.",
        ),
        (
            "uncordon",
            false,
            "/// Makes a cordoned node schedulable again. Returns `#{node, unschedulable, changed}`.",
        ),
    ] {
        let s = session.clone();
        FuncRegistration::new(function)
            .with_comments([comment])
            .with_params_info(["node: &str", "Map"])
            .set_into_module(
                k8s,
                move |ctx: NativeCallContext, node: &str| -> Result<Dynamic> {
                    let pos = ctx.call_position();
                    let kube = kube(&s, function, pos)?;
                    let done = run(
                        &s,
                        function,
                        pos,
                        node::cordon(&kube, &s.mutations, node, unschedulable),
                    )?;
                    Ok(to_dynamic(&done))
                },
            );
    }

    let drain_comments = [
        "/// Cordons a node and evicts its pods through the eviction API, so PodDisruptionBudgets are respected: an eviction a budget",
        "/// refuses is retried with backoff until the timeout, then the drain fails naming the pods still blocked (the node stays cordoned).",
        "/// Mirror pods and DaemonSet pods stay. Waits until the evicted pods are gone. Like `kubectl drain`, it refuses (before",
        "/// cordoning) pods no controller manages and pods with emptyDir data unless told otherwise.",
        "/// `options`: `timeout` (seconds, default 300), `grace_period` (seconds, instead of the pods' own),",
        "/// `force` (evict pods no controller manages), `delete_emptydir_data` (evict pods with emptyDir volumes).",
        "/// Returns `#{node, evicted: [\"ns/name\"], skipped: [#{pod, reason}]}`.",
    ];
    let s = session.clone();
    FuncRegistration::new("drain")
        .with_comments(drain_comments)
        .with_params_info(["node: &str", "Map"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, node: &str| -> Result<Dynamic> {
                drain(&ctx, &s, node, rhai::Map::new())
            },
        );
    let s = session.clone();
    FuncRegistration::new("drain")
        .with_comments(drain_comments)
        .with_params_info(["node: &str", "options: Map", "Map"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, node: &str, options: rhai::Map| -> Result<Dynamic> {
                drain(&ctx, &s, node, options)
            },
        );
}

fn drain(
    ctx: &NativeCallContext,
    session: &Session,
    node: &str,
    options: rhai::Map,
) -> Result<Dynamic> {
    let pos = ctx.call_position();
    let options = json_map("drain", "the options", options, pos)?;
    check_keys(
        "drain",
        &options,
        &["timeout", "grace_period", "force", "delete_emptydir_data"],
        pos,
    )?;
    let mut drain = node::DrainOptions::default();
    for (key, flag) in [
        ("force", &mut drain.force),
        ("delete_emptydir_data", &mut drain.delete_emptydir_data),
    ] {
        match options.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => *flag = *b,
            Some(other) => {
                return Err(fail(
                    format!(
                        "`k8s::drain`: `{key}` must be true or false, not `{}`",
                        brief(other, 60)
                    ),
                    pos,
                ));
            }
        }
    }
    if let Some(t) = seconds_option("drain", &options, "timeout", pos)? {
        drain.timeout = t;
    }
    if let Some(g) = seconds_option("drain", &options, "grace_period", pos)? {
        drain.grace_period = Some(u32::try_from(g.as_secs()).unwrap_or(u32::MAX));
    }
    let kube = kube(session, "drain", pos)?;
    let done = run(
        session,
        "drain",
        pos,
        node::drain(&kube, &session.mutations, node, drain),
    )?;
    Ok(to_dynamic(&done))
}

// ---------------------------------------------------------------------------------------------
// Logs

fn register_logs(k8s: &mut Module, session: &Session) {
    let comments = [
        "/// The log of a pod, as text. `options`: `tail_lines` (the last lines only), `container` (needed when the pod has several),",
        "/// `previous` (the last terminated instance's log), `since_seconds`.",
    ];
    let s = session.clone();
    FuncRegistration::new("logs")
        .with_comments(comments)
        .with_params_info(["namespace: &str", "pod: &str", "String"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, namespace: &str, pod: &str| -> Result<String> {
                pod_logs(&ctx, &s, namespace, pod, rhai::Map::new())
            },
        );
    let s = session.clone();
    FuncRegistration::new("logs")
        .with_comments(comments)
        .with_params_info(["namespace: &str", "pod: &str", "options: Map", "String"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext,
                  namespace: &str,
                  pod: &str,
                  options: rhai::Map|
                  -> Result<String> { pod_logs(&ctx, &s, namespace, pod, options) },
        );
}

fn pod_logs(
    ctx: &NativeCallContext,
    session: &Session,
    namespace: &str,
    pod: &str,
    options: rhai::Map,
) -> Result<String> {
    let pos = ctx.call_position();
    let options = json_map("logs", "the options", options, pos)?;
    check_keys(
        "logs",
        &options,
        &["tail_lines", "container", "previous", "since_seconds"],
        pos,
    )?;
    let int = |key: &str| -> Result<Option<i64>> {
        match options.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                fail(
                    format!(
                        "`k8s::logs`: `{key}` must be a whole number, not `{}`",
                        brief(v, 60)
                    ),
                    pos,
                )
            }),
        }
    };
    let container = match options.get("container") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if !c.is_empty() => Some(c.clone()),
        Some(other) => {
            return Err(fail(
                format!(
                    "`k8s::logs`: `container` must be a container name, not `{}`",
                    brief(other, 60)
                ),
                pos,
            ));
        }
    };
    let previous = match options.get("previous") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(fail(
                format!(
                    "`k8s::logs`: `previous` must be a bool, not `{}`",
                    brief(other, 60)
                ),
                pos,
            ));
        }
    };
    let opts = logs::LogOptions {
        tail_lines: int("tail_lines")?,
        container,
        previous,
        since_seconds: int("since_seconds")?,
    };
    let kube = kube(session, "logs", pos)?;
    read(
        session,
        "logs",
        pos,
        logs::logs(&kube, namespace, pod, &opts),
    )
}
