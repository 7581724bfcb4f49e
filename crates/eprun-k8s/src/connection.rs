//! The connection to a cluster's API server: from a kubeconfig context or straight to EKS.

use super::api_error;
use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::cluster::ClusterAccess;
use crate::context::{Connection, Context};
use crate::environment::{Connect, Environment};
use base64::Engine as _;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a cloud-signed token is used before a new one is asked for, well inside EKS's 15 minutes.
const TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Where the API server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A kubeconfig context (`None`: the current one).
    Kubeconfig(Option<String>),
    /// An EKS cluster by name, reached with the session's AWS credentials.
    Eks(String),
}

impl Target {
    /// The target an environment's `[k8s]` table names, if it has one.
    pub fn of(env: &Environment) -> Option<Target> {
        let k8s = env.k8s.as_ref()?;
        Some(match k8s.connect {
            Connect::Kubeconfig => Target::Kubeconfig(k8s.context.clone()),
            Connect::Eks => Target::Eks(
                k8s.cluster
                    .clone()
                    .or_else(|| env.eks.as_ref().map(|e| e.cluster_name.clone()))
                    .unwrap_or_default(),
            ),
        })
    }

    /// How messages name it.
    pub fn describe(&self) -> String {
        match self {
            Target::Kubeconfig(Some(c)) => format!("kubeconfig context `{c}`"),
            Target::Kubeconfig(None) => "the current kubeconfig context".into(),
            Target::Eks(name) => format!("EKS cluster `{name}`"),
        }
    }
}

/// A kind resolved through discovery: how to address it and whether it lives in a namespace.
#[derive(Debug, Clone)]
pub struct Kind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Namespaced (`true`) or cluster-scoped.
    pub namespaced: bool,
}

/// The flags that point an external tool at a cluster, and the private kubeconfig they may name.
#[derive(Debug)]
pub struct ToolAccess {
    args: Vec<String>,
    _file: Option<tempfile::NamedTempFile>,
}

impl ToolAccess {
    /// Adds the flags to a command.
    pub fn apply_to(&self, cmd: &mut tokio::process::Command) {
        cmd.args(&self.args);
    }
}

/// A lazily opened, shared connection to one cluster; clients are rebuilt before EKS tokens expire.
pub struct Kube {
    target: Target,
    access: Arc<dyn ClusterAccess>,
    client: tokio::sync::Mutex<Option<(kube::Client, Instant)>>,
    kinds: Mutex<HashMap<(String, String), Kind>>,
    force_conflicts: bool,
}

impl Connection for Kube {
    fn in_region(self: Arc<Self>, _region: &str) -> Arc<dyn Connection> {
        self
    }
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("target", &self.target)
            .finish()
    }
}

impl Kube {
    /// A connection to `target`, reaching a cloud-hosted cluster through `access`; nothing is
    /// contacted until the first call.
    pub fn new(target: Target, access: Arc<dyn ClusterAccess>) -> Self {
        Self {
            target,
            access,
            client: tokio::sync::Mutex::new(None),
            kinds: Mutex::default(),
            force_conflicts: false,
        }
    }

    /// The Kubernetes connection of a context.
    pub fn of(cx: &Context) -> Result<Arc<Kube>, CloudError> {
        cx.get::<Kube>(
            "Kubernetes",
            "the environment has no `[k8s]` table saying how to reach the cluster",
        )
    }

    /// Whether server-side applies take fields that other managers own (`--force-conflicts`).
    pub fn with_force_conflicts(mut self, force: bool) -> Self {
        self.force_conflicts = force;
        self
    }

    /// Whether `--force-conflicts` was given.
    pub fn force_conflicts(&self) -> bool {
        self.force_conflicts
    }

    /// Where this connection goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A client, connecting (or re-signing an EKS token) when needed.
    pub async fn client(&self) -> Result<kube::Client, CloudError> {
        let mut slot = self.client.lock().await;
        if let Some((client, made)) = slot.as_ref() {
            let fresh = match self.target {
                Target::Eks(_) => made.elapsed() < TOKEN_LIFETIME,
                Target::Kubeconfig(_) => true,
            };
            if fresh {
                return Ok(client.clone());
            }
        }
        let config = match &self.target {
            Target::Kubeconfig(context) => self.kubeconfig(context.as_deref()).await?,
            Target::Eks(cluster) => self.eks(cluster).await?,
        };
        // kube's own retry honours `Retry-After` on 429s for minutes; a PDB-blocked eviction
        // answers 429, and the callers retry on their own terms.
        let mut config = config;
        config.default_retry = false;
        let client = kube::Client::try_from(config).map_err(|e| self.error("connect", e))?;
        *slot = Some((client.clone(), Instant::now()));
        Ok(client)
    }

