//! `eprun runs list|show ID`: runbook journals, local and (with `--env` naming an environment
//! whose state is in S3) the team's copies in the state bucket.

use crate::cli::{Global, RunsAction};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::journal::{self, Event, Record, S3Location, StepStatus, Summary};
use crate::project::Project;
use crate::style;
use crate::style::print_json;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Lists runs or shows one.
pub async fn run(action: RunsAction, g: &Global) -> Result<u8> {
    let project = Project::find(Path::new("."))?;
    match action {
        RunsAction::List => list(&project, g).await,
        RunsAction::Show { id } => show(&project, &id, g).await,
    }
}

/// Every run's journal: local ones, plus those only the S3 bucket of `--env` holds.
async fn all_runs(project: &Project, g: &Global) -> Result<BTreeMap<String, Vec<Record>>> {
    let mut runs = BTreeMap::new();
    for id in journal::local_ids(project) {
        match journal::read_local(project, &id) {
            Ok(Some(records)) => {
                runs.insert(id, records);
            }
            Ok(None) => {}
            Err(e) => eprintln!("{} {e}", style::yellow("warning:")),
        }
    }
    if let Some(s3) = s3_location(project, g)? {
        let ids = s3.list().await.map_err(Error::Aws)?;
        for id in ids {
            if runs.contains_key(&id) {
                continue;
            }
            if let Some(text) = s3.get(&id).await.map_err(Error::Aws)? {
                match journal::parse(&s3.url(&id), &text) {
                    Ok(records) => {
                        runs.insert(id, records);
                    }
                    Err(e) => eprintln!("{} {e}", style::yellow("warning:")),
                }
            }
        }
    }
    Ok(runs)
}

