//! The local backend: `<root>/.eprun/state/<environment>.json`, atomic writes, an OS file lock.

use crate::project::Project;
use crate::state::State;
use crate::state_store::{LockGuard, LockInfo, StateError, StateStore, decode, encode};
use async_trait::async_trait;
use fs4::fs_std::FileExt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a run that takes over from one killed mid-operation waits before reading: a create
/// request the killed run had sent may still land, and must be there to be found by its tags.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(5);

/// State in `<root>/.eprun/state/<environment>.json`.
pub struct LocalStore {
    path: PathBuf,
    /// `<root>/.eprun/state`, where documents beside the state live.
    dir: PathBuf,
}

impl LocalStore {
    /// The local store of an environment.
    pub fn new(project: &Project, env_name: &str) -> Self {
        let dir = project.data_dir().join("state");
        Self {
            path: dir.join(format!("{env_name}.json")),
            dir,
        }
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
        let path = path.display().to_string();
        move |source| StateError::Io {
            action,
            path,
            source,
        }
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
                    reason: format!(
                        "belongs to lineage `{}`, not `{}`; refusing to overwrite it",
                        current.lineage, state.lineage
                    ),
                });
            }
            if current.serial > state.serial {
                return Err(StateError::Mismatch {
                    path: self.location(),
                    reason: format!(
                        "was written by another run (serial {} > {})",
                        current.serial, state.serial
                    ),
                });
            }
            let backup = PathBuf::from(format!("{}.backup", self.path.display()));
            fs::copy(&self.path, &backup).map_err(self.io("back up", &backup))?;
        }
        state.serial += 1;
        let tmp = self
            .path
            .with_extension(format!("json.tmp.{}", std::process::id()));
        let mut f = File::create(&tmp).map_err(self.io("write", &tmp))?;
        f.write_all(encode(state).as_bytes())
            .map_err(self.io("write", &tmp))?;
        f.sync_all().map_err(self.io("sync", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(self.io("rename", &self.path))?;
        Ok(())
    }

    fn beside(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    async fn get_beside(&self, name: &str) -> Result<Option<String>, StateError> {
        let path = self.dir.join(name);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", &path)(e)),
        }
    }

    async fn put_beside(&self, name: &str, text: &str) -> Result<(), StateError> {
        let path = self.dir.join(name);
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(self.io("create", dir))?;
        let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
        fs::write(&tmp, text).map_err(self.io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(self.io("rename", &path))
    }

    async fn lock(&self, operation: &str) -> Result<LockGuard, StateError> {
        let path = self.lock_path();
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(self.io("create", dir))?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(self.io("open", &path))?;
        match file.try_lock_exclusive() {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                let info = Self::read_lock_info(&path).unwrap_or_else(|| LockInfo::new("unknown"));
                return Err(StateError::locked(self.location(), info));
            }
        }
        // Only a holder that never released the lock leaves its record behind.
        if let Some(dead) = Self::read_lock_info(&path) {
            eprintln!(
                "note: the last `{}` (pid {}, since {}) did not finish; waiting {}s for requests it had in flight",
                dead.operation,
                dead.pid,
                dead.since,
                IN_FLIGHT_GRACE.as_secs()
            );
            tokio::time::sleep(IN_FLIGHT_GRACE).await;
        }
        let info = LockInfo::new(operation);
        file.set_len(0).map_err(self.io("write", &path))?;
        file.write_all(serde_json::to_string(&info).unwrap_or_default().as_bytes())
            .map_err(self.io("write", &path))?;
        file.sync_all().map_err(self.io("sync", &path))?;
        // Remove the record before the handle closes so nobody reads a stale one; the OS lock goes with the handle.
        Ok(LockGuard::new(move || {
            let _ = fs::remove_file(&path);
            drop(file);
        }))
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let path = self.lock_path();
        let Some(info) = Self::read_lock_info(&path) else {
            return Err(StateError::NoSuchLock {
                path: self.location(),
                id: id.into(),
                detail: ": the state is not locked".into(),
            });
        };
        if info.id != id {
            return Err(StateError::NoSuchLock {
                path: self.location(),
                id: id.into(),
                detail: format!(": the lock there is `{}`", info.id),
            });
        }
        let file = File::open(&path).map_err(self.io("open", &path))?;
        if !matches!(file.try_lock_exclusive(), Ok(true)) {
            let operation = format!("{} (still running)", info.operation);
            return Err(StateError::locked(
                self.location(),
                LockInfo { operation, ..info },
            ));
        }
        fs::remove_file(&path).map_err(self.io("remove", &path))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("environments")).unwrap();
        let s = LocalStore::new(&Project::at(dir.path()), "test/one");
        (dir, s)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    /// A store holding one saved state, that state, and the text of the store's file.
    fn saved() -> (tempfile::TempDir, LocalStore, State, String) {
        let (d, s) = store();
        let mut st = State::new("test/one");
        rt().block_on(s.save(&mut st)).unwrap();
        let text = fs::read_to_string(&s.path).unwrap();
        (d, s, st, text)
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
        let (_d, s, mut st, text) = saved();
        fs::write(&s.path, &text[..text.len() / 2]).unwrap();
        rt().block_on(async {
            let err = s.load().await.unwrap_err().to_string();
            assert!(err.contains("corrupt"), "{err}");
            assert!(s.save(&mut st).await.is_err());
            assert_eq!(fs::read_to_string(&s.path).unwrap(), text[..text.len() / 2]);
        });
    }

    #[test]
    fn edited_file_fails_its_checksum() {
        let (_d, s, _, text) = saved();
        fs::write(&s.path, text.replace("test/one", "test/two")).unwrap();
        rt().block_on(async {
            assert!(
                s.load()
                    .await
                    .unwrap_err()
                    .to_string()
                    .contains("checksum mismatch")
            );
        });
    }

    #[test]
    fn second_lock_is_refused_with_the_holder() {
        let (_d, s) = store();
        rt().block_on(async {
            let guard = s.lock("apply").await.unwrap();
            let err = s.lock("apply").await.err().unwrap().to_string();
            assert!(
                err.contains("locked by") && err.contains("`apply`"),
                "{err}"
            );
            drop(guard);
            s.lock("plan").await.unwrap();
        });
    }
}
