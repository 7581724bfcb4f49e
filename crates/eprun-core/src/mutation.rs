//! Mutating calls of imperative verbs: carried out and recorded, or, in a dry run, shown and skipped.

use crate::cloud_error::{CloudError, CloudErrorKind};
use futures::future::BoxFuture;
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

/// Why a recorder cannot take the next mutating call (its journal cannot be opened).
pub type RecordError = Box<dyn std::error::Error + Send + Sync>;

/// Where mutating calls are recorded (a runbook's journal).
pub trait Recorder: Send + Sync {
    /// Awaited before each mutating call is made or skipped; a recorder that opens its journal
    /// at the first one (`eprun eval`) opens it here. An error stops the call before it is made.
    fn before(&self) -> BoxFuture<'_, Result<(), RecordError>>;

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
        if let Some(r) = self.recorder()
            && let Err(e) = r.before().await
        {
            return Err(CloudError::new(
                operation,
                target,
                CloudErrorKind::Service("Client".into()),
                format!("not made: {e}"),
            ));
        }
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

    fn recorder(&self) -> Option<Arc<dyn Recorder>> {
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, operation: &str, target: &str, outcome: &Outcome) {
        if let Some(r) = self.recorder() {
            r.mutation(operation, target, outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it is told, in order; its `before` fails when `refuse` is set.
    #[derive(Default)]
    struct Log {
        seen: Mutex<Vec<String>>,
        refuse: bool,
    }

    impl Recorder for Log {
        fn before(&self) -> BoxFuture<'_, Result<(), RecordError>> {
            Box::pin(async move {
                self.seen.lock().unwrap().push("before".into());
                if self.refuse {
                    Err("no journal".into())
                } else {
                    Ok(())
                }
            })
        }

        fn mutation(&self, operation: &str, target: &str, outcome: &Outcome) {
            self.seen
                .lock()
                .unwrap()
                .push(format!("{operation} {target} {outcome:?}"));
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_recorder_is_ready_before_the_call_and_hears_its_outcome() {
        let log = Arc::new(Log::default());
        let m = Mutations::default();
        m.set_recorder(log.clone());
        let made = block_on(m.perform("Scale", "web", "", async {
            log.seen.lock().unwrap().push("call".into());
            Ok::<_, CloudError>(7)
        }));
        assert_eq!(made.unwrap(), Some(7));
        m.set_dry_run(true);
        let skipped = block_on(m.perform("Scale", "web", "3→5", async { Ok::<_, CloudError>(8) }));
        assert_eq!(skipped.unwrap(), None);
        assert_eq!(
            *log.seen.lock().unwrap(),
            [
                "before",
                "call",
                "Scale web Done",
                "before",
                "Scale web Skipped"
            ]
        );
    }

    #[test]
    fn a_recorder_that_cannot_start_stops_the_call() {
        let log = Arc::new(Log {
            refuse: true,
            ..Log::default()
        });
        let m = Mutations::default();
        m.set_recorder(log.clone());
        let err = block_on(m.perform("Scale", "web", "", async {
            log.seen.lock().unwrap().push("call".into());
            Ok::<_, CloudError>(())
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`Scale` on `web` failed: not made: no journal"
        );
        assert_eq!(*log.seen.lock().unwrap(), ["before"]);
    }
}
