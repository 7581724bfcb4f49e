//! Imperative Kubernetes verbs for runbooks and the REPL: reading and writing objects, scaling,
//! waiting, Argo Rollouts, cordoning and draining nodes, and pod logs.
//!
//! Each verb acts on one [`Kube`] connection and returns plain JSON. Every mutating call goes
//! through the session's [`Mutations`](crate::mutation::Mutations) gate, so a dry run shows it
//! instead of making it and a runbook's journal records it; reads are never gated.

pub mod deployment;
pub mod logs;
pub mod node;
pub mod objects;
pub mod rollout;
pub mod scale;
pub mod wait;

use super::catalog;
use super::connection::{Kind, Kube};
use crate::api_error;
use crate::cloud_error::CloudError;
use kube::api::{Api, DynamicObject};
use serde_json::{Map, Value};
use std::fmt;

/// Why a verb failed.
#[derive(Debug, thiserror::Error)]
pub enum VerbError {
    /// The script asked for something that cannot be done (a bad kind, a missing namespace);
    /// found before any call.
    #[error("{0}")]
    Usage(String),
    /// The API server refused, could not be reached, or a wait ran out of time.
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// Ctrl-C stopped a wait, a drain or a retry.
    #[error("interrupted by Ctrl-C")]
    Interrupted,
}

/// A kind as verbs name it: `Deployment` for the kinds eprun knows (their `apiVersion` comes from
/// the catalog), or `group/version/Kind` (`v1/Kind` for the core group) for any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRef {
    /// `group/version`, or `v1`.
    pub api_version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
}

impl KindRef {
    /// A kind by `apiVersion` and name.
    pub fn new(api_version: &str, kind: &str) -> KindRef {
        KindRef {
            api_version: api_version.into(),
            kind: kind.into(),
        }
    }

    /// Parses a kind argument: `Deployment`, `v1/Pod` or `argoproj.io/v1alpha1/Rollout`.
    pub fn parse(arg: &str) -> Result<KindRef, VerbError> {
        let arg = arg.trim();
        if arg.is_empty() {
            return Err(VerbError::Usage(
                "a kind is required, e.g. `Deployment` or `example.com/v1/Widget`".into(),
            ));
        }
        let Some((api_version, kind)) = arg.rsplit_once('/') else {
            return known_kind(arg);
        };
        check_kind_name(kind, arg)?;
        let parts: Vec<&str> = api_version.split('/').collect();
        let looks_like_version = |v: &str| {
            v.strip_prefix('v')
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        };
        match parts.as_slice() {
            [version] if looks_like_version(version) => {}
            [group] if !group.is_empty() => {
                return Err(VerbError::Usage(format!(
                    "`{arg}` has no version: write `{group}/<version>/{kind}`{}",
                    catalog::KNOWN
                        .iter()
                        .find(|k| k.kind == kind)
                        .map(|k| format!(" (e.g. `{}/{kind}`)", k.api_version))
                        .unwrap_or_default()
                )));
            }
            [group, version] if !group.is_empty() && looks_like_version(version) => {}
            _ => {
                return Err(VerbError::Usage(format!(
                    "`{arg}` is not a kind: write `Kind` for a kind eprun knows, or `group/version/Kind` (`v1/Kind` for the core group)"
                )));
            }
        }
        Ok(KindRef::new(api_version, kind))
    }

    /// Whether objects of this kind live in a namespace, when eprun knows without asking.
    pub fn known_namespaced(&self) -> Option<bool> {
        catalog::lookup(&self.api_version, &self.kind).map(|k| k.namespaced)
    }
}

impl fmt::Display for KindRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)
    }
}

/// kubectl's short names of the known kinds, for hints.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("ns", "Namespace"),
    ("no", "Node"),
    ("po", "Pod"),
    ("svc", "Service"),
    ("sa", "ServiceAccount"),
    ("cm", "ConfigMap"),
    ("deploy", "Deployment"),
    ("sts", "StatefulSet"),
    ("ds", "DaemonSet"),
    ("pdb", "PodDisruptionBudget"),
    ("netpol", "NetworkPolicy"),
    ("ro", "Rollout"),
    ("ec2nc", "EC2NodeClass"),
    ("cpol", "ClusterPolicy"),
    ("cnp", "CiliumNetworkPolicy"),
    ("es", "ExternalSecret"),
];

