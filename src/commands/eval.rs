//! `eprun eval EXPR`: one expression, its result printed as JSON. An expression that makes a
//! mutating call is journaled as an ad-hoc run (runbook `eval`, [`Run::adhoc`]).

use super::exit;
use crate::cli::Global;
use crate::engine;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::runbook::Run;
use crate::script::script_error;
use crate::session::Session;
use crate::style::print_json;
use std::path::Path;

/// The source name of the expression, in errors and as the journal's `file`.
const SOURCE: &str = "<eval>";

/// Evaluates one expression (`env` holds `--env`'s values) and prints the result as JSON; with
/// `dry_run`, mutating calls are shown and skipped.
pub async fn eval(expr: &str, dry_run: bool, g: &Global) -> Result<u8> {
    let project = Project::find(Path::new(".")).unwrap_or_else(|_| Project::at("."));
    let env = match &g.env {
        Some(name) => Some(Environment::load(&project, name)?),
        None => None,
    };
    let session = Session::new(project, g.env.clone(), tokio::runtime::Handle::current());
    session.mutations.set_dry_run(dry_run);
    let shown = crate::secret::scrub(expr);
    let run = Run::adhoc(&session, "eval", SOURCE, &shown, Some(shown.clone()));

    let s = session.clone();
    let expr = expr.to_string();
    let outcome = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        let engine = engine::build(&s);
        s.sources.insert(SOURCE, &expr);
        let mut scope = rhai::Scope::new();
        if let Some(env) = env {
            scope.push(
                "env",
                crate::value::to_dynamic(&serde_json::to_value(&env).unwrap_or_default()),
            );
        }
        let mut ast = engine
            .compile_with_scope(&scope, &expr)
            .map_err(|e| script_error(&e.into(), SOURCE, &s, &engine))?;
        ast.set_source(SOURCE);
        let value = engine
            .eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast)
            .map_err(|e| script_error(&crate::recursion::trace(e, &ast), SOURCE, &s, &engine))?;
        crate::value::to_json(&value).map_err(|e| Error::Script(e.to_string()))
    })
    .await
    .map_err(|e| Error::Script(format!("the eval thread failed: {e}")))?;

    let stopped = outcome.as_ref().err().map(Error::stopped);
    run.end_adhoc(&session.project, stopped.as_ref()).await;
    print_json(&outcome?);
    Ok(exit::OK)
}
