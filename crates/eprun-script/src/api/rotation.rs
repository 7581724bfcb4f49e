//! `rotation::*`: the rotation controls of a DR pair, the only way scripts move traffic between
//! its regions; every change obeys the safety rules of `crate::dr`.

use super::fail;
use crate::dr::{self, DrError, Options};
use crate::session::Session;
use crate::value::{to_dynamic, to_json};
use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};
use serde_json::Value;

type RhaiResult = Result<Dynamic, Box<EvalAltResult>>;

/// The keys a drain or restore takes.
const OPTION_KEYS: &[&str] = &["force", "primary_reachable"];

/// Registers `rotation::state`, `check`, `drain` and `restore` into `m`.
pub(super) fn register(m: &mut Module, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("state")
        .with_comments([
            "/// Both regions of the current environment's DR pair, primary first, as their rotation",
            "/// alarms say: `[#{env, in_rotation, state, reason, updated, alarm, region}]`. Read in",
            "/// the alarms' region (the DR region): nothing is asked of the primary's region.",
        ])
        .with_params_info(["Array"])
        .set_into_module(m, move |ctx: NativeCallContext| -> RhaiResult {
            answer(dr::state(&s), &ctx)
        });

    let s = session.clone();
    FuncRegistration::new("check")
        .with_comments([
            "/// Throws when no region of the pair is in rotation (the DR runbooks' `invariant`);",
            "/// else returns `rotation::state()`.",
        ])
        .with_params_info(["Array"])
        .set_into_module(m, move |ctx: NativeCallContext| -> RhaiResult {
            answer(dr::check(&s), &ctx)
        });

    for (name, verb, doc) in [
        (
            "drain",
            dr::drain as Verb,
            &[
                "/// Takes environment `env` out of rotation (mutating: skipped in a dry run): its",
                "/// alarm goes to ALARM, its serving check fails, and DNS answers with the other region.",
                "/// Refused when the other region is out too, or when its readiness (`dr::readiness`)",
                "/// fails, unless `#{ force: \"why\" }` (or `eprun run --force \"why\"`) says why to go",
                "/// on. `#{ primary_reachable: false }` keeps every check away from the primary's region.",
                "/// Returns `#{env, changed, rotation, readiness}`.",
            ][..],
        ),
        (
            "restore",
            dr::restore as Verb,
            &[
                "/// Puts environment `env` back in rotation (mutating: skipped in a dry run).",
                "/// Refused when its own readiness fails, unless forced as for `drain`.",
                "/// Returns `#{env, changed, rotation, readiness}`.",
            ][..],
        ),
    ] {
        let s = session.clone();
        FuncRegistration::new(name)
            .with_comments(doc)
            .with_params_info(["env: &str", "Map"])
            .set_into_module(m, move |ctx: NativeCallContext, env: &str| -> RhaiResult {
                let opts = Options {
                    force: None,
                    primary_reachable: true,
                };
                answer(verb(&s, ctx.engine(), env, &opts), &ctx)
            });
        let s = session.clone();
        FuncRegistration::new(name)
            .with_comments(doc)
            .with_params_info(["env: &str", "options: Map", "Map"])
            .set_into_module(
                m,
                move |ctx: NativeCallContext, env: &str, given: rhai::Map| -> RhaiResult {
                    let opts = options(given).map_err(|e| fail(e, ctx.call_position()))?;
                    answer(verb(&s, ctx.engine(), env, &opts), &ctx)
                },
            );
    }
}

/// A drain or a restore.
type Verb = fn(&Session, &rhai::Engine, &str, &Options) -> Result<Value, DrError>;

/// The answer as a script value, or the error at the call.
fn answer(result: Result<Value, DrError>, ctx: &NativeCallContext) -> RhaiResult {
    result
        .map(|v| to_dynamic(&v))
        .map_err(|e| fail(e.to_string(), ctx.call_position()))
}

/// What is wrong with the options of a drain or restore.
#[derive(Debug, thiserror::Error)]
enum OptionError {
    /// Not a map of plain values.
    #[error("the options must be a map of plain values")]
    NotPlain,
    /// A key it does not take.
    #[error("unknown option `{0}` (rotation changes take `force` and `primary_reachable`)")]
    Unknown(String),
    /// `force` without a reason.
    #[error("`force` is the reason to go on, a non-empty string")]
    Force,
    /// `primary_reachable` not a bool.
    #[error("`primary_reachable` is `true` or `false`")]
    Reachable,
}

/// Reads `#{ force, primary_reachable }`.
fn options(given: rhai::Map) -> Result<Options, OptionError> {
    let given = match to_json(&Dynamic::from_map(given)) {
        Ok(Value::Object(m)) => m,
        _ => return Err(OptionError::NotPlain),
    };
    if let Some(bad) = given.keys().find(|k| !OPTION_KEYS.contains(&k.as_str())) {
        return Err(OptionError::Unknown(bad.clone()));
    }
    let force = match given.get("force") {
        None | Some(Value::Null) => None,
        Some(Value::String(why)) if !why.trim().is_empty() => Some(why.clone()),
        Some(_) => return Err(OptionError::Force),
    };
    let primary_reachable = match given.get("primary_reachable") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(OptionError::Reachable),
    };
    Ok(Options {
        force,
        primary_reachable,
    })
}
