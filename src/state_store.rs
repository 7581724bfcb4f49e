//! Where state lives: the local JSON file (atomic writes, checksum, backup) and its lock.

use crate::environment::{Environment, StateBackend};
use crate::project::Project;
use crate::state::{State, FORMAT_VERSION};
use async_trait::async_trait;
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// State that cannot be read, written or locked.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file is damaged; eprun refuses to touch it.
    #[error("state file `{path}` is corrupt ({reason}); refusing to use it — the previous version is `{path}.backup`")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another run holds the lock.
    #[error("state `{path}` is locked by {owner} (pid {pid}, `{operation}` since {since}); lock id `{id}`\nhint: if that run is gone, `eprun state unlock {id}` releases it")]
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
}

impl LockInfo {
    /// A new lock record for this process.
    pub fn new(operation: &str) -> Self {
        let host = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into());
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            owner: format!("{user}@{host}"),
            pid: std::process::id(),
            operation: operation.into(),
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// A held lock; dropping it releases the lock.
pub struct LockGuard {
    _file: Option<File>,
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Remove the record first so nobody reads a stale one; the OS lock goes with the handle.
        let _ = fs::remove_file(&self.path);
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
}

/// The store an environment names.
pub fn open(project: &Project, env: &Environment) -> Box<dyn StateStore> {
    match env.state {
        StateBackend::Local => Box::new(LocalStore::new(project, &env.name)),
    }
}

/// The state file as written: a checksum over the state it carries.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    checksum: String,
    state: serde_json::Value,
}

const FORMAT: &str = "eprun-state";

