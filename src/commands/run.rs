//! `eprun run FILE`: a runbook's steps in order, with a journal, dry run and resume.

use crate::cli::Global;
use crate::engine;
use crate::error::{Error, Result};
use crate::journal::{self, Record, RunStatus};
use crate::project::Project;
use crate::runbook::{self, Resumed, Run, Settings, Stop};
use crate::script::script_error;
use crate::session::Session;
use crate::style;
use crate::style::print_json;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

/// The flags of `eprun run`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Show mutating calls instead of making them.
    pub dry_run: bool,
    /// The run to continue.
    pub resume: Option<String>,
    /// `name=value` parameters.
    pub params: Vec<String>,
    /// Answer yes to every `confirm`.
    pub yes: bool,
    /// `--force REASON`: past the DR safety rules that readiness fails.
    pub force: Option<String>,
}

/// Why the script did not run to its end.
pub(super) struct Failure {
    /// The error as the user sees it (rendered with the source line).
    pub(super) error: Error,
    /// The error as one line, for the journal.
    pub(super) plain: String,
}

impl Failure {
    /// A script error, rendered for the user and as one scrubbed line for the journal.
    pub(super) fn of(
        e: &rhai::EvalAltResult,
        top: &str,
        session: &Session,
        engine: &rhai::Engine,
    ) -> Self {
        let loc = crate::diagnostic::locate(e, top, &[]);
        let plain = if loc.line > 0 {
            format!(
                "{}:{}:{}: {}",
                loc.source, loc.line, loc.column, loc.message
            )
        } else {
            format!("{}: {}", loc.source, loc.message)
        };
        Self {
            error: script_error(e, top, session, engine),
            plain: crate::secret::scrub(&plain),
        }
    }
}

/// Runs a runbook.
pub async fn run(file: &Path, g: &Global, opts: Options) -> Result<u8> {
    if opts.force.as_ref().is_some_and(|why| why.trim().is_empty()) {
        return Err(Error::usage(
            "--force needs a reason, which the journal keeps: --force \"why\"",
        ));
    }
    let project = Project::of_script(file)?;
    let given = parse_params(&opts.params)?;
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        action: "read",
        path: file.display().to_string(),
        source,
    })?;
    let file_hash = journal::hash(&text);
    let shown = project.display(file);
    let (id, resumed, resumed_env) = match &opts.resume {
        Some(id) => {
            let (id, records) = load_resumable(&project, id, g, &shown, opts.dry_run).await?;
            let env = journal::started(&records).and_then(|s| s.env.map(str::to_string));
            let resumed = Resumed::from_records(&records, &file_hash)
                .ok_or_else(|| Error::usage(format!("run `{id}` has no start record")))?;
            (id, Some(resumed), env)
        }
        None => (journal::new_id(), None, None),
    };
    let session = Session::new(
        project,
        g.env.clone().or(resumed_env),
        tokio::runtime::Handle::current(),
    );
    session.mutations.set_dry_run(opts.dry_run);
    let settings = Settings {
        id,
        file: shown,
        file_arg: file.display().to_string(),
        file_hash,
        dry_run: opts.dry_run,
        adhoc: false,
        yes: opts.yes,
        interactive: std::io::stdin().is_terminal(),
        given,
        resumed,
        force: opts.force.clone(),
    };
    let run = Run::new(settings, &session);
    session.mutations.set_recorder(run.recorder());
    let _attached = runbook::attach(&session, &run);

    let outcome = evaluate(file, &session, &run).await?;
    let Some(decl) = run.declared() else {
        // Nothing started: no journal, just what went wrong.
        return match outcome {
            Err(f) => Err(f.error),
            Ok(()) => Err(Error::usage(format!(
                "`{}` never called `runbook(#{{ name: ... }})`, so it ran as a plain script",
                run.settings().file
            ))),
        };
    };
    finish(&run, &decl.name, outcome, g).await
}