    async fn kubeconfig(&self, context: Option<&str>) -> Result<kube::Config, CloudError> {
        let fail = |message: String| {
            CloudError::new(
                "load kubeconfig",
                self.target.describe(),
                CloudErrorKind::Credentials,
                message,
            )
        };
        let file = Kubeconfig::read().map_err(|e| {
            fail(format!(
                "{e}; set `KUBECONFIG` or use `connect = \"eks\"` in the environment's `[k8s]` table"
            ))
        })?;
        if let Some(name) = context
            && !file.contexts.iter().any(|c| c.name == name)
        {
            let known: Vec<_> = file
                .contexts
                .iter()
                .map(|c| format!("`{}`", c.name))
                .collect();
            return Err(fail(format!(
                "the kubeconfig has no context `{name}` (it has {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )));
        }
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        kube::Config::from_custom_kubeconfig(file, &options)
            .await
            .map_err(|e| fail(e.to_string()))
    }

    async fn eks(&self, cluster: &str) -> Result<kube::Config, CloudError> {
        let target = format!("eks.cluster {cluster}");
        let endpoint = self.access.endpoint(cluster).await?;
        let uri = endpoint.url.parse().map_err(|_| {
            CloudError::new(
                "connect",
                &target,
                CloudErrorKind::Unreachable,
                format!("bad endpoint `{}`", endpoint.url),
            )
        })?;
        let mut config = kube::Config::new(uri);
        if let Some(ca) = endpoint.certificate_authority {
            config.root_cert = Some(pem_certificates(&ca).map_err(|m| {
                CloudError::new(
                    "connect",
                    &target,
                    CloudErrorKind::Service("BadCertificate".into()),
                    m.to_string(),
                )
            })?);
        }
        config.auth_info.token = Some(self.access.token(cluster).await?.into());
        Ok(config)
    }

    /// How an external tool (`helm`) reaches this cluster: a kubeconfig context, or for EKS a
    /// private kubeconfig file holding a fresh token, removed when the access is dropped.
    pub async fn tool_access(&self) -> Result<ToolAccess, CloudError> {
        match &self.target {
            Target::Kubeconfig(context) => Ok(ToolAccess {
                args: context
                    .iter()
                    .flat_map(|c| ["--kube-context".to_string(), c.clone()])
                    .collect(),
                _file: None,
            }),
            Target::Eks(cluster) => {
                let endpoint = self.access.endpoint(cluster).await?;
                let token = self.access.token(cluster).await?;
                let fail = |e: std::io::Error| {
                    CloudError::new(
                        "write kubeconfig",
                        format!("eks.cluster {cluster}"),
                        CloudErrorKind::Service("Io".into()),
                        e.to_string(),
                    )
                };
                let config = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": cluster, "cluster": {
                        "server": endpoint.url,
                        "certificate-authority-data": endpoint.certificate_authority,
                    }}],
                    "users": [{"name": "eprun", "user": {"token": token}}],
                    "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": "eprun"}}],
                    "current-context": cluster,
                });
                // The file holds a bearer token: tempfile creates it readable by its owner only.
                let mut file = tempfile::NamedTempFile::new().map_err(fail)?;
                std::io::Write::write_all(&mut file, config.to_string().as_bytes())
                    .map_err(fail)?;
                Ok(ToolAccess {
                    args: vec!["--kubeconfig".into(), file.path().display().to_string()],
                    _file: Some(file),
                })
            }
        }
    }

    /// Resolves `apiVersion` + `kind` through discovery (cached for the session).
    pub async fn kind(&self, api_version: &str, kind: &str) -> Result<Kind, CloudError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(k) = self.lock_kinds().get(&key) {
            return Ok(k.clone());
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let client = self.client().await?;
        let found = kube::discovery::pinned_kind(&client, &gvk).await;
        let (resource, caps) = match found {
            Ok(f) => f,
            Err(kube::Error::Discovery(_)) => {
                return Err(CloudError::new(
                    "discovery",
                    format!("{api_version} {kind}"),
                    CloudErrorKind::Service("UnknownKind".into()),
                    format!("the API server does not serve kind `{kind}` in `{api_version}`"),
                ));
            }
            // The whole group/version is unknown to the server.
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(CloudError::new(
                    "discovery",
                    format!("{api_version} {kind}"),
                    CloudErrorKind::Service("UnknownKind".into()),
                    format!(
                        "the API server does not serve `{api_version}`, so it has no kind `{kind}` (is its CRD installed?)"
                    ),
                ));
            }
            Err(e) => return Err(self.fail("discovery", format!("{api_version} {kind}"), e)),
        };
        let resolved = Kind {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.lock_kinds().insert(key, resolved.clone());
        Ok(resolved)
    }

    /// The dynamic API for a kind, in `namespace` when it is namespaced.
    pub async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<(Api<DynamicObject>, Kind), CloudError> {
        let k = self.kind(api_version, kind).await?;
        let client = self.client().await?;
        let api = match (k.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(client, ns, &k.resource),
            (true, None) => Api::all_with(client, &k.resource),
            (false, _) => Api::all_with(client, &k.resource),
        };
        Ok((api, k))
    }

    fn lock_kinds(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Kind>> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, operation: &str, e: kube::Error) -> CloudError {
        api_error(operation, self.target.describe(), e)
    }

    /// A failed call on `target`; connection failures also name the cluster they were for.
    pub fn fail(
        &self,
        operation: &str,
        target: impl std::fmt::Display,
        e: kube::Error,
    ) -> CloudError {
        let mut err = api_error(operation, target, e);
        if matches!(
            err.kind,
            CloudErrorKind::Unreachable | CloudErrorKind::Credentials
        ) {
            err.message = format!("{} ({})", err.message, self.target.describe());
        }
        err
    }
}

/// Why a cluster's certificate authority cannot be used.
#[derive(Debug, thiserror::Error)]
enum CaError {
    /// Not base64.
    #[error("the cluster's CA is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Not PEM.
    #[error("the cluster's CA is not PEM: {0}")]
    Pem(#[from] pem::PemError),
    /// PEM with no certificate in it.
    #[error("the cluster's CA holds no certificate")]
    Empty,
}

/// DER certificates from EKS's base64-encoded PEM bundle.
fn pem_certificates(b64: &str) -> Result<Vec<Vec<u8>>, CaError> {
    let pem = base64::engine::general_purpose::STANDARD.decode(b64.trim())?;
    let blocks = pem::parse_many(&pem)?;
    if blocks.is_empty() {
        return Err(CaError::Empty);
    }
    Ok(blocks.into_iter().map(|b| b.into_contents()).collect())
}
