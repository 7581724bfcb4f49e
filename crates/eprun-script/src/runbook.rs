//! The runbook runtime: one run of a runbook script — its parameters, its steps in order (each
//! grouped under a header, timed and journaled), `confirm`, logs, resume and dry run.
//!
//! The script is evaluated once, top to bottom; `step(name, closure)` runs its closure when it is
//! called. With `--resume ID`, a step whose position and name the journal records as done is
//! skipped (its recorded result is returned instead). The registered functions reach the run of
//! their session through [`current`].

use crate::connections::{Connections, ScopeGuard};
use crate::environment::Environment;
use crate::journal::{
    self, Caller, Event, Journal, Origin, Record, RunStatus, S3Location, StepStatus,
};
use crate::project::Project;
use crate::session::Session;
use crate::style;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long the caller-identity lookup may take before the run goes on without it.
const CALLER_TIMEOUT: Duration = Duration::from_secs(10);

/// How a run was asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The run's id (a resumed run keeps its id).
    pub id: String,
    /// The script, relative to the project root.
    pub file: String,
    /// The script as typed, for the resume hint.
    pub file_arg: String,
    /// `sha256:<hex>` of the script's text.
    pub file_hash: String,
    /// Mutating calls are shown and skipped.
    pub dry_run: bool,
    /// Code run on the spot ([`Run::adhoc`]), not a runbook.
    pub adhoc: bool,
    /// `--yes`: every `confirm` is answered yes.
    pub yes: bool,
    /// Whether stdin is a terminal to ask on.
    pub interactive: bool,
    /// `--param name=value`, as given.
    pub given: BTreeMap<String, String>,
    /// `--force REASON`: DR safety rules that readiness fails let the run go on, for this reason.
    pub force: Option<String>,
    /// The journal of the run being resumed.
    pub resumed: Option<Resumed>,
}

/// What the journal of a run being resumed says.
#[derive(Debug, Clone, Default)]
pub struct Resumed {
    /// `runbook(#{name})` of that run.
    pub runbook: String,
    /// Its parameters (with earlier resumptions' overrides).
    pub params: BTreeMap<String, Value>,
    /// Steps done, by position: name and recorded result.
    pub done: BTreeMap<usize, (String, Option<Value>)>,
    /// Whether the script changed since the run started.
    pub file_changed: bool,
}

impl Resumed {
    /// Reads what resuming needs from a journal's records.
    pub fn from_records(records: &[Record], file_hash: &str) -> Option<Self> {
        let start = journal::started(records)?;
        Some(Self {
            runbook: start.runbook.to_string(),
            params: journal::params(records),
            done: journal::done_steps(records),
            file_changed: start.file_hash != file_hash,
        })
    }
}

/// One parameter a runbook declares.
#[derive(Debug, Clone, Default)]
pub struct ParamDecl {
    /// Its value when `--param` does not give one; none makes it required.
    pub default: Option<Value>,
    /// What it is for.
    pub doc: Option<String>,
}

/// What `runbook(#{...})` declared.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// The runbook's name.
    pub name: String,
    /// One line saying what it does.
    pub summary: Option<String>,
    /// Its parameters.
    pub params: BTreeMap<String, ParamDecl>,
    /// The environment it acts on unless `--env` says otherwise.
    pub env: Option<String>,
    /// Checked before and after every step: a closure that throws when the world is unsafe
    /// (e.g. both regions out of rotation), which stops the run there.
    pub invariant: Option<rhai::FnPtr>,
}

/// Why a run stopped at a `confirm`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// No terminal to ask on and no `--yes`.
    #[error("{0}")]
    NeedsYes(String),
    /// The answer was no.
    #[error("{0}")]
    Declined(String),
}

