//! Manifests: checking a declared object, naming it, and comparing it field by field.

use super::catalog::{self, FieldType};
use crate::address::{Address, AddressError};
use crate::plan::FieldChange;
use crate::resource::Props;
use crate::token;
use serde_json::{Map, Value};

/// The label that marks an object as eprun's, and the one naming its stack.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The label naming the owning stack (a label-safe form of the stack name).
pub const STACK_LABEL: &str = "eprun.dev/stack";
/// The annotation holding the object's address in its stack.
pub const ADDRESS_ANNOTATION: &str = "eprun.dev/address";

/// Which object a manifest is: its kind and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// `group/version`, or `v1`.
    pub api_version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// Its namespace, for namespaced kinds.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

/// Why a manifest cannot be applied as written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// An identity field that is not a non-empty string.
    #[error("`{field}` must be a non-empty string, not `{value}`")]
    NotText {
        /// The field, e.g. `metadata.name`.
        field: &'static str,
        /// The value given.
        value: Value,
    },
    /// An identity field left out, with an example of it.
    #[error("the manifest has no `{field}`{example}")]
    Missing {
        /// The field.
        field: &'static str,
        /// How it is written, e.g. ` (e.g. `kind: "Deployment"`)`.
        example: &'static str,
    },
    /// A namespaced kind without a namespace.
    #[error("`{0}` is a namespaced kind: set `metadata.namespace`")]
    NeedsNamespace(String),
    /// A cluster-scoped kind with a namespace.
    #[error("`{kind}` is cluster-scoped: remove `metadata.namespace` (`{namespace}`)")]
    ClusterScoped {
        /// The kind.
        kind: String,
        /// The namespace given.
        namespace: String,
    },
    /// A known kind under another API version.
    #[error("`{kind}` is served as `{served}`, not `{given}`")]
    WrongApiVersion {
        /// The kind.
        kind: String,
        /// The API version that serves it.
        served: &'static str,
        /// The API version given.
        given: String,
    },
    /// A well-known field of the wrong type.
    #[error("`{path}` must be {expected}, not `{value}`")]
    WrongType {
        /// The field's dot path.
        path: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The value given.
        value: Value,
    },
    /// An object whose name makes no address.
    #[error(transparent)]
    Address(#[from] AddressError),
}

impl ObjectRef {
    /// The address in a stack: `k8s.<kind>.<namespace>/<name>` or `k8s.<kind>.<name>`.
    pub fn address(&self) -> Result<Address, ManifestError> {
        Ok(Address::new(
            &format!("k8s.{}", self.kind.to_lowercase()),
            &self.id(),
        )?)
    }

    /// `namespace/name`, or `name` when cluster-scoped.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The key that finds it again: `apiVersion|kind|namespace|name`.
    pub fn natural_key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.api_version,
            self.kind,
            self.namespace.as_deref().unwrap_or(""),
            self.name
        )
    }

    /// The inverse of `natural_key`.
    pub fn from_natural_key(key: &str) -> Option<ObjectRef> {
        let mut parts = key.splitn(4, '|');
        let (api_version, kind, namespace, name) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        Some(ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
            name: name.into(),
        })
    }

    /// Reads the identity out of a manifest, without checking the kind.
    pub fn of(manifest: &Props) -> Result<ObjectRef, ManifestError> {
        let text = |v: Option<&Value>, field| match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(other) => Err(ManifestError::NotText {
                field,
                value: other.clone(),
            }),
        };
        let required =
            |v, field, example| text(v, field)?.ok_or(ManifestError::Missing { field, example });
        let meta = manifest.get("metadata").and_then(Value::as_object);
        let api_version = required(
            manifest.get("apiVersion"),
            "apiVersion",
            " (e.g. `apiVersion: \"apps/v1\"`)",
        )?;
        let kind = required(
            manifest.get("kind"),
            "kind",
            " (e.g. `kind: \"Deployment\"`)",
        )?;
        let name = required(meta.and_then(|m| m.get("name")), "metadata.name", "")?;
        let namespace = text(meta.and_then(|m| m.get("namespace")), "metadata.namespace")?;
        Ok(ObjectRef {
            api_version,
            kind,
            namespace,
            name,
        })
    }
}

