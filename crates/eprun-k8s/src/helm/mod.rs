//! Helm: releases declared in stacks, installed and read by the real `helm` binary.

pub mod chart;
pub mod inside;
pub mod release;
pub mod values;

use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::connection::ToolAccess;
use crate::context::{Connection, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that names the `helm` binary (else `helm` on `PATH`).
pub const HELM_ENV: &str = "EPRUN_HELM";

/// How long a chart fetch may take before the plan gives up on it (an offline machine).
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The `helm` binary and the chart cache of a project, as a stack's context carries them.
#[derive(Debug, Clone)]
pub struct Helm {
    binary: Option<PathBuf>,
    root: PathBuf,
    charts: PathBuf,
}

impl Connection for Helm {
    fn in_region(self: Arc<Self>, _region: &str) -> Arc<dyn Connection> {
        self
    }
}

impl Helm {
    /// Helm for the project at `root`, caching charts in `dot_dir/charts` (`dot_dir`: its
    /// `.eprun`); the binary is `$EPRUN_HELM`, else `helm` on `PATH`.
    pub fn for_project(root: &Path, dot_dir: &Path) -> Helm {
        let binary = std::env::var_os(HELM_ENV)
            .map(PathBuf::from)
            .or_else(|| find_on_path("helm"));
        Helm {
            binary,
            root: root.to_path_buf(),
            charts: dot_dir.join("charts"),
        }
    }

    /// The project root, where local chart paths start.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Helm of a context.
    pub fn of(cx: &Context) -> Result<Arc<Helm>, CloudError> {
        cx.get::<Helm>(
            "Helm",
            "Helm releases are planned and applied by `eprun plan` and `eprun apply`",
        )
    }

    /// Where pulled charts are kept.
    pub fn chart_cache(&self) -> &Path {
        &self.charts
    }

    /// Runs `helm args…` against the cluster `access` reaches (if any) and answers its stdout;
    /// `operation` and `target` name the call in errors.
    pub async fn run(
        &self,
        operation: &str,
        target: &str,
        args: &[&str],
        access: Option<&ToolAccess>,
    ) -> Result<String, CloudError> {
        self.run_within(operation, target, args, access, None).await
    }

    /// Like [`Helm::run`], giving up after `limit`.
    pub async fn run_within(
        &self,
        operation: &str,
        target: &str,
        args: &[&str],
        access: Option<&ToolAccess>,
        limit: Option<Duration>,
    ) -> Result<String, CloudError> {
        let fail = |kind, message: String| CloudError::new(operation, target, kind, message);
        let binary = self.binary.as_ref().ok_or_else(|| {
            fail(
                CloudErrorKind::Unreachable,
                format!("no `helm` binary: put Helm >= 3.14 on `PATH` or name it in `{HELM_ENV}` (tools/k8s/build builds the pinned one)"),
            )
        })?;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(access) = access {
            access.apply_to(&mut cmd);
        }
        let run = cmd.output();
        let output = match limit {
            Some(limit) => tokio::time::timeout(limit, run).await.map_err(|_| {
                fail(
                    CloudErrorKind::Unreachable,
                    format!("`helm {}` took longer than {}s", args[0], limit.as_secs()),
                )
            })?,
            None => run.await,
        }
        .map_err(|e| {
            fail(
                CloudErrorKind::Unreachable,
                format!("could not run `{}`: {e}", binary.display()),
            )
        })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_start_matches("Error: ").trim())
            .collect::<Vec<_>>()
            .join("; ");
        Err(fail(
            CloudErrorKind::Service("Helm".into()),
            format!("`helm {}` failed: {message}", args[0]),
        ))
    }
}

/// The namespace and name in a release's id (`namespace/name`).
pub fn namespace_and_name(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or(("", id))
}

/// The first `name` on `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