/// Why a runbook call (`runbook`, `step`, `param`) or a `--param` is refused, or its journal
/// cannot be kept.
#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    /// `runbook(…)` called a second time.
    #[error("`runbook` was already called (`{first}`); a script is one runbook")]
    AlreadyDeclared {
        /// The name the first call gave.
        first: String,
    },
    /// A step (or a second `runbook`) before `runbook(…)`, or a step started after steps ran.
    #[error("call `runbook(#{{ name: ... }})` before the first step")]
    NotDeclared,
    /// `param` before `runbook(…)`.
    #[error("call `runbook(#{{ name: ..., params: #{{...}} }})` before `param`")]
    ParamBeforeDeclare,
    /// A step started inside another.
    #[error("step `{name}` is inside step `{outer}`: steps do not nest")]
    NestedStep {
        /// The inner step.
        name: String,
        /// The step it is inside.
        outer: String,
    },
    /// A parameter the runbook does not declare.
    #[error("unknown parameter `{flag}{name}` for runbook `{runbook}`: {listed}{hint}")]
    UnknownParam {
        /// The parameter.
        name: String,
        /// The runbook.
        runbook: String,
        /// `--param ` when it came from the command line, else nothing.
        flag: &'static str,
        /// `it declares …`, or `it declares no parameters`.
        listed: String,
        /// `; did you mean `…`?` for a near name, or nothing.
        hint: String,
    },
    /// A resumed run of another runbook.
    #[error("run `{run}` is a run of runbook `{was}`, not `{now}`")]
    OtherRunbook {
        /// The run id.
        run: String,
        /// The runbook it ran.
        was: String,
        /// The runbook the script declares.
        now: String,
    },
    /// A parameter with no default that the command line does not give.
    #[error("runbook `{runbook}` needs `--param {name}=VALUE`{doc}")]
    MissingParam {
        /// The runbook.
        runbook: String,
        /// The parameter.
        name: String,
        /// ` (what it is)` from its declaration, or nothing.
        doc: String,
    },
    /// A `--param` value that does not fit the parameter's type.
    #[error("--param {name}={raw}: `{name}` is {expected}")]
    BadParam {
        /// The parameter.
        name: String,
        /// The value given.
        raw: String,
        /// What it must be (`a whole number`).
        expected: &'static str,
    },
    /// The environment the runbook names cannot be loaded.
    #[error(transparent)]
    Environment(#[from] crate::environment::EnvironmentError),
    /// The journal cannot be opened.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// A record cannot be written to the journal.
    #[error("cannot write the journal: {0}")]
    Write(#[source] std::io::Error),
    /// An ad-hoc run's journal cannot be opened at its first mutating call.
    #[error("the journal could not be started: {0}")]
    NotStarted(#[source] Box<RunbookError>),
}

/// What `step` should do.
pub enum Begin {
    /// Run the closure; the step's position.
    Run(usize),
    /// An earlier attempt did it; its recorded result.
    Skip(Option<Value>),
}

/// How a step's closure ended.
pub enum Outcome {
    /// It returned (its value, when it is plain data).
    Ok(Option<Value>),
    /// It failed; the error as text.
    Failed(String),
    /// Ctrl-C.
    Interrupted,
}

struct State {
    declared: Option<Declared>,
    params: BTreeMap<String, Value>,
    journal: Option<Arc<Journal>>,
    /// Records made before the journal opened (before `runbook(...)`).
    pending: Vec<Event>,
    total: usize,
    next: usize,
    current: Option<(usize, String)>,
    done: BTreeMap<usize, String>,
    stopped_in: Option<usize>,
    stop: Option<Stop>,
    /// The environment mutating calls act in unless an `in_env` scope says otherwise.
    env: Option<Environment>,
    base_scope: Option<ScopeGuard>,
    /// The REPL input being evaluated, for the journal ([`Run::typed`]).
    typed: Option<Typed>,
}

/// The REPL input being evaluated: written to the journal at its first mutating call.
enum Typed {
    /// No mutating call yet; the input, scrubbed.
    Pending(String),
    /// It made a mutating call and is in the journal.
    Recorded,
}

/// What a run that starts at its first mutating call ([`Run::adhoc`]) needs to start then.
struct Deferred {
    project: Project,
    decl: Declared,
}

/// One run of a runbook.
pub struct Run {
    settings: Settings,
    connections: Arc<Connections>,
    started: Instant,
    state: Mutex<State>,
    /// The start of an ad-hoc run, until its first mutating call makes it.
    deferred: tokio::sync::Mutex<Option<Deferred>>,
}

impl Run {
    /// A run about to evaluate its script.
    pub fn new(settings: Settings, session: &Session) -> Arc<Self> {
        Self::with(settings, session, None)
    }

    /// A run of code written or typed on the spot (`eprun eval`, the REPL, a plain script),
    /// recording every later mutating call of `session`: runbook `name` of `file` (`text` is what
    /// the start record hashes). Its journal opens at its first mutating call, so code that only
    /// reads leaves none; [`Run::end_adhoc`] ends it.
    pub fn adhoc(
        session: &Session,
        name: &str,
        file: &str,
        text: &str,
        summary: Option<String>,
    ) -> Arc<Self> {
        let settings = Settings {
            id: journal::new_id(),
            file: file.to_string(),
            file_hash: journal::hash(text),
            dry_run: session.mutations.dry_run(),
            adhoc: true,
            ..Settings::default()
        };
        let deferred = Deferred {
            project: session.project.clone(),
            decl: Declared {
                name: name.to_string(),
                summary,
                ..Declared::default()
            },
        };
        let run = Self::with(settings, session, Some(deferred));
        run.lock().env = session.environment().ok();
        session.mutations.set_recorder(run.recorder());
        run
    }

    /// Ends an ad-hoc run ([`Run::adhoc`]) if a mutating call started it — ok, or how `error`
    /// stopped it — and says on stderr where its journal is.
    pub async fn end_adhoc(&self, project: &Project, stopped: Option<&Stopped>) {
        let Some(journal) = self.journal() else {
            return;
        };
        let status = match stopped {
            None => RunStatus::Ok,
            Some(Stopped::Interrupted) => RunStatus::Interrupted,
            Some(Stopped::Failed(_)) => RunStatus::Failed,
        };
        self.finish(status, stopped.map(one_line)).await;
        eprintln!(
            "{}",
            style::dim(&format!(
                "journal: {} · `eprun runs show {}`",
                project.display(journal.path()),
                self.id()
            ))
        );
    }

    /// Makes `env` the environment later mutating calls are recorded in, and the one a run not
    /// started yet starts in (the REPL's `:env`).
    pub fn set_env(&self, env: Environment) {
        self.lock().env = Some(env);
    }

    /// The REPL input about to be evaluated: its first mutating call writes it (scrubbed) to the
    /// journal, before its own record, so the journal says what was typed.
    pub fn typed(&self, input: &str) {
        self.lock().typed = Some(Typed::Pending(crate::secret::scrub(input)));
    }

    /// Whether the input given to [`Run::typed`] made a mutating call; forgets the input.
    pub fn typed_mutated(&self) -> bool {
        matches!(self.lock().typed.take(), Some(Typed::Recorded))
    }

    fn with(settings: Settings, session: &Session, deferred: Option<Deferred>) -> Arc<Self> {
        let done = settings
            .resumed
            .as_ref()
            .map(|r| r.done.iter().map(|(i, (n, _))| (*i, n.clone())).collect())
            .unwrap_or_default();
        Arc::new(Self {
            settings,
            connections: session.connections.clone(),
            started: Instant::now(),
            state: Mutex::new(State {
                declared: None,
                params: BTreeMap::new(),
                journal: None,
                pending: Vec::new(),
                total: 0,
                next: 0,
                current: None,
                done,
                stopped_in: None,
                stop: None,
                env: None,
                base_scope: None,
                typed: None,
            }),
            deferred: tokio::sync::Mutex::new(deferred),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    /// How the run was asked for.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How many `step` calls the script has (from reading it).
    pub fn set_total(&self, steps: usize) {
        self.lock().total = steps;
    }

    /// Whether `runbook(...)` ran (and so the run has a journal).
    pub fn declared(&self) -> Option<Declared> {
        self.lock().declared.clone()
    }

    /// The journal, once the run started.
    pub fn journal(&self) -> Option<Arc<Journal>> {
        self.lock().journal.clone()
    }

    /// Steps done over every attempt, and how many the script has.
    pub fn progress(&self) -> (usize, usize) {
        let st = self.lock();
        (st.done.len(), st.total.max(st.next))
    }

    /// The step the run stopped in, if it stopped in one.
    pub fn stopped_in(&self) -> Option<usize> {
        self.lock().stopped_in
    }

    /// Why a `confirm` stopped the run, if one did.
    pub fn take_stop(&self) -> Option<Stop> {
        self.lock().stop.take()
    }

    /// The default environment's name.
    pub fn env(&self) -> Option<String> {
        self.lock().env.as_ref().map(|e| e.name.clone())
    }

    /// `runbook(#{...})`: checks the parameters against the declaration, opens the journal and
    /// records the start (or the resumption). Returns `#{id, name, dry_run, params}`.
    pub fn declare(&self, session: &Session, decl: Declared) -> Result<Value, RunbookError> {
        let (params, overrides) = {
            let st = self.lock();
            if let Some(first) = &st.declared {
                return Err(RunbookError::AlreadyDeclared {
                    first: first.name.clone(),
                });
            }
            if st.next > 0 {
                return Err(RunbookError::NotDeclared);
            }
            self.resolve_params(&decl)?
        };
        let mut base_scope = None;
        if session.env_override.is_none()
            && let Some(name) = &decl.env
        {
            let env = Environment::load(&session.project, name)?;
            base_scope = Some(self.connections.enter(env));
        }
        let env = session.environment().ok();
        let caller = session
            .runtime
            .block_on(caller_identity(&self.connections, env.as_ref()));
        let origin = Origin::here(caller.clone());
        let first = match &self.settings.resumed {
            Some(r) => Event::Resume {
                file_hash: self.settings.file_hash.clone(),
                file_changed: r.file_changed,
                overrides: overrides.clone(),
                dry_run: self.settings.dry_run,
                total_steps: self.lock().total,
                origin,
            },
            None => self.start_event(&decl, &params, env.as_ref(), origin),
        };
        let journal = self.open(&session.project, first, &decl, &params, env.as_ref())?;
        if let Some(why) = &self.settings.force {
            let _ = journal.write(Event::Log {
                step: None,
                message: format!("--force: {why}"),
            });
        }
        self.lock().base_scope = base_scope;
        self.banner(&decl, env.as_ref(), &caller, &params, &overrides);
        session.runtime.block_on(journal.mirror());
        let params_json: serde_json::Map<String, Value> = params.into_iter().collect();
        Ok(serde_json::json!({
            "id": self.id(),
            "name": decl.name,
            "dry_run": self.settings.dry_run,
            "force": self.settings.force,
            "params": params_json,
        }))
    }

    /// The start record of a new run.
    fn start_event(
        &self,
        decl: &Declared,
        params: &BTreeMap<String, Value>,
        env: Option<&Environment>,
        origin: Origin,
    ) -> Event {
        Event::Start {
            run_id: self.id().to_string(),
            runbook: decl.name.clone(),
            summary: decl.summary.clone(),
            file: self.settings.file.clone(),
            file_hash: self.settings.file_hash.clone(),
            params: params.clone(),
            dry_run: self.settings.dry_run,
            env: env.map(|e| e.name.clone()),
            total_steps: self.lock().total,
            adhoc: self.settings.adhoc,
            origin,
        }
    }

    /// Opens the journal with its first record (start or resumption), marks the run declared and
    /// writes what was recorded before.
    fn open(
        &self,
        project: &Project,
        first: Event,
        decl: &Declared,
        params: &BTreeMap<String, Value>,
        env: Option<&Environment>,
    ) -> Result<Arc<Journal>, RunbookError> {
        let s3 = env.and_then(S3Location::of);
        let journal = match &self.settings.resumed {
            Some(_) => Journal::append(project, self.id(), s3),
            None => Journal::create(project, self.id(), s3),
        }?;
        let journal = Arc::new(journal);
        journal.write(first).map_err(RunbookError::Write)?;
        let pending = {
            let mut st = self.lock();
            st.declared = Some(decl.clone());
            st.params = params.clone();
            st.journal = Some(journal.clone());
            st.env = env.cloned();
            std::mem::take(&mut st.pending)
        };
        for e in pending {
            let _ = journal.write(e);
        }
        Ok(journal)
    }

    /// Starts an ad-hoc run ([`Run::adhoc`]) at its first mutating call: asks STS who is calling
    /// and opens the journal. Later calls (and calls of a runbook run) return at once; concurrent
    /// calls wait until the journal is open.
    async fn start_deferred(&self) -> Result<(), RunbookError> {
        let mut deferred = self.deferred.lock().await;
        let Some(d) = deferred.as_ref() else {
            return Ok(());
        };
        let env = self.lock().env.clone();
        let caller = caller_identity(&self.connections, env.as_ref()).await;
        let params = BTreeMap::new();
        let first = self.start_event(&d.decl, &params, env.as_ref(), Origin::here(caller));
        let journal = self
            .open(&d.project, first, &d.decl, &params, env.as_ref())
            .map_err(|e| RunbookError::NotStarted(Box::new(e)))?;
        journal.mirror().await;
        *deferred = None;
        Ok(())
    }

    /// The parameters the run uses, and those a resumption changes.
    #[allow(clippy::type_complexity)]
    fn resolve_params(
        &self,
        decl: &Declared,
    ) -> Result<(BTreeMap<String, Value>, BTreeMap<String, Value>), RunbookError> {
        let declared: Vec<&str> = decl.params.keys().map(String::as_str).collect();
        for name in self.settings.given.keys() {
            if !decl.params.contains_key(name) {
                return Err(unknown_param(name, &decl.name, &declared, "--param "));
            }
        }
        let mut base = BTreeMap::new();
        if let Some(r) = &self.settings.resumed {
            if r.runbook != decl.name {
                return Err(RunbookError::OtherRunbook {
                    run: self.id().to_string(),
                    was: r.runbook.clone(),
                    now: decl.name.clone(),
                });
            }
            base = r.params.clone();
        }
        let mut params = BTreeMap::new();
        let mut overrides = BTreeMap::new();
        for (name, p) in &decl.params {
            let value = match self.settings.given.get(name) {
                Some(raw) => {
                    let v = coerce(name, raw, p.default.as_ref())?;
                    if self.settings.resumed.is_some() && base.get(name) != Some(&v) {
                        overrides.insert(name.clone(), v.clone());
                    }
                    v
                }
                None => match base.get(name).or(p.default.as_ref()) {
                    Some(v) => v.clone(),
                    None => {
                        return Err(RunbookError::MissingParam {
                            runbook: decl.name.clone(),
                            name: name.clone(),
                            doc: (p.doc.as_ref().map(|d| format!(" ({d})"))).unwrap_or_default(),
                        });
                    }
                },
            };
            params.insert(name.clone(), value);
        }
        Ok((params, overrides))
    }

    fn banner(
        &self,
        decl: &Declared,
        env: Option<&Environment>,
        caller: &Caller,
        params: &BTreeMap<String, Value>,
        overrides: &BTreeMap<String, Value>,
    ) {
        let title = match &decl.summary {
            Some(s) => format!("Runbook {}: {s}", decl.name),
            None => format!("Runbook {}", decl.name),
        };
        let mut facts = vec![match &self.settings.resumed {
            Some(r) => format!(
                "resuming run {} ({} of its steps done)",
                self.id(),
                r.done.len()
            ),
            None => format!("run {}", self.id()),
        }];
        facts.push(
            env.map(|e| format!("env {}", e.name))
                .unwrap_or_else(|| "no environment".into()),
        );
        facts.push(format!("as {}", caller.describe()));
        if self.settings.dry_run {
            facts.push(style::yellow("dry run: mutating calls are shown, not made"));
        }
        let mut out = format!("{}\n  {}\n", style::bold(&title), facts.join(" · "));
        if !params.is_empty() {
            let shown: Vec<String> = params
                .iter()
                .map(|(k, v)| {
                    let changed = if overrides.contains_key(k) {
                        " (given on resume)"
                    } else {
                        ""
                    };
                    format!("{k}={}{changed}", show_value(v))
                })
                .collect();
            out.push_str(&format!("  params: {}\n", shown.join(", ")));
        }
        if let Some(r) = &self.settings.resumed
            && r.file_changed
        {
            out.push_str(&format!(
                "  {} `{}` changed since the run started; steps are matched by position and name\n",
                style::yellow("warning:"),
                self.settings.file
            ));
        }
        eprint!("{out}");
    }

    fn step_label(&self, index: usize, total: usize, name: &str) -> String {
        if index <= total {
            format!("Step {index}/{total}: {name}")
        } else {
            format!("Step {index}: {name}")
        }
    }

    /// The start of `step(name, ...)`: skip it (resume) or record and announce it.
    pub fn begin_step(&self, name: &str) -> Result<Begin, RunbookError> {
        let mut st = self.lock();
        if st.declared.is_none() {
            return Err(RunbookError::NotDeclared);
        }
        if let Some((_, outer)) = &st.current {
            return Err(RunbookError::NestedStep {
                name: name.to_string(),
                outer: outer.clone(),
            });
        }
        st.next += 1;
        let index = st.next;
        let label = self.step_label(index, st.total, name);
        let journal = st.journal.clone();
        if let Some((done_name, result)) = self
            .settings
            .resumed
            .as_ref()
            .and_then(|r| r.done.get(&index))
        {
            if done_name == name {
                drop(st);
                eprintln!(
                    "{} {}",
                    style::dim(&format!("▸ {label}")),
                    style::dim("— done in an earlier attempt, skipped")
                );
                if let Some(j) = journal {
                    let _ = j.write(Event::StepSkip {
                        index,
                        name: name.to_string(),
                    });
                }
                return Ok(Begin::Skip(result.clone()));
            }
            eprintln!(
                "{} step {index} was `{done_name}` when this run did it; running `{name}`",
                style::yellow("warning:")
            );
            st.done.remove(&index);
        }
        st.current = Some((index, name.to_string()));
        drop(st);
        eprintln!("{}", style::bold(&format!("▸ {label}")));
        if let Some(j) = journal {
            j.write(Event::StepStart {
                index,
                name: name.to_string(),
            })
            .map_err(RunbookError::Write)?;
        }
        Ok(Begin::Run(index))
    }

    /// The end of a step's closure: record, announce, copy the journal to S3.
    pub fn end_step(
        &self,
        session: &Session,
        index: usize,
        name: &str,
        outcome: Outcome,
        took: Duration,
    ) {
        let (journal, stop) = {
            let mut st = self.lock();
            st.current = None;
            if matches!(outcome, Outcome::Ok(_)) {
                st.done.insert(index, name.to_string());
            } else {
                st.stopped_in = Some(index);
            }
            (st.journal.clone(), st.stop.clone())
        };
        let secs = took.as_secs_f64();
        let (status, result, error) = match outcome {
            Outcome::Ok(result) => {
                eprintln!("  {}", style::green(&format!("✓ {secs:.1}s")));
                (StepStatus::Ok, result, None)
            }
            Outcome::Interrupted => {
                eprintln!(
                    "  {}",
                    style::red(&format!("✗ interrupted after {secs:.1}s"))
                );
                (
                    StepStatus::Interrupted,
                    None,
                    Some("interrupted by Ctrl-C".to_string()),
                )
            }
            Outcome::Failed(e) if stop.is_some() => {
                eprintln!("  {}", style::red(&format!("✗ stopped after {secs:.1}s")));
                (StepStatus::Stopped, None, Some(e))
            }
            Outcome::Failed(e) => {
                eprintln!("  {}", style::red(&format!("✗ failed after {secs:.1}s")));
                (StepStatus::Failed, None, Some(e))
            }
        };
        if let Some(j) = journal {
            let _ = j.write(Event::StepEnd {
                index,
                name: name.to_string(),
                status,
                duration_ms: took.as_millis() as u64,
                result,
                error,
            });
            session.runtime.block_on(j.mirror());
        }
    }

    /// `param(name)`: the value the run uses.
    pub fn param(&self, name: &str) -> Result<Value, RunbookError> {
        let st = self.lock();
        let Some(decl) = &st.declared else {
            return Err(RunbookError::ParamBeforeDeclare);
        };
        match st.params.get(name) {
            Some(v) => Ok(v.clone()),
            None => {
                let declared: Vec<&str> = decl.params.keys().map(String::as_str).collect();
                Err(unknown_param(name, &decl.name, &declared, ""))
            }
        }
    }

    /// `confirm(question)`: `Ok` to go on; `Err` stops the run (the reason is kept for
    /// [`Run::take_stop`]).
    pub fn confirm(&self, question: &str) -> Result<(), Stop> {
        let step = self.lock().current.as_ref().map(|c| c.0);
        let (answer, verdict) = if self.settings.dry_run {
            eprintln!(
                "    ? {question} {}",
                style::dim("— dry run: not asked, going on")
            );
            ("dry run", Ok(()))
        } else if self.settings.yes {
            eprintln!("    ? {question} {}", style::dim("— yes (--yes)"));
            ("--yes", Ok(()))
        } else if !self.settings.interactive {
            eprintln!("    ? {question}");
            (
                "no terminal",
                Err(Stop::NeedsYes(format!(
                    "`confirm(\"{question}\")` needs --yes without a TTY: nothing after it ran"
                ))),
            )
        } else {
            if ask_yes_no(&format!("    ? {question}")).unwrap_or(false) {
                ("yes", Ok(()))
            } else {
                (
                    "no",
                    Err(Stop::Declined(format!(
                        "declined `{question}`: nothing after it ran"
                    ))),
                )
            }
        };
        self.record(Event::Confirm {
            step,
            question: question.to_string(),
            answer: answer.to_string(),
        });
        verdict.inspect_err(|stop| self.lock().stop = Some(stop.clone()))
    }

    /// `log(...)` and `print(...)`: a line under the current step, and in the journal.
    pub fn log(&self, message: &str) {
        let step = self.lock().current.as_ref().map(|c| c.0);
        for line in message.lines() {
            eprintln!("    {line}");
        }
        if message.is_empty() {
            eprintln!();
        }
        self.record(Event::Log {
            step,
            message: message.to_string(),
        });
    }

    /// `milestone(name)`: records that the run reached `name` now (e.g. `traffic moved`), for the
    /// recovery times `eprun runs show` measures from the run's start.
    pub fn milestone(&self, name: &str) {
        let step = self.lock().current.as_ref().map(|c| c.0);
        eprintln!(
            "    {} {name} ({:.1}s into this attempt)",
            crate::style::bold("milestone:"),
            self.elapsed().as_secs_f64()
        );
        self.record(Event::Milestone {
            step,
            name: name.to_string(),
        });
    }

    /// Writes the pending REPL input ([`Run::typed`]) to the journal, once.
    fn record_typed(&self) {
        let mut st = self.lock();
        let input = match st.typed.take() {
            Some(Typed::Pending(input)) => input,
            other => {
                st.typed = other;
                return;
            }
        };
        st.typed = Some(Typed::Recorded);
        let event = Event::Log {
            step: None,
            message: format!("> {input}"),
        };
        // Under the lock, so no other call of the input is recorded before it.
        match &st.journal {
            Some(j) => {
                let _ = j.write(event);
            }
            None => st.pending.push(event),
        }
    }

    fn record(&self, event: Event) {
        let journal = {
            let mut st = self.lock();
            match &st.journal {
                Some(j) => j.clone(),
                None => {
                    st.pending.push(event);
                    return;
                }
            }
        };
        let _ = journal.write(event);
    }

    /// Records the end of this attempt and copies the journal to S3.
    pub async fn finish(&self, status: RunStatus, error: Option<String>) {
        let (journal, done, step) = {
            let st = self.lock();
            (st.journal.clone(), st.done.len(), st.stopped_in)
        };
        let Some(journal) = journal else {
            return;
        };
        let _ = journal.write(Event::End {
            status,
            duration_ms: self.started.elapsed().as_millis() as u64,
            steps_done: done,
            step,
            error,
        });
        journal.mirror().await;
    }

    /// How long this attempt has taken.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The recorder to install with `session.mutations.set_recorder`.
    pub fn recorder(self: &Arc<Self>) -> Arc<dyn crate::mutation::Recorder> {
        Arc::new(Recorder(Arc::downgrade(self)))
    }
}

/// Journals every mutating call of a run.
struct Recorder(Weak<Run>);

impl crate::mutation::Recorder for Recorder {
    fn before(&self) -> futures::future::BoxFuture<'_, Result<(), crate::mutation::RecordError>> {
        Box::pin(async move {
            let Some(run) = self.0.upgrade() else {
                return Ok(());
            };
            run.start_deferred().await?;
            run.record_typed();
            Ok(())
        })
    }

    fn mutation(&self, operation: &str, target: &str, outcome: &crate::mutation::Outcome) {
        let Some(run) = self.0.upgrade() else {
            return;
        };
        let (step, env) = {
            let st = run.lock();
            let env = st.env.as_ref().map(|e| e.name.clone());
            (st.current.as_ref().map(|c| c.0), env)
        };
        let env = run.connections.scoped().map(|e| e.name).or(env);
        let (outcome, error) = match outcome {
            crate::mutation::Outcome::Done => ("done", None),
            crate::mutation::Outcome::Failed(e) => ("failed", Some(crate::secret::scrub(e))),
            crate::mutation::Outcome::Skipped => ("skipped", None),
        };
        run.record(Event::Mutation {
            step,
            operation: operation.to_string(),
            target: target.to_string(),
            env,
            outcome: outcome.to_string(),
            error,
        });
    }
}

/// The error for a parameter the runbook does not declare.
fn unknown_param(name: &str, runbook: &str, declared: &[&str], flag: &'static str) -> RunbookError {
    let listed = if declared.is_empty() {
        "it declares no parameters".to_string()
    } else {
        format!("it declares {}", crate::schema::backticked(declared))
    };
    let hint = crate::schema::suggest(name, declared)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    RunbookError::UnknownParam {
        name: name.to_string(),
        runbook: runbook.to_string(),
        flag,
        listed,
        hint,
    }
}

/// A `--param` value, typed like the parameter's default (number, bool) or kept as text.
pub fn coerce(name: &str, raw: &str, default: Option<&Value>) -> Result<Value, RunbookError> {
    let wrong = |expected| RunbookError::BadParam {
        name: name.to_string(),
        raw: raw.to_string(),
        expected,
    };
    match default {
        Some(Value::Bool(_)) => match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(wrong("true or false")),
        },
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong("a whole number")),
        Some(Value::Number(_)) => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| wrong("a number")),
        _ => Ok(Value::String(raw.to_string())),
    }
}

/// How a run that did not end well stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Ctrl-C.
    Interrupted,
    /// An error, as the command prints it.
    Failed(String),
}

