//! `plan`, `apply`, `destroy`, `outputs` and `eprun FILE` on stacks.

use super::{confirm, exit, show};
use crate::applier::{self, ApplyOptions};
use crate::aws::Aws;
use crate::cli::{Format, Global};
use crate::context::Context;
use crate::declaration::Declarations;
use crate::dr_copy::DrCopy;
use crate::environment::{Environment, StateBackend};
use crate::error::{Error, Result};
use crate::k8s::helm::Helm;
use crate::plan::{Plan, Stats};
use crate::plan_markdown::Origin;
use crate::planner::{self, Planned};
use crate::policy::{self, Policies, PolicyError};
use crate::progress::Progress;
use crate::project::Project;
use crate::runbook::Run;
use crate::saved_plan::{Inputs, SavedPlan};
use crate::script::{self, Evaluated};
use crate::session::Session;
use crate::state::State;
use crate::state_store::{LockGuard, StateError, StateStore};
use crate::stores;
use crate::style::print_json;
use crate::verdict::Verdict;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to do with a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `plan`.
    Plan,
    /// `apply`.
    Apply,
    /// `destroy`.
    Destroy,
    /// `import` and `migrate`: record existing resources.
    Adopt,
}

impl Mode {
    fn verb(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Apply => "apply",
            Mode::Destroy => "destroy",
            Mode::Adopt => "adopt",
        }
    }
}

/// A stack script, evaluated, with its state loaded and locked and its policies read.
pub(super) struct Loaded {
    /// The stack's environment.
    pub(super) env: Environment,
    /// What the script declared.
    pub(super) decls: Declarations,
    /// Where its state lives.
    pub(super) store: Box<dyn StateStore>,
    /// The state as loaded (a new, empty one when there is none).
    pub(super) state: State,
    /// The state store of the environment's DR peer (`peers.dr`), beside which every apply
    /// writes the DR copy of this stack's state.
    dr_peer: Option<Box<dyn StateStore>>,
    force_conflicts: bool,
    helm: Helm,
    policies: Policies,
    _lock: LockGuard,
}

impl Loaded {
    /// What the policies say about `plan`.
    pub(super) fn judge(&self, plan: &Plan) -> Result<Vec<Verdict>, PolicyError> {
        self.policies.evaluate(&plan.to_json(), &self.env.name)
    }
}

/// Evaluates a stack script, reads its policies, and takes its state, from the backend its
/// environment names or, with `local_state`, from the project's local file; locked for `mode`.
pub(super) async fn load(
    file: &Path,
    g: &Global,
    mode: Mode,
    local_state: bool,
) -> Result<(Evaluated, Loaded)> {
    let mut session = Session::new(
        Project::of_script(file)?,
        g.env.clone(),
        tokio::runtime::Handle::current(),
    );
    session.local_state = local_state;
    let mut evaluated = script::evaluate_in(session, file).await?;
    let decls = std::mem::take(&mut evaluated.declarations);
    let Some(env) = decls.environment.clone() else {
        return Err(Error::usage(format!(
            "`{}` declares no stack: call `stack(\"<environment>\")` to make it one",
            file.display()
        )));
    };
    let project = &evaluated.session.project;
    let policies = Policies::load(project, &g.policies, &evaluated.session.sources)?;
    let helm = Helm::for_project(project.root(), &project.data_dir());
    let store = evaluated.session.store(&env);
    let dr_peer = match env.peers.get("dr") {
        Some(name) => Some(stores::open(project, &Environment::load(project, name)?)),
        None => None,
    };
    let unreachable = |e| unreachable_state(e, file, &env, mode);
    let lock = store.lock(mode.verb()).await.map_err(unreachable)?;
    let state = match store.load().await.map_err(unreachable)? {
        Some(s) if s.stack != env.name => {
            return Err(Error::usage(format!(
                "state at `{}` belongs to stack `{}`, not `{}`",
                store.location(),
                s.stack,
                env.name
            )));
        }
        Some(s) => s,
        None => State::new(&env.name),
    };
    Ok((
        evaluated,
        Loaded {
            env,
            decls,
            store,
            state,
            dr_peer,
            force_conflicts: g.force_conflicts,
            helm,
            policies,
            _lock: lock,
        },
    ))
}

