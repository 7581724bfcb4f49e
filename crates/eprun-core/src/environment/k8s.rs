//! `[k8s]`: how eprun reaches the region's Kubernetes API, and the add-ons' values (stdlib/k8s/).
//!
//! One typed table per add-on module (`[k8s.karpenter]`, `[k8s.rollouts]`, `[k8s.policies]`,
//! `[k8s.external_secrets]`, `[k8s.monitoring]`), each refusing unknown keys, so a typo in an
//! environment file is an error naming the key instead of a value silently left out.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How to reach the cluster's API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connect {
    /// Straight to the stack's EKS cluster: endpoint and CA from DescribeCluster, a token from STS.
    #[default]
    Eks,
    /// Through `KUBECONFIG` (or `~/.kube/config`), optionally a named context.
    Kubeconfig,
}

/// The region's Kubernetes side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sValues {
    /// `eks` (the stack's cluster) or `kubeconfig`.
    #[serde(default)]
    pub connect: Connect,
    /// The kubeconfig context, with `connect = "kubeconfig"` (default: the current context).
    pub context: Option<String>,
    /// The EKS cluster to reach with `connect = "eks"` (default: `[eks] cluster_name`).
    pub cluster: Option<String>,
    /// Labels put on every object the add-on modules declare (like `[tags]` for AWS resources),
    /// beside `app.kubernetes.io/managed-by: eprun`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Keep the namespaces the modules declare from deletion (deleting one deletes all it holds).
    #[serde(default)]
    pub protect: bool,
    /// Karpenter's node pools and node class (stdlib/k8s/karpenter.rhai).
    pub karpenter: Option<KarpenterValues>,
    /// The payment service's blue/green rollout (stdlib/k8s/rollouts.rhai).
    pub rollouts: Option<RolloutsValues>,
    /// Image verification and network policies (stdlib/k8s/policies.rhai).
    pub policies: Option<PoliciesValues>,
    /// External Secrets: the store and the synced secrets (stdlib/k8s/external_secrets.rhai).
    pub external_secrets: Option<ExternalSecretsValues>,
    /// Prometheus rules: SLO burn rates, node pressure, Karpenter (stdlib/k8s/monitoring.rhai).
    pub monitoring: Option<MonitoringValues>,
    /// The controllers' Helm charts, pinned, by controller (stdlib/k8s/controllers.rhai).
    #[serde(default)]
    pub charts: BTreeMap<String, ChartValues>,
}

/// `[k8s.charts.<controller>]`: where a controller's chart comes from and which version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartValues {
    /// The chart's name in `repository`, or an `oci://` reference.
    pub chart: String,
    /// The Helm repository's URL (absent for an OCI chart).
    pub repository: Option<String>,
    /// The pinned chart version.
    pub version: String,
    /// The namespace the release installs into.
    pub namespace: String,
}

// ---------------------------------------------------------------------------------------------
// Karpenter
// ---------------------------------------------------------------------------------------------

/// `[k8s.karpenter]`: the EC2NodeClass and the NodePools (Karpenter v1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KarpenterValues {
    /// The name of the EC2NodeClass every node pool launches with.
    #[serde(default = "default_node_class")]
    pub node_class: String,
    /// The AMI alias, `family@version` (`al2023@latest`, or a pinned `al2023@v20240807`).
    #[serde(default = "default_ami_alias", deserialize_with = "ami_alias")]
    pub ami_alias: String,
    /// The size of each node's root volume (gp3, encrypted), as a Kubernetes quantity.
    #[serde(default = "default_root_volume")]
    pub root_volume_size: String,
    /// The IMDS response hop limit; 1 keeps pods (which use IRSA) away from the node's credentials.
    #[serde(default = "one")]
    pub metadata_hop_limit: u32,
    /// The node pools, one `[[k8s.karpenter.node_pools]]` table each; names are unique.
    #[serde(deserialize_with = "unique_pools")]
    pub node_pools: Vec<NodePoolValues>,
}