fn known_kind(arg: &str) -> Result<KindRef, VerbError> {
    if let Some(k) = catalog::KNOWN.iter().find(|k| k.kind == arg) {
        return Ok(KindRef::new(k.api_version, k.kind));
    }
    let names = catalog::kind_names();
    let hint = names
        .iter()
        .find(|n| {
            n.eq_ignore_ascii_case(arg) || format!("{}s", n.to_lowercase()) == arg.to_lowercase()
        })
        .copied()
        .or_else(|| {
            SHORT_NAMES
                .iter()
                .find(|(short, _)| short.eq_ignore_ascii_case(arg))
                .map(|(_, k)| *k)
        })
        .or_else(|| crate::schema::suggest(arg, &names))
        .map(|s| format!("did you mean `{s}`? "))
        .unwrap_or_default();
    Err(VerbError::Usage(format!(
        "`{arg}` is not a kind eprun knows; {hint}name other kinds with their API group and version, e.g. `example.com/v1/{arg}` (`v1/{arg}` for the core group)"
    )))
}

fn check_kind_name(kind: &str, arg: &str) -> Result<(), VerbError> {
    let ok = kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(VerbError::Usage(format!(
            "`{kind}` in `{arg}` is not a kind: kinds are CamelCase, like `Deployment` (not the plural `deployments`)"
        )))
    }
}

/// How messages and journals name an object: `Deployment payments/web`, `Node ip-10-0-1-2`.
pub fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// The namespace a verb was given: `""` means none (cluster-scoped, or every namespace for lists).
pub fn namespace_arg(namespace: &str) -> Option<&str> {
    let ns = namespace.trim();
    (!ns.is_empty()).then_some(ns)
}

/// Checks a namespace argument against the kind's scope (`namespaced`); `all_allowed`: a list,
/// where no namespace means every namespace.
pub fn check_scope(
    kind: &KindRef,
    namespaced: bool,
    namespace: Option<&str>,
    all_allowed: bool,
) -> Result<(), VerbError> {
    match (namespaced, namespace) {
        (true, None) if !all_allowed => Err(VerbError::Usage(format!(
            "`{kind}` is a namespaced kind: pass its namespace (e.g. `\"default\"`)"
        ))),
        (false, Some(ns)) => Err(VerbError::Usage(format!(
            "`{kind}` is cluster-scoped: pass `\"\"` as its namespace, not `\"{ns}\"`"
        ))),
        _ => Ok(()),
    }
}

/// The dynamic API of a kind (in `namespace`, or all namespaces), resolved through discovery (a
/// group or version the server does not serve is named as such by [`Kube::kind`]).
pub async fn api(
    kube: &Kube,
    kind: &KindRef,
    namespace: Option<&str>,
) -> Result<(Api<DynamicObject>, Kind), VerbError> {
    Ok(kube.api(&kind.api_version, &kind.kind, namespace).await?)
}

/// One object a verb acts on, resolved through discovery.
pub struct Target {
    /// Its kind.
    pub kind: KindRef,
    /// Its namespace (`None` when cluster-scoped).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The API of its kind, in its namespace.
    pub api: Api<DynamicObject>,
    /// The resolved kind.
    pub resolved: Kind,
}

