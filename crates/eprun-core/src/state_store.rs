//! Where state lives, as the core sees it: the store trait, its errors, its lock, and the checksummed
//! file format every backend writes.

use crate::digest::sha256;
use crate::state::{FORMAT_VERSION, State};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// State that cannot be read, written or locked.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file is damaged; eprun refuses to touch it.
    #[error(
        "state file `{path}` is corrupt ({reason}); refusing to use it — the previous version is `{path}.backup`"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another run holds the lock.
    #[error(
        "state `{path}` is locked by {owner} (pid {pid}, `{operation}` since {since}); lock id `{id}`\nhint: if that run is gone, `eprun state unlock {id}` releases it"
    )]
    Locked {
        /// The state's location.
        path: String,
        /// The lock's id.
        id: String,
        /// user@host of the holder.
        owner: String,
        /// The holder's process id.
        pid: u32,
        /// What the holder is doing.
        operation: String,
        /// When it took the lock.
        since: String,
    },
    /// The file belongs to another stack or lineage.
    #[error("state `{path}` {reason}")]
    Mismatch {
        /// The file.
        path: String,
        /// How it differs.
        reason: String,
    },
    /// `state unlock` named a lock that is not there.
    #[error("no lock `{id}` on `{path}`{detail}")]
    NoSuchLock {
        /// The state's location.
        path: String,
        /// The id asked for.
        id: String,
        /// What is there instead.
        detail: String,
    },
    /// The file system failed.
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

impl StateError {
    /// The state at `path` is locked by the holder `info` describes.
    pub fn locked(path: String, info: LockInfo) -> Self {
        StateError::Locked {
            path,
            id: info.id,
            owner: info.owner,
            pid: info.pid,
            operation: info.operation,
            since: info.since,
        }
    }
}

/// Who holds a lock, for what, since when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock's id, for `eprun state unlock`.
    pub id: String,
    /// user@host.
    pub owner: String,
    /// The holder's process id.
    pub pid: u32,
    /// `apply`, `destroy`, …
    pub operation: String,
    /// RFC 3339 time the lock was taken.
    pub since: String,
    /// RFC 3339 time after which the lock is stale unless renewed (S3 locks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl LockInfo {
    /// A new lock record for this process.
    pub fn new(operation: &str) -> Self {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            owner: format!("{user}@{host}"),
            pid: std::process::id(),
            operation: operation.into(),
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            expires: None,
        }
    }
}

/// A held lock; dropping it releases the lock.
pub struct LockGuard {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl LockGuard {
    /// A guard that runs `release` when dropped.
    pub fn new(release: impl FnOnce() + Send + 'static) -> Self {
        Self {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// A place that stores one stack's state.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Where the state lives, for messages.
    fn location(&self) -> String;
    /// Reads the state, if there is one.
    async fn load(&self) -> Result<Option<State>, StateError>;
    /// Writes the state atomically, bumping its serial and keeping the previous version.
    async fn save(&self, state: &mut State) -> Result<(), StateError>;
    /// Takes the lock for an operation, or says who holds it.
    async fn lock(&self, operation: &str) -> Result<LockGuard, StateError>;
    /// Releases a lock whose holder is gone.
    async fn unlock(&self, id: &str) -> Result<(), StateError>;
    /// Where the document `name` kept beside this state is (same directory, or bucket root).
    fn beside(&self, name: &str) -> String;
    /// Reads the document `name` kept beside this state, if there is one.
    async fn get_beside(&self, name: &str) -> Result<Option<String>, StateError>;
    /// Writes the document `name` beside this state (e.g. another region's DR copy).
    async fn put_beside(&self, name: &str, text: &str) -> Result<(), StateError>;
}

/// The state file as written: a checksum over the state it carries.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    checksum: String,
    state: serde_json::Value,
}

const FORMAT: &str = "eprun-state";

/// Encodes a state with its checksum.
pub fn encode(state: &State) -> String {
    let value = serde_json::to_value(state).unwrap_or_default();
    let sum = sha256(&value.to_string());
    let env = Envelope {
        format: FORMAT.into(),
        checksum: sum,
        state: value,
    };
    serde_json::to_string_pretty(&env).unwrap_or_default() + "\n"
}

/// Decodes and verifies a state file's text.
pub fn decode(path: &str, text: &str) -> Result<State, StateError> {
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.into(),
        reason,
    };
    let env: Envelope =
        serde_json::from_str(text).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
    if env.format != FORMAT {
        return Err(corrupt(format!(
            "format is `{}`, not `{FORMAT}`",
            env.format
        )));
    }
    if sha256(&env.state.to_string()) != env.checksum {
        return Err(corrupt(
            "checksum mismatch: the file was changed or cut short".into(),
        ));
    }
    let state: State = serde_json::from_value(env.state)
        .map_err(|e| corrupt(format!("unexpected content: {e}")))?;
    if state.version > FORMAT_VERSION {
        return Err(corrupt(format!(
            "written by a newer eprun (format {})",
            state.version
        )));
    }
    Ok(state)
}