/// One Karpenter NodePool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePoolValues {
    /// The NodePool's name (also the `karpenter.sh/nodepool` label of its nodes).
    pub name: String,
    /// Purchase options: `on-demand`, `spot`.
    #[serde(deserialize_with = "non_empty")]
    pub capacity_types: Vec<CapacityType>,
    /// CPU architectures (default `amd64`).
    #[serde(default = "default_architectures", deserialize_with = "non_empty")]
    pub architectures: Vec<Architecture>,
    /// EC2 instance categories (`c`, `m`, `r`, `g`, `p` …); empty: any.
    #[serde(default)]
    pub instance_categories: Vec<String>,
    /// EC2 instance families (`g5`, `g6`, `p4d` …); empty: any.
    #[serde(default)]
    pub instance_families: Vec<String>,
    /// The oldest instance generation allowed (6 allows `m6i`, `m7i` … but not `m5`).
    pub min_instance_generation: Option<u32>,
    /// Labels put on the pool's nodes.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Taints put on the pool's nodes: only pods tolerating them land there.
    #[serde(default)]
    pub taints: Vec<TaintValues>,
    /// Caps on what the pool provisions (`cpu`, `memory`, `nvidia.com/gpu`), as quantities.
    /// Owned by the DR runbooks during an incident: plans ignore later changes to them.
    pub limits: BTreeMap<String, String>,
    /// When Karpenter may remove or replace nodes.
    pub consolidation_policy: ConsolidationPolicy,
    /// How long a node stays empty (or underused) before it is consolidated (`30s`, `10m`).
    #[serde(deserialize_with = "duration")]
    pub consolidate_after: String,
    /// The longest a node lives before it is replaced (`720h`, or `Never`).
    #[serde(default = "default_expire_after", deserialize_with = "duration")]
    pub expire_after: String,
    /// How many nodes may be disrupted at once, and when (default: Karpenter's 10%).
    #[serde(default)]
    pub disruption_budgets: Vec<DisruptionBudgetValues>,
    /// The pool's priority when several could serve a pod (higher first).
    pub weight: Option<u32>,
}

/// `karpenter.sh/capacity-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CapacityType {
    /// On-demand instances.
    #[serde(rename = "on-demand")]
    OnDemand,
    /// Spot instances (interruptible).
    #[serde(rename = "spot")]
    Spot,
}

/// `kubernetes.io/arch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// x86-64.
    Amd64,
    /// Graviton.
    Arm64,
}

/// `spec.disruption.consolidationPolicy` of a NodePool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsolidationPolicy {
    /// Only nodes without workload pods are removed.
    WhenEmpty,
    /// Nodes are also replaced or removed when their pods fit elsewhere.
    WhenEmptyOrUnderutilized,
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintValues {
    /// The taint's key (`workload`, `nvidia.com/gpu`).
    pub key: String,
    /// The taint's value (`payments`, `true`).
    pub value: String,
    /// What it does to pods that do not tolerate it.
    pub effect: TaintEffect,
}

/// The effect of a taint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintEffect {
    /// New pods are not scheduled.
    NoSchedule,
    /// New pods avoid the node when they can.
    PreferNoSchedule,
    /// Running pods are evicted too.
    NoExecute,
}

/// One entry of a NodePool's `spec.disruption.budgets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisruptionBudgetValues {
    /// Nodes that may be disrupting at once: a count (`"1"`) or a percentage (`"10%"`).
    pub nodes: String,
    /// A cron schedule when the budget starts to apply (with `duration`).
    pub schedule: Option<String>,
    /// How long the budget applies after each `schedule` (`8h`).
    #[serde(default, deserialize_with = "optional_duration")]
    pub duration: Option<String>,
    /// The disruption reasons the budget limits; empty: all of them.
    #[serde(default)]
    pub reasons: Vec<DisruptionReason>,
}

/// A reason Karpenter disrupts a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisruptionReason {
    /// The node runs no workload pods.
    Empty,
    /// The node no longer matches its NodePool or node class.
    Drifted,
    /// The node's pods fit elsewhere.
    Underutilized,
}

// ---------------------------------------------------------------------------------------------
// Argo Rollouts
// ---------------------------------------------------------------------------------------------