/// An error as the one scrubbed line a journal's end record keeps (its header, without `error: `).
fn one_line(stopped: &Stopped) -> String {
    let text = match stopped {
        Stopped::Interrupted => return "interrupted by Ctrl-C".into(),
        Stopped::Failed(text) => text,
    };
    let first = text.lines().next().unwrap_or_default();
    crate::secret::scrub(first.strip_prefix("error: ").unwrap_or(first))
}

fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Who is calling AWS in `env`, for the journal; the error text when that cannot be known.
async fn caller_identity(connections: &Connections, env: Option<&Environment>) -> Caller {
    let unknown = |e: String| Caller {
        error: Some(crate::secret::scrub(&e)),
        ..Caller::default()
    };
    let Some(env) = env else {
        return unknown("no environment: pass `--env NAME` to record who ran it".into());
    };
    let aws = match crate::aws::Aws::of(&connections.for_env(env).await) {
        Ok(aws) => aws,
        Err(e) => return unknown(e.to_string()),
    };
    let call = aws.sts().get_caller_identity().send();
    match tokio::time::timeout(CALLER_TIMEOUT, call).await {
        Ok(Ok(out)) => Caller {
            arn: out.arn().map(str::to_string),
            account: out.account().map(str::to_string),
            user_id: out.user_id().map(str::to_string),
            error: None,
        },
        Ok(Err(e)) => unknown(crate::aws::from_sdk("GetCallerIdentity", "STS", e).to_string()),
        Err(_) => unknown(format!(
            "`GetCallerIdentity` gave no answer within {}s",
            CALLER_TIMEOUT.as_secs()
        )),
    }
}

