//! Runbook journals: one JSON record per line, appended and flushed as the run goes, under
//! `<root>/.eprun/runs/<id>.jsonl`, mirrored to `runs/<id>.jsonl` beside the state object when
//! the environment keeps its state in S3. `eprun runs` reads them back.
//!
//! Every line passes through [`crate::secret::scrub`] before it is written, so a secret value
//! cannot reach a journal even if a script managed to put one into a message.

use crate::aws::{Aws, CloudError};
use crate::environment::{Environment, StateBackend};

/// A journal that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be opened, read or written.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What eprun was doing.
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line in the middle of the journal is not a record.
    #[error("journal `{name}` line {line} is damaged: {message}")]
    Damaged {
        /// The journal's name or path.
        name: String,
        /// The 1-based line number.
        line: usize,
        /// What the parser said.
        message: String,
    },
}

type Result<T, E = JournalError> = std::result::Result<T, E>;
use crate::project::Project;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One line of a journal: when, and what happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339 time with milliseconds, UTC.
    pub t: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Who ran it, from STS `GetCallerIdentity` (or why that could not be asked).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Caller {
    /// The caller's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The unique id of the user or role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Why the identity is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Caller {
    /// The ARN, or why it is unknown.
    pub fn describe(&self) -> String {
        match (&self.arn, &self.error) {
            (Some(arn), _) => arn.clone(),
            (None, Some(e)) => format!("unknown caller ({e})"),
            (None, None) => "unknown caller".into(),
        }
    }
}

/// Where and by whom a run (or a resumption of it) was started.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Origin {
    /// The AWS identity.
    pub caller: Caller,
    /// The local user name.
    pub user: String,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The eprun version.
    pub eprun_version: String,
}

impl Origin {
    /// This process, with an AWS identity.
    pub fn here(caller: Caller) -> Self {
        Self {
            caller,
            user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            host: this_host(),
            pid: std::process::id(),
            eprun_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

fn this_host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Its closure returned.
    Ok,
    /// Its closure threw or a call in it failed.
    Failed,
    /// Ctrl-C stopped it.
    Interrupted,
    /// A `confirm` in it was declined or could not be asked.
    Stopped,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step ran.
    Ok,
    /// A step or the script failed.
    Failed,
    /// Ctrl-C.
    Interrupted,
    /// A `confirm` was declined or needed `--yes`.
    Stopped,
}

impl RunStatus {
    /// The word `runs list` shows.
    pub fn word(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Stopped => "stopped",
        }
    }
}

/// What a journal line records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run began (written once `runbook(...)` accepted the parameters, or at the first
    /// mutating call of code run on the spot: `eprun eval`, the REPL, a plain script).
    Start {
        /// The run's id.
        run_id: String,
        /// `runbook(#{name})`.
        runbook: String,
        /// `runbook(#{summary})`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// The script, relative to the project root.
        file: String,
        /// `sha256:<hex>` of the script's text.
        file_hash: String,
        /// Every declared parameter with the value the run uses.
        params: BTreeMap<String, Value>,
        /// Whether mutating calls were only shown.
        dry_run: bool,
        /// The environment the run acts on by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<String>,
        /// How many `step` calls the script has (0 when unknown).
        total_steps: usize,
        /// Code run on the spot, which has no steps: `eprun eval`, the REPL, a plain script.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        adhoc: bool,
        /// Who and where.
        #[serde(flatten)]
        origin: Origin,
    },
    /// `--resume`: the run goes on, in another process.
    Resume {
        /// `sha256:<hex>` of the script's text now.
        file_hash: String,
        /// Whether the script changed since the run started.
        file_changed: bool,
        /// The parameters given again on the command line, which replace the journal's.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        overrides: BTreeMap<String, Value>,
        /// Whether mutating calls are only shown.
        dry_run: bool,
        /// How many `step` calls the script has now.
        total_steps: usize,
        /// Who and where.
        #[serde(flatten)]
        origin: Origin,
    },
    /// A step began.
    StepStart {
        /// 1-based position.
        index: usize,
        /// Its name.
        name: String,
    },
    /// A step that an earlier attempt finished was skipped.
    StepSkip {
        /// 1-based position.
        index: usize,
        /// Its name.
        name: String,
    },
    /// A step ended.
    StepEnd {
        /// 1-based position.
        index: usize,
        /// Its name.
        name: String,
        /// How.
        status: StepStatus,
        /// How long it took.
        duration_ms: u64,
        /// What its closure returned, when that is plain data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A mutating API call (made, failed, or skipped by a dry run).
    Mutation {
        /// The step it was made in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// The API operation, e.g. `UpdateHealthCheck`.
        operation: String,
        /// What it acted on (never a secret value).
        target: String,
        /// The environment it acted in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<String>,
        /// `done`, `failed` or `skipped`.
        outcome: String,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A `log(...)` or `print(...)` line.
    Log {
        /// The step it was written in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// The text.
        message: String,
    },
    /// A `milestone(...)`: the run reached a point its recovery time is measured to.
    Milestone {
        /// The step it was reached in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// What was reached, e.g. `traffic moved`.
        name: String,
    },
    /// A `confirm(...)` and how it was answered.
    Confirm {
        /// The step it was asked in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// The question.
        question: String,
        /// `yes`, `no`, `--yes`, `dry run` or `no terminal`.
        answer: String,
    },
    /// The run (or this attempt at it) ended.
    End {
        /// How.
        status: RunStatus,
        /// How long this attempt took.
        duration_ms: u64,
        /// Steps done so far, over every attempt.
        steps_done: usize,
        /// The step it stopped in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        /// Why it did not finish.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A record of a kind this version does not know.
    #[serde(other)]
    Other,
}

/// Each milestone the run reached, with the milliseconds from the run's first start to it (over
/// every attempt: a resumed run keeps counting from its start).
pub fn milestones(records: &[Record]) -> Vec<(String, i64)> {
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let Some(start) = records.first().and_then(|r| at(&r.t)) else {
        return Vec::new();
    };
    let reached = records.iter().filter_map(|r| match &r.event {
        Event::Milestone { name, .. } => {
            Some((name.clone(), (at(&r.t)? - start).num_milliseconds()))
        }
        _ => None,
    });
    reached.collect()
}

/// The current time as journals write it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new run id: UTC time to the second and a random suffix, so ids sort by start time.
pub fn new_id() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &suffix[..4]
    )
}

/// Whether `id` looks like a run id (no path tricks).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `<root>/.eprun/runs`.
pub fn local_dir(project: &Project) -> PathBuf {
    project.data_dir().join("runs")
}

/// `<root>/.eprun/runs/<id>.jsonl`.
pub fn local_path(project: &Project, id: &str) -> PathBuf {
    local_dir(project).join(format!("{id}.jsonl"))
}

/// Where an environment with S3 state keeps journals: `runs/` beside the state key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The state bucket.
    pub bucket: String,
    /// `<dir of the state key>/runs/`.
    pub prefix: String,
    /// The bucket's region.
    pub region: String,
}