/// `[k8s.rollouts]`: the payment service, deployed blue/green by Argo Rollouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutsValues {
    /// The namespace of the payment workloads.
    #[serde(default = "default_payments")]
    pub namespace: String,
    /// The service's name: the Rollout, its ServiceAccount (with an IRSA role of the same name in
    /// `eks.service_accounts`), the PodDisruptionBudget, and the prefix of the two Services.
    #[serde(default = "default_payment_service")]
    pub name: String,
    /// The container image, by tag or digest; changing it starts a blue/green rollout.
    pub image: String,
    /// Replicas at creation; then owned by the runbooks and autoscalers (plans ignore it).
    pub replicas: u32,
    /// The Karpenter node pool the pods run on (they tolerate its taints).
    pub node_pool: String,
    /// The container's HTTP port (named `http`).
    #[serde(default = "default_http_port")]
    pub port: u16,
    /// The container's metrics port (named `metrics`), scraped by Prometheus.
    #[serde(default = "default_metrics_port")]
    pub metrics_port: u16,
    /// The HTTP path of the readiness and liveness probes.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// The container's resource requests and limits.
    pub resources: ResourcesValues,
    /// Seconds the old (blue) ReplicaSet keeps running after promotion, for a fast rollback.
    #[serde(default = "default_scale_down_delay")]
    pub scale_down_delay_seconds: u32,
    /// Pods of the new version before promotion (default: all `replicas`).
    pub preview_replica_count: Option<u32>,
    /// Pods that voluntary disruptions (drains, consolidation) may take down at once.
    #[serde(default = "one")]
    pub max_unavailable: u32,
    /// The pre-promotion analysis: Prometheus queries the new version must pass.
    pub analysis: AnalysisValues,
}

/// A container's resources, as Kubernetes quantities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesValues {
    /// CPU requested (`500m`).
    pub cpu_request: String,
    /// Memory requested (`512Mi`).
    pub memory_request: String,
    /// CPU limit; none: no CPU throttling.
    pub cpu_limit: Option<String>,
    /// Memory limit (`1Gi`).
    pub memory_limit: String,
}

/// The AnalysisTemplates `p99-latency` and `error-rate` (Prometheus provider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisValues {
    /// The Prometheus server the analysis queries (`http://…:9090`).
    pub prometheus_address: String,
    /// Time between measurements (`1m`).
    #[serde(default = "default_interval", deserialize_with = "duration")]
    pub interval: String,
    /// Measurements per analysis run.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Failed measurements tolerated before the analysis (and the rollout) fails.
    #[serde(default = "one")]
    pub failure_limit: u32,
    /// The range of the `rate()` windows in the queries (`2m`).
    #[serde(default = "default_rate_window", deserialize_with = "duration")]
    pub rate_window: String,
    /// The request-duration histogram's bucket series.
    #[serde(default = "default_latency_metric")]
    pub latency_metric: String,
    /// The request counter.
    #[serde(default = "default_requests_metric")]
    pub requests_metric: String,
    /// The label matcher that marks failed requests in `requests_metric`.
    #[serde(default = "default_error_matcher")]
    pub error_matcher: String,
    /// The highest p99 latency, in seconds, the new version may show.
    pub max_p99_latency_seconds: f64,
    /// The highest share of failed requests (0.001 = 0.1 %) the new version may show.
    pub max_error_rate: f64,
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// `[k8s.policies]`: Kyverno image verification and Cilium network policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesValues {
    /// The `verify-image-signatures` ClusterPolicy.
    pub image_verification: ImageVerificationValues,
    /// Default deny and the allowed flows.
    pub network: NetworkPoliciesValues,
}

/// `[k8s.policies.image_verification]`: cosign signatures checked by Kyverno at admission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageVerificationValues {
    /// The cosign public key (PEM) that release images are signed with.
    #[serde(deserialize_with = "public_key")]
    pub public_key: String,
    /// Image patterns whose signatures are checked (`<registry>/examplepay/*`).
    #[serde(deserialize_with = "non_empty")]
    pub image_references: Vec<String>,
    /// Namespaces whose pods are checked; empty: every namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// `Enforce` refuses unsigned pods; `Audit` only reports them.
    #[serde(default)]
    pub failure_action: FailureAction,
}

/// Kyverno's per-rule `failureAction` (of the image verification rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FailureAction {
    /// Refuse the resource.
    #[default]
    Enforce,
    /// Admit it and report the violation.
    Audit,
}

