//! `eprun check` (compile everything, no network) and `eprun eval`.

use super::{exit, print_json};
use crate::cli::Global;
use crate::engine::{self, Session};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::script::script_error;
use std::path::{Path, PathBuf};

fn rhai_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            rhai_files(&p, out);
        }
    } else if path.extension().is_some_and(|e| e == "rhai") {
        out.push(path.to_path_buf());
    }
}

/// Compiles every script and resolves its imports; reports every failure, not just the first.
pub async fn check(paths: &[PathBuf]) -> Result<u8> {
    let start = paths
        .first()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new("."));
    let project = Project::find(start)?;
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![
            project.root().join("scripts"),
            project.root().join("stdlib"),
        ]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for r in &roots {
        if !r.exists() {
            return Err(Error::usage(format!("`{}` does not exist", r.display())));
        }
        rhai_files(r, &mut files);
    }
    let session = Session::new(project, None, tokio::runtime::Handle::current());
    let failures = tokio::task::spawn_blocking(move || {
        let engine = engine::build(&session);
        let mut failures = Vec::new();
        for f in &files {
            let name = session.project.display(f);
            let text = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => {
                    failures.push(format!("error: cannot read `{name}`: {e}"));
                    continue;
                }
            };
            session.sources.insert(&name, &text);
            // Resolving imports runs module bodies, which only define functions: no network.
            let compiled = engine.compile_into_self_contained(&rhai::Scope::new(), &text);
            if let Err(e) = compiled {
                failures.push(script_error(&e, &name, &session, &engine).to_string());
            }
        }
        (failures, files.len())
    })
    .await
    .map_err(|e| Error::Script(format!("the check thread failed: {e}")))?;
    let (failures, count) = failures;
    for f in &failures {
        eprintln!("{f}");
    }
    if failures.is_empty() {
        eprintln!("checked {count} script(s): all compile and their imports resolve");
        Ok(exit::OK)
    } else {
        Err(Error::Script(format!(
            "{} of {count} script(s) failed to check",
            failures.len()
        )))
    }
}

/// `eprun eval EXPR`: evaluates one expression and prints the result as JSON; `env` holds `--env`'s values.
pub async fn eval(expr: &str, g: &Global) -> Result<u8> {
    let project = Project::find(Path::new(".")).unwrap_or_else(|_| Project::at("."));
    let env = match &g.env {
        Some(name) => Some(Environment::load(&project, name)?),
        None => None,
    };
    let session = Session::new(project, g.env.clone(), tokio::runtime::Handle::current());
    let expr = expr.to_string();
    let value = tokio::task::spawn_blocking(move || -> Result<serde_json::Value> {
        let engine = engine::build(&session);
        session.sources.insert("<eval>", &expr);
        let mut scope = rhai::Scope::new();
        if let Some(env) = env {
            scope.push(
                "env",
                crate::value::to_dynamic(&serde_json::to_value(&env).unwrap_or_default()),
            );
        }
        let mut ast = engine
            .compile_with_scope(&scope, &expr)
            .map_err(|e| script_error(&e.into(), "<eval>", &session, &engine))?;
        ast.set_source("<eval>");
        let v = engine
            .eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast)
            .map_err(|e| script_error(&e, "<eval>", &session, &engine))?;
        crate::value::to_json(&v).map_err(Error::Script)
    })
    .await
    .map_err(|e| Error::Script(format!("the eval thread failed: {e}")))??;
    print_json(&value);
    Ok(exit::OK)
}
