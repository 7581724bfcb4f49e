//! Where a release's chart comes from (a repository, an OCI registry, a local path) and the
//! project's chart cache, which makes a re-plan need no network for a chart pulled once.

use super::{FETCH_TIMEOUT, Helm};
use crate::cloud_error::CloudError;
use crate::resource::Props;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A release's chart, as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartSource {
    /// `chart` in the Helm repository at `repository`, at `version`.
    Repository {
        /// The repository's URL.
        repository: String,
        /// The chart's name in it.
        chart: String,
        /// The pinned chart version.
        version: String,
    },
    /// An `oci://` reference, at `version`.
    Oci {
        /// `oci://host/path/chart`.
        reference: String,
        /// The pinned chart version.
        version: String,
    },
    /// A chart directory or archive on disk (relative paths are from the project root).
    Local(PathBuf),
}

impl ChartSource {
    /// The source that resolved props declare (`chart`, `repository`, `version`).
    pub fn of(props: &Props) -> ChartSource {
        let text = |k: &str| props.get(k).and_then(Value::as_str).unwrap_or_default();
        let (chart, repository, version) = (text("chart"), text("repository"), text("version"));
        if chart.starts_with("oci://") {
            ChartSource::Oci {
                reference: chart.into(),
                version: version.into(),
            }
        } else if repository.is_empty() {
            ChartSource::Local(PathBuf::from(chart))
        } else {
            ChartSource::Repository {
                repository: repository.trim_end_matches('/').into(),
                chart: chart.into(),
                version: version.into(),
            }
        }
    }

    /// A short digest of where the chart comes from, kept in the release's labels so a plan sees
    /// a chart that moved to another repository or path.
    pub fn digest(&self) -> String {
        let text = match self {
            ChartSource::Repository {
                repository, chart, ..
            } => format!("repo|{repository}|{chart}"),
            ChartSource::Oci { reference, .. } => format!("oci|{reference}"),
            ChartSource::Local(path) => format!("local|{}", path.display()),
        };
        hex(&Sha256::digest(text.as_bytes()))[..16].to_string()
    }

    /// How messages name it.
    pub fn describe(&self) -> String {
        match self {
            ChartSource::Repository {
                repository,
                chart,
                version,
            } => format!("chart `{chart}` {version} from {repository}"),
            ChartSource::Oci { reference, version } => format!("chart `{reference}` {version}"),
            ChartSource::Local(path) => format!("chart at `{}`", path.display()),
        }
    }

    /// Where the cache `cache` keeps it (`None` for a local chart, which is read where it is).
    pub fn cached(&self, cache: &Path) -> Option<PathBuf> {
        let (place, name, version) = match self {
            ChartSource::Repository {
                repository,
                chart,
                version,
            } => (repository.as_str(), chart.as_str(), version),
            ChartSource::Oci { reference, version } => {
                let (place, name) = reference.rsplit_once('/')?;
                (place, name, version)
            }
            ChartSource::Local(_) => return None,
        };
        let dir: String = place
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Some(cache.join(dir).join(format!("{name}-{version}.tgz")))
    }

    /// The chart on disk, pulled into the cache first when it is not there yet (local paths
    /// are from the project root).
    pub async fn fetch(&self, helm: &Helm) -> Result<PathBuf, CloudError> {
        if let ChartSource::Local(path) = self {
            return Ok(helm.root().join(path));
        }
        let archive = self.cached(helm.chart_cache()).ok_or_else(|| {
            CloudError::new(
                "pull chart",
                self.describe(),
                crate::cloud_error::CloudErrorKind::Service("Invalid".into()),
                "an OCI reference is `oci://<registry>/<path>/<chart>`",
            )
        })?;
        if archive.is_file() {
            return Ok(archive);
        }
        let dir = archive.parent().unwrap_or(helm.chart_cache());
        let io = |e: std::io::Error| {
            CloudError::new(
                "pull chart",
                self.describe(),
                crate::cloud_error::CloudErrorKind::Service("Io".into()),
                format!("the chart cache `{}`: {e}", dir.display()),
            )
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Pulled into a directory of its own, then renamed: a killed pull leaves no half archive.
        let staging = tempfile::tempdir_in(dir).map_err(io)?;
        let staged = staging.path().display().to_string();
        let mut args = vec!["pull"];
        match self {
            ChartSource::Repository {
                repository,
                chart,
                version,
            } => args.extend([chart.as_str(), "--repo", repository, "--version", version]),
            ChartSource::Oci { reference, version } => {
                args.extend([reference.as_str(), "--version", version])
            }
            ChartSource::Local(_) => {}
        }
        args.extend(["--destination", &staged]);
        let pull = helm
            .run_within(
                "pull chart",
                &self.describe(),
                &args,
                None,
                Some(FETCH_TIMEOUT),
            )
            .await;
        if let Err(e) = pull {
            drop(staging);
            // A failed pull leaves no empty folder behind (removing a non-empty one fails, as it should).
            let _ = std::fs::remove_dir(dir);
            return Err(e);
        }
        let pulled = std::fs::read_dir(staging.path())
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "tgz"))
            .ok_or_else(|| io(std::io::Error::other("helm pull wrote no archive")))?;
        std::fs::rename(pulled, &archive).map_err(io)?;
        Ok(archive)
    }
}

/// Lowercase hex of bytes.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(v: Value) -> ChartSource {
        ChartSource::of(v.as_object().unwrap())
    }

    #[test]
    fn a_chart_is_read_from_a_repository_a_registry_or_a_path() {
        assert_eq!(
            source(
                json!({"chart": "karpenter", "repository": "https://charts.example/", "version": "1.2.3"})
            ),
            ChartSource::Repository {
                repository: "https://charts.example".into(),
                chart: "karpenter".into(),
                version: "1.2.3".into()
            }
        );
        assert!(matches!(
            source(
                json!({"chart": "oci://public.ecr.aws/karpenter/karpenter", "version": "1.2.3"})
            ),
            ChartSource::Oci { .. }
        ));
        assert_eq!(
            source(json!({"chart": "charts/demo"})),
            ChartSource::Local("charts/demo".into())
        );
    }

    #[test]
    fn the_cache_keeps_each_chart_version_apart() {
        let cache = Path::new("/c");
        let oci = source(
            json!({"chart": "oci://public.ecr.aws/karpenter/karpenter", "version": "1.2.3"}),
        );
        assert_eq!(
            oci.cached(cache).unwrap(),
            Path::new("/c/oci___public.ecr.aws_karpenter/karpenter-1.2.3.tgz")
        );
        let repo = source(
            json!({"chart": "cilium", "repository": "https://helm.cilium.io", "version": "1.17.6"}),
        );
        assert_eq!(
            repo.cached(cache).unwrap(),
            Path::new("/c/https___helm.cilium.io/cilium-1.17.6.tgz")
        );
        assert_ne!(oci.digest(), repo.digest());
    }
}
