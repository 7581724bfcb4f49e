//! The project: the nearest ancestor of a script that holds `environments/` (for a script written
//! outside any project, the one of the current directory).

use std::path::{Path, PathBuf};

/// Why no project was found.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A path could not be read.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What eprun was doing.
        action: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// No folder above the start holds `environments/`.
    #[error("{0}")]
    NotFound(String),
}

type Result<T> = std::result::Result<T, ProjectError>;

/// A project root and the paths eprun keeps under it.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// Finds the project of a folder or file: the nearest ancestor that holds `environments/`.
    pub fn find(start: &Path) -> Result<Self> {
        let start = if start.as_os_str().is_empty() {
            Path::new(".")
        } else {
            start
        };
        let abs = std::fs::canonicalize(start).map_err(|source| ProjectError::Io {
            action: "open",
            path: start.display().to_string(),
            source,
        })?;
        Self::above(&abs).ok_or_else(|| {
            ProjectError::NotFound(format!(
                "no project found: no folder above `{}` holds `environments/`",
                start.display()
            ))
        })
    }

    /// The project of a script given on the command line: the one holding the script, or, for a
    /// script written outside any project (`/tmp/fix.rhai`), the one of the current directory.
    pub fn of_script(script: &Path) -> Result<Self> {
        let cwd = std::env::current_dir().map_err(|source| ProjectError::Io {
            action: "read",
            path: "the current directory".into(),
            source,
        })?;
        Self::of_script_from(script, &cwd)
    }

    /// [`Project::of_script`] with the current directory given.
    fn of_script_from(script: &Path, cwd: &Path) -> Result<Self> {
        let script = if script.as_os_str().is_empty() {
            Path::new(".")
        } else {
            script
        };
        let abs = std::fs::canonicalize(cwd.join(script)).map_err(|source| ProjectError::Io {
            action: "open",
            path: script.display().to_string(),
            source,
        })?;
        if let Some(found) = Self::above(&abs) {
            return Ok(found);
        }
        Self::above(cwd).ok_or_else(|| {
            ProjectError::NotFound(format!(
                "no project found: neither a folder above `{}` nor one above the current directory `{}` holds `environments/`\nhint: run eprun from inside the project (a script written elsewhere, like `/tmp/fix.rhai`, then runs in it)",
                script.display(),
                cwd.display()
            ))
        })
    }

    /// The project holding `abs` (a canonical path): the nearest folder at or above it with
    /// `environments/`.
    fn above(abs: &Path) -> Option<Self> {
        let start = if abs.is_dir() {
            abs
        } else {
            abs.parent().unwrap_or(abs)
        };
        start
            .ancestors()
            .find(|dir| dir.join("environments").is_dir())
            .map(|dir| Self {
                root: dir.to_path_buf(),
            })
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

    /// A path shown relative to the root when it lies inside it, else in full (a script written
    /// outside the project, whose own relative imports resolve from this name).
    pub fn display(&self, path: &Path) -> String {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        abs.strip_prefix(&self.root)
            .unwrap_or(&abs)
            .display()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp dir with a project at `proj/` (holding `scripts/fix.rhai`) and a loose script at
    /// `loose/fix.rhai`, outside any project.
    fn layout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proj/environments")).unwrap();
        std::fs::create_dir_all(dir.path().join("proj/scripts")).unwrap();
        std::fs::create_dir_all(dir.path().join("loose")).unwrap();
        std::fs::write(dir.path().join("proj/scripts/fix.rhai"), "1").unwrap();
        std::fs::write(dir.path().join("loose/fix.rhai"), "1").unwrap();
        dir
    }

    #[test]
    fn a_script_inside_a_project_belongs_to_it_wherever_eprun_runs() {
        let dir = layout();
        let root = std::fs::canonicalize(dir.path().join("proj")).unwrap();
        let script = dir.path().join("proj/scripts/fix.rhai");
        let p = Project::of_script_from(&script, &dir.path().join("loose")).unwrap();
        assert_eq!(p.root(), root);
        assert_eq!(p.display(&script), "scripts/fix.rhai");
    }

    #[test]
    fn a_script_outside_any_project_runs_in_the_current_one() {
        let dir = layout();
        let root = std::fs::canonicalize(dir.path().join("proj")).unwrap();
        let cwd = dir.path().join("proj/scripts");
        // Given relative to the current directory, as typed.
        let p = Project::of_script_from(Path::new("../../loose/fix.rhai"), &cwd).unwrap();
        assert_eq!(p.root(), root);
        let loose = std::fs::canonicalize(dir.path().join("loose/fix.rhai")).unwrap();
        assert_eq!(
            p.display(&loose),
            loose.display().to_string(),
            "shown in full, so its own `./` imports resolve beside it"
        );
    }

    #[test]
    fn without_a_project_the_error_names_both_places() {
        let dir = layout();
        let loose = dir.path().join("loose");
        let err = Project::of_script_from(Path::new("fix.rhai"), &loose)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`fix.rhai`"), "{err}");
        assert!(
            err.contains(&format!("current directory `{}`", loose.display())),
            "{err}"
        );
        assert!(err.contains("hint:"), "{err}");
        let missing = Project::of_script_from(Path::new("gone.rhai"), &loose)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("gone.rhai"), "{missing}");
    }
}
