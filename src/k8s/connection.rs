//! The connection to a cluster's API server: from a kubeconfig context or straight to EKS.

use super::{api_error, eks_token};
use crate::aws::{Aws, CloudError, CloudErrorKind};
use crate::environment::{Connect, Environment};
use base64::Engine as _;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

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

/// A lazily opened, shared connection to one cluster; clients are rebuilt before EKS tokens expire.
pub struct Kube {
    target: Target,
    aws: Aws,
    client: tokio::sync::Mutex<Option<(kube::Client, Instant)>>,
    kinds: Mutex<HashMap<(String, String), Kind>>,
    force_conflicts: bool,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("target", &self.target)
            .finish()
    }
}

impl Kube {
    /// A connection to `target`; nothing is contacted until the first call.
    pub fn new(target: Target, aws: Aws) -> Self {
        Self {
            target,
            aws,
            client: tokio::sync::Mutex::new(None),
            kinds: Mutex::default(),
            force_conflicts: false,
        }
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
                Target::Eks(_) => made.elapsed() < eks_token::TOKEN_LIFETIME,
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
        let described = self
            .aws
            .eks()
            .describe_cluster()
            .name(cluster)
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("DescribeCluster", &target, e))?;
        let info = described.cluster.ok_or_else(|| {
            CloudError::new(
                "DescribeCluster",
                &target,
                CloudErrorKind::NotFound,
                "no cluster in the answer",
            )
        })?;
        let status = info
            .status
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or("UNKNOWN");
        if status != "ACTIVE" {
            return Err(CloudError::new(
                "connect",
                &target,
                CloudErrorKind::NotFound,
                format!("the cluster is {status}, not ACTIVE"),
            ));
        }
        let endpoint = info.endpoint.unwrap_or_default();
        let uri = endpoint.parse().map_err(|_| {
            CloudError::new(
                "connect",
                &target,
                CloudErrorKind::Unreachable,
                format!("bad endpoint `{endpoint}`"),
            )
        })?;
        let mut config = kube::Config::new(uri);
        if let Some(ca) = info.certificate_authority.and_then(|c| c.data) {
            config.root_cert = Some(pem_certificates(&ca).map_err(|m| {
                CloudError::new(
                    "connect",
                    &target,
                    CloudErrorKind::Service("BadCertificate".into()),
                    m,
                )
            })?);
        }
        let credentials = self.aws.credentials().await?;
        let endpoint = self.aws.endpoint_url("STS");
        let token = eks_token::token(
            &credentials,
            self.aws.region(),
            endpoint.as_deref(),
            cluster,
            SystemTime::now(),
        )
        .map_err(|m| CloudError::new("sign EKS token", &target, CloudErrorKind::Credentials, m))?;
        config.auth_info.token = Some(token.into());
        Ok(config)
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

/// DER certificates from EKS's base64-encoded PEM bundle.
fn pem_certificates(b64: &str) -> Result<Vec<Vec<u8>>, String> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("the cluster's CA is not base64: {e}"))?;
    let blocks = pem::parse_many(&pem).map_err(|e| format!("the cluster's CA is not PEM: {e}"))?;
    if blocks.is_empty() {
        return Err("the cluster's CA holds no certificate".into());
    }
    Ok(blocks.into_iter().map(|b| b.into_contents()).collect())
}