fn checksum(state_json: &str) -> String {
    let digest = Sha256::digest(state_json.as_bytes());
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Encodes a state with its checksum.
pub fn encode(state: &State) -> String {
    let value = serde_json::to_value(state).unwrap_or_default();
    let sum = checksum(&value.to_string());
    let env = Envelope { format: FORMAT.into(), checksum: sum, state: value };
    serde_json::to_string_pretty(&env).unwrap_or_default() + "\n"
}

/// Decodes and verifies a state file's text.
pub fn decode(path: &str, text: &str) -> Result<State, StateError> {
    let corrupt = |reason: String| StateError::Corrupt { path: path.into(), reason };
    let env: Envelope = serde_json::from_str(text).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
    if env.format != FORMAT {
        return Err(corrupt(format!("format is `{}`, not `{FORMAT}`", env.format)));
    }
    if checksum(&env.state.to_string()) != env.checksum {
        return Err(corrupt("checksum mismatch: the file was changed or cut short".into()));
    }
    let state: State = serde_json::from_value(env.state).map_err(|e| corrupt(format!("unexpected content: {e}")))?;
    if state.version > FORMAT_VERSION {
        return Err(corrupt(format!("written by a newer eprun (format {})", state.version)));
    }
    Ok(state)
}

/// State in `<root>/.eprun/state/<environment>.json`.
pub struct LocalStore {
    path: PathBuf,
}

impl LocalStore {
    /// The local store of an environment.
    pub fn new(project: &Project, env_name: &str) -> Self {
        Self { path: project.data_dir().join("state").join(format!("{env_name}.json")) }
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
        let path = path.display().to_string();
        move |source| StateError::Io { action, path, source }
    }

    fn read_lock_info(path: &Path) -> Option<LockInfo> {
        let mut s = String::new();
        File::open(path).ok()?.read_to_string(&mut s).ok()?;
        serde_json::from_str(&s).ok()
    }
}

#[async_trait]
impl StateStore for LocalStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<Option<State>, StateError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => decode(&self.location(), &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", &self.path)(e)),
        }
    }

    async fn save(&self, state: &mut State) -> Result<(), StateError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(self.io("create", dir))?;
        if let Some(current) = self.load().await? {
            if current.lineage != state.lineage {
                return Err(StateError::Mismatch {
                    path: self.location(),
                    reason: format!("belongs to lineage `{}`, not `{}`; refusing to overwrite it", current.lineage, state.lineage),
                });
            }
            if current.serial > state.serial {
                return Err(StateError::Mismatch {
                    path: self.location(),
                    reason: format!("was written by another run (serial {} > {})", current.serial, state.serial),
                });
            }
            let backup = PathBuf::from(format!("{}.backup", self.path.display()));
            fs::copy(&self.path, &backup).map_err(self.io("back up", &backup))?;
        }
        state.serial += 1;
        let tmp = self.path.with_extension(format!("json.tmp.{}", std::process::id()));
        let mut f = File::create(&tmp).map_err(self.io("write", &tmp))?;
        f.write_all(encode(state).as_bytes()).map_err(self.io("write", &tmp))?;
        f.sync_all().map_err(self.io("sync", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(self.io("rename", &self.path))?;
        Ok(())
    }

    async fn lock(&self, operation: &str) -> Result<LockGuard, StateError> {
        let path = self.lock_path();
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(self.io("create", dir))?;
        let mut file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(self.io("open", &path))?;
        match file.try_lock_exclusive() {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                let info = Self::read_lock_info(&path).unwrap_or_else(|| LockInfo::new("unknown"));
                return Err(StateError::Locked {
                    path: self.location(),
                    id: info.id,
                    owner: info.owner,
                    pid: info.pid,
                    operation: info.operation,
                    since: info.since,
                });
            }
        }
        let info = LockInfo::new(operation);
        file.set_len(0).map_err(self.io("write", &path))?;
        file.write_all(serde_json::to_string(&info).unwrap_or_default().as_bytes()).map_err(self.io("write", &path))?;
        file.sync_all().map_err(self.io("sync", &path))?;
        Ok(LockGuard { _file: Some(file), path })
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let path = self.lock_path();
        let Some(info) = Self::read_lock_info(&path) else {
            return Err(StateError::NoSuchLock { path: self.location(), id: id.into(), detail: ": the state is not locked".into() });
        };
        if info.id != id {
            return Err(StateError::NoSuchLock { path: self.location(), id: id.into(), detail: format!(": the lock there is `{}`", info.id) });
        }
        let file = File::open(&path).map_err(self.io("open", &path))?;
        if !matches!(file.try_lock_exclusive(), Ok(true)) {
            return Err(StateError::Locked {
                path: self.location(),
                id: info.id,
                owner: info.owner,
                pid: info.pid,
                operation: format!("{} (still running)", info.operation),
                since: info.since,
            });
        }
        fs::remove_file(&path).map_err(self.io("remove", &path))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("environments")).unwrap();
        let s = LocalStore::new(&Project::at(dir.path()), "test/one");
        (dir, s)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    #[test]
    fn save_then_load_round_trips_with_serial_and_backup() {
        let (_d, s) = store();
        rt().block_on(async {
            let mut st = State::new("test/one");
            st.outputs.insert("a".into(), serde_json::json!(1));
            s.save(&mut st).await.unwrap();
            s.save(&mut st).await.unwrap();
            let back = s.load().await.unwrap().unwrap();
            assert_eq!(back, st);
            assert_eq!(back.serial, 2);
            assert!(PathBuf::from(format!("{}.backup", s.location())).exists());
        });
    }

    #[test]
    fn truncated_file_is_refused_and_left_alone() {
        let (_d, s) = store();
        rt().block_on(async {
            let mut st = State::new("test/one");
            s.save(&mut st).await.unwrap();
            let text = fs::read_to_string(&s.path).unwrap();
            fs::write(&s.path, &text[..text.len() / 2]).unwrap();
            let err = s.load().await.unwrap_err().to_string();
            assert!(err.contains("corrupt"), "{err}");
            assert!(s.save(&mut st).await.is_err());
            assert_eq!(fs::read_to_string(&s.path).unwrap(), text[..text.len() / 2]);
        });
    }

    #[test]
    fn edited_file_fails_its_checksum() {
        let (_d, s) = store();
        rt().block_on(async {
            let mut st = State::new("test/one");
            s.save(&mut st).await.unwrap();
            let text = fs::read_to_string(&s.path).unwrap().replace("test/one", "test/two");
            fs::write(&s.path, text).unwrap();
            assert!(s.load().await.unwrap_err().to_string().contains("checksum mismatch"));
        });
    }

    #[test]
    fn second_lock_is_refused_with_the_holder() {
        let (_d, s) = store();
        rt().block_on(async {
            let guard = s.lock("apply").await.unwrap();
            let err = s.lock("apply").await.err().unwrap().to_string();
            assert!(err.contains("locked by") && err.contains("`apply`"), "{err}");
            drop(guard);
            s.lock("plan").await.unwrap();
        });
    }
}