/// A state the plan cannot reach (no credentials for the team's S3 state, no network) is an
/// error that says how to plan without it.
fn unreachable_state(e: StateError, file: &Path, env: &Environment, mode: Mode) -> Error {
    let remote = matches!(env.state, StateBackend::S3(_));
    if mode != Mode::Plan || !remote || !matches!(e, StateError::Io { .. }) {
        return e.into();
    }
    Error::usage(format!(
        "{e}\nhint: to plan without the team's state, `eprun plan {} --local-state` plans against the local state",
        file.display()
    ))
}

/// Refreshes, then plans; reads again whatever only a resolved token could name (a lost state).
async fn refreshed_plan(l: &Loaded, decls: &Declarations) -> Result<(Planned, Context)> {
    let cx = crate::connections::open_with(&l.env, l.force_conflicts)
        .await
        .with(l.helm.clone());
    let mut asked = planner::refresh_groups(&l.decls, &l.state);
    let mut found = planner::read_groups(&cx, &l.env.name, asked.clone()).await?;
    let planned = loop {
        if crate::interrupt::requested() {
            return Err(Error::Interrupted);
        }
        let planned = planner::plan(&l.env.name, decls, &l.state, Some(found.clone()))?;
        // Keys that only resolving tokens revealed (a lost state): read them, then plan again.
        let mut more = planner::Groups::new();
        for (group, hints) in &planned.unread_keys {
            let seen = asked.entry(group.clone()).or_default();
            let new: std::collections::BTreeSet<String> = hints
                .natural_keys
                .difference(&seen.natural_keys)
                .cloned()
                .collect();
            if !new.is_empty() {
                seen.natural_keys.extend(new.iter().cloned());
                more.entry(group.clone()).or_default().natural_keys = new;
            }
        }
        if more.is_empty() {
            break planned;
        }
        found.extend(planner::read_groups(&cx, &l.env.name, more).await?);
    };
    Ok((planned, cx))
}

/// The plan of a loaded stack: refreshed, or from the state alone when `refresh` is off.
pub(super) async fn make_plan(
    l: &Loaded,
    mode: Mode,
    refresh: bool,
    started: Instant,
) -> Result<(Planned, Option<Context>)> {
    let empty = Declarations::default();
    let decls = if mode == Mode::Destroy {
        &empty
    } else {
        &l.decls
    };
    let (mut planned, cx) = if refresh {
        let (planned, cx) = refreshed_plan(l, decls).await?;
        (planned, Some(cx))
    } else {
        (planner::plan(&l.env.name, decls, &l.state, None)?, None)
    };
    // Releases show what they hold; without a refresh, from their charts alone.
    let offline = Context::new().with(l.helm.clone());
    planner::explain(cx.as_ref().unwrap_or(&offline), &mut planned).await;
    planned.plan.stats = Stats {
        api_calls: api_calls(cx.as_ref()),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    Ok((planned, cx))
}

/// How `eprun plan` prints and saves its plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Rebuild a lost state from the ownership tags.
    pub discover: bool,
    /// Plan against the project's local state instead of the environment's backend.
    pub local_state: bool,
    /// Save the plan to this file.
    pub out: Option<PathBuf>,
    /// How to print it.
    pub format: Format,
}