impl S3Location {
    /// The journal location of an environment, when its state lives in S3.
    pub fn of(env: &Environment) -> Option<Self> {
        let StateBackend::S3(cfg) = &env.state else {
            return None;
        };
        let dir = match cfg.key.rfind('/') {
            Some(i) => &cfg.key[..=i],
            None => "",
        };
        Some(Self {
            bucket: cfg.bucket.clone(),
            prefix: format!("{dir}runs/"),
            region: cfg.region.clone().unwrap_or_else(|| env.region.clone()),
        })
    }

    /// The object key of a run's journal.
    pub fn key(&self, id: &str) -> String {
        format!("{}{id}.jsonl", self.prefix)
    }

    /// `s3://bucket/key` of a run's journal.
    pub fn url(&self, id: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(id))
    }

    async fn client(&self) -> aws_sdk_s3::Client {
        Aws::load(&self.region).await.s3()
    }

    /// Writes a journal's whole text.
    pub async fn put(&self, id: &str, text: String) -> Result<(), CloudError> {
        self.client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .content_type("application/x-ndjson")
            .body(text.into_bytes().into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::aws::from_sdk("PutObject", self.url(id), e))
    }

    /// Reads a journal's text, `None` when there is none.
    pub async fn get(&self, id: &str) -> Result<Option<String>, CloudError> {
        let out = match self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = crate::aws::from_sdk("GetObject", self.url(id), e);
                return if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let bytes = out.body.collect().await.map_err(|e| {
            CloudError::new(
                "GetObject",
                self.url(id),
                crate::aws::CloudErrorKind::Unreachable,
                e.to_string(),
            )
        })?;
        Ok(Some(
            String::from_utf8_lossy(&bytes.into_bytes()).into_owned(),
        ))
    }

    /// The ids of every journal under the prefix.
    pub async fn list(&self) -> Result<Vec<String>, CloudError> {
        let client = self.client().await;
        let mut ids = Vec::new();
        let mut pages = client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                crate::aws::from_sdk(
                    "ListObjectsV2",
                    format!("s3://{}/{}", self.bucket, self.prefix),
                    e,
                )
            })?;
            for o in page.contents() {
                if let Some(id) = o
                    .key()
                    .and_then(|k| k.strip_prefix(&self.prefix))
                    .and_then(|k| k.strip_suffix(".jsonl"))
                    .filter(|id| valid_id(id))
                {
                    ids.push(id.to_string());
                }
            }
        }
        Ok(ids)
    }
}