/// `[k8s.policies.network]`: Cilium network policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPoliciesValues {
    /// Namespaces whose pods get a default-deny policy (ingress and egress): only the flows
    /// below, and DNS, are then allowed.
    #[serde(default)]
    pub default_deny_namespaces: Vec<String>,
    /// The ingress controller's namespace, allowed to reach the payment service's HTTP port.
    pub ingress_namespace: String,
    /// Prometheus' namespace, allowed to scrape the payment service's metrics port.
    pub monitoring_namespace: String,
    /// The namespace of kube-dns (CoreDNS).
    #[serde(default = "default_kube_system")]
    pub dns_namespace: String,
    /// The `k8s-app` label of the kube-dns pods.
    #[serde(default = "default_kube_dns")]
    pub dns_app: String,
    /// Namespaces whose pods may reach AWS APIs: HTTPS to the VPC's block, where the interface
    /// endpoints (STS, Secrets Manager, ECR) answer.
    #[serde(default)]
    pub aws_api_namespaces: Vec<String>,
    /// Namespaces whose pods talk to the Kubernetes API (controllers) and receive its webhook calls.
    #[serde(default)]
    pub api_server_namespaces: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// External Secrets
// ---------------------------------------------------------------------------------------------

/// `[k8s.external_secrets]`: External Secrets Operator reading Secrets Manager through IRSA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSecretsValues {
    /// The operator's namespace (its Helm release installs there).
    #[serde(default = "default_external_secrets")]
    pub namespace: String,
    /// The operator's service account, with the IRSA role of the same name in
    /// `eks.service_accounts`.
    #[serde(default = "default_external_secrets")]
    pub service_account: String,
    /// The ClusterSecretStore's name.
    #[serde(default = "default_store")]
    pub store: String,
    /// The namespace the ExternalSecrets and the Secrets they make live in.
    #[serde(default = "default_payments")]
    pub target_namespace: String,
    /// How often each secret is read again (`1h`).
    #[serde(default = "default_refresh", deserialize_with = "duration")]
    pub refresh_interval: String,
}

// ---------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------

/// `[k8s.monitoring]`: PrometheusRules for the Prometheus operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringValues {
    /// The namespace the rules live in (Prometheus' own).
    #[serde(default = "default_monitoring")]
    pub namespace: String,
    /// Labels Prometheus' `ruleSelector` matches (`release = "kube-prometheus-stack"`).
    #[serde(default)]
    pub rule_labels: BTreeMap<String, String>,
    /// The payment service's availability SLO.
    pub slo: SloValues,
    /// Node pressure alerts.
    #[serde(default)]
    pub node_pressure: NodePressureValues,
    /// Karpenter health alerts.
    #[serde(default)]
    pub karpenter: KarpenterAlertValues,
}

/// `[k8s.monitoring.slo]`: an availability SLO, alerted on by multi-window, multi-burn-rate rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloValues {
    /// The service the SLO is about (names the rules and labels the alerts).
    pub service: String,
    /// The objective in percent of successful requests (`99.95`).
    #[serde(deserialize_with = "objective")]
    pub objective: f64,
    /// The request counter.
    #[serde(default = "default_requests_metric")]
    pub requests_metric: String,
    /// Label matchers selecting the service's requests (`namespace="payments",service="…"`).
    pub selector: String,
    /// The label matcher that marks failed requests.
    #[serde(default = "default_error_matcher")]
    pub error_matcher: String,
    /// Burn-rate alerts: a long and a short window that must both burn faster than `factor`
    /// times the error budget (default: 1h/5m 14.4×, 6h/30m 6× paging; 1d/2h 3×, 3d/6h 1× ticket).
    #[serde(default = "default_burn_rates", deserialize_with = "non_empty")]
    pub burn_rates: Vec<BurnRateValues>,
}

/// One burn-rate alert of an SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRateValues {
    /// The long window (`1h`).
    #[serde(deserialize_with = "duration")]
    pub long_window: String,
    /// The short window, which stops the alert soon after the burn stops (`5m`).
    #[serde(deserialize_with = "duration")]
    pub short_window: String,
    /// How many times faster than sustainable the budget burns (`14.4`).
    pub factor: f64,
    /// The alert's `severity` label (`critical` pages, `warning` opens a ticket).
    pub severity: String,
    /// How long the condition holds before the alert fires (`2m`).
    #[serde(rename = "for", deserialize_with = "duration")]
    pub for_duration: String,
}