/// `eprun plan FILE`.
pub async fn plan(file: &Path, g: &Global, opts: PlanOptions) -> Result<u8> {
    let started = Instant::now();
    let (evaluated, mut l) = load(file, g, Mode::Plan, opts.local_state).await?;
    if opts.local_state && l.env.state != StateBackend::Local {
        let team = stores::open(&evaluated.session.project, &l.env);
        eprintln!(
            "note: --local-state: planned against the local state `{}`, not the team's state `{}`",
            l.store.location(),
            team.location()
        );
    }
    let refresh = opts.discover || !l.state.is_empty();
    let (planned, _) = make_plan(&l, Mode::Plan, refresh, started).await?;
    if opts.discover {
        planned.rekey(&mut l.state);
        let found = crate::discover::record(&mut l.state, &planned);
        l.store.save(&mut l.state).await?;
        eprintln!("{}", crate::discover::summary(&found, &l.store.location()));
    }
    let verdicts = l.judge(&planned.plan)?;
    let script = evaluated.session.project.display(file);
    if let Some(out) = &opts.out {
        let inputs = Inputs::of(evaluated.session.sources.all());
        SavedPlan::new(
            &planned.plan,
            &script,
            &l.env.name,
            &l.state,
            inputs,
            verdicts.clone(),
        )
        .write(out)?;
        eprintln!(
            "Saved the plan to `{0}`; `eprun apply {0}` applies exactly it.",
            out.display()
        );
    }
    let origin = Origin {
        script: &script,
        environment: &l.env.name,
    };
    show::present(&planned.plan, &verdicts, g, opts.format, origin);
    Ok(if g.detailed_exitcode && planned.plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

/// `eprun apply FILE`.
pub async fn apply(file: &Path, g: &Global, yes: bool) -> Result<u8> {
    converge(file, g, yes, Mode::Apply).await
}

/// `eprun destroy FILE`.
pub async fn destroy(file: &Path, g: &Global, yes: bool) -> Result<u8> {
    converge(file, g, yes, Mode::Destroy).await
}

/// `eprun FILE`: a stack is planned, confirmed and applied; a runbook runs like `eprun run FILE`;
/// any other script is evaluated, and journaled as an ad-hoc run named after the file if it makes
/// a mutating call.
pub async fn run_file(file: &Path, g: &Global, yes: bool) -> Result<u8> {
    if SavedPlan::read(file)?.is_some() {
        return Err(Error::usage(format!(
            "`{0}` is a saved plan, not a script\nhint: `eprun apply {0}` applies exactly it",
            file.display()
        )));
    }
    if crate::runbook::is_runbook_file(file) {
        let opts = super::run::Options {
            yes,
            ..Default::default()
        };
        return super::run::run(file, g, opts).await;
    }
    let project = Project::of_script(file)?;
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        action: "read",
        path: file.display().to_string(),
        source,
    })?;
    let shown = project.display(file);
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let session = Session::new(project, g.env.clone(), tokio::runtime::Handle::current());
    let run = Run::adhoc(&session, &name, &shown, &text, None);
    let evaluated = script::evaluate_in(session.clone(), file).await;
    let stopped = evaluated.as_ref().err().map(Error::stopped);
    run.end_adhoc(&session.project, stopped.as_ref()).await;
    let evaluated = evaluated?;
    if evaluated.declarations.is_stack() {
        return converge(file, g, yes, Mode::Apply).await;
    }
    if !evaluated.result.is_null() {
        print_json(&evaluated.result);
    }
    Ok(exit::OK)
}

async fn converge(file: &Path, g: &Global, yes: bool, mode: Mode) -> Result<u8> {
    let started = Instant::now();
    let (_e, mut l) = load(file, g, mode, false).await?;
    let (planned, cx) = make_plan(&l, mode, true, started).await?;
    let verdicts = l.judge(&planned.plan)?;
    show::announce(&planned.plan, &verdicts, g);
    policy::refuse_denied(&verdicts)?;
    if planned.plan.has_changes() {
        let question = match mode {
            Mode::Destroy => format!("Destroy everything stack `{}` owns?", l.env.name),
            _ => format!("Apply these changes to stack `{}`?", l.env.name),
        };
        if !confirm(&question, yes)? {
            eprintln!("Nothing was changed.");
            return Ok(exit::OK);
        }
    }
    execute(cx, &mut l, planned, g, mode, started).await
}

