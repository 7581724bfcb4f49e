//! The Rhai engine: limits, sandbox, module resolution and the registered API.

use crate::api;
use crate::session::{Session, Sources};
use rhai::module_resolvers::ModuleResolver;
use rhai::{AST, Engine, EvalAltResult, Module, Position, Scope};

/// A compiled module, shared between the scripts that import it.
type SharedModule = Arc<Module>;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The Rhai modules shipped inside the binary.
static STDLIB: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../../stdlib");

/// The most operations a script may run before it is stopped (runaway loops).
pub const MAX_OPERATIONS: u64 = 20_000_000;
/// The deepest call chain a script may build (runaway recursion).
pub const MAX_CALL_LEVELS: usize = 64;

/// An engine with the sandbox's limits and nothing of eprun registered: no `eval`, no imports,
/// bounded operations, call depth and sizes, stopped by Ctrl-C.
pub fn sandboxed() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(128, 64)
        .set_max_string_size(1 << 20)
        .set_max_array_size(100_000)
        .set_max_map_size(100_000)
        .set_max_modules(256)
        .disable_symbol("eval");
    engine.on_progress(|_| crate::interrupt::requested().then(|| "interrupted by Ctrl-C".into()));
    // Rhai's default resolver reads any file; only the project resolver below may import.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine
}

/// Builds a sandboxed engine with the eprun API registered.
pub fn build(session: &Session) -> Engine {
    crate::providers::install();
    let mut engine = sandboxed();
    engine.set_module_resolver(Resolver {
        root: session.project.root().to_path_buf(),
        sources: session.sources.clone(),
        cache: Mutex::default(),
    });
    api::register(&mut engine, session);
    engine
}

/// Compiles a script file, remembering its text for diagnostics.
pub fn compile_file(
    engine: &Engine,
    session: &Session,
    path: &Path,
) -> Result<(AST, String), Box<EvalAltResult>> {
    let name = session.project.display(path);
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(EvalAltResult::ErrorSystem(
            format!("cannot read `{}`", path.display()),
            Box::new(e),
        ))
    })?;
    session.sources.insert(&name, &text);
    let mut ast = engine.compile(&text).map_err(|e| {
        Box::new(EvalAltResult::ErrorInModule(
            name.clone(),
            Box::new(e.into()),
            Position::NONE,
        ))
    })?;
    ast.set_source(name.as_str());
    Ok((ast, name))
}

/// Runs a compiled script to the end.
pub fn run(engine: &Engine, ast: &AST) -> Result<rhai::Dynamic, Box<EvalAltResult>> {
    let mut scope = Scope::new();
    engine
        .eval_ast_with_scope::<rhai::Dynamic>(&mut scope, ast)
        .map_err(|e| crate::recursion::trace(e, ast))
}

/// The names of the embedded stdlib modules (`vpc`, `k8s/karpenter`, …).
pub fn stdlib_modules() -> Vec<String> {
    let mut out = Vec::new();
    collect_modules(&STDLIB, &mut out);
    out.sort();
    out
}

fn collect_modules(dir: &include_dir::Dir<'static>, out: &mut Vec<String>) {
    for f in dir.files() {
        if f.path().extension().is_some_and(|e| e == "rhai") {
            out.push(f.path().with_extension("").display().to_string());
        }
    }
    for d in dir.dirs() {
        collect_modules(d, out);
    }
}

/// Resolves `import "vpc"` to the project's `stdlib/` or the embedded one, and `"./x"` beside the importer.
struct Resolver {
    root: PathBuf,
    sources: Sources,
    cache: Mutex<HashMap<String, SharedModule>>,
}

impl Resolver {
    fn locate(&self, importer: Option<&str>, path: &str) -> Option<(String, String)> {
        let file = if path.ends_with(".rhai") {
            path.to_string()
        } else {
            format!("{path}.rhai")
        };
        if path.starts_with("./") || path.starts_with("../") {
            let base = importer
                .map(|s| self.root.join(s))
                .and_then(|p| p.parent().map(Path::to_path_buf));
            let full = base.unwrap_or_else(|| self.root.clone()).join(&file);
            let text = std::fs::read_to_string(&full).ok()?;
            let full = std::fs::canonicalize(&full).unwrap_or(full);
            let name = full
                .strip_prefix(&self.root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| full.display().to_string());
            return Some((name, text));
        }
        if file.split('/').any(|part| part == ".." || part.is_empty()) {
            return None;
        }
        let name = format!("stdlib/{file}");
        if let Ok(text) = std::fs::read_to_string(self.root.join(&name)) {
            return Some((name, text));
        }
        STDLIB
            .get_file(&file)
            .and_then(|f| f.contents_utf8())
            .map(|t| (name, t.to_string()))
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let Some((name, text)) = self.locate(source, path) else {
            return Err(Box::new(EvalAltResult::ErrorModuleNotFound(
                path.to_string(),
                pos,
            )));
        };
        if let Some(m) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
        {
            return Ok(m.clone());
        }
        self.sources.insert(&name, &text);
        let in_module =
            |e: Box<EvalAltResult>| Box::new(EvalAltResult::ErrorInModule(name.clone(), e, pos));
        let mut ast = engine
            .compile(&text)
            .map_err(|e| in_module(Box::new(e.into())))?;
        ast.set_source(name.as_str());
        let module: SharedModule = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(in_module)?
            .into();
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, module.clone());
        Ok(module)
    }
}