/// Compiles and evaluates the script on a blocking thread. `Err` when it could not start;
/// `Ok(Err)` when it stopped on the way.
async fn evaluate(
    file: &Path,
    session: &Session,
    run: &Arc<Run>,
) -> Result<std::result::Result<(), Failure>> {
    let path = file.to_path_buf();
    let (s, r) = (session.clone(), run.clone());
    tokio::task::spawn_blocking(move || {
        let mut engine = engine::build(&s);
        let printer = r.clone();
        engine.on_print(move |text| printer.log(text));
        let debugger = r.clone();
        engine.on_debug(move |text, _, _| debugger.log(text));
        let top = s.project.display(&path);
        let (ast, _) = engine::compile_file(&engine, &s, &path)
            .map_err(|e| script_error(&e, &top, &s, &engine))?;
        let scan = runbook::scan(&ast);
        if !scan.is_runbook {
            return Err(Error::usage(format!(
                "`{top}` is not a runbook: it never calls `runbook(#{{ name: ... }})`; run other scripts with `eprun {}`",
                path.display()
            )));
        }
        r.set_total(scan.steps);
        let settings = r.settings();
        if !settings.dry_run
            && !settings.yes
            && !settings.interactive
            && let Some(line) = scan.first_confirm
        {
            return Err(Error::usage(format!(
                "`{top}` asks for confirmation (`confirm` at line {line}), which needs --yes without a TTY; nothing was run\nhint: look first with `eprun run {} --dry-run`, then pass `--yes`",
                path.display()
            )));
        }
        Ok(engine::run(&engine, &ast)
            .map(|_| ())
            .map_err(|e| Failure::of(&e, &top, &s, &engine)))
    })
    .await
    .map_err(|e| Error::Script(format!("the runbook thread failed: {e}")))?
}

/// Records the end, says how it went and how to go on, and gives the exit code.
async fn finish(
    run: &Run,
    name: &str,
    outcome: std::result::Result<(), Failure>,
    g: &Global,
) -> Result<u8> {
    let settings = run.settings();
    let secs = run.elapsed().as_secs_f64();
    let (status, code, error) = match outcome {
        Ok(()) => (RunStatus::Ok, 0, None),
        Err(f) => {
            let stop = run.take_stop();
            let rendered = crate::secret::scrub(&f.error.to_string());
            match (&f.error, stop) {
                (Error::Interrupted, _) => {
                    let at = run
                        .stopped_in()
                        .map(|i| format!(" in step {i}"))
                        .unwrap_or_default();
                    eprintln!("{}", style::red(&format!("Interrupted (Ctrl-C){at}.")));
                    (RunStatus::Interrupted, 130, Some(f.plain))
                }
                (_, Some(Stop::Declined(why))) => {
                    eprintln!("{}", style::red(&format!("Stopped: {why}.")));
                    (RunStatus::Stopped, 1, Some(why))
                }
                (_, Some(Stop::NeedsYes(_))) => {
                    eprintln!("{rendered}");
                    (RunStatus::Stopped, 1, Some(f.plain))
                }
                _ => {
                    eprintln!("{rendered}");
                    (RunStatus::Failed, 1, Some(f.plain))
                }
            }
        }
    };
    run.finish(status, error).await;
    let (done, total) = run.progress();
    let journal = run.journal();
    if status == RunStatus::Ok {
        let dry = if settings.dry_run {
            " (dry run: no mutating call was made)"
        } else {
            ""
        };
        eprintln!(
            "{}",
            style::green(&format!(
                "✓ Runbook {name} finished: {done}/{total} steps in {secs:.1}s{dry}"
            ))
        );
    } else {
        let dry = if settings.dry_run { " --dry-run" } else { "" };
        eprintln!(
            "{}/{} steps done. Resume with: eprun run {} --resume {}{dry}",
            done,
            total,
            settings.file_arg,
            run.id()
        );
    }
    if let Some(j) = &journal {
        let copy = j
            .s3()
            .map(|s| format!(" (and {})", s.url(run.id())))
            .unwrap_or_default();
        eprintln!(
            "{}",
            style::dim(&format!(
                "Journal: {}{copy} · `eprun runs show {}`",
                j.path().display(),
                run.id()
            ))
        );
    }
    if g.json {
        let records = journal.as_ref().and_then(|j| {
            let text = std::fs::read_to_string(j.path()).ok()?;
            journal::parse(run.id(), &text).ok()
        });
        print_json(&serde_json::json!({
            "steps": step_results(records.as_deref().unwrap_or_default()),
            "run_id": run.id(),
            "runbook": name,
            "status": status.word(),
            "steps_done": done,
            "steps_total": total,
            "dry_run": settings.dry_run,
            "journal": journal.as_ref().map(|j| j.path().display().to_string()),
        }));
    }
    Ok(code)
}