impl Target {
    /// Resolves `kind` + `namespace` + `name`, refusing a namespace that does not fit the kind's
    /// scope (before any call when eprun knows the kind).
    pub async fn resolve(
        kube: &Kube,
        kind: &KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Target, VerbError> {
        let namespace = namespace_arg(namespace);
        let name = name.trim();
        if name.is_empty() {
            return Err(VerbError::Usage(format!("a `{kind}` name is required")));
        }
        if let Some(namespaced) = kind.known_namespaced() {
            check_scope(kind, namespaced, namespace, false)?;
        }
        let (api, resolved) = api(kube, kind, namespace).await?;
        check_scope(kind, resolved.namespaced, namespace, false)?;
        Ok(Target {
            kind: kind.clone(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            api,
            resolved,
        })
    }

    /// The object as it is now, or `None` when it does not exist.
    pub async fn get(&self) -> Result<Option<DynamicObject>, CloudError> {
        self.api
            .get_opt(&self.name)
            .await
            .map_err(|e| api_error("get", self.describe(), e))
    }

    /// `Deployment payments/web`.
    pub fn describe(&self) -> String {
        describe(&self.kind.kind, self.namespace.as_deref(), &self.name)
    }

    /// `payments/web`, or `web` when cluster-scoped.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// An object as verbs return it: `apiVersion` and `kind` first (list items often come without
/// them), and no `metadata.managedFields` (bookkeeping of server-side apply, noise in a runbook).
pub fn object_value(obj: &DynamicObject, kind: &KindRef) -> Value {
    let raw = serde_json::to_value(obj).unwrap_or(Value::Null);
    clean(raw, kind)
}

/// [`object_value`] for an object already in JSON. A Secret's values show as `<redacted>` (its
/// keys stay), as does kubectl's copy of the last applied manifest, which may hold them.
pub fn clean(raw: Value, kind: &KindRef) -> Value {
    let Value::Object(mut fields) = raw else {
        return raw;
    };
    if kind.api_version == "v1" && kind.kind == "Secret" {
        redact_secret(&mut fields);
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(kind.api_version.clone()));
    out.insert("kind".into(), Value::String(kind.kind.clone()));
    for (k, mut v) in fields {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        if k == "metadata"
            && let Value::Object(meta) = &mut v
        {
            meta.remove("managedFields");
        }
        out.insert(k, v);
    }
    Value::Object(out)
}

/// The annotation where `kubectl apply` keeps the whole manifest it applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn redact_secret(fields: &mut Map<String, Value>) {
    let redacted = || Value::String(crate::secret::REDACTED.to_string());
    for key in ["data", "stringData"] {
        if let Some(Value::Object(values)) = fields.get_mut(key) {
            for v in values.values_mut() {
                *v = redacted();
            }
        }
    }
    if let Some(Value::Object(annotations)) = fields
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        && let Some(v) = annotations.get_mut(LAST_APPLIED)
    {
        *v = redacted();
    }
}

/// `key=value,…` from a map of labels (sorted, so the same map always gives the same selector).
pub fn label_selector(labels: &Map<String, Value>) -> Result<String, VerbError> {
    let mut terms = Vec::new();
    for (k, v) in labels {
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(VerbError::Usage(format!(
                    "the label selector's `{k}` must be a string, not `{other}`"
                )));
            }
        };
        if k.is_empty() || k.contains([',', '=', '!', ' ']) || value.contains([',', '=', '!', ' '])
        {
            return Err(VerbError::Usage(format!(
                "`{k}: {value}` cannot be a label selector term"
            )));
        }
        terms.push(format!("{k}={value}"));
    }
    terms.sort();
    Ok(terms.join(","))
}