/// The runs of sessions, so registered functions find theirs (keyed by the session's
/// mutation gate, which every clone of a session shares).
static RUNS: Mutex<Vec<(usize, Weak<Run>)>> = Mutex::new(Vec::new());

fn key(session: &Session) -> usize {
    Arc::as_ptr(&session.mutations) as *const () as usize
}

/// Makes `run` the run of `session` until the guard is dropped.
pub fn attach(session: &Session, run: &Arc<Run>) -> Attached {
    let k = key(session);
    let mut runs = RUNS.lock().unwrap_or_else(|p| p.into_inner());
    runs.retain(|(_, w)| w.strong_count() > 0);
    runs.push((k, Arc::downgrade(run)));
    Attached(k)
}

/// The run of a session, if one is attached.
pub fn current(session: &Session) -> Option<Arc<Run>> {
    let k = key(session);
    RUNS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .rev()
        .find(|(key, _)| *key == k)
        .and_then(|(_, w)| w.upgrade())
}

/// Detaches a run from its session when dropped.
pub struct Attached(usize);

impl Drop for Attached {
    fn drop(&mut self) {
        RUNS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, _)| *k != self.0);
    }
}

/// What reading a script (without running it) tells about it as a runbook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// It calls `runbook(...)`.
    pub is_runbook: bool,
    /// How many `step(...)` calls it has.
    pub steps: usize,
    /// The line of its first `confirm(...)`, if it has one.
    pub first_confirm: Option<usize>,
}

