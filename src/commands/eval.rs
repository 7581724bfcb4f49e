//! `eprun eval EXPR`: one expression, its result printed as JSON. An expression that makes a
//! mutating call is journaled like a runbook run (runbook `eval`), from its first such call.

use super::run::Failure;
use super::{exit, print_json};
use crate::cli::Global;
use crate::engine::{self, Session};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::journal::{self, RunStatus};
use crate::project::Project;
use crate::runbook::{Declared, Run, Settings};
use crate::script::script_error;
use crate::style;
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
    let settings = Settings {
        id: journal::new_id(),
        file: SOURCE.into(),
        file_hash: journal::hash(&shown),
        dry_run,
        ..Settings::default()
    };
    let decl = Declared {
        name: "eval".into(),
        summary: Some(shown),
        ..Declared::default()
    };
    let run = Run::adhoc(settings, &session, decl);
    session.mutations.set_recorder(run.recorder());

    let s = session.clone();
    let expr = expr.to_string();
    let outcome =
        tokio::task::spawn_blocking(move || -> Result<std::result::Result<_, Failure>> {
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
            let value = match engine.eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast) {
                Ok(v) => v,
                Err(e) => return Ok(Err(Failure::of(&e, SOURCE, &s, &engine))),
            };
            Ok(crate::value::to_json(&value).map_err(|e| Failure {
                plain: crate::secret::scrub(&e),
                error: Error::Script(e),
            }))
        })
        .await
        .map_err(|e| Error::Script(format!("the eval thread failed: {e}")))??;

    if let Some(journal) = run.journal() {
        let (status, error) = match &outcome {
            Ok(_) => (RunStatus::Ok, None),
            Err(f) if matches!(f.error, Error::Interrupted) => {
                (RunStatus::Interrupted, Some(f.plain.clone()))
            }
            Err(f) => (RunStatus::Failed, Some(f.plain.clone())),
        };
        run.finish(status, error).await;
        eprintln!(
            "{}",
            style::dim(&format!(
                "journal: {} · `eprun runs show {}`",
                session.project.display(journal.path()),
                run.id()
            ))
        );
    }
    print_json(&outcome.map_err(|f| f.error)?);
    Ok(exit::OK)
}