/// A JSON value shown in one line, cut at `max` characters.
pub fn brief(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Asserts that each kind argument parses as its API version and kind.
    fn parses_as(cases: &[(&str, &str, &str)]) {
        for (arg, api_version, kind) in cases {
            assert_eq!(
                KindRef::parse(arg).unwrap(),
                KindRef::new(api_version, kind)
            );
        }
    }

    #[test]
    fn known_kinds_take_their_api_version_from_the_catalog() {
        parses_as(&[
            ("Deployment", "apps/v1", "Deployment"),
            ("Rollout", "argoproj.io/v1alpha1", "Rollout"),
            (" Node ", "v1", "Node"),
        ]);
    }

    #[test]
    fn other_kinds_name_group_and_version() {
        parses_as(&[
            ("v1/Pod", "v1", "Pod"),
            (
                "example.com/v1beta2/Widget",
                "example.com/v1beta2",
                "Widget",
            ),
            ("v1/Endpoints", "v1", "Endpoints"),
        ]);
    }

    #[test]
    fn bad_kind_arguments_say_how_to_write_them() {
        for (arg, hint) in [
            ("deployment", "did you mean `Deployment`?"),
            ("deployments", "did you mean `Deployment`?"),
            ("Deploymnet", "did you mean `Deployment`?"),
            ("deploy", "did you mean `Deployment`?"),
            ("Widget", "`example.com/v1/Widget`"),
            ("apps/Deployment", "`apps/v1/Deployment`"),
            ("apps/v1/deployments", "CamelCase"),
        ] {
            let err = KindRef::parse(arg).unwrap_err().to_string();
            assert!(err.contains(hint), "{err}");
        }
        assert!(KindRef::parse("a/b/c/Kind").is_err());
        assert!(KindRef::parse("/v1/Kind").is_err());
        assert!(KindRef::parse("").is_err());
    }

    #[test]
    fn scope_checks_name_the_mistake() {
        let deploy = KindRef::parse("Deployment").unwrap();
        let node = KindRef::parse("Node").unwrap();
        assert!(check_scope(&deploy, true, Some("payments"), false).is_ok());
        assert!(check_scope(&deploy, true, None, true).is_ok());
        let err = check_scope(&deploy, true, None, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("namespaced"), "{err}");
        let err = check_scope(&node, false, Some("default"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cluster-scoped"), "{err}");
        assert_eq!(namespace_arg("  "), None);
        assert_eq!(
            describe("Deployment", Some("payments"), "web"),
            "Deployment payments/web"
        );
        assert_eq!(describe("Node", None, "n1"), "Node n1");
    }

    #[test]
    fn objects_come_back_typed_without_managed_fields() {
        let kind = KindRef::parse("Deployment").unwrap();
        let v = clean(
            json!({"metadata": {"name": "web", "managedFields": [{}]}, "spec": {"replicas": 2}}),
            &kind,
        );
        assert_eq!(
            v,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web"}, "spec": {"replicas": 2}})
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[..2], ["apiVersion", "kind"]);
    }

    #[test]
    fn secret_values_never_come_back() {
        let kind = KindRef::parse("Secret").unwrap();
        let v = clean(
            json!({"metadata": {"name": "db", "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}",
                        "team": "payments"}},
                   "type": "Opaque",
                   "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "app"}}),
            &kind,
        );
        assert_eq!(v["data"], json!({"password": "<redacted>"}));
        assert_eq!(v["stringData"], json!({"user": "<redacted>"}));
        assert_eq!(
            v["metadata"]["annotations"],
            json!({"kubectl.kubernetes.io/last-applied-configuration": "<redacted>", "team": "payments"})
        );
        assert!(!v.to_string().contains("aHVudGVyMg"));
        // Other kinds keep their data.
        let cm = clean(
            json!({"data": {"mode": "live"}}),
            &KindRef::parse("ConfigMap").unwrap(),
        );
        assert_eq!(cm["data"]["mode"], "live");
    }

    #[test]
    fn label_selectors_from_maps() {
        let m = json!({"tier": "web", "app": "payments", "canary": true});
        assert_eq!(
            label_selector(m.as_object().unwrap()).unwrap(),
            "app=payments,canary=true,tier=web"
        );
        assert_eq!(label_selector(&Map::new()).unwrap(), "");
        assert!(label_selector(json!({"a": "x,y"}).as_object().unwrap()).is_err());
        assert!(label_selector(json!({"a": ["x"]}).as_object().unwrap()).is_err());
    }

    #[test]
    fn brief_cuts_long_values() {
        assert_eq!(brief(&json!({"a": 1}), 20), "{\"a\":1}");
        assert_eq!(brief(&json!("abcdefghij"), 5), "\"abcd…");
    }
}
