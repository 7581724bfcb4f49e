//! Policy over plans: Rhai scripts (`policy/*.rhai` of the project, and `--policy FILE`) that
//! read a plan as plain data and call `deny(message)` or `warn(message)`.

use crate::diagnostic::{self, Audience};
use crate::engine;
use crate::project::Project;
use crate::session::Sources;
use crate::value::to_dynamic;
use crate::verdict::{Severity, Verdict};
use rhai::{Engine, EvalAltResult, FuncRegistration, NativeCallContext, Scope};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The folder of a project that holds its policies.
pub const DIR: &str = "policy";

/// A policy that cannot be read or run, or a plan the policies deny.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file cannot be read.
    #[error("cannot read policy `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A policy failed to compile or run (already rendered with its location).
    #[error("{rendered}")]
    Script {
        /// The policy file.
        file: String,
        /// The error with `file:line:column` and the source line.
        rendered: String,
    },
    /// Ctrl-C stopped a policy.
    #[error("interrupted")]
    Interrupted,
    /// At least one policy denies the plan.
    #[error(
        "the policy denies this plan; nothing was changed\n{}\nhint: change the script until the policies allow the plan (or change a policy, through review)",
        denials(verdicts)
    )]
    Denied {
        /// Every verdict, warnings included.
        verdicts: Vec<Verdict>,
    },
}

