//! How the Kubernetes side reaches an EKS cluster: its endpoint and CA from DescribeCluster, and a
//! bearer token signed with the session's credentials.

use super::token;
use crate::Result;
use crate::cluster::{ClusterAccess, Endpoint};
use crate::{Aws, CloudError, CloudErrorKind, sdk};
use async_trait::async_trait;
use std::time::SystemTime;

#[async_trait]
impl ClusterAccess for Aws {
    async fn endpoint(&self, name: &str) -> Result<Endpoint> {
        let target = format!("eks.cluster {name}");
        let described = self
            .eks()
            .describe_cluster()
            .name(name)
            .send()
            .await
            .map_err(sdk("DescribeCluster", &target))?;
        let info = described.cluster.ok_or_else(|| {
            CloudError::new(
                "DescribeCluster",
                &target,
                CloudErrorKind::NotFound,
                "no cluster in the answer",
            )
        })?;
        let status = info.status.as_ref().map_or("UNKNOWN", |s| s.as_str());
        if status != "ACTIVE" {
            return Err(CloudError::new(
                "connect",
                &target,
                CloudErrorKind::NotFound,
                format!("the cluster is {status}, not ACTIVE"),
            ));
        }
        Ok(Endpoint {
            url: info.endpoint.unwrap_or_default(),
            certificate_authority: info.certificate_authority.and_then(|c| c.data),
        })
    }

    async fn token(&self, name: &str) -> Result<String> {
        let credentials = self.credentials().await?;
        let endpoint = self.endpoint_url("STS");
        token::token(
            &credentials,
            self.region(),
            endpoint.as_deref(),
            name,
            SystemTime::now(),
        )
        .map_err(|m| {
            CloudError::new(
                "sign EKS token",
                format!("eks.cluster {name}"),
                CloudErrorKind::Credentials,
                m.to_string(),
            )
        })
    }
}
