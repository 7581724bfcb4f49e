//! The crate's error: one enum per area, folded together here.

use crate::cloud_error::CloudError;

/// Everything that can stop an eprun command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A script failed to compile or run (already rendered with its location), or its thread did.
    #[error("{0}")]
    Script(String),
    /// A script error rendered with its location that opens with its own `error:` line.
    #[error("{0}")]
    Rendered(String),
    /// An environment file is missing or malformed.
    #[error(transparent)]
    Environment(#[from] crate::environment::EnvironmentError),
    /// State could not be read, written or locked.
    #[error(transparent)]
    State(#[from] crate::state_store::StateError),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] CloudError),
    /// The plan cannot be made (cycle, protected resource, …).
    #[error(transparent)]
    Plan(#[from] crate::planner::PlanError),
    /// A resource cannot be re-addressed (`eprun state mv`).
    #[error(transparent)]
    Move(#[from] crate::moved::MoveError),
    /// Apply stopped after a failure; state was saved.
    #[error(transparent)]
    Apply(#[from] crate::applier::ApplyError),
    /// No project holds the script or the current directory.
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    /// A run journal could not be read or written.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// A policy cannot be read or run, or it denies the plan.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// A saved plan cannot be read or written, or it is stale.
    #[error(transparent)]
    SavedPlan(#[from] crate::saved_plan::SavedPlanError),
    /// A command was used wrongly.
    #[error("{message}")]
    Usage {
        /// What was wrong.
        message: String,
    },
    /// The user pressed Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// Reading or writing a local file failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What eprun was doing.
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// A usage error with a message.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self::Usage {
            message: message.to_string(),
        }
    }

    /// How a run this error stopped is recorded in its journal.
    pub fn stopped(&self) -> crate::runbook::Stopped {
        match self {
            Error::Interrupted => crate::runbook::Stopped::Interrupted,
            other => crate::runbook::Stopped::Failed(other.to_string()),
        }
    }

    /// Whether the message opens with its own `error:` line (a script or policy error rendered
    /// for a log), so it is printed as it is.
    pub fn headed(&self) -> bool {
        matches!(
            self,
            Error::Rendered(_) | Error::Policy(crate::policy::PolicyError::Script { .. })
        )
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted
            | Error::Policy(crate::policy::PolicyError::Interrupted)
            | Error::Apply(crate::applier::ApplyError::Interrupted { .. }) => 130,
            _ => 1,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