/// An open journal: each record is appended and flushed to disk before the next step.
pub struct Journal {
    id: String,
    path: PathBuf,
    file: Mutex<std::fs::File>,
    s3: Option<S3Location>,
    s3_warned: AtomicBool,
    write_warned: AtomicBool,
}

impl Journal {
    /// Starts the journal of a new run.
    pub fn create(project: &Project, id: &str, s3: Option<S3Location>) -> Result<Self> {
        Self::open(project, id, s3, true)
    }

    /// Opens the journal of a run being resumed, to append to it.
    pub fn append(project: &Project, id: &str, s3: Option<S3Location>) -> Result<Self> {
        Self::open(project, id, s3, false)
    }

    fn open(project: &Project, id: &str, s3: Option<S3Location>, new: bool) -> Result<Self> {
        let dir = local_dir(project);
        std::fs::create_dir_all(&dir).map_err(|source| JournalError::Io {
            action: "create",
            path: dir.display().to_string(),
            source,
        })?;
        let path = local_path(project, id);
        let mut options = std::fs::OpenOptions::new();
        options.append(true);
        if new {
            options.create_new(true);
        } else {
            options.create(true);
        }
        let file = options.open(&path).map_err(|source| JournalError::Io {
            action: "open",
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            id: id.to_string(),
            path,
            file: Mutex::new(file),
            s3,
            s3_warned: AtomicBool::new(false),
            write_warned: AtomicBool::new(false),
        })
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The local file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The S3 copy, if the environment keeps state in S3.
    pub fn s3(&self) -> Option<&S3Location> {
        self.s3.as_ref()
    }

    /// Appends one record and flushes it to disk. A failure is reported once on stderr; the run
    /// goes on (the caller decides whether a missing record matters).
    pub fn write(&self, event: Event) -> std::io::Result<()> {
        let record = Record { t: now(), event };
        let line = serde_json::to_string(&record).unwrap_or_default();
        let line = crate::secret::scrub(&line) + "\n";
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let result = file
            .write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .and_then(|()| file.sync_data());
        if let Err(e) = &result
            && !self.write_warned.swap(true, Ordering::SeqCst)
        {
            eprintln!(
                "{} cannot write the journal `{}`: {e}",
                crate::style::yellow("warning:"),
                self.path.display()
            );
        }
        result
    }

    /// Copies the journal to S3 (when the environment keeps state there). A failure is a
    /// warning, said once: the local journal is complete either way.
    pub async fn mirror(&self) {
        let Some(s3) = &self.s3 else {
            return;
        };
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(_) => return,
        };
        if let Err(e) = s3.put(&self.id, text).await
            && !self.s3_warned.swap(true, Ordering::SeqCst)
        {
            eprintln!(
                "{} cannot copy the journal to {}: {e}",
                crate::style::yellow("warning:"),
                s3.url(&self.id)
            );
        }
    }
}

