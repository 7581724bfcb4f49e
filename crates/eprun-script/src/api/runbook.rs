//! `runbook`, `step`, `confirm`, `param`, `log`, `in_env` and `environment`: what a runbook is
//! written with. The run itself (journal, resume, dry run) is `crate::runbook`.

use super::fail;
use crate::diagnostic;
use crate::environment::Environment;
use crate::runbook::{self, Begin, Declared, Outcome, ParamDecl};
use crate::secret::{REDACTED, Secret};
use crate::session::Session;
use crate::value::{to_dynamic, to_json};
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, FuncRegistration, NativeCallContext};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::Instant;

type RhaiResult = Result<Dynamic, Box<EvalAltResult>>;

/// The keys `runbook(#{...})` takes.
const RUNBOOK_KEYS: &[&str] = &["name", "summary", "params", "env", "invariant"];
/// The keys of one parameter's declaration.
const PARAM_KEYS: &[&str] = &["default", "doc"];

pub(super) fn register(engine: &mut Engine, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("runbook")
        .with_comments([
            "/// Declares the script a runbook: `runbook(#{ name, summary, params, env })`, called",
            "/// before the first step. `params` maps each parameter to `#{ \"default\": v, doc: \"…\" }`",
            "/// (`default` is a Rhai keyword: quote it) or just to its default (`replicas: 3`); one",
            "/// without a default needs `--param name=value`. `--param` values are typed like their",
            "/// default. `env` (optional) is the environment it acts on unless `--env` is given.",
            "/// A `--param` the runbook does not declare stops the run before anything ran.",
            "///",
            "/// Returns `#{ id, name, dry_run, force, params }` (`force`: the reason `--force` gave, or `()`). Runs with `eprun run FILE` (journal,",
            "/// `--dry-run`, `--resume ID`, `--param k=v`, `--yes`) or `eprun FILE`.",
        ])
        .with_params_info(["spec: Map", "Map"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext, spec: rhai::Map| -> RhaiResult {
                let pos = ctx.call_position();
                let Some(run) = runbook::current(&s) else {
                    return Err(fail(
                        "a runbook runs with `eprun run FILE` (or `eprun FILE`), which keeps its journal",
                        pos,
                    ));
                };
                let decl = declaration(spec).map_err(|e| fail(e, pos))?;
                let value = run.declare(&s, decl).map_err(|e| fail(e.to_string(), pos))?;
                Ok(to_dynamic(&value))
            },
        );

    let s = session.clone();
    FuncRegistration::new("step")
        .with_comments([
            "/// Runs one step of the runbook: its output is grouped under a `▸ Step i/n: name`",
            "/// header, it is timed and journaled, and a failure stops the run with the command",
            "/// that resumes it. With `--resume ID`, a step the journal records as done (same",
            "/// position, same name) is skipped and its recorded result returned.",
            "/// Returns what the closure returns.",
        ])
        .with_params_info(["name: &str", "body: FnPtr", "Dynamic"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext, name: &str, body: FnPtr| -> RhaiResult {
                step(&ctx, &s, name, body)
            },
        );

    let s = session.clone();
    FuncRegistration::new("confirm")
        .with_comments([
            "/// Asks before going on (y/N on a terminal); a no stops the run, resumable.",
            "/// Without a terminal it needs `--yes` (else the run stops here, exit 1); in a dry run",
            "/// the question is shown and the run goes on. Returns `true` when it goes on.",
        ])
        .with_params_info(["question: &str", "bool"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext, question: &str| -> Result<bool, Box<EvalAltResult>> {
                let pos = ctx.call_position();
                match runbook::current(&s) {
                    Some(run) => run.confirm(question).map(|()| true).map_err(|e| fail(e.to_string(), pos)),
                    None => ask(question).map_err(|e| fail(e, pos)),
                }
            },
        );

    let s = session.clone();
    FuncRegistration::new("param")
        .with_comments([
            "/// The value of a parameter the runbook declares: `--param name=value`, else the",
            "/// journal's (when resuming), else its `default`. An undeclared name is an error",
            "/// listing the declared ones.",
        ])
        .with_params_info(["name: &str", "Dynamic"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext, name: &str| -> RhaiResult {
                let pos = ctx.call_position();
                let Some(run) = runbook::current(&s) else {
                    return Err(fail(
                        "`param` reads `eprun run FILE --param name=value`; no runbook is running",
                        pos,
                    ));
                };
                run.param(name)
                    .map(|v| to_dynamic(&v))
                    .map_err(|e| fail(e.to_string(), pos))
            },
        );

    let s = session.clone();
    FuncRegistration::new("log")
        .with_comments([
            "/// Writes a line under the current step and into the run's journal. Strings print as",
            "/// they are, other values as JSON; a secret prints as `<redacted>`.",
        ])
        .with_params_info(["message: Dynamic", "()"])
        .register_into_engine(engine, move |message: Dynamic| {
            let text = display(&message);
            match runbook::current(&s) {
                Some(run) => run.log(&text),
                None => eprintln!("{text}"),
            }
        });

    let s = session.clone();
    FuncRegistration::new("milestone")
        .with_comments([
            "/// Records in the run's journal that it reached `name` now (e.g. `\"traffic moved\"`):",
            "/// `eprun runs show` prints the time from the run's start to each milestone, against the",
            "/// RTO of the run's environment (`[dr] rto_minutes`). Outside a run it only prints.",
        ])
        .with_params_info(["name: &str", "()"])
        .register_into_engine(engine, move |name: &str| match runbook::current(&s) {
            Some(run) => run.milestone(name),
            None => eprintln!("milestone: {name}"),
        });

    let s = session.clone();
    FuncRegistration::new("in_env")
        .with_comments([
            "/// Runs `body` with another environment current: AWS calls go to its region and",
            "/// Kubernetes calls to its cluster, e.g. `in_env(env.peers.dr, || { ... })`.",
            "/// Returns what `body` returns; the previous environment is current again afterwards.",
        ])
        .with_params_info(["name: &str", "body: FnPtr", "Dynamic"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext, name: &str, body: FnPtr| -> RhaiResult {
                let pos = ctx.call_position();
                let env =
                    Environment::load(&s.project, name).map_err(|e| fail(e.to_string(), pos))?;
                let _scope = s.connections.enter(env);
                body.call_within_context::<Dynamic>(&ctx, ())
            },
        );

    let s = session.clone();
    FuncRegistration::new("environment")
        .with_comments([
            "/// The current environment's values as a map (`name`, `region`, `role`, `peers`, …):",
            "/// the innermost `in_env`, else the stack's, else `--env` (or the runbook's `env`).",
        ])
        .with_params_info(["Map"])
        .register_into_engine(engine, move |ctx: NativeCallContext| -> RhaiResult {
            let pos = ctx.call_position();
            let env = s.environment().map_err(|e| fail(e, pos))?;
            let value = serde_json::to_value(&env).map_err(|e| fail(e.to_string(), pos))?;
            Ok(to_dynamic(&value))
        });
}

/// `step(name, body)`.
fn step(ctx: &NativeCallContext, s: &Session, name: &str, body: FnPtr) -> RhaiResult {
    let pos = ctx.call_position();
    if crate::interrupt::requested() {
        return Err(Box::new(EvalAltResult::ErrorTerminated(
            "interrupted by Ctrl-C".into(),
            pos,
        )));
    }
    let Some(run) = runbook::current(s) else {
        // Outside a run (the REPL, `eprun eval`): just the header and the closure.
        eprintln!("{}", crate::style::bold(&format!("▸ {name}")));
        return body
            .call_within_context::<Dynamic>(ctx, ())
            .map_err(|e| relabel(*e, name));
    };
    let index = match run.begin_step(name).map_err(|e| fail(e.to_string(), pos))? {
        Begin::Skip(result) => return Ok(result.map(|v| to_dynamic(&v)).unwrap_or_default()),
        Begin::Run(index) => index,
    };
    let started = Instant::now();
    let invariant = run.declared().and_then(|d| d.invariant);
    let holds = |when: &str| match &invariant {
        Some(check) => check
            .call_within_context::<Dynamic>(ctx, ())
            .map(drop)
            .map_err(|e| {
                fail(
                    format!(
                        "the runbook's invariant fails {when} this step: {}",
                        diagnostic::locate(&e, "", &[]).message
                    ),
                    pos,
                )
            }),
        None => Ok(()),
    };
    let result = holds("before")
        .and_then(|()| body.call_within_context::<Dynamic>(ctx, ()))
        .and_then(|v| holds("after").map(|()| v));
    let outcome = match &result {
        Ok(v) => Outcome::Ok(to_json(v).ok().filter(|v| !v.is_null())),
        Err(e) => {
            let top = ctx
                .call_source()
                .map(str::to_string)
                .unwrap_or_else(|| run.settings().file.clone());
            let loc = diagnostic::locate(e, &top, &[]);
            if loc.interrupted {
                Outcome::Interrupted
            } else if loc.line > 0 {
                Outcome::Failed(format!(
                    "{}:{}:{}: {}",
                    loc.source, loc.line, loc.column, loc.message
                ))
            } else {
                Outcome::Failed(format!("{}: {}", loc.source, loc.message))
            }
        }
    };
    run.end_step(s, index, name, outcome, started.elapsed());
    result.map_err(|e| relabel(*e, name))
}

/// Names a failing closure after its step in the call chain (`in step "…"` rather than an
/// anonymous function's generated name).
fn relabel(err: EvalAltResult, step: &str) -> Box<EvalAltResult> {
    match err {
        EvalAltResult::ErrorInFunctionCall(fn_name, source, inner, pos)
            if fn_name.starts_with("anon$") =>
        {
            Box::new(EvalAltResult::ErrorInFunctionCall(
                format!("step \"{step}\""),
                source,
                inner,
                pos,
            ))
        }
        other => Box::new(other),
    }
}

/// Why `runbook(#{...})`'s map or a `confirm` outside a run is refused.
#[derive(Debug, thiserror::Error)]
pub enum RunbookCallError {
    /// A key that takes text given something else.
    #[error("runbook `{key}` must be a string, not {given}")]
    NotText {
        /// The key.
        key: &'static str,
        /// The type given.
        given: String,
    },
    /// A key that takes a closure given something else.
    #[error("runbook `{key}` must be a closure (`|| ...`), not {given}")]
    NotClosure {
        /// The key.
        key: &'static str,
        /// The type given.
        given: String,
    },
    /// `params` that is not a map.
    #[error(
        "runbook `params` must be a map of `name: #{{ \"default\": value, doc: \"...\" }}`, not {0}"
    )]
    ParamsNotMap(String),
    /// A key `runbook` does not take.
    #[error(
        "unknown key `{key}` in `runbook` (it takes `name`, `summary`, `params`, `env`, `invariant`){hint}"
    )]
    UnknownKey {
        /// The key.
        key: String,
        /// `; did you mean `…`?`, or nothing.
        hint: String,
    },
    /// No `name`.
    #[error("`runbook` needs a `name`: `runbook(#{{ name: \"dr-failover\", ... }})`")]
    NoName,
    /// A parameter default with no JSON form.
    #[error("parameter `{name}`'s default: {error}")]
    DefaultValue {
        /// The parameter.
        name: String,
        /// Why its default is no value.
        error: crate::value::ValueError,
    },
    /// A parameter default that is a list or a map.
    #[error("parameter `{0}`'s default must be a string, number or bool")]
    DefaultType(String),
    /// A parameter `doc` that is not text.
    #[error("parameter `{name}`'s doc must be a string, not {given}")]
    DocNotText {
        /// The parameter.
        name: String,
        /// The type given.
        given: String,
    },
    /// A key a parameter does not take.
    #[error("unknown key `{key}` in parameter `{name}` (it takes `default`, `doc`){hint}")]
    UnknownParamKey {
        /// The key.
        key: String,
        /// The parameter.
        name: String,
        /// `; did you mean `…`?`, or nothing.
        hint: String,
    },
    /// `confirm` outside a run with no terminal to ask on.
    #[error("`confirm(\"{0}\")` needs a terminal to ask on")]
    NoTerminal(String),
    /// The answer could not be read.
    #[error("cannot read the answer: {0}")]
    Answer(#[source] std::io::Error),
    /// The answer was no.
    #[error("declined `{0}`")]
    Declined(String),
}

/// `runbook(#{...})`'s map, checked.
fn declaration(spec: rhai::Map) -> Result<Declared, RunbookCallError> {
    let mut decl = Declared::default();
    let text = |key: &'static str, v: &Dynamic| -> Result<String, RunbookCallError> {
        v.clone()
            .into_immutable_string()
            .map(|s| s.to_string())
            .map_err(|given| RunbookCallError::NotText {
                key,
                given: given.to_string(),
            })
    };
    for (key, value) in spec.iter() {
        match key.as_str() {
            "name" => decl.name = text("name", value)?,
            "summary" => decl.summary = Some(text("summary", value)?),
            "env" => decl.env = Some(text("env", value)?),
            "invariant" => match value.clone().try_cast::<FnPtr>() {
                Some(f) => decl.invariant = Some(f),
                None => {
                    return Err(RunbookCallError::NotClosure {
                        key: "invariant",
                        given: value.type_name().to_string(),
                    });
                }
            },
            "params" => {
                let Some(params) = value.read_lock::<rhai::Map>() else {
                    return Err(RunbookCallError::ParamsNotMap(
                        value.type_name().to_string(),
                    ));
                };
                for (pname, pdecl) in params.iter() {
                    decl.params
                        .insert(pname.to_string(), param_declaration(pname, pdecl)?);
                }
            }
            other => {
                let hint = crate::schema::suggest(other, RUNBOOK_KEYS)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(RunbookCallError::UnknownKey {
                    key: other.to_string(),
                    hint,
                });
            }
        }
    }
    if decl.name.trim().is_empty() {
        return Err(RunbookCallError::NoName);
    }
    Ok(decl)
}

/// One parameter of `runbook`'s `params`, checked.
fn param_declaration(name: &str, value: &Dynamic) -> Result<ParamDecl, RunbookCallError> {
    let default = |error| RunbookCallError::DefaultValue {
        name: name.to_string(),
        error,
    };
    let mut p = ParamDecl::default();
    let Some(map) = value.read_lock::<rhai::Map>() else {
        // The shorthand `name: value` declares the default alone (`()`: required).
        let json = to_json(value).map_err(default)?;
        if matches!(json, Value::Array(_)) {
            return Err(RunbookCallError::DefaultType(name.to_string()));
        }
        p.default = (!json.is_null()).then_some(json);
        return Ok(p);
    };
    for (key, v) in map.iter() {
        match key.as_str() {
            "default" => {
                let json = to_json(v).map_err(default)?;
                p.default = (!json.is_null()).then_some(json);
                if matches!(p.default, Some(Value::Array(_) | Value::Object(_))) {
                    return Err(RunbookCallError::DefaultType(name.to_string()));
                }
            }
            "doc" => {
                p.doc = Some(
                    v.clone()
                        .into_immutable_string()
                        .map(|s| s.to_string())
                        .map_err(|given| RunbookCallError::DocNotText {
                            name: name.to_string(),
                            given: given.to_string(),
                        })?,
                )
            }
            other => {
                let hint = crate::schema::suggest(other, PARAM_KEYS)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(RunbookCallError::UnknownParamKey {
                    key: other.to_string(),
                    name: name.to_string(),
                    hint,
                });
            }
        }
    }
    Ok(p)
}

/// A value as a log line: strings as they are, secrets redacted, the rest as JSON.
fn display(value: &Dynamic) -> String {
    if value.is::<Secret>() {
        return REDACTED.to_string();
    }
    if value.is_string() {
        return value.clone().into_string().unwrap_or_default();
    }
    match to_json(value) {
        Ok(json) => json.to_string(),
        // Dynamic's own text shows a custom type's name, never its contents.
        Err(_) => value.to_string(),
    }
}

/// `confirm` outside a run (the REPL): ask on a terminal, refuse without one.
fn ask(question: &str) -> Result<bool, RunbookCallError> {
    if !std::io::stdin().is_terminal() {
        return Err(RunbookCallError::NoTerminal(question.to_string()));
    }
    if crate::runbook::ask_yes_no(question).map_err(RunbookCallError::Answer)? {
        Ok(true)
    } else {
        Err(RunbookCallError::Declined(question.to_string()))
    }
}