/// Each step's latest end in the journal: `{index, name, status, result, error}`.
fn step_results(records: &[Record]) -> Vec<serde_json::Value> {
    let mut last = BTreeMap::new();
    for r in records {
        if let journal::Event::StepEnd {
            index,
            name,
            status,
            result,
            error,
            ..
        } = &r.event
        {
            let step = serde_json::json!({
                "index": index, "name": name, "status": status, "result": result, "error": error,
            });
            last.insert(*index, step);
        }
    }
    last.into_values().collect()
}

/// `--param name=value` pairs.
fn parse_params(raw: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for p in raw {
        let Some((k, v)) = p.split_once('=') else {
            return Err(Error::usage(format!(
                "--param `{p}`: expected `name=value`"
            )));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(Error::usage(format!("--param `{p}`: the name is missing")));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::usage(format!("--param `{k}` is given twice")));
        }
    }
    Ok(out)
}

/// The journal of a run to resume (copied from S3 when only the environment's bucket has it),
/// checked: it must exist, not be finished or running, and have the same dry-run mode.
async fn load_resumable(
    project: &Project,
    id: &str,
    g: &Global,
    file: &str,
    dry_run: bool,
) -> Result<(String, Vec<Record>)> {
    let id = super::runs::resolve_id(project, id, g).await?;
    let records = match journal::read_local(project, &id)? {
        Some(r) => r,
        None => {
            let (text, _) = super::runs::fetch_s3(g, &id).await?.ok_or_else(|| {
                Error::usage(format!("no run `{id}`: `eprun runs list` shows the runs"))
            })?;
            // Keep a local copy so this attempt appends to the whole journal.
            let path = journal::local_path(project, &id);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            std::fs::write(&path, &text).map_err(|source| Error::Io {
                action: "write",
                path: path.display().to_string(),
                source,
            })?;
            journal::parse(&id, &text)?
        }
    };
    let Some(start) = journal::started(&records) else {
        return Err(Error::usage(format!(
            "run `{id}` has no start record: nothing to resume"
        )));
    };
    match journal::status(&records).as_str() {
        "ok" => {
            return Err(Error::usage(format!(
                "run `{id}` already finished: every step is done; start a new run without --resume"
            )));
        }
        "running" => {
            return Err(Error::usage(format!(
                "run `{id}` is still running (its process is alive); wait for it or stop it first"
            )));
        }
        _ => {}
    }
    if start.dry_run != dry_run {
        let (was, now) = if start.dry_run {
            ("a dry run", "without --dry-run")
        } else {
            ("a real run", "with --dry-run")
        };
        return Err(Error::usage(format!(
            "run `{id}` was {was}; it cannot be resumed {now} (start a new run instead)"
        )));
    }
    if start.file != file {
        eprintln!(
            "{} run `{id}` was started from `{}`; resuming it with `{file}`",
            style::yellow("warning:"),
            start.file
        );
    }
    Ok((id, records))
}
