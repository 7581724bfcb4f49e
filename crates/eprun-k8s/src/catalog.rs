//! Kinds eprun knows without asking the API server: their scope and the types of well-known fields.
//!
//! Declarations are checked against this list before any call; other kinds are resolved through
//! the cluster's discovery API.

/// A kind's scope, as the API server would report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// `group/version` (or `v1` for the core group).
    pub api_version: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// Lives in a namespace.
    pub namespaced: bool,
}

const fn k(api_version: &'static str, kind: &'static str, namespaced: bool) -> Known {
    Known {
        api_version,
        kind,
        namespaced,
    }
}

/// The core kinds and the custom kinds of the platform's add-ons.
pub const KNOWN: &[Known] = &[
    k("v1", "Namespace", false),
    k("v1", "Node", false),
    k("v1", "Pod", true),
    k("v1", "Service", true),
    k("v1", "ServiceAccount", true),
    k("v1", "ConfigMap", true),
    k("v1", "Secret", true),
    k("apps/v1", "Deployment", true),
    k("apps/v1", "StatefulSet", true),
    k("apps/v1", "DaemonSet", true),
    k("policy/v1", "PodDisruptionBudget", true),
    k("networking.k8s.io/v1", "NetworkPolicy", true),
    k("rbac.authorization.k8s.io/v1", "Role", true),
    k("rbac.authorization.k8s.io/v1", "RoleBinding", true),
    k("rbac.authorization.k8s.io/v1", "ClusterRole", false),
    k("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", false),
    k("karpenter.sh/v1", "NodePool", false),
    k("karpenter.sh/v1", "NodeClaim", false),
    k("karpenter.k8s.aws/v1", "EC2NodeClass", false),
    k("argoproj.io/v1alpha1", "Rollout", true),
    k("argoproj.io/v1alpha1", "AnalysisTemplate", true),
    k("argoproj.io/v1alpha1", "ClusterAnalysisTemplate", false),
    k("argoproj.io/v1alpha1", "AnalysisRun", true),
    k("kyverno.io/v1", "ClusterPolicy", false),
    k("kyverno.io/v1", "Policy", true),
    k("cilium.io/v2", "CiliumNetworkPolicy", true),
    k("cilium.io/v2", "CiliumClusterwideNetworkPolicy", false),
    k("external-secrets.io/v1", "ClusterSecretStore", false),
    k("external-secrets.io/v1", "SecretStore", true),
    k("external-secrets.io/v1", "ExternalSecret", true),
    k("monitoring.coreos.com/v1", "PrometheusRule", true),
    k("monitoring.coreos.com/v1", "ServiceMonitor", true),
];

/// The type a well-known field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A whole number.
    Integer,
    /// A boolean.
    Bool,
    /// A map.
    Map,
    /// A map whose values are strings (labels, annotations, ConfigMap data).
    StringMap,
    /// An array.
    Array,
}

impl FieldType {
    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::Integer => "an integer",
            FieldType::Bool => "a bool",
            FieldType::Map => "a map",
            FieldType::StringMap => "a map of strings",
            FieldType::Array => "an array",
        }
    }
}

/// Well-known fields of every object.
pub const COMMON_FIELDS: &[(&str, FieldType)] = &[
    ("metadata", FieldType::Map),
    ("metadata.name", FieldType::String),
    ("metadata.namespace", FieldType::String),
    ("metadata.labels", FieldType::StringMap),
    ("metadata.annotations", FieldType::StringMap),
];

/// Well-known fields of particular kinds.
pub fn fields_of(kind: &str) -> &'static [(&'static str, FieldType)] {
    match kind {
        "Deployment" | "StatefulSet" | "Rollout" => &[
            ("spec", FieldType::Map),
            ("spec.replicas", FieldType::Integer),
            ("spec.selector", FieldType::Map),
            ("spec.template", FieldType::Map),
            ("spec.template.spec.containers", FieldType::Array),
        ],
        "DaemonSet" => &[
            ("spec.selector", FieldType::Map),
            ("spec.template", FieldType::Map),
        ],
        "Service" => &[
            ("spec.ports", FieldType::Array),
            ("spec.selector", FieldType::StringMap),
        ],
        "ConfigMap" => &[("data", FieldType::StringMap)],
        "Secret" => &[
            ("data", FieldType::StringMap),
            ("stringData", FieldType::StringMap),
        ],
        "PodDisruptionBudget" => &[("spec.selector", FieldType::Map)],
        "NodePool" => &[
            ("spec.template", FieldType::Map),
            ("spec.limits", FieldType::Map),
            ("spec.disruption", FieldType::Map),
            ("spec.weight", FieldType::Integer),
        ],
        "EC2NodeClass" => &[
            ("spec.role", FieldType::String),
            ("spec.subnetSelectorTerms", FieldType::Array),
            ("spec.securityGroupSelectorTerms", FieldType::Array),
        ],
        "PrometheusRule" => &[("spec.groups", FieldType::Array)],
        "ExternalSecret" => &[("spec.refreshInterval", FieldType::String)],
        _ => &[],
    }
}

/// The known entry for a kind, if eprun knows it.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

/// Known kinds' names, for "did you mean".
pub fn kind_names() -> Vec<&'static str> {
    KNOWN.iter().map(|k| k.kind).collect()
}