/// `[k8s.monitoring.node_pressure]`: node conditions from kube-state-metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePressureValues {
    /// The node conditions alerted on.
    #[serde(default = "default_conditions")]
    pub conditions: Vec<String>,
    /// How long a condition holds before the alert fires.
    #[serde(
        rename = "for",
        default = "default_pressure_for",
        deserialize_with = "duration"
    )]
    pub for_duration: String,
    /// The alerts' `severity` label.
    #[serde(default = "default_warning")]
    pub severity: String,
}

impl Default for NodePressureValues {
    fn default() -> Self {
        Self {
            conditions: default_conditions(),
            for_duration: default_pressure_for(),
            severity: default_warning(),
        }
    }
}

/// `[k8s.monitoring.karpenter]`: Karpenter controller health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KarpenterAlertValues {
    /// The `job` label of the Karpenter controller's scrape target.
    #[serde(default = "default_karpenter_job")]
    pub job: String,
    /// How long the controller may be down before the alert fires.
    #[serde(default = "default_down_for", deserialize_with = "duration")]
    pub down_for: String,
    /// The window in which NodeClaims created without any node joining means launches fail.
    #[serde(default = "default_launch_window", deserialize_with = "duration")]
    pub launch_window: String,
    /// The share of a NodePool limit (0.9 = 90 %) above which the pool is reported as nearly full.
    #[serde(default = "default_limit_ratio")]
    pub limit_ratio: f64,
    /// How long a NodePool stays above `limit_ratio` before the alert fires.
    #[serde(default = "default_limit_for", deserialize_with = "duration")]
    pub limit_for: String,
}

