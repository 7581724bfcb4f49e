//! `eprun repl`: an interactive session with the eprun API (DESIGN §6). A session that makes a
//! mutating call is journaled as an ad-hoc run (runbook `repl`), with each input that mutated.

mod helper;

use crate::cli::Global;
use crate::diagnostic::Audience;
use crate::docs::FnDoc;
use crate::engine;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::runbook::Run;
use crate::script::script_error_for;
use crate::session::Session;
use helper::ReplHelper;
use rhai::{AST, Dynamic, Engine, EvalAltResult, Module, Scope};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The source name of the current input in error messages.
const SOURCE: &str = "<repl>";

/// Runs the REPL until `:quit` or end of input.
pub async fn run(g: &Global) -> Result<u8> {
    let found = Project::find(Path::new(".")).ok();
    let history = history_file(found.as_ref());
    let project = found.unwrap_or_else(|| Project::at("."));
    let env = match &g.env {
        Some(name) => Some(Environment::load(&project, name)?),
        None => None,
    };
    let session = Session::new(project, g.env.clone(), tokio::runtime::Handle::current());
    // The editor and the engine block; they get a thread of their own, and scripts may reach the runtime from it.
    tokio::task::spawn_blocking(move || Repl::new(session, env).run(history.as_deref()))
        .await
        .map_err(|e| Error::Script(format!("the repl thread failed: {e}")))?
}

/// `<project>/.eprun/repl_history` inside a project, else `~/.eprun_history`.
fn history_file(project: Option<&Project>) -> Option<PathBuf> {
    match project {
        Some(p) => Some(p.data_dir().join("repl_history")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".eprun_history")),
    }
}

/// The state that persists across inputs.
struct Repl {
    /// Shared with the engine's functions; `env_override` follows `:env`.
    session: Session,
    /// Rebuilt when `:env` changes the session.
    engine: Engine,
    /// Variables of earlier inputs.
    scope: Scope<'static>,
    /// The functions earlier inputs defined, merged into every later input.
    functions: AST,
    /// For each script function, the source name of the input that defined it (`<repl:3>`).
    defined_in: HashMap<String, String>,
    /// Modules imported by earlier inputs, by alias; Rhai forgets imports when an evaluation ends.
    imports: Vec<(String, Arc<Module>)>,
    /// How many inputs were evaluated, to name the ones that define functions.
    count: usize,
    /// The session's ad-hoc run: journaled from its first mutating call, ended on leaving.
    run: Arc<Run>,
    /// Why the last input that made a mutating call failed, if it did; the run ends so.
    failed: Option<Error>,
}

impl Repl {
    /// A session with `env` bound to the environment's values, if one is given.
    fn new(session: Session, env: Option<Environment>) -> Self {
        let engine = engine::build(&session);
        let run = Run::adhoc(&session, "repl", SOURCE, "", None);
        let mut repl = Self {
            session,
            engine,
            scope: Scope::new(),
            functions: AST::empty(),
            defined_in: HashMap::new(),
            imports: Vec::new(),
            count: 0,
            run,
            failed: None,
        };
        if let Some(env) = env {
            repl.bind_env(&env);
        }
        repl
    }