/// Checks a manifest before any call: identity, scope of known kinds, well-known field types.
/// Returns the reference and whether the kind is known without discovery.
pub fn check(manifest: &Props) -> Result<(ObjectRef, bool), ManifestError> {
    let object = ObjectRef::of(manifest)?;
    let known = catalog::lookup(&object.api_version, &object.kind);
    if let Some(k) = known {
        match (k.namespaced, &object.namespace) {
            (true, None) => return Err(ManifestError::NeedsNamespace(object.kind)),
            (false, Some(ns)) => {
                let (kind, namespace) = (object.kind.clone(), ns.clone());
                return Err(ManifestError::ClusterScoped { kind, namespace });
            }
            _ => {}
        }
    } else if let Some(same_kind) = catalog::KNOWN.iter().find(|k| k.kind == object.kind) {
        return Err(ManifestError::WrongApiVersion {
            kind: object.kind,
            served: same_kind.api_version,
            given: object.api_version,
        });
    }
    let fields = catalog::COMMON_FIELDS
        .iter()
        .chain(catalog::fields_of(&object.kind));
    for (path, expected) in fields {
        if let Some(value) = get_path(manifest, path) {
            check_type(path, value, *expected)?;
        }
    }
    Ok((object, known.is_some()))
}

fn check_type(path: &'static str, value: &Value, expected: FieldType) -> Result<(), ManifestError> {
    // A token stands for a value known after apply; its type is the attribute's.
    if let Value::String(s) = value
        && !token::refs_in_str(s).is_empty()
    {
        return Ok(());
    }
    let ok = match expected {
        FieldType::String => value.is_string(),
        FieldType::Integer => value.is_i64() || value.is_u64(),
        FieldType::Bool => value.is_boolean(),
        FieldType::Map => value.is_object(),
        FieldType::Array => value.is_array(),
        FieldType::StringMap => value
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
    };
    if ok {
        Ok(())
    } else {
        let (expected, value) = (expected.name(), value.clone());
        Err(ManifestError::WrongType {
            path,
            expected,
            value,
        })
    }
}

/// The value at a dot path (`spec.template.spec`), if present.
pub fn get_path<'a>(root: &'a Props, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = root.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// Whether `crd` (a declared manifest) is the CustomResourceDefinition that serves `object`'s kind.
pub fn defines_kind(crd: &Props, object: &ObjectRef) -> bool {
    let group = object.api_version.split_once('/').map(|(g, _)| g);
    crd.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && get_path(crd, "spec.names.kind").and_then(Value::as_str) == Some(object.kind.as_str())
        && get_path(crd, "spec.group").and_then(Value::as_str) == group
}

/// A label value naming the stack (`local/us-east-1` → `local.us-east-1`).
pub fn stack_label(stack: &str) -> String {
    let mut v: String = stack
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    v.truncate(63);
    v
}

/// The manifest as applied: with the ownership labels (`label`: the stack's) and address annotation.
pub fn with_ownership(manifest: &Props, label: &str, address: &Address) -> Props {
    let mut out = manifest.clone();
    let meta = out
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        for (key, name, value) in [
            ("labels", MANAGED_BY_LABEL, "eprun".to_string()),
            ("labels", STACK_LABEL, label.to_string()),
            ("annotations", ADDRESS_ANNOTATION, address.to_string()),
        ] {
            if let Value::Object(m) = meta.entry(key).or_insert_with(|| Value::Object(Map::new())) {
                m.insert(name.into(), Value::String(value));
            }
        }
    }
    out
}

/// Who owns which fields of a live object, read from its `metadata.managedFields`: paths are
/// lists of field names (label keys hold dots, so a path is not split on them); a list is owned
/// as a whole.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ownership {
    /// What eprun's server-side applies own (manager `eprun`, operation `Apply`).
    pub ours: Vec<Vec<String>>,
    /// What every other manager owns, outside the status subresource.
    pub others: Vec<(String, Vec<String>)>,
}

impl Ownership {
    /// Reads the managed fields of a live object.
    pub fn of(live: &Value) -> Ownership {
        let mut out = Ownership::default();
        let Some(entries) = live["metadata"]["managedFields"].as_array() else {
            return out;
        };
        for entry in entries {
            if entry["subresource"].as_str().is_some_and(|s| !s.is_empty()) {
                continue;
            }
            let manager = entry["manager"].as_str().unwrap_or_default();
            let mut paths = Vec::new();
            owned_paths(&mut Vec::new(), &entry["fieldsV1"], &mut paths);
            if manager == super::FIELD_MANAGER && entry["operation"] == "Apply" {
                out.ours.extend(paths);
            } else {
                let name = match entry["operation"].as_str() {
                    Some("Apply") | None => manager.to_string(),
                    Some(op) => format!("{manager} ({op})"),
                };
                out.others
                    .extend(paths.into_iter().map(|p| (name.clone(), p)));
            }
        }
        out
    }

