//! The project: the nearest ancestor of a script that holds `environments/`.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A project root and the paths eprun keeps under it.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// Finds the project of a script (or of the current directory when there is no script).
    pub fn find(start: &Path) -> Result<Self> {
        let start = if start.as_os_str().is_empty() {
            Path::new(".")
        } else {
            start
        };
        let abs = std::fs::canonicalize(start).map_err(|source| Error::Io {
            action: "open",
            path: start.display().to_string(),
            source,
        })?;
        let mut dir = if abs.is_dir() {
            abs.as_path()
        } else {
            abs.parent().unwrap_or(&abs)
        };
        loop {
            if dir.join("environments").is_dir() {
                return Ok(Self {
                    root: dir.to_path_buf(),
                });
            }
            match dir.parent() {
                Some(parent) => dir = parent,
                None => {
                    return Err(Error::usage(format!(
                        "no project found: no folder above `{}` holds `environments/`",
                        start.display()
                    )));
                }
            }
        }
    }

    /// A project rooted at `root`, without searching.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/.eprun`, where local state, locks and journals live.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join(".eprun")
    }

    /// The environment file of an environment name such as `prod/us-east-1`.
    pub fn environment_file(&self, name: &str) -> PathBuf {
        self.root.join("environments").join(format!("{name}.toml"))
    }

    /// A path shown relative to the root when it lies inside it.
    pub fn display(&self, path: &Path) -> String {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        abs.strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }
}