/// A run id from a whole id or a unique prefix of one.
pub(super) async fn resolve_id(project: &Project, given: &str, g: &Global) -> Result<String> {
    if !journal::valid_id(given) {
        return Err(Error::usage(format!("`{given}` is not a run id")));
    }
    if journal::local_path(project, given).exists() {
        return Ok(given.to_string());
    }
    let mut ids = journal::local_ids(project);
    if let Some(s3) = s3_location(project, g)? {
        ids.extend(s3.list().await.map_err(Error::Aws)?);
    }
    ids.sort();
    ids.dedup();
    let matching: Vec<&String> = ids.iter().filter(|id| id.starts_with(given)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::usage(format!(
            "no run `{given}`: `eprun runs list` shows the runs{}",
            if g.env.is_none() {
                " (add `--env NAME` to look in an environment's S3 state bucket too)"
            } else {
                ""
            }
        ))),
        many => Err(Error::usage(format!(
            "`{given}` matches {} runs ({}); give more of the id",
            many.len(),
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A journal from the S3 bucket of `--env`: its text and location.
pub(super) async fn fetch_s3(g: &Global, id: &str) -> Result<Option<(String, String)>> {
    let project = Project::find(Path::new("."))?;
    let Some(s3) = s3_location(&project, g)? else {
        return Ok(None);
    };
    Ok(s3
        .get(id)
        .await
        .map_err(Error::Aws)?
        .map(|t| (t, s3.url(id))))
}

async fn list(project: &Project, g: &Global) -> Result<u8> {
    let runs = all_runs(project, g).await?;
    let mut summaries: Vec<Summary> = runs
        .iter()
        .map(|(id, records)| journal::summarize(id, records))
        .collect();
    summaries.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    if g.json {
        print_json(&serde_json::to_value(&summaries).unwrap_or_default());
        return Ok(0);
    }
    if summaries.is_empty() {
        eprintln!(
            "No runs yet (journals live in {}).",
            journal::local_dir(project).display()
        );
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = summaries
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.runbook.clone(),
                short_time(&s.started),
                if s.dry_run {
                    format!("{} (dry run)", s.status)
                } else {
                    s.status.clone()
                },
                progress(s),
                s.env.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["ID", "RUNBOOK", "STARTED", "STATUS", "STEPS", "ENV"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", style::bold(&line(&header.map(String::from))));
    for r in &rows {
        let text = line(r);
        let colored = match r[3].split(' ').next().unwrap_or_default() {
            "ok" => text,
            "running" => style::yellow(&text),
            _ => style::red(&text),
        };
        println!("{colored}");
    }
    Ok(0)
}

/// How far a run got: `2/3` steps, or for code run on the spot, which has no steps,
/// `ad hoc, 1 mutation`.
fn progress(s: &Summary) -> String {
    if !s.adhoc {
        return format!("{}/{}", s.steps_done, s.steps_total);
    }
    let plural = if s.mutations == 1 { "" } else { "s" };
    format!("ad hoc, {} mutation{plural}", s.mutations)
}

/// `2026-11-26T01:15:00.123Z` → `2026-11-26 01:15:00Z`.
fn short_time(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%SZ")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

/// `HH:MM:SS.mmm` of a record.
fn clock(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d
            .with_timezone(&chrono::Utc)
            .format("%H:%M:%S%.3f")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

fn day(t: &str) -> String {
    t.get(..10).unwrap_or(t).to_string()
}

async fn show(project: &Project, given: &str, g: &Global) -> Result<u8> {
    let id = resolve_id(project, given, g).await?;
    let (records, location) = match journal::read_local(project, &id)? {
        Some(r) => (r, journal::local_path(project, &id).display().to_string()),
        None => match fetch_s3(g, &id).await? {
            Some((text, url)) => (journal::parse(&url, &text)?, url),
            None => return Err(Error::usage(format!("no run `{id}`"))),
        },
    };
    if g.json {
        let values: Vec<Value> = records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect();
        print_json(&Value::Array(values));
        return Ok(0);
    }
    print!("{}", timeline(&id, &records, &location));
    print!("{}", recovery(project, &records));
    Ok(0)
}

/// The time from the run's start to each milestone, against the RTO of the run's environment
/// (`[dr] rto_minutes`); empty for a run without milestones.
fn recovery(project: &Project, records: &[Record]) -> String {
    let reached = journal::milestones(records);
    if reached.is_empty() {
        return String::new();
    }
    let env = journal::started(records).and_then(|s| s.env);
    let rto =
        env.and_then(|name| Some((name, Environment::load(project, name).ok()?.dr?.rto_minutes)));
    let mut out = match &rto {
        Some((env, minutes)) => format!(
            "\n{}\n",
            style::bold(&format!("Recovery time (RTO {minutes} min, from {env})"))
        ),
        None => format!(
            "\n{}\n",
            style::bold("Recovery time (no RTO: the environment has no `[dr] rto_minutes`)")
        ),
    };
    for (name, ms) in reached {
        let verdict = match &rto {
            Some((_, minutes)) if ms <= i64::from(*minutes) * 60_000 => {
                style::green("within the RTO")
            }
            Some(_) => style::red("over the RTO"),
            None => String::new(),
        };
        out.push_str(&format!(
            "  {name:<24} {:>9} after the start  {verdict}\n",
            secs(u64::try_from(ms).unwrap_or(0))
        ));
    }
    out
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn show_params(params: &BTreeMap<String, Value>) -> String {
    params
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The journal as a readable timeline.
fn timeline(id: &str, records: &[Record], location: &str) -> String {
    let summary = journal::summarize(id, records);
    let mut out = String::new();
    let total = summary.steps_total;
    let mut names: BTreeMap<usize, String> = BTreeMap::new();
    for r in records {
        if let Event::Start {
            runbook,
            summary: about,
            file,
            file_hash,
            params,
            dry_run,
            env,
            origin,
            ..
        } = &r.event
        {
            let title = match about {
                Some(s) => format!("Run {id} · runbook {runbook}: {s}"),
                None => format!("Run {id} · runbook {runbook}"),
            };
            out.push_str(&format!("{}\n", style::bold(&title)));
            let hash = file_hash.get(..19).unwrap_or(file_hash);
            out.push_str(&format!("  file     {file} ({hash}…)\n"));
            out.push_str(&format!(
                "  env      {}\n",
                env.as_deref().unwrap_or("(none)")
            ));
            out.push_str(&format!(
                "  by       {} ({}@{}, pid {}, eprun {})\n",
                origin.caller.describe(),
                origin.user,
                origin.host,
                origin.pid,
                origin.eprun_version
            ));
            if !params.is_empty() {
                out.push_str(&format!("  params   {}\n", show_params(params)));
            }
            if *dry_run {
                out.push_str("  mode     dry run (mutating calls shown, not made)\n");
            }
        }
    }
    let progress = if summary.adhoc {
        progress(&summary)
    } else {
        format!(
            "{} steps done, {} attempt{}",
            progress(&summary),
            summary.attempts,
            if summary.attempts == 1 { "" } else { "s" }
        )
    };
    out.push_str(&format!("  status   {} ({progress})\n", summary.status));
    out.push_str(&format!("  journal  {location}\n\n"));
    let label = |index: usize, name: &str| {
        if index <= total {
            format!("Step {index}/{total}: {name}")
        } else {
            format!("Step {index}: {name}")
        }
    };
    let mut last_day = String::new();
    for r in records {
        let d = day(&r.t);
        if d != last_day {
            out.push_str(&format!("{}\n", style::dim(&format!("── {d}"))));
            last_day = d;
        }
        let at = clock(&r.t);
        let line = match &r.event {
            Event::Start { .. } => "started".to_string(),
            Event::Resume {
                file_changed,
                overrides,
                origin,
                ..
            } => {
                let mut s = format!("resumed by {}", origin.caller.describe());
                if !overrides.is_empty() {
                    s.push_str(&format!(", params {}", show_params(overrides)));
                }
                if *file_changed {
                    s.push_str(", script changed since the start");
                }
                s
            }
            Event::StepStart { index, name } => {
                names.insert(*index, name.clone());
                style::bold(&format!("▸ {}", label(*index, name)))
            }
            Event::StepSkip { index, name } => style::dim(&format!(
                "▸ {} — done earlier, skipped",
                label(*index, name)
            )),
            Event::StepEnd {
                status,
                duration_ms,
                error,
                result,
                ..
            } => {
                let mut s = match status {
                    StepStatus::Ok => style::green(&format!("  ✓ ok in {}", secs(*duration_ms))),
                    StepStatus::Failed => {
                        style::red(&format!("  ✗ failed after {}", secs(*duration_ms)))
                    }
                    StepStatus::Interrupted => {
                        style::red(&format!("  ✗ interrupted after {}", secs(*duration_ms)))
                    }
                    StepStatus::Stopped => {
                        style::red(&format!("  ✗ stopped after {}", secs(*duration_ms)))
                    }
                };
                if let Some(e) = error {
                    s.push_str(&format!(": {e}"));
                }
                if let Some(v) = result {
                    s.push_str(&format!(" → {v}"));
                }
                s
            }
            Event::Mutation {
                operation,
                target,
                env,
                outcome,
                error,
                ..
            } => {
                let mut s = format!("    {operation} {target}: {outcome}");
                if let Some(env) = env {
                    s.push_str(&format!(" (in {env})"));
                }
                if let Some(e) = error {
                    s.push_str(&format!(" — {e}"));
                }
                s
            }
            Event::Log { message, .. } => {
                let mut lines = message.lines();
                let first = lines.next().unwrap_or_default();
                let mut s = format!("    {first}");
                for l in lines {
                    s.push_str(&format!("\n{:14}    {l}", ""));
                }
                s
            }
            Event::Confirm {
                question, answer, ..
            } => format!("    ? {question} — {answer}"),
            Event::Milestone { name, .. } => style::bold(&format!("    ⏱ {name}")),
            Event::End {
                status,
                duration_ms,
                error,
                ..
            } => {
                let mut s = format!("ended: {} after {}", status.word(), secs(*duration_ms));
                if let Some(e) = error
                    && *status != journal::RunStatus::Ok
                {
                    s.push_str(&format!(" — {}", e.lines().next().unwrap_or_default()));
                }
                s
            }
            Event::Other => continue,
        };
        out.push_str(&format!("{at}  {line}\n"));
    }
    out
}

/// The S3 journal location of `--env`, when that environment keeps state in S3.
fn s3_location(project: &Project, g: &Global) -> Result<Option<S3Location>> {
    match &g.env {
        Some(name) => Ok(S3Location::of(&Environment::load(project, name)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened() {
        assert_eq!(
            short_time("2026-11-26T01:15:00.123Z"),
            "2026-11-26 01:15:00Z"
        );
        assert_eq!(clock("2026-11-26T01:15:00.123Z"), "01:15:00.123");
        assert_eq!(short_time("garbage"), "garbage");
    }

    #[test]
    fn adhoc_runs_show_their_mutations_instead_of_steps() {
        let mut s = Summary {
            id: "r".into(),
            runbook: "rb".into(),
            started: String::new(),
            status: "ok".into(),
            steps_done: 2,
            steps_total: 3,
            adhoc: false,
            mutations: 4,
            dry_run: false,
            env: None,
            caller: String::new(),
            attempts: 1,
        };
        assert_eq!(progress(&s), "2/3");
        s.adhoc = true;
        assert_eq!(progress(&s), "ad hoc, 4 mutations");
        s.mutations = 1;
        assert_eq!(progress(&s), "ad hoc, 1 mutation");
    }
}