/// Parses a journal's text. A last line cut short by a crash is ignored; a damaged line
/// elsewhere is an error naming it.
pub fn parse(name: &str, text: &str) -> Result<Vec<Record>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(JournalError::Damaged {
                    name: name.to_string(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Reads a local journal; `None` when there is none.
pub fn read_local(project: &Project, id: &str) -> Result<Option<Vec<Record>>> {
    let path = local_path(project, id);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path.display().to_string(), &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(JournalError::Io {
            action: "read",
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The ids of every local journal.
pub fn local_ids(project: &Project) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(local_dir(project))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
                .filter(|id| valid_id(id))
                .map(str::to_string)
        })
        .collect();
    ids.sort();
    ids
}

/// What `runs list` shows of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The run's id.
    pub id: String,
    /// The runbook's name.
    pub runbook: String,
    /// When it started.
    pub started: String,
    /// `ok`, `failed`, `interrupted`, `stopped`, `running` or `abandoned`.
    pub status: String,
    /// Steps done over every attempt.
    pub steps_done: usize,
    /// Steps the script has.
    pub steps_total: usize,
    /// Code run on the spot, which has no steps (`eprun eval`, the REPL, a plain script).
    pub adhoc: bool,
    /// Mutating calls recorded (made, failed or skipped).
    pub mutations: usize,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Who started it.
    pub caller: String,
    /// How many times it was started (1 + resumptions).
    pub attempts: usize,
}

/// The steps an earlier attempt finished, by index, with their names and recorded results.
pub fn done_steps(records: &[Record]) -> BTreeMap<usize, (String, Option<Value>)> {
    let mut done = BTreeMap::new();
    for r in records {
        if let Event::StepEnd {
            index,
            name,
            status: StepStatus::Ok,
            result,
            ..
        } = &r.event
        {
            done.insert(*index, (name.clone(), result.clone()));
        }
    }
    done
}

/// The start record's fields, if the journal has one.
pub struct Started<'a> {
    /// `runbook(#{name})`.
    pub runbook: &'a str,
    /// The script.
    pub file: &'a str,
    /// Its hash then.
    pub file_hash: &'a str,
    /// The parameters.
    pub params: &'a BTreeMap<String, Value>,
    /// Dry run or not.
    pub dry_run: bool,
    /// The environment.
    pub env: Option<&'a str>,
    /// When.
    pub t: &'a str,
}

/// The run's start record.
pub fn started(records: &[Record]) -> Option<Started<'_>> {
    records.iter().find_map(|r| match &r.event {
        Event::Start {
            runbook,
            file,
            file_hash,
            params,
            dry_run,
            env,
            ..
        } => Some(Started {
            runbook,
            file,
            file_hash,
            params,
            dry_run: *dry_run,
            env: env.as_deref(),
            t: &r.t,
        }),
        _ => None,
    })
}

/// The parameters in force at the end of the journal: the start's, with every resumption's
/// overrides applied.
pub fn params(records: &[Record]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for r in records {
        match &r.event {
            Event::Start { params, .. } => out = params.clone(),
            Event::Resume { overrides, .. } => {
                out.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())))
            }
            _ => {}
        }
    }
    out
}

/// The state a journal leaves its run in: the last attempt's end, or `running` / `abandoned`
/// when the last attempt has no end (its process is alive, or gone).
pub fn status(records: &[Record]) -> String {
    let mut state: Option<Result<RunStatus, &Origin>> = None;
    for r in records {
        match &r.event {
            Event::Start { origin, .. } | Event::Resume { origin, .. } => state = Some(Err(origin)),
            Event::End { status, .. } => state = Some(Ok(*status)),
            _ => {}
        }
    }
    match state {
        None => "empty".into(),
        Some(Ok(s)) => s.word().into(),
        Some(Err(origin)) => {
            if origin.host == this_host() && !alive(origin.pid) {
                "abandoned".into()
            } else {
                "running".into()
            }
        }
    }
}

fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The summary `runs list` shows.
pub fn summarize(id: &str, records: &[Record]) -> Summary {
    let start = started(records);
    let mut total = 0;
    let mut attempts = 0;
    let mut caller = String::new();
    let mut adhoc = false;
    let mut mutations = 0;
    for r in records {
        if let Event::Start { adhoc: true, .. } = &r.event {
            adhoc = true;
        }
        match &r.event {
            Event::Start {
                total_steps,
                origin,
                ..
            }
            | Event::Resume {
                total_steps,
                origin,
                ..
            } => {
                total = *total_steps;
                attempts += 1;
                if caller.is_empty() {
                    caller = origin.caller.describe();
                }
            }
            Event::StepStart { index, .. } | Event::StepSkip { index, .. } => {
                total = total.max(*index)
            }
            Event::Mutation { .. } => mutations += 1,
            _ => {}
        }
    }
    Summary {
        id: id.to_string(),
        runbook: start
            .as_ref()
            .map(|s| s.runbook.to_string())
            .unwrap_or_default(),
        started: start.as_ref().map(|s| s.t.to_string()).unwrap_or_default(),
        status: status(records),
        steps_done: done_steps(records).len(),
        steps_total: total,
        adhoc,
        mutations,
        dry_run: start.as_ref().is_some_and(|s| s.dry_run),
        env: start.as_ref().and_then(|s| s.env.map(str::to_string)),
        caller,
        attempts,
    }
}