    /// As kept in an observation's attributes.
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "ours": self.ours,
            "others": self.others.iter().map(|(m, p)| serde_json::json!([m, p])).collect::<Vec<_>>(),
        })
    }

    /// The inverse of [`Ownership::to_value`]; empty when absent.
    pub fn from_value(v: Option<&Value>) -> Ownership {
        let paths = |v: &Value| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(String::from))
                .collect()
        };
        let Some(v) = v else {
            return Ownership::default();
        };
        Ownership {
            ours: v["ours"]
                .as_array()
                .map(|a| a.iter().filter_map(paths).collect())
                .unwrap_or_default(),
            others: v["others"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| Some((e[0].as_str()?.to_string(), paths(&e[1])?)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The other managers that own `path`, a field inside it, or the list holding it.
    fn owners_of(&self, path: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self
            .others
            .iter()
            .filter(|(_, p)| p.starts_with(path) || path.starts_with(p))
            .map(|(m, _)| m.clone())
            .collect();
        out.dedup();
        out
    }
}

/// Collects the leaf paths of a `fieldsV1` tree: `f:name` descends into a field, and a node
/// holding list elements (`k:`, `v:`, `i:`) owns its whole list.
fn owned_paths(prefix: &mut Vec<String>, node: &Value, out: &mut Vec<Vec<String>>) {
    let Some(map) = node.as_object() else {
        return;
    };
    let fields: Vec<(&str, &Value)> = map
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("f:")?, v)))
        .collect();
    let is_list = map
        .keys()
        .any(|k| k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:"));
    if (fields.is_empty() || is_list) && !prefix.is_empty() {
        out.push(prefix.clone());
        return;
    }
    for (name, child) in fields {
        prefix.push(name.to_string());
        owned_paths(prefix, child, out);
        prefix.pop();
    }
}

/// The value at a path of field names, if present.
fn at_path<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(root, |cur, p| cur.as_object()?.get(p))
}

/// Whether `path` is one of eprun's ownership marks (added on apply, never declared).
fn is_ownership_mark(path: &[String]) -> bool {
    matches!(
        path.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["metadata", "labels", MANAGED_BY_LABEL | STACK_LABEL]
            | ["metadata", "annotations", ADDRESS_ANNOTATION]
    )
}

/// Field-level changes between the declared manifest and the live object: every field the
/// manifest sets that differs, and every field eprun applied earlier that the manifest no longer
/// sets (the server removes those on the next apply). A change to a field another manager owns is
/// marked as a conflict. `ignore` lists dot paths owned by someone else.
pub fn plan_diff(
    desired: &Props,
    live: &Props,
    owned: &Ownership,
    ignore: &[String],
) -> Vec<FieldChange> {
    let mut out = diff(desired, live, ignore);
    for change in &mut out {
        let path: Vec<String> = change.name.split('.').map(String::from).collect();
        let owners = owned.owners_of(&path);
        if !owners.is_empty() {
            change.conflict = Some(owners.join(", "));
        }
    }
    let desired = Value::Object(desired.clone());
    let live = Value::Object(live.clone());
    for path in &owned.ours {
        let name = path.join(".");
        if is_ownership_mark(path) || at_path(&desired, path).is_some() || is_ignored(&name, ignore)
        {
            continue;
        }
        if let Some(before) = at_path(&live, path) {
            out.push(FieldChange {
                name,
                before: Some(before.clone()),
                after: None,
                forces_replacement: false,
                conflict: None,
            });
        }
    }
    out
}

/// Field-level changes between the declared manifest and the live object, over the fields the
/// manifest sets (the fields eprun manages); `ignore` lists dot paths owned by someone else.
pub fn diff(desired: &Props, live: &Props, ignore: &[String]) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(
        "",
        &Value::Object(desired.clone()),
        Some(&Value::Object(live.clone())),
        ignore,
        &mut out,
    );
    out
}

fn walk(
    path: &str,
    want: &Value,
    have: Option<&Value>,
    ignore: &[String],
    out: &mut Vec<FieldChange>,
) {
    if is_ignored(path, ignore) {
        return;
    }
    if let (Value::Object(w), Some(Value::Object(h))) = (want, have) {
        for (key, value) in w {
            let sub = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            walk(&sub, value, h.get(key), ignore, out);
        }
        return;
    }
    if token::is_unknown(want) || have != Some(want) && !equivalent(want, have) {
        out.push(FieldChange {
            name: path.to_string(),
            before: have.cloned(),
            after: Some(crate::token::display(want)),
            forces_replacement: false,
            conflict: None,
        });
    }
}

