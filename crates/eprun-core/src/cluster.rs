//! How a cloud-hosted Kubernetes cluster is reached, as the cloud's provider answers it.

use crate::cloud_error::CloudError;
use async_trait::async_trait;

/// A cluster's API server as its cloud describes it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The API server URL.
    pub url: String,
    /// The base64 PEM bundle of its certificate authority, when the cloud gives one.
    pub certificate_authority: Option<String>,
}

/// What a Kubernetes connection asks of the cloud hosting its cluster (EKS: the AWS provider).
#[async_trait]
pub trait ClusterAccess: Send + Sync {
    /// The API server of cluster `name`, once the cluster is usable.
    async fn endpoint(&self, name: &str) -> Result<Endpoint, CloudError>;

    /// A bearer token for cluster `name`, valid for a few minutes.
    async fn token(&self, name: &str) -> Result<String, CloudError>;
}