/// Reads a compiled script for `runbook`, `step` and `confirm` calls (closures included).
pub fn scan(ast: &rhai::AST) -> Scan {
    use rhai::{ASTNode, Expr, Stmt};
    let mut out = Scan::default();
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Stmt(Stmt::FnCall(x, pos))) => Some((x, *pos)),
            Some(ASTNode::Expr(Expr::FnCall(x, pos))) => Some((x, *pos)),
            _ => None,
        };
        if let Some((x, pos)) = call
            && x.namespace.is_empty()
        {
            match x.name.as_str() {
                "runbook" => out.is_runbook = true,
                "step" if x.args.len() == 2 => out.steps += 1,
                "confirm" => {
                    let line = pos.line().unwrap_or(0);
                    out.first_confirm = Some(out.first_confirm.map_or(line, |l| l.min(line)));
                }
                _ => {}
            }
        }
        true
    });
    out
}

/// Whether a script file is a runbook (it calls `runbook(...)`), read without running it.
pub fn is_runbook_file(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let mut engine = rhai::Engine::new_raw();
    engine.set_max_expr_depths(128, 64);
    engine
        .compile(&text)
        .map(|ast| scan(&ast).is_runbook)
        .unwrap_or(false)
}

/// Asks `prompt [y/N]` on the terminal; only `y` or `yes` (any case) is a yes.
pub fn ask_yes_no(prompt: &str) -> std::io::Result<bool> {
    eprint!("{prompt} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_are_typed_like_their_defaults() {
        assert_eq!(coerce("n", "3", Some(&json!(1))).unwrap(), json!(3));
        assert!(coerce("n", "x", Some(&json!(1))).is_err());
        assert_eq!(
            coerce("b", "yes", Some(&json!(false))).unwrap(),
            json!(true)
        );
        assert_eq!(coerce("f", "0.5", Some(&json!(1.5))).unwrap(), json!(0.5));
        assert_eq!(coerce("s", "eu", Some(&json!("us"))).unwrap(), json!("eu"));
        assert_eq!(coerce("s", "7", None).unwrap(), json!("7"));
    }

    #[test]
    fn unknown_params_list_the_declared_ones_and_suggest() {
        let msg = unknown_param("regoin", "rb", &["region", "replicas"], "--param ").to_string();
        assert!(msg.contains("`region`, `replicas`"), "{msg}");
        assert!(msg.ends_with("did you mean `region`?"), "{msg}");
        assert!(
            unknown_param("x", "rb", &[], "")
                .to_string()
                .contains("declares no parameters")
        );
    }

    /// A current-thread runtime, and a session with no environment on a project in `dir`.
    fn adhoc_session(dir: &std::path::Path) -> (tokio::runtime::Runtime, Project, Session) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let project = crate::project::Project::at(dir);
        let session = Session::new(project.clone(), None, rt.handle().clone());
        (rt, project, session)
    }

    /// A `scale` of `target` that does nothing, performed as the session's mutation.
    async fn scale(session: &Session, target: &str) -> Result<Option<()>, crate::aws::CloudError> {
        session
            .mutations
            .perform("scale", target, "", async { Ok(()) })
            .await
    }

    #[test]
    fn an_adhoc_run_opens_its_journal_at_its_first_mutating_call_only() {
        let dir = tempfile::tempdir().unwrap();
        let (rt, project, session) = adhoc_session(dir.path());
        let run = Run::adhoc(
            &session,
            "eval",
            "<eval>",
            "k8s::scale(..)",
            Some("k8s::scale(..)".into()),
        );
        assert!(
            run.journal().is_none(),
            "nothing is journaled before a mutation"
        );
        assert!(journal::local_ids(&project).is_empty());

        // Two mutating calls at once (like a drain's evictions): one start, then both calls.
        let (a, b) =
            rt.block_on(async { futures::join!(scale(&session, "web"), scale(&session, "api")) });
        assert!(a.is_ok() && b.is_ok());
        rt.block_on(run.end_adhoc(&project, None));

        let records = journal::read_local(&project, run.id()).unwrap().unwrap();
        let kinds: Vec<String> = records
            .iter()
            .map(|r| {
                serde_json::to_value(r).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(kinds, ["start", "mutation", "mutation", "end"]);
        let Event::Start {
            runbook,
            origin,
            adhoc,
            ..
        } = &records[0].event
        else {
            panic!("a start record first: {records:?}");
        };
        assert_eq!(runbook, "eval");
        assert!(adhoc);
        assert!(
            origin.caller.describe().contains("no environment"),
            "{:?}",
            origin.caller
        );
        let summary = journal::summarize(run.id(), &records);
        assert_eq!(summary.status, "ok");
        assert!(summary.adhoc);
        assert_eq!(summary.mutations, 2);
    }

    /// A local environment named `name` in `project`.
    fn environment(project: &Project, name: &str) -> Environment {
        let path = project.root().join(format!("environments/{name}.toml"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "region = \"us-east-1\"\nrole = \"primary\"\n").unwrap();
        Environment::load(project, name).unwrap()
    }

    #[test]
    fn a_repl_run_records_what_was_typed_before_its_calls_in_the_env_of_each() {
        // No environment at the start, so no STS call: `:env` then names the later calls' env.
        let dir = tempfile::tempdir().unwrap();
        let (rt, project, session) = adhoc_session(dir.path());
        let eu = environment(&project, "a/eu");
        let run = Run::adhoc(&session, "repl", "<repl>", "", None);

        run.typed("let n = 3;");
        assert!(!run.typed_mutated(), "an input that only reads");
        run.typed("k8s::scale(\"web\", 3); k8s::scale(\"api\", 3)");
        rt.block_on(scale(&session, "web")).unwrap();
        rt.block_on(scale(&session, "api")).unwrap();
        assert!(run.typed_mutated());
        run.set_env(eu);
        let _token = crate::secret::Secret::new("hunter2-correct-horse");
        run.typed("k8s::scale(\"web\", 1) // hunter2-correct-horse");
        rt.block_on(scale(&session, "web")).unwrap();
        assert!(run.typed_mutated());
        rt.block_on(run.end_adhoc(&project, Some(&Stopped::Interrupted)));

        let records = journal::read_local(&project, run.id()).unwrap().unwrap();
        let lines: Vec<String> = records
            .iter()
            .map(|r| match &r.event {
                Event::Start { env, .. } => format!("start {env:?}"),
                Event::Log { message, .. } => message.clone(),
                Event::Mutation { target, env, .. } => format!("{target} {env:?}"),
                Event::End { status, error, .. } => format!("{} {error:?}", status.word()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            lines,
            [
                "start None",
                "> k8s::scale(\"web\", 3); k8s::scale(\"api\", 3)",
                "web None",
                "api None",
                "> k8s::scale(\"web\", 1) // <redacted>",
                "web Some(\"a/eu\")",
                "interrupted Some(\"interrupted by Ctrl-C\")",
            ]
        );
    }

    #[test]
    fn an_error_is_journaled_as_its_header_line() {
        let rendered = Stopped::Failed("error: <eval>:1:3: boom\n  ╭─[<eval>:1:3]".into());
        assert_eq!(one_line(&rendered), "<eval>:1:3: boom");
        assert_eq!(one_line(&Stopped::Interrupted), "interrupted by Ctrl-C");
    }

    #[test]
    fn scan_finds_steps_and_confirms_inside_closures() {
        let engine = rhai::Engine::new_raw();
        let ast = engine
            .compile(
                r#"
runbook(#{ name: "x" });
step("a", || { log("hi"); });
step("b", || {
    confirm("sure?");
});
fn helper() { step("c", || 1) }
"#,
            )
            .unwrap();
        let s = scan(&ast);
        assert!(s.is_runbook);
        assert_eq!(s.steps, 3);
        assert_eq!(s.first_confirm, Some(5));
        let plain = engine.compile("let a = 1; a.step(2)").unwrap();
        assert_eq!(scan(&plain), Scan::default());
    }
}