impl Default for KarpenterAlertValues {
    fn default() -> Self {
        Self {
            job: default_karpenter_job(),
            down_for: default_down_for(),
            launch_window: default_launch_window(),
            limit_ratio: default_limit_ratio(),
            limit_for: default_limit_for(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

fn one() -> u32 {
    1
}
string_defaults! {
    default_node_class = "default";
    default_ami_alias = "al2023@latest";
    default_root_volume = "100Gi";
    default_expire_after = "720h";
    default_payments = "payments";
    default_payment_service = "payment-service";
    default_health_path = "/healthz";
    default_interval = "1m";
    default_rate_window = "2m";
    default_latency_metric = "http_request_duration_seconds_bucket";
    default_requests_metric = "http_requests_total";
    default_error_matcher = r#"code=~"5.."#;
    default_kube_system = "kube-system";
    default_kube_dns = "kube-dns";
    default_external_secrets = "external-secrets";
    default_store = "aws-secrets-manager";
    default_refresh = "1h";
    default_monitoring = "monitoring";
    default_pressure_for = "5m";
    default_warning = "warning";
    default_karpenter_job = "karpenter";
    default_down_for = "5m";
    default_launch_window = "15m";
    default_limit_for = "15m";
}
fn default_architectures() -> Vec<Architecture> {
    vec![Architecture::Amd64]
}
fn default_http_port() -> u16 {
    8080
}
fn default_metrics_port() -> u16 {
    9090
}
fn default_scale_down_delay() -> u32 {
    300
}
fn default_count() -> u32 {
    5
}
fn default_burn_rates() -> Vec<BurnRateValues> {
    [
        ("1h", "5m", 14.4, "critical", "2m"),
        ("6h", "30m", 6.0, "critical", "15m"),
        ("1d", "2h", 3.0, "warning", "1h"),
        ("3d", "6h", 1.0, "warning", "3h"),
    ]
    .into_iter()
    .map(|(long, short, factor, severity, wait)| BurnRateValues {
        long_window: long.into(),
        short_window: short.into(),
        factor,
        severity: severity.into(),
        for_duration: wait.into(),
    })
    .collect()
}
fn default_conditions() -> Vec<String> {
    ["MemoryPressure", "DiskPressure", "PIDPressure"]
        .map(String::from)
        .to_vec()
}
fn default_limit_ratio() -> f64 {
    0.9
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// Whether `s` is a duration as Kubernetes controllers and Prometheus write them: one or more
/// `<number><unit>` parts (`90s`, `1h30m`, `3d`), or `Never`.
fn is_duration(s: &str) -> bool {
    if s == "Never" {
        return true;
    }
    let mut digits = false;
    let mut parts = 0;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits = true;
            continue;
        }
        if !digits {
            return false;
        }
        match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
            }
            's' | 'm' | 'h' | 'd' | 'w' | 'y' => {}
            _ => return false,
        }
        digits = false;
        parts += 1;
    }
    parts > 0 && !digits
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if is_duration(&s) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{s}` is not a duration like `30s`, `10m`, `720h`, `1d` or `Never`"
        )))
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    duration(d).map(Some)
}

fn ami_alias<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    match s.split_once('@') {
        Some((family, version)) if !family.is_empty() && !version.is_empty() => Ok(s),
        _ => Err(serde::de::Error::custom(format!(
            "`{s}` is not an AMI alias like `al2023@latest` (`family@version`)"
        ))),
    }
}

fn non_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = Vec::<T>::deserialize(d)?;
    if v.is_empty() {
        return Err(serde::de::Error::custom("cannot be empty"));
    }
    Ok(v)
}

fn unique_pools<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NodePoolValues>, D::Error> {
    let pools = non_empty::<D, NodePoolValues>(d)?;
    let mut seen = BTreeSet::new();
    if let Some(dup) = pools.iter().find(|p| !seen.insert(p.name.as_str())) {
        return Err(serde::de::Error::custom(format!(
            "node pool `{}` is listed twice",
            dup.name
        )));
    }
    Ok(pools)
}

fn public_key<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let t = s.trim();
    if t.starts_with("-----BEGIN PUBLIC KEY-----") && t.ends_with("-----END PUBLIC KEY-----") {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(
            "not a PEM public key (`-----BEGIN PUBLIC KEY-----` … `-----END PUBLIC KEY-----`)",
        ))
    }
}

fn objective<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v < 100.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{v}` is not a percentage between 0 and 100 (exclusive), like `99.95`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
connect = "eks"
protect = true
labels = { "app.kubernetes.io/part-of" = "examplepay" }

[karpenter]
[[karpenter.node_pools]]
name = "payments"
capacity_types = ["on-demand"]
instance_categories = ["c", "m", "r"]
min_instance_generation = 6
taints = [{ key = "workload", value = "payments", effect = "NoSchedule" }]
limits = { cpu = "400", memory = "1600Gi" }
consolidation_policy = "WhenEmpty"
consolidate_after = "10m"
disruption_budgets = [{ nodes = "1" }, { nodes = "0", schedule = "0 9 * * 1-5", duration = "8h", reasons = ["Underutilized"] }]

[[karpenter.node_pools]]
name = "batch"
capacity_types = ["spot"]
architectures = ["amd64", "arm64"]
limits = { cpu = "1000" }
consolidation_policy = "WhenEmptyOrUnderutilized"
consolidate_after = "1m"

[rollouts]
image = "registry/examplepay/payment-service:1.0.0"
replicas = 6
node_pool = "payments"
resources = { cpu_request = "500m", memory_request = "512Mi", memory_limit = "1Gi" }
[rollouts.analysis]
prometheus_address = "http://prometheus.monitoring.svc:9090"
max_p99_latency_seconds = 0.3
max_error_rate = 0.001

[policies.image_verification]
public_key = """
-----BEGIN PUBLIC KEY-----
AAAA
-----END PUBLIC KEY-----
"""
image_references = ["registry/examplepay/*"]
[policies.network]
default_deny_namespaces = ["payments"]
ingress_namespace = "ingress-nginx"
monitoring_namespace = "monitoring"

[external_secrets]

[monitoring.slo]
service = "payment-service"
objective = 99.95
selector = 'namespace="payments"'
"#;

    #[test]
    fn parses_every_table_with_defaults() {
        let v: K8sValues = toml::from_str(FULL).unwrap();
        assert!(v.protect);
        let k = v.karpenter.unwrap();
        assert_eq!(k.node_class, "default");
        assert_eq!(k.ami_alias, "al2023@latest");
        assert_eq!(k.metadata_hop_limit, 1);
        assert_eq!(k.node_pools[0].architectures, vec![Architecture::Amd64]);
        assert_eq!(k.node_pools[0].expire_after, "720h");
        assert_eq!(k.node_pools[0].taints[0].effect, TaintEffect::NoSchedule);
        assert_eq!(
            k.node_pools[0].disruption_budgets[1].reasons,
            vec![DisruptionReason::Underutilized]
        );
        assert_eq!(k.node_pools[1].capacity_types, vec![CapacityType::Spot]);
        let r = v.rollouts.unwrap();
        assert_eq!(
            (r.namespace.as_str(), r.name.as_str()),
            ("payments", "payment-service")
        );
        assert_eq!((r.port, r.metrics_port, r.max_unavailable), (8080, 9090, 1));
        assert_eq!(r.analysis.interval, "1m");
        assert_eq!(r.analysis.error_matcher, r#"code=~"5.."#);
        let p = v.policies.unwrap();
        assert_eq!(p.image_verification.failure_action, FailureAction::Enforce);
        assert_eq!(p.network.dns_namespace, "kube-system");
        let e = v.external_secrets.unwrap();
        assert_eq!(
            (e.store.as_str(), e.refresh_interval.as_str()),
            ("aws-secrets-manager", "1h")
        );
        let m = v.monitoring.unwrap();
        assert_eq!(m.slo.burn_rates.len(), 4);
        assert_eq!(m.slo.burn_rates[0].factor, 14.4);
        assert_eq!(m.node_pressure.conditions.len(), 3);
        assert_eq!(m.karpenter.limit_ratio, 0.9);
    }

    #[test]
    fn connection_only_table_still_parses() {
        let v: K8sValues =
            toml::from_str("connect = \"kubeconfig\"\ncontext = \"local-us-east-1\"").unwrap();
        assert_eq!(v.connect, Connect::Kubeconfig);
        assert_eq!(v.context.as_deref(), Some("local-us-east-1"));
        assert!(v.karpenter.is_none() && v.monitoring.is_none() && !v.protect);
    }

    #[test]
    fn serialises_burn_rate_for_as_for() {
        let v: K8sValues = toml::from_str(FULL).unwrap();
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["monitoring"]["slo"]["burn_rates"][0]["for"], "2m");
        assert_eq!(
            json["karpenter"]["node_pools"][0]["capacity_types"][0],
            "on-demand"
        );
        assert_eq!(
            json["karpenter"]["node_pools"][0]["consolidation_policy"],
            "WhenEmpty"
        );
    }

    /// Asserts that `FULL`, with each `from` replaced by its `to`, is refused naming `named`.
    fn refused(cases: &[(&str, &str, &str)]) {
        for (from, to, named) in cases {
            let e = toml::from_str::<K8sValues>(&FULL.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(e.contains(named), "{e}");
        }
    }

    #[test]
    fn typos_are_named() {
        refused(&[
            (
                "consolidate_after = \"10m\"",
                "consolidat_after = \"10m\"",
                "unknown field `consolidat_after`",
            ),
            (
                "[external_secrets]",
                "[external_secret]",
                "unknown field `external_secret`",
            ),
            (
                "prometheus_address",
                "prometheus_url",
                "unknown field `prometheus_url`",
            ),
            (
                "objective = 99.95",
                "objective = 99.95\ntarget = 1",
                "unknown field `target`",
            ),
        ]);
    }

    #[test]
    fn bad_values_are_refused() {
        refused(&[
            ("[\"spot\"]", "[\"spots\"]", "unknown variant `spots`"),
            (
                "\"WhenEmpty\"",
                "\"WhenEmptyy\"",
                "unknown variant `WhenEmptyy`",
            ),
            (
                "consolidate_after = \"1m\"",
                "consolidate_after = \"1 minute\"",
                "is not a duration",
            ),
            ("objective = 99.95", "objective = 100.0", "not a percentage"),
            (
                "-----BEGIN PUBLIC KEY-----",
                "ssh-ed25519",
                "not a PEM public key",
            ),
            (
                "name = \"batch\"",
                "name = \"payments\"",
                "`payments` is listed twice",
            ),
            (
                "image_references = [\"registry/examplepay/*\"]",
                "image_references = []",
                "cannot be empty",
            ),
        ]);
    }

    #[test]
    fn durations() {
        for ok in ["30s", "10m", "720h", "1h30m", "3d", "500ms", "Never"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "10", "m", "1 h", "1x", "never", "-5m"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
