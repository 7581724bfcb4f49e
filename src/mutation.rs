//! Mutating calls of imperative verbs: carried out and recorded, or, in a dry run, shown and skipped.

use crate::aws::CloudError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What became of one mutating call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It was made and succeeded.
    Done,
    /// It was made and failed; the message says why.
    Failed(String),
    /// A dry run skipped it.
    Skipped,
}

/// Where mutating calls are recorded (a runbook's journal).
pub trait Recorder: Send + Sync {
    /// One mutating call: the API operation, its target (never a secret value) and its outcome.
    fn mutation(&self, operation: &str, target: &str, outcome: &Outcome);
}

/// The session's policy for mutating calls: dry run or not, and who records them.
#[derive(Default)]
pub struct Mutations {
    dry_run: AtomicBool,
    recorder: Mutex<Option<Arc<dyn Recorder>>>,
}

impl Mutations {
    /// Turns dry-run mode on or off.
    pub fn set_dry_run(&self, on: bool) {
        self.dry_run.store(on, Ordering::SeqCst);
    }

    /// Whether mutating calls are skipped.
    pub fn dry_run(&self) -> bool {
        self.dry_run.load(Ordering::SeqCst)
    }

    /// Records every later mutating call with `recorder`.
    pub fn set_recorder(&self, recorder: Arc<dyn Recorder>) {
        *self.recorder.lock().unwrap_or_else(|p| p.into_inner()) = Some(recorder);
    }

    /// Makes a mutating call, or in a dry run prints `would <operation> <target>: <detail>` on
    /// stderr and returns `None` without calling. Either way the call is recorded.
    pub async fn perform<T, F>(
        &self,
        operation: &str,
        target: &str,
        detail: &str,
        call: F,
    ) -> Result<Option<T>, CloudError>
    where
        F: std::future::Future<Output = Result<T, CloudError>>,
    {
        if self.dry_run() {
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            };
            eprintln!(
                "    {} {operation} {target}{detail}",
                crate::style::yellow("would")
            );
            self.record(operation, target, &Outcome::Skipped);
            return Ok(None);
        }
        let result = call.await;
        let outcome = match &result {
            Ok(_) => Outcome::Done,
            Err(e) => Outcome::Failed(e.to_string()),
        };
        self.record(operation, target, &outcome);
        result.map(Some)
    }

    fn record(&self, operation: &str, target: &str, outcome: &Outcome) {
        let recorder = self
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(r) = recorder {
            r.mutation(operation, target, outcome);
        }
    }
}
