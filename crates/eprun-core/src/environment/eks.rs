//! `[eks]`: the Kubernetes cluster of a region (stdlib/eks.rhai).

use serde::{Deserialize, Serialize};

/// The five control-plane log types EKS can send to CloudWatch.
pub const LOG_TYPES: [&str; 5] = [
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];

/// The EKS cluster of a region (the seed's EKS module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawEksValues")]
pub struct EksValues {
    /// The cluster name, also the prefix of its resources' names.
    pub cluster_name: String,
    /// The Kubernetes version (`1.29`); raising it upgrades the cluster in place.
    pub version: String,
    /// Keep the cluster and its secrets key from deletion (`protect: true`).
    pub protect: bool,
    /// Serve the API endpoint inside the VPC.
    pub endpoint_private_access: bool,
    /// Serve the API endpoint on the internet.
    pub endpoint_public_access: bool,
    /// Control-plane log types sent to CloudWatch (all five by default).
    pub log_types: Vec<String>,
    /// Install the managed add-ons (VPC CNI, CoreDNS, kube-proxy); emulators without the add-on APIs set `false`.
    pub addons: bool,
    /// The managed node group that runs Karpenter and the cluster's critical add-ons.
    pub node_group: NodeGroupValues,
    /// Service accounts that get an IAM role through IRSA.
    pub service_accounts: Vec<ServiceAccountValues>,
    /// The `namespace/name` service accounts the cluster's Kubernetes manifests define; an IRSA role
    /// for any other is refused (it would trust a service account nobody creates).
    pub known_service_accounts: Vec<String>,
}

/// The managed node group of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroupValues {
    /// The node group's name in its cluster.
    pub name: String,
    /// EC2 instance types.
    pub instance_types: Vec<String>,
    /// The fewest nodes.
    pub min_size: u32,
    /// The most nodes.
    pub max_size: u32,
    /// Nodes wanted at creation; later owned by autoscalers and runbooks.
    pub desired_size: u32,
}

/// A Kubernetes service account that assumes an IAM role (IRSA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountValues {
    /// The service account's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Managed policies attached to its role.
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
}

/// The file's `[eks]` table as written, before its checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEksValues {
    cluster_name: String,
    version: String,
    #[serde(default)]
    protect: bool,
    #[serde(default = "yes")]
    endpoint_private_access: bool,
    #[serde(default)]
    endpoint_public_access: bool,
    #[serde(default = "all_log_types")]
    log_types: Vec<String>,
    #[serde(default = "yes")]
    addons: bool,
    node_group: NodeGroupValues,
    #[serde(default)]
    service_accounts: Vec<ServiceAccountValues>,
    #[serde(default)]
    known_service_accounts: Vec<String>,
}

fn yes() -> bool {
    true
}

fn all_log_types() -> Vec<String> {
    LOG_TYPES.iter().map(|t| t.to_string()).collect()
}

/// Why an environment's `[eks]` table is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EksError {
    /// `version` is not `major.minor`.
    #[error("`eks.version`: `{0}` is not a Kubernetes version like `1.29`")]
    Version(String),
    /// A log type EKS does not have.
    #[error("`eks.log_types`: `{bad}` is not one of {}", LOG_TYPES.join(", "))]
    LogType {
        /// The log type given.
        bad: String,
    },
    /// Both endpoints turned off.
    #[error(
        "`eks.endpoint_private_access` and `eks.endpoint_public_access` are both false: nothing could reach the API"
    )]
    NoEndpoint,
    /// Node group sizes out of order.
    #[error(
        "`eks.node_group`: need 0 <= min_size <= desired_size <= max_size and max_size >= 1 (min {min}, desired {desired}, max {max})"
    )]
    Sizes {
        /// `min_size`.
        min: u32,
        /// `desired_size`.
        desired: u32,
        /// `max_size`.
        max: u32,
    },
    /// No instance types for the node group.
    #[error("`eks.node_group.instance_types` cannot be empty")]
    NoInstanceTypes,
    /// A known service account not written `namespace/name`.
    #[error("`eks.known_service_accounts`: `{0}` is not `namespace/name`")]
    ServiceAccountRef(String),
    /// A service account listed twice.
    #[error("`eks.service_accounts`: `{0}` is listed twice (role names are made from it)")]
    DuplicateServiceAccount(String),
}

impl TryFrom<RawEksValues> for EksValues {
    type Error = EksError;

    fn try_from(raw: RawEksValues) -> Result<Self, EksError> {
        let valid_version = raw
            .version
            .split_once('.')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
        if !valid_version {
            return Err(EksError::Version(raw.version));
        }
        if let Some(bad) = raw
            .log_types
            .iter()
            .find(|t| !LOG_TYPES.contains(&t.as_str()))
        {
            return Err(EksError::LogType { bad: bad.clone() });
        }
        if !raw.endpoint_private_access && !raw.endpoint_public_access {
            return Err(EksError::NoEndpoint);
        }
        let ng = &raw.node_group;
        if ng.min_size > ng.max_size
            || ng.desired_size < ng.min_size
            || ng.desired_size > ng.max_size
            || ng.max_size == 0
        {
            return Err(EksError::Sizes {
                min: ng.min_size,
                desired: ng.desired_size,
                max: ng.max_size,
            });
        }
        if ng.instance_types.is_empty() {
            return Err(EksError::NoInstanceTypes);
        }
        if let Some(bad) = raw.known_service_accounts.iter().find(|s| !matches!(s.split_once('/'), Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/'))) {
            return Err(EksError::ServiceAccountRef(bad.clone()));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = raw
            .service_accounts
            .iter()
            .find(|s| !seen.insert(s.name.as_str()))
        {
            return Err(EksError::DuplicateServiceAccount(dup.name.clone()));
        }
        Ok(EksValues {
            cluster_name: raw.cluster_name,
            version: raw.version,
            protect: raw.protect,
            endpoint_private_access: raw.endpoint_private_access,
            endpoint_public_access: raw.endpoint_public_access,
            log_types: raw.log_types,
            addons: raw.addons,
            node_group: raw.node_group,
            service_accounts: raw.service_accounts,
            known_service_accounts: raw.known_service_accounts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
cluster_name = "examplepay-prod"
version = "1.29"
known_service_accounts = ["payments/payment-service"]

[node_group]
name = "karpenter"
instance_types = ["m6i.large"]
min_size = 2
max_size = 3
desired_size = 2

[[service_accounts]]
name = "payment-service"
namespace = "payments"
"#;

    #[test]
    fn defaults_are_private_all_logs_and_addons() {
        let v: EksValues = toml::from_str(GOOD).unwrap();
        assert!(v.endpoint_private_access && !v.endpoint_public_access && v.addons);
        assert_eq!(v.log_types.len(), 5);
        assert_eq!(
            v.service_accounts[0].managed_policy_arns,
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (from, to, named) in [
            ("1.29", "latest", "`eks.version`"),
            (
                "desired_size = 2",
                "desired_size = 9",
                "min_size <= desired_size <= max_size",
            ),
            (
                "payments/payment-service",
                "payment-service",
                "not `namespace/name`",
            ),
            ("version =", "versoin =", "unknown field `versoin`"),
        ] {
            let e = toml::from_str::<EksValues>(&GOOD.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(e.contains(named), "{e}");
        }
    }
}
