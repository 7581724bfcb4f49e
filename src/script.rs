//! Running a script file: compile, evaluate on a blocking thread, and render any error.

use crate::declaration::Declarations;
use crate::diagnostic::{self, Audience};
use crate::engine;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::session::Session;
use std::path::{Path, PathBuf};

/// A script that ran to the end.
pub struct Evaluated {
    /// What it declared.
    pub declarations: Declarations,
    /// Its last value, as JSON.
    pub result: serde_json::Value,
    /// The session it ran in (for sources and the project).
    pub session: Session,
}

/// Every function name the engine knows, for "did you mean" hints.
pub fn function_names(engine: &rhai::Engine) -> Vec<String> {
    let mut names = diagnostic::function_names(engine);
    if let Ok(docs) = crate::docs::collect(engine) {
        names.extend(docs.into_iter().map(|d| d.name));
    }
    names.sort();
    names.dedup();
    names
}

/// Renders a Rhai error into the crate's script error.
pub fn script_error(
    err: &rhai::EvalAltResult,
    top: &str,
    session: &Session,
    engine: &rhai::Engine,
) -> Error {
    script_error_for(err, top, session, engine, Audience::Log)
}

/// Renders a Rhai error into the crate's script error, for `audience`.
pub fn script_error_for(
    err: &rhai::EvalAltResult,
    top: &str,
    session: &Session,
    engine: &rhai::Engine,
    audience: Audience,
) -> Error {
    let loc = diagnostic::locate(err, top, &function_names(engine));
    if loc.interrupted {
        return Error::Interrupted;
    }
    let text = diagnostic::render(&loc, &session.sources, crate::style::enabled(), audience);
    let text = text.trim_end().to_string();
    match diagnostic::headed(&loc, &session.sources, audience) {
        true => Error::Rendered(text),
        false => Error::Script(text),
    }
}

/// Evaluates a script file on a blocking thread, in a session of its project.
pub async fn evaluate(file: &Path, env_override: Option<String>) -> Result<Evaluated> {
    let project = Project::of_script(file)?;
    let session = Session::new(project, env_override, tokio::runtime::Handle::current());
    evaluate_in(session, file).await
}

/// Evaluates a script file on a blocking thread, in `session`.
pub async fn evaluate_in(session: Session, file: &Path) -> Result<Evaluated> {
    let path: PathBuf = file.to_path_buf();
    let s = session.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        let engine = engine::build(&s);
        let top = s.project.display(&path);
        let (ast, _) = engine::compile_file(&engine, &s, &path)
            .map_err(|e| script_error(&e, &top, &s, &engine))?;
        let value = engine::run(&engine, &ast).map_err(|e| script_error(&e, &top, &s, &engine))?;
        Ok(crate::value::to_json(&value).unwrap_or(serde_json::Value::Null))
    })
    .await
    .map_err(|e| Error::Script(format!("the script thread failed: {e}")))??;
    let declarations = std::mem::take(&mut *session.declarations());
    Ok(Evaluated {
        declarations,
        result: outcome,
        session,
    })
}