/// One line per denial: `  file:line:column: message`.
fn denials(verdicts: &[Verdict]) -> String {
    verdicts
        .iter()
        .filter(|v| v.severity == Severity::Deny)
        .map(|v| format!("  {}: {}", v.origin, v.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refuses verdicts that hold a denial.
pub fn refuse_denied(verdicts: &[Verdict]) -> Result<(), PolicyError> {
    if crate::verdict::any_deny(verdicts) {
        return Err(PolicyError::Denied {
            verdicts: verdicts.to_vec(),
        });
    }
    Ok(())
}

/// The verdicts of one evaluation, filled by `deny` and `warn`.
#[derive(Debug, Clone, Default)]
pub struct Verdicts(Arc<Mutex<Vec<Verdict>>>);

impl Verdicts {
    fn push(&self, v: Verdict) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(v);
    }

    fn take(&self) -> Vec<Verdict> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Registers `deny` and `warn`, which record their verdicts in `verdicts`.
pub fn register(engine: &mut Engine, verdicts: &Verdicts) {
    let functions: [(&str, Severity, &[&str]); 2] = [
        (
            "deny",
            Severity::Deny,
            &[
                "/// Policy scripts only: denies the plan being checked. `plan` prints the verdict,",
                "/// `apply` refuses the plan and names this call's `file:line:column`.",
                "/// A policy reads `plan` (the `eprun plan --json` document: `stack`, `changes`",
                "/// with `address`, `type`, `action`, `fields`, and `summary`) and `environment`.",
            ],
        ),
        (
            "warn",
            Severity::Warn,
            &[
                "/// Policy scripts only: warns about the plan being checked. `plan` and `apply` print",
                "/// the warning with this call's `file:line:column`; apply goes on.",
            ],
        ),
    ];
    for (name, severity, doc) in functions {
        let sink = verdicts.clone();
        FuncRegistration::new(name)
            .with_comments(doc.iter().copied())
            .with_params_info(["message: &str", "()"])
            .register_into_engine(engine, move |ctx: NativeCallContext, message: &str| {
                sink.push(Verdict {
                    severity,
                    message: message.to_string(),
                    origin: crate::api::origin(&ctx),
                });
            });
    }
}

/// A policy file, read.
#[derive(Debug, Clone)]
struct PolicyFile {
    /// Its name relative to the project root (in full when outside it).
    name: String,
    /// Its text.
    text: String,
}

/// The policies that judge a stack's plans.
#[derive(Debug, Clone)]
pub struct Policies {
    files: Vec<PolicyFile>,
    sources: Sources,
}

impl Policies {
    /// Reads the project's `policy/*.rhai` (in name order) and the `extra` files, remembering
    /// their texts in `sources` (for error messages and a saved plan's digest).
    pub fn load(
        project: &Project,
        extra: &[PathBuf],
        sources: &Sources,
    ) -> Result<Self, PolicyError> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(project.root().join(DIR))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "rhai") && p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths.extend(extra.iter().cloned());
        let mut files: Vec<PolicyFile> = Vec::new();
        for path in paths {
            let name = project.display(&path);
            if files.iter().any(|f| f.name == name) {
                continue;
            }
            let text = read(&path)?;
            sources.insert(&name, &text);
            files.push(PolicyFile { name, text });
        }
        Ok(Self {
            files,
            sources: sources.clone(),
        })
    }

    /// Runs every policy against `plan` (the `plan --json` document) in `environment`, and
    /// returns their verdicts in the order they were given.
    pub fn evaluate(
        &self,
        plan: &serde_json::Value,
        environment: &str,
    ) -> Result<Vec<Verdict>, PolicyError> {
        let verdicts = Verdicts::default();
        let mut engine = engine::sandboxed();
        crate::api::register_helpers(&mut engine);
        register(&mut engine, &verdicts);
        let plan = to_dynamic(plan);
        for file in &self.files {
            let fail = |e: &EvalAltResult| self.error(&engine, &file.name, e);
            let mut ast = engine.compile(&file.text).map_err(|e| fail(&e.into()))?;
            ast.set_source(file.name.as_str());
            let mut scope = Scope::new();
            scope.push_constant("plan", plan.clone());
            scope.push_constant("environment", environment.to_string());
            engine
                .run_ast_with_scope(&mut scope, &ast)
                .map_err(|e| fail(&e))?;
        }
        Ok(verdicts.take())
    }

    /// A policy's script error, located and rendered like any script error.
    fn error(&self, engine: &Engine, file: &str, err: &EvalAltResult) -> PolicyError {
        let loc = diagnostic::locate(err, file, &diagnostic::function_names(engine));
        if loc.interrupted {
            return PolicyError::Interrupted;
        }
        PolicyError::Script {
            file: file.to_string(),
            rendered: diagnostic::render(
                &loc,
                &self.sources,
                crate::style::enabled(),
                Audience::Log,
            )
            .trim_end()
            .to_string(),
        }
    }
}

fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A project holding `policy/<name>` files with the given texts.
    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::create_dir_all(dir.path().join(DIR)).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(DIR).join(name), text).unwrap();
        }
        let project = Project::find(dir.path()).unwrap();
        (dir, project)
    }

    fn plan() -> serde_json::Value {
        json!({"stack": "prod/us-east-1", "changes": [
            {"address": "eks.cluster.main", "type": "eks.cluster", "action": "delete", "fields": []},
            {"address": "ec2.subnet.a", "type": "ec2.subnet", "action": "create", "fields": []},
        ], "summary": {"create": 1, "update": 0, "replace": 0, "delete": 1}})
    }

    #[test]
    fn verdicts_name_their_call_and_follow_the_files_in_order() {
        let (_d, p) = project(&[
            (
                "b.rhai",
                "for c in plan.changes {\n    if c.action == \"delete\" && environment.starts_with(\"prod/\") {\n        deny(`${c.address} would be deleted`);\n    }\n}\n",
            ),
            (
                "a.rhai",
                "if plan.summary.create > 0 { warn(\"creates\"); }\n",
            ),
        ]);
        let policies = Policies::load(&p, &[], &Sources::default()).unwrap();
        let verdicts = policies.evaluate(&plan(), "prod/us-east-1").unwrap();
        let shown: Vec<String> = verdicts.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "policy/a.rhai:1:30: warn: creates",
                "policy/b.rhai:3:9: deny: eks.cluster.main would be deleted"
            ]
        );
        let err = refuse_denied(&verdicts).unwrap_err().to_string();
        assert!(
            err.contains("  policy/b.rhai:3:9: eks.cluster.main would be deleted"),
            "{err}"
        );
        assert!(!err.contains("creates"), "{err}");
        assert!(policies.evaluate(&plan(), "local/us-east-1").unwrap().len() == 1);
    }

    #[test]
    fn a_syntax_error_is_located_with_its_line() {
        let (_d, p) = project(&[("bad.rhai", "let x = 1;\nlet limit = ;\n")]);
        let sources = Sources::default();
        let policies = Policies::load(&p, &[], &sources).unwrap();
        let err = policies
            .evaluate(&plan(), "prod/x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("error: policy/bad.rhai:2:13: syntax error"),
            "{err}"
        );
        assert!(err.contains("let limit = ;"), "{err}");
        assert!(sources.get("policy/bad.rhai").is_some(), "its text is kept");
    }

    #[test]
    fn a_policy_cannot_import_files() {
        let (_d, p) = project(&[("imp.rhai", "import \"/etc/passwd\" as p;\n")]);
        let policies = Policies::load(&p, &[], &Sources::default()).unwrap();
        let err = policies
            .evaluate(&plan(), "prod/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy/imp.rhai:1:"), "{err}");
    }
}