    /// Reads, evaluates and prints until the input ends, then ends the journal, if any.
    fn run(mut self, history: Option<&Path>) -> Result<u8> {
        let interactive = std::io::stdin().is_terminal();
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .history_ignore_space(true)
            .build();
        let mut rl: Editor<ReplHelper, DefaultHistory> = Editor::with_config(config)
            .map_err(|e| Error::Script(format!("cannot start the line editor: {e}")))?;
        rl.set_helper(Some(ReplHelper::new(environment_names(
            &self.session.project,
        ))));
        self.refresh(&mut rl);
        // Piped input is a script, not a session worth remembering.
        let history = history.filter(|_| interactive);
        if let Some(path) = history {
            let _ = rl.load_history(path);
        }
        if interactive {
            let env = self
                .session
                .env_override
                .as_deref()
                .map(|e| format!(" (env = {e})"))
                .unwrap_or_default();
            eprintln!("eprun repl{env}: `:help` for help, Tab completes, Ctrl-D leaves");
        }
        let ended = loop {
            let prompt = match &self.session.env_override {
                Some(env) => format!("eprun [{env}]> "),
                None => "eprun> ".to_string(),
            };
            let input = match rl.readline(&prompt) {
                Ok(input) => input,
                Err(ReadlineError::Interrupted | ReadlineError::Signal(_)) => continue,
                Err(ReadlineError::Eof) => break Ok(()),
                Err(e) => break Err(Error::Script(format!("cannot read input: {e}"))),
            };
            if input.trim().is_empty() {
                continue;
            }
            if interactive {
                let _ = rl.add_history_entry(input.as_str());
            }
            let trimmed = input.trim();
            if let Some(command) = trimmed.strip_prefix(':') {
                if !self.command(command) {
                    break Ok(());
                }
            } else {
                self.run.typed(&input);
                let failed = match self.evaluate(&input) {
                    Ok(value) => {
                        show(&self.engine, value);
                        None
                    }
                    Err(e) => {
                        match &e {
                            Error::Interrupted => eprintln!("interrupted"),
                            e => report(e),
                        }
                        Some(e)
                    }
                };
                if self.run.typed_mutated() {
                    self.failed = failed;
                }
            }
            self.refresh(&mut rl);
        };
        if let Some(path) = history {
            let saved = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(ReadlineError::Io);
            if let Err(e) = saved.and_then(|()| rl.save_history(path)) {
                eprintln!(
                    "warning: cannot save the history to `{}`: {e}",
                    path.display()
                );
            }
        }
        let stopped = ended
            .as_ref()
            .err()
            .or(self.failed.as_ref())
            .map(Error::stopped);
        self.session
            .runtime
            .block_on(self.run.end_adhoc(&self.session.project, stopped.as_ref()));
        ended.map(|()| 0)
    }

    /// Runs a `:command`; false means leave.
    fn command(&mut self, command: &str) -> bool {
        let (name, arg) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        let arg = arg.trim();
        match name {
            "quit" | "q" => return false,
            "help" if arg.is_empty() => print_help(),
            "help" => self.help(arg),
            "env" if arg.is_empty() => self.list_environments(),
            "env" => match Environment::load(&self.session.project, arg) {
                Ok(env) => {
                    self.session.env_override = Some(arg.to_string());
                    // The engine's functions hold a copy of the session: rebuild them so `stack` sees the override.
                    self.engine = engine::build(&self.session);
                    for (alias, module) in &self.imports {
                        self.engine
                            .register_static_module(alias.as_str(), module.clone());
                    }
                    self.bind_env(&env);
                    eprintln!("env = {arg} (region {})", env.region);
                    self.run.set_env(env);
                }
                Err(e) => report(&e.into()),
            },
            _ => {
                let hint = crate::schema::suggest(&format!(":{name}"), helper::COMMANDS)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_else(|| "; `:help` lists the commands".to_string());
                report(&Error::usage(format!("unknown command `:{name}`{hint}")));
            }
        }
        true
    }

    /// Binds the variable `env` to an environment's values.
    fn bind_env(&mut self, env: &Environment) {
        let value = serde_json::to_value(env).unwrap_or_default();
        self.scope
            .set_or_push("env", crate::value::to_dynamic(&value));
    }