/// Applies a refreshed plan (its connection in `cx`), saving state as it goes, and reports.
pub(super) async fn execute(
    cx: Option<Context>,
    l: &mut Loaded,
    mut planned: Planned,
    g: &Global,
    mode: Mode,
    started: Instant,
) -> Result<u8> {
    let Some(cx) = cx else {
        return Err(Error::usage("internal: apply without a connection"));
    };
    let opts = ApplyOptions {
        parallelism: usize::from(g.parallelism),
        progress: Progress::new(planned.nodes.len(), g.json),
    };
    let report = applier::apply(&cx, l.store.as_ref(), &mut l.state, &planned, &opts).await;
    // Even a failed apply changed the state: the DR region must see what it left.
    publish_dr_copy(l).await;
    let report = report?;
    planned.plan.stats = Stats {
        api_calls: api_calls(Some(&cx)),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let line = format!(
        "{} complete: {} created, {} updated, {} deleted{} ({} API calls, {:.1}s).",
        if mode == Mode::Destroy {
            "Destroy"
        } else {
            "Apply"
        },
        report.created,
        report.updated,
        report.deleted,
        crate::plan_view::moved_clause(report.moved),
        planned.plan.stats.api_calls,
        planned.plan.stats.elapsed_ms as f64 / 1000.0
    );
    if g.json {
        eprintln!("{line}");
        print_json(&serde_json::json!({
            "stack": l.env.name,
            "created": report.created,
            "updated": report.updated,
            "deleted": report.deleted,
            "moved": report.moved,
            "outputs": l.state.outputs,
            "stats": planned.plan.stats,
        }));
    } else {
        println!("{}", crate::style::green(&line));
        if !l.state.outputs.is_empty() {
            println!("\nOutputs:");
            for (k, v) in &l.state.outputs {
                println!("  {k} = {v}");
            }
        }
    }
    Ok(exit::OK)
}

/// Writes the DR copy of the stack's state beside its DR peer's state (`peers.dr`), so the DR
/// region reads it while this region is down. A failure is a warning: the apply itself is done,
/// and `dr-readiness` reports the copy as stale until the next apply writes it.
async fn publish_dr_copy(l: &Loaded) {
    let Some(peer) = &l.dr_peer else {
        return;
    };
    let name = DrCopy::name(&l.env.name);
    let copy = DrCopy::of(&l.state);
    match peer.put_beside(&name, &copy.encode()).await {
        Ok(()) => eprintln!(
            "{}",
            crate::style::dim(&format!(
                "DR copy of the state (serial {}) written to `{}`.",
                copy.serial,
                peer.beside(&name)
            ))
        ),
        Err(e) => eprintln!(
            "{} the DR copy of stack `{}` was not written to `{}`: {e}\nhint: the DR runbooks read the primary's outputs there while its region is down; apply again once it is reachable",
            crate::style::yellow("warning:"),
            l.env.name,
            peer.beside(&name)
        ),
    }
}

/// `eprun outputs FILE`.
pub async fn outputs(file: &Path, g: &Global) -> Result<u8> {
    let evaluated = script::evaluate(file, g.env.clone()).await?;
    let Some(env) = evaluated.declarations.environment.clone() else {
        return Err(Error::usage(format!(
            "`{}` declares no stack",
            file.display()
        )));
    };
    let store = stores::open(&evaluated.session.project, &env);
    let outputs = store.load().await?.map(|s| s.outputs).unwrap_or_default();
    if g.json {
        print_json(&serde_json::to_value(&outputs).unwrap_or_default());
    } else if outputs.is_empty() {
        eprintln!("stack `{}` has no outputs yet: apply it first", env.name);
    } else {
        for (k, v) in &outputs {
            println!("{k} = {v}");
        }
    }
    Ok(exit::OK)
}

/// The AWS requests sent through a context so far (none without one).
fn api_calls(cx: Option<&Context>) -> u64 {
    cx.and_then(|cx| Aws::of(cx).ok())
        .map_or(0, |aws| aws.api_calls())
}
