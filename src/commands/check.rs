//! `eprun check`: compile everything (scripts, stdlib, policies), no network.

use super::exit;
use crate::engine;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::script::script_error;
use crate::session::Session;
use rhai::{ASTNode, Engine, EvalAltResult, Expr, Position, Stmt};
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

/// Compiles a script and resolves its imports as a run would: `./` ones beside the script (whose
/// source name is `name`), the others from the stdlib. Resolving runs module bodies, which only
/// define functions: no network.
fn compile_with_imports(engine: &Engine, name: &str, text: &str) -> Result<(), Box<EvalAltResult>> {
    let mut ast = engine.compile(text).map_err(|e| {
        Box::new(EvalAltResult::ErrorInModule(
            name.to_string(),
            Box::new(e.into()),
            Position::NONE,
        ))
    })?;
    ast.set_source(name);
    let mut imports = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(x, pos))) = path.last()
            && let Expr::StringConstant(module, _) = &x.0
        {
            imports.push((module.to_string(), *pos));
        }
        true
    });
    for (module, pos) in imports {
        engine
            .module_resolver()
            .resolve(engine, Some(name), &module, pos)?;
    }
    Ok(())
}

/// Compiles every script and resolves its imports; reports every failure, not just the first.
pub async fn check(paths: &[PathBuf]) -> Result<u8> {
    let start = paths
        .first()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new("."));
    let project = Project::of_script(start)?;
    let roots: Vec<PathBuf> = if paths.is_empty() {
        let policies = project.root().join(crate::policy::DIR);
        [
            project.root().join("scripts"),
            project.root().join("stdlib"),
        ]
        .into_iter()
        .chain(policies.is_dir().then_some(policies))
        .collect()
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
            if let Err(e) = compile_with_imports(&engine, &name, &text) {
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