/// Values the API server stores differently from how they were written, but that mean the same:
/// a live object with more keys than declared in a list element (server defaults).
fn equivalent(want: &Value, have: Option<&Value>) -> bool {
    match (want, have) {
        (Value::Array(w), Some(Value::Array(h))) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| covers(b, a))
        }
        (Value::Object(w), Some(Value::Object(h))) => {
            covers(&Value::Object(h.clone()), &Value::Object(w.clone()))
        }
        _ => false,
    }
}

/// Whether `have` holds everything `want` sets (extra keys in `have` are defaults).
fn covers(have: &Value, want: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| covers(hv, v))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| covers(b, a))
        }
        _ => want == have,
    }
}

/// The manifest to apply for an update: the declared one, except that fields the plan does not
/// change keep their live values (so fields under `ignore_changes` are not taken back).
pub fn for_update(desired: &Props, live: &Props, changed: &[String]) -> Props {
    let unchanged: Vec<FieldChange> = diff(desired, live, changed);
    let mut out = desired.clone();
    for f in unchanged {
        put_path(&mut out, &f.name, f.before);
    }
    out
}

/// Whether the dot path `path` is one of `ignore` or lies under one (`ignore_changes`).
pub fn is_ignored(path: &str, ignore: &[String]) -> bool {
    ignore
        .iter()
        .any(|i| path == i || path.starts_with(&format!("{i}.")))
}

/// Sets (`Some`) or removes (`None`) the value at a dot path; a value set where parent maps are
/// missing gets them, a path through something that is not a map is left alone.
pub fn put_path(root: &mut Props, path: &str, value: Option<Value>) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut cur = root;
    for p in parts {
        if value.is_some() && !cur.contains_key(p) {
            cur.insert(p.to_string(), Value::Object(Props::new()));
        }
        match cur.get_mut(p) {
            Some(Value::Object(m)) => cur = m,
            _ => return,
        }
    }
    match value {
        Some(v) => cur.insert(last.to_string(), v),
        None => cur.remove(last),
    };
}

/// The live object as eprun compares it: without status and server-set metadata.
pub fn observed_props(live: &Value) -> Props {
    let mut out = live.as_object().cloned().unwrap_or_default();
    out.remove("status");
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn deployment() -> Props {
        props(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "payments"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
        }))
    }

    #[test]
    fn a_manifest_names_its_object() {
        let (object, known) = check(&deployment()).unwrap();
        assert!(known);
        assert_eq!(
            object.address().unwrap().to_string(),
            "k8s.deployment.payments/web"
        );
        let key = object.natural_key();
        assert_eq!(ObjectRef::from_natural_key(&key), Some(object));
    }

    /// Asserts that `check` refuses `manifest` with an error that contains `why`.
    fn assert_refused(manifest: &Props, why: &str) {
        let err = check(manifest).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }

    #[test]
    fn bad_manifests_are_refused_before_any_call() {
        let mut no_kind = deployment();
        no_kind.remove("kind");
        assert_refused(&no_kind, "no `kind`");
        let mut no_ns = deployment();
        no_ns["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        assert_refused(&no_ns, "namespaced kind");
        let mut bad_type = deployment();
        bad_type["spec"]["replicas"] = json!("three");
        assert_refused(&bad_type, "`spec.replicas` must be an integer");
        let mut wrong_group = deployment();
        wrong_group["apiVersion"] = json!("extensions/v1beta1");
        assert_refused(&wrong_group, "served as `apps/v1`");
    }

    #[test]
    fn diff_covers_declared_fields_and_skips_ignored_and_defaulted_ones() {
        let live = props(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "payments", "labels": {"x": "y"}},
            "spec": {"replicas": 6, "progressDeadlineSeconds": 600,
                     "template": {"spec": {"containers": [{"name": "web", "image": "web:1", "imagePullPolicy": "IfNotPresent"}]}}}
        }));
        let changes = diff(&deployment(), &live, &[]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].name, "spec.replicas");
        assert!(diff(&deployment(), &live, &["spec.replicas".into()]).is_empty());
        let body = for_update(&deployment(), &live, &[]);
        assert_eq!(
            body["spec"]["replicas"],
            json!(6),
            "unchanged fields keep live values"
        );
    }
}