    /// Evaluates one input in the persistent scope, with the functions of earlier inputs.
    fn evaluate(&mut self, input: &str) -> Result<Dynamic> {
        self.count += 1;
        self.session.sources.insert(SOURCE, input);
        let mut ast = self
            .engine
            .compile_with_scope(&self.scope, input)
            .map_err(|e| {
                script_error_for(
                    &e.into(),
                    SOURCE,
                    &self.session,
                    &self.engine,
                    Audience::Repl,
                )
            })?;
        ast.set_source(SOURCE);
        if ast.has_functions() {
            // Errors inside these functions must later quote this input, not the one that calls them.
            let name = format!("<repl:{}>", self.count);
            self.session.sources.insert(&name, input);
            for f in ast.iter_functions() {
                self.defined_in.insert(f.name.to_string(), name.clone());
            }
            self.functions.combine(ast.clone_functions_only());
        }
        let mut program = self.functions.merge(&ast);
        program.set_source(SOURCE);
        crate::interrupt::reset();
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &program)
            .map_err(|e| crate::recursion::trace(e, &program));
        // A Ctrl-C left pending would make the next one exit the process.
        crate::interrupt::reset();
        match result {
            Ok(value) => {
                self.keep_imports(&ast);
                Ok(value)
            }
            Err(mut e) => {
                self.relocate(&mut e, &format!("<repl:{}>", self.count));
                Err(script_error_for(
                    &e,
                    SOURCE,
                    &self.session,
                    &self.engine,
                    Audience::Repl,
                ))
            }
        }
    }

    /// Points errors inside functions of earlier inputs at the input that defined them.
    fn relocate(&self, err: &mut EvalAltResult, current: &str) {
        if let EvalAltResult::ErrorInFunctionCall(name, source, inner, _) = err {
            if source == SOURCE
                && let Some(defined) = self.defined_in.get(name.as_str()).filter(|d| *d != current)
            {
                *source = defined.clone();
            }
            self.relocate(inner, current);
        }
    }

    /// Keeps the modules an input imported (`import "vpc" as vpc;`) for the inputs after it.
    fn keep_imports(&mut self, ast: &AST) {
        for stmt in ast.statements() {
            let rhai::Stmt::Import(import, pos) = stmt else {
                continue;
            };
            let (rhai::Expr::StringConstant(path, _), alias) = (&import.0, &import.1) else {
                continue;
            };
            if alias.name.is_empty() {
                continue;
            }
            // The evaluation just resolved it, so this is the resolver's cached module.
            if let Ok(module) =
                self.engine
                    .module_resolver()
                    .resolve(&self.engine, Some(SOURCE), path, *pos)
            {
                self.engine
                    .register_static_module(alias.name.as_str(), module.clone());
                self.imports.retain(|(a, _)| *a != alias.name.as_str());
                self.imports.push((alias.name.to_string(), module));
            }
        }
    }

    /// Tells the editor the current variables and callable names.
    fn refresh(&self, rl: &mut Editor<ReplHelper, DefaultHistory>) {
        let Some(h) = rl.helper_mut() else { return };
        h.variables = self
            .scope
            .iter()
            .map(|(name, _, value)| (name.to_string(), value))
            .collect();
        h.signatures = signatures(&self.engine, &self.functions);
    }

    /// Prints a function's signature and documentation, or what is near the name.
    fn help(&self, name: &str) {
        let docs = self.docs();
        let mut found: Vec<&FnDoc> = docs.iter().filter(|d| d.name == name).collect();
        if found.is_empty() {
            found = docs
                .iter()
                .filter(|d| d.name.ends_with(&format!("::{name}")))
                .collect();
        }
        if !found.is_empty() {
            let found: Vec<FnDoc> = found.into_iter().cloned().collect();
            for d in crate::docs::group(&found) {
                for s in d.signatures {
                    println!("{}", crate::style::bold(s));
                }
                if !d.doc.is_empty() {
                    println!("{}", d.doc);
                }
                println!();
            }
            return;
        }
        let table = signatures(&self.engine, &self.functions);
        if let Some(sigs) = table.get(name) {
            for s in sigs {
                println!("{}", crate::style::bold(&format!("{name}{s}")));
            }
            println!("(no documentation)");
            return;
        }
        let names: Vec<&str> = table.keys().map(String::as_str).collect();
        let hint = crate::schema::suggest(name, &names)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_else(|| "; Tab lists the names, `eprun docs` the reference".to_string());
        report(&Error::usage(format!("no function `{name}`{hint}")));
    }

    /// The documented functions: the registered API and the session's own script functions.
    fn docs(&self) -> Vec<FnDoc> {
        let mut docs = crate::docs::collect(&self.engine).unwrap_or_default();
        docs.extend(self.functions.iter_functions().map(|f| {
            FnDoc {
                name: f.name.to_string(),
                signature: format!("{}({})", f.name, f.params.join(", ")),
                doc: f
                    .comments
                    .iter()
                    .flat_map(|c| c.lines())
                    .map(|l| {
                        let l = l.trim();
                        let l = l
                            .strip_prefix("///")
                            .or_else(|| l.strip_prefix("/**"))
                            .unwrap_or(l);
                        let l = l
                            .strip_suffix("*/")
                            .unwrap_or(l)
                            .strip_prefix('*')
                            .unwrap_or(l);
                        l.strip_prefix(' ').unwrap_or(l)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    .trim()
                    .to_string(),
            }
        }));
        docs
    }

    /// Prints the environments `:env` can load.
    fn list_environments(&self) {
        match &self.session.env_override {
            Some(env) => println!("env = {env}"),
            None => println!("no environment loaded; `:env NAME` loads one"),
        }
        let names = environment_names(&self.session.project);
        if !names.is_empty() {
            println!("environments: {}", names.join(", "));
        }
    }
}

/// Callable names with their signatures (without the name): the documented API in the docs' spelling,
/// the rest of the engine's functions, then the session's script functions.
fn signatures(engine: &Engine, functions: &AST) -> BTreeMap<String, Vec<String>> {
    let mut table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |name: &str, params: &str| {
        let list = table.entry(name.to_string()).or_default();
        if !list.iter().any(|p| p == params) {
            list.push(params.to_string());
        }
    };
    let docs = crate::docs::collect(engine).unwrap_or_default();
    let documented: BTreeSet<&str> = docs.iter().map(|d| d.name.as_str()).collect();
    for (name, params) in docs.iter().filter_map(|d| split_signature(&d.signature)) {
        add(name, params);
    }
    let mut rest = engine.gen_fn_signatures(true);
    rest.sort();
    // The engine spells documented parameters differently (`string` for `&str`): those keep the docs' form.
    for (name, params) in rest
        .iter()
        .filter_map(|s| split_signature(s))
        .filter(|(n, _)| !documented.contains(n))
    {
        add(name, params);
    }
    for f in functions.iter_functions() {
        add(f.name, &format!("({})", f.params.join(", ")));
    }
    table
}

/// `name(a: i64) -> T` into `name` and `(a: i64) -> T`; operators and internal names give nothing.
fn split_signature(signature: &str) -> Option<(&str, &str)> {
    let i = signature.find('(')?;
    let name = signature[..i].trim();
    name.split("::")
        .all(helper::is_identifier)
        .then_some((name, &signature[i..]))
}

/// The project's environment names (`prod/us-east-1`), from `environments/**/*.toml`.
fn environment_names(project: &Project) -> Vec<String> {
    /// Collects the `.toml` files under `dir`, named relative to the top.
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.is_dir() {
                walk(&path, &format!("{prefix}{name}/"), out);
            } else if let Some(stem) = name.strip_suffix(".toml") {
                out.push(format!("{prefix}{stem}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&project.root().join("environments"), "", &mut out);
    out.sort();
    out
}

/// Prints a result: pretty JSON, or Rhai's text for values JSON cannot hold; nothing for `()`.
fn show(engine: &Engine, value: Dynamic) {
    if value.is_unit() {
        return;
    }
    match crate::value::to_json(&value) {
        Ok(json) => crate::style::print_json(&json),
        // Handles and the like: `to_string` is what `print` would show.
        Err(_) => match engine.eval_fn_call::<String>("to_string", None, (value.clone(),)) {
            Ok(text) => println!("{text}"),
            Err(_) => println!("{value}"),
        },
    }
}

/// Prints an error once, and carries on: a script error is its quoted source and message.
fn report(e: &Error) {
    match e {
        Error::Script(text) | Error::Rendered(text) => eprintln!("{text}"),
        other => eprintln!("{} {other}", crate::style::red("error:")),
    }
}

/// Prints `:help` without a name.
fn print_help() {
    println!(
        "\
Type Rhai statements or an expression; results print as JSON. Variables, functions
and imports persist from one input to the next; an unfinished input continues on
the next line.

  :help           this text
  :help NAME      a function's signature and documentation (e.g. `:help cidr_subnet`)
  :env            the loaded environment and the ones available
  :env NAME       load `environments/NAME.toml` into `env`; `stack(...)` uses it too
  :quit, :q       leave (or Ctrl-D)

Inputs that make a mutating call are journaled, as one run of the session
(`eprun runs list`); inputs that only read leave no journal.

Finding functions: Tab completes names, namespaces (`aws::` Tab lists the AWS
services) and map keys (`env.` Tab); typing a function name shows its signature;
`eprun docs` prints the whole reference. Ctrl-C stops a running evaluation."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A REPL on the crate's own project (it has `environments/` and `stdlib/`).
    fn repl(rt: &tokio::runtime::Runtime) -> Repl {
        Repl::new(
            Session::new(Project::at("."), None, rt.handle().clone()),
            None,
        )
    }

    #[test]
    fn variables_and_functions_persist_between_inputs() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = repl(&rt);
        assert!(r.evaluate("let x = 1 + 2;").unwrap().is_unit());
        assert_eq!(r.evaluate("x * 2").unwrap().as_int(), Ok(6));
        assert!(r.evaluate("fn f(a) {\n a + 1\n}").unwrap().is_unit());
        assert_eq!(r.evaluate("f(41)").unwrap().as_int(), Ok(42));
    }

    #[test]
    fn errors_in_earlier_functions_quote_the_input_that_defined_them() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = repl(&rt);
        assert!(r.evaluate("fn g(x) {\n  x.nope()\n}").unwrap().is_unit());
        let err = r.evaluate("let y = 2;\ng(y)").unwrap_err().to_string();
        assert!(err.contains("<repl:1>:2:5"), "{err}");
        assert!(err.contains("unknown function `nope"), "{err}");
        assert!(err.contains("in `g`, called at <repl>:2:1"), "{err}");
    }

    /// Regression: the REPL printed a one-line `error:` and then the same message in the box.
    #[test]
    fn an_error_is_said_once() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = repl(&rt);
        let err = r.evaluate("let x = y + 1;").unwrap_err().to_string();
        assert_eq!(err.matches("unknown variable `y`").count(), 1, "{err}");
        assert!(err.contains("<repl>:1:9"), "{err}");
    }

    #[test]
    fn a_runaway_recursion_defined_earlier_is_named_where_it_was_typed() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = repl(&rt);
        assert!(
            r.evaluate("fn down(n) {\n  down(n + 1)\n}")
                .unwrap()
                .is_unit()
        );
        let err = r.evaluate("down(0)").unwrap_err().to_string();
        assert!(err.contains("`down` calls itself without end"), "{err}");
        assert!(err.contains("<repl:1>:2:3"), "{err}");
    }

    #[test]
    fn imports_persist_between_inputs() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut r = repl(&rt);
        assert!(r.evaluate(r#"import "vpc" as v;"#).unwrap().is_unit());
        assert_eq!(
            r.evaluate(r#"v::az_letter("us-east-1b")"#)
                .unwrap()
                .into_string()
                .unwrap(),
            "b"
        );
        assert!(signatures(&r.engine, &r.functions).contains_key("v::network"));
    }

    #[test]
    fn signatures_keep_the_documented_spelling_and_skip_operators() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = repl(&rt);
        let table = signatures(&r.engine, &AST::empty());
        assert_eq!(
            table["aws::ec2::vpc"],
            ["(name: &str, props: Map) -> Handle"]
        );
        assert_eq!(
            table["cidr_subnet"],
            ["(prefix: &str, newbits: i64, netnum: i64) -> String"]
        );
        assert!(table.contains_key("parse_int"));
        assert!(
            table
                .keys()
                .all(|k| helper::is_identifier(k.rsplit("::").next().unwrap())),
            "no operators or getters"
        );
    }
}
