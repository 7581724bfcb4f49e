//! `stack`, `output` and `stack_outputs`: naming the stack and connecting stacks.

use super::fail;
use crate::declaration::Origin;
use crate::session::Session;
use crate::value::{to_dynamic, to_json};
use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, NativeCallContext};

/// Where the current native call was made, as an origin.
pub(crate) fn origin(ctx: &NativeCallContext) -> Origin {
    let pos = ctx.call_position();
    Origin {
        source: ctx.call_source().unwrap_or_default().to_string(),
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(0),
    }
}

pub(super) fn register(engine: &mut Engine, aws: &mut rhai::Module, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("stack")
        .with_comments([
            "/// Names the stack and loads its environment file (`environments/<name>.toml`).",
            "/// Returns the file's values as a map; `--env` replaces the name given here.",
        ])
        .with_params_info(["name: &str", "Map"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
                let pos = ctx.call_position();
                let effective = s.env_override.clone().unwrap_or_else(|| name.to_string());
                let env = s
                    .load_environment(&effective)
                    .map_err(|e| fail(e.to_string(), pos))?;
                let mut decls = s.declarations();
                if let Some(first) = &decls.stack_origin {
                    return Err(fail(
                        format!(
                            "`stack` was already called at {first}; a script declares one stack"
                        ),
                        pos,
                    ));
                }
                let value = serde_json::to_value(&env).map_err(|e| fail(e.to_string(), pos))?;
                decls.environment = Some(env);
                decls.stack_origin = Some(origin(&ctx));
                Ok(to_dynamic(&value))
            },
        );

    let s = session.clone();
    FuncRegistration::new("output")
        .with_comments([
            "/// Publishes a value of the stack (may hold tokens such as `vpc.id`);",
            "/// other stacks read it with `stack_outputs`, people with `eprun outputs`.",
        ])
        .with_params_info(["name: &str", "value: Dynamic", "()"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext,
                  name: &str,
                  value: Dynamic|
                  -> Result<(), Box<EvalAltResult>> {
                let pos = ctx.call_position();
                let json =
                    to_json(&value).map_err(|e| fail(format!("output `{name}`: {e}"), pos))?;
                let mut decls = s.declarations();
                if decls.environment.is_none() {
                    return Err(fail("call `stack(\"<environment>\")` before `output`", pos));
                }
                if decls.outputs.contains_key(name) {
                    return Err(fail(format!("output `{name}` is published twice"), pos));
                }
                decls.outputs.insert(name.to_string(), json);
                Ok(())
            },
        );

    let s = session.clone();
    FuncRegistration::new("region")
        .with_comments(["/// The region of the current stack (from its environment file)."])
        .with_params_info(["String"])
        .set_into_module(
            aws,
            move |ctx: NativeCallContext| -> Result<String, Box<EvalAltResult>> {
                match &s.declarations().environment {
                    Some(env) => Ok(env.region.clone()),
                    None => Err(fail(
                        "call `stack(\"<environment>\")` before `aws::region()`",
                        ctx.call_position(),
                    )),
                }
            },
        );

    let s = session.clone();
    FuncRegistration::new("stack_serial")
        .with_comments([
            "/// The serial of another stack's state (its version, bumped by every write), read where",
            "/// that stack keeps it; `0` when it has none yet.",
        ])
        .with_params_info(["name: &str", "int"])
        .register_into_engine(engine, move |ctx: NativeCallContext, name: &str| -> Result<rhai::INT, Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let env = s.load_environment(name).map_err(|e| fail(e.to_string(), pos))?;
            let store = s.store(&env);
            let state = s.runtime.block_on(store.load()).map_err(|e| fail(e.to_string(), pos))?;
            Ok(state.map_or(0, |st| rhai::INT::try_from(st.serial).unwrap_or(rhai::INT::MAX)))
        });

    let s = session.clone();
    FuncRegistration::new("dr_copy")
        .with_comments([
            "/// The DR copy of another stack's state: what its last apply wrote beside the state of its",
            "/// DR peer (`peers.dr` in its environment file), read there, never in its own region:",
            "/// `#{stack, serial, written_at, age_seconds, outputs, location}`. How the DR runbooks read",
            "/// the primary's outputs while its region is down: `dr_copy(env.peers.primary).outputs`.",
        ])
        .with_params_info(["name: &str", "Map"])
        .register_into_engine(engine, move |ctx: NativeCallContext, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let copy = crate::dr::read_copy(&s, name).map_err(|e| fail(e.to_string(), pos))?;
            Ok(to_dynamic(&copy))
        });

    let s = session.clone();
    FuncRegistration::new("stack_outputs")
        .with_comments([
            "/// The outputs of another stack, read from its state (e.g. the primary's Transit Gateway).",
            "/// Name it through the environment file's peers: `stack_outputs(env.peers.primary)`.",
        ])
        .with_params_info(["name: &str", "Map"])
        .register_into_engine(engine, move |ctx: NativeCallContext, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let env = s.load_environment(name).map_err(|e| fail(e.to_string(), pos))?;
            let store = s.store(&env);
            let state = s
                .runtime
                .block_on(store.load())
                .map_err(|e| fail(e.to_string(), pos))?;
            match state {
                Some(st) if !st.outputs.is_empty() => {
                    let outputs: serde_json::Map<String, serde_json::Value> = st.outputs.into_iter().collect();
                    Ok(to_dynamic(&serde_json::Value::Object(outputs)))
                }
                _ => Err(fail(
                    format!("stack `{name}` has no outputs yet: apply the `{name}` stack first"),
                    pos,
                )),
            }
        });
}