/// `sha256:<hex>` of a text.
pub fn hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(event: Event) -> Record {
        Record { t: now(), event }
    }

    #[test]
    fn ids_sort_by_time_and_are_safe() {
        let id = new_id();
        assert!(valid_id(&id), "{id}");
        assert_eq!(id.len(), "20261126T011500Z-ab12".len());
        assert!(!valid_id("../x"));
        assert!(!valid_id(""));
    }

    #[test]
    fn records_round_trip_and_unknown_kinds_are_kept_apart() {
        let r = rec(Event::StepEnd {
            index: 2,
            name: "Scale".into(),
            status: StepStatus::Ok,
            duration_ms: 12,
            result: None,
            error: None,
        });
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"type\":\"step_end\""), "{line}");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert!(matches!(back.event, Event::StepEnd { index: 2, .. }));
        let other: Record =
            serde_json::from_str(r#"{"t":"x","type":"from_the_future","a":1}"#).unwrap();
        assert!(matches!(other.event, Event::Other));
    }

    #[test]
    fn a_line_cut_short_at_the_end_is_ignored() {
        let good = serde_json::to_string(&rec(Event::Log {
            step: None,
            message: "hi".into(),
        }))
        .unwrap();
        let text = format!("{good}\n{{\"t\":\"x\",\"ty");
        assert_eq!(parse("j", &text).unwrap().len(), 1);
        let text = format!("{{bad\n{good}\n");
        assert!(parse("j", &text).is_err());
    }

    #[test]
    fn status_and_done_steps_follow_attempts() {
        let origin = Origin::here(Caller::default());
        let mut records = vec![
            rec(Event::Start {
                run_id: "r".into(),
                runbook: "rb".into(),
                summary: None,
                file: "f".into(),
                file_hash: "h".into(),
                params: BTreeMap::new(),
                dry_run: false,
                env: None,
                total_steps: 3,
                adhoc: false,
                origin: origin.clone(),
            }),
            rec(Event::StepEnd {
                index: 1,
                name: "a".into(),
                status: StepStatus::Ok,
                duration_ms: 1,
                result: None,
                error: None,
            }),
            rec(Event::StepEnd {
                index: 2,
                name: "b".into(),
                status: StepStatus::Failed,
                duration_ms: 1,
                result: None,
                error: Some("boom".into()),
            }),
            rec(Event::End {
                status: RunStatus::Failed,
                duration_ms: 3,
                steps_done: 1,
                step: Some(2),
                error: Some("boom".into()),
            }),
        ];
        assert_eq!(status(&records), "failed");
        assert_eq!(done_steps(&records).len(), 1);
        records.push(rec(Event::Resume {
            file_hash: "h".into(),
            file_changed: false,
            overrides: BTreeMap::new(),
            dry_run: false,
            total_steps: 3,
            origin,
        }));
        assert_eq!(status(&records), "running");
        let s = summarize("r", &records);
        assert_eq!((s.steps_done, s.steps_total, s.attempts), (1, 3, 2));
    }

    #[test]
    fn an_adhoc_start_says_so_and_its_summary_counts_mutations() {
        let start = |adhoc| {
            rec(Event::Start {
                run_id: "r".into(),
                runbook: "repl".into(),
                summary: None,
                file: "<repl>".into(),
                file_hash: hash(""),
                params: BTreeMap::new(),
                dry_run: false,
                env: None,
                total_steps: 0,
                adhoc,
                origin: Origin::here(Caller::default()),
            })
        };
        let line = serde_json::to_string(&start(false)).unwrap();
        assert!(
            !line.contains("adhoc"),
            "runbook journals stay as they were: {line}"
        );
        let line = serde_json::to_string(&start(true)).unwrap();
        assert!(line.contains("\"adhoc\":true"), "{line}");
        let mutation = rec(Event::Mutation {
            step: None,
            operation: "UpdateHealthCheck".into(),
            target: "hc".into(),
            env: None,
            outcome: "done".into(),
            error: None,
        });
        let s = summarize("r", &[serde_json::from_str(&line).unwrap(), mutation]);
        assert!(s.adhoc);
        assert_eq!((s.mutations, s.steps_total), (1, 0));
    }

    #[test]
    fn s3_journals_live_beside_the_state_key() {
        let env: Environment = toml::from_str(
            "region = \"us-east-1\"\nrole = \"primary\"\n[state]\nbackend = \"s3\"\nbucket = \"b\"\nkey = \"prod/us-east-1.json\"\n",
        )
        .unwrap();
        let loc = S3Location::of(&env).unwrap();
        assert_eq!(loc.key("x"), "prod/runs/x.jsonl");
        assert_eq!(loc.region, "us-east-1");
    }
}
