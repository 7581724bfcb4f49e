//! `get`, `list`, `apply`, `patch` and `delete` on any kind.

use super::{
    KindRef, Target, VerbError, brief, check_scope, clean, describe, namespace_arg, object_value,
};
use crate::manifest::{self, ObjectRef};
use crate::mutation::Mutations;
use crate::resource::Props;
use crate::{FIELD_MANAGER, Kube, api_error};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::Value;

/// The object, or `None` when it does not exist.
pub async fn get(
    kube: &Kube,
    kind: &KindRef,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, VerbError> {
    let t = Target::resolve(kube, kind, namespace, name).await?;
    let found = t.get().await?;
    Ok(found.map(|o| object_value(&o, kind)))
}

/// The objects of a kind in `namespace` (`""`: every namespace, or a cluster-scoped kind),
/// optionally those matching a label selector (`app=web,tier!=batch`).
pub async fn list(
    kube: &Kube,
    kind: &KindRef,
    namespace: &str,
    label_selector: Option<&str>,
) -> Result<Vec<Value>, VerbError> {
    list_with(kube, kind, namespace, label_selector, None).await
}

/// [`list`] with a field selector too (`spec.nodeName=n1`).
pub async fn list_with(
    kube: &Kube,
    kind: &KindRef,
    namespace: &str,
    label_selector: Option<&str>,
    field_selector: Option<&str>,
) -> Result<Vec<Value>, VerbError> {
    let namespace = namespace_arg(namespace);
    if let Some(namespaced) = kind.known_namespaced() {
        check_scope(kind, namespaced, namespace, true)?;
    }
    let (api, resolved) = super::api(kube, kind, namespace).await?;
    check_scope(kind, resolved.namespaced, namespace, true)?;
    let mut params = ListParams::default();
    if let Some(sel) = label_selector.map(str::trim).filter(|s| !s.is_empty()) {
        params = params.labels(sel);
    }
    if let Some(sel) = field_selector.map(str::trim).filter(|s| !s.is_empty()) {
        params = params.fields(sel);
    }
    let what = match namespace {
        Some(ns) => format!("{kind} in namespace {ns}"),
        None if resolved.namespaced => format!("{kind} in all namespaces"),
        None => kind.kind.clone(),
    };
    let list = api
        .list(&params)
        .await
        .map_err(|e| api_error("list", what, e))?;
    Ok(list.items.iter().map(|o| object_value(o, kind)).collect())
}

/// What an `apply` found in its manifest before any call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `Deployment payments/web`.
    pub target: String,
    /// The object as the server stored it; `None` in a dry run.
    pub object: Option<Value>,
}

/// Server-side apply (field manager `eprun`, forced) of a manifest; creates a missing object.
pub async fn apply(
    kube: &Kube,
    mutations: &Mutations,
    manifest: &Props,
) -> Result<Applied, VerbError> {
    let (object, _) = manifest::check(manifest).map_err(|e| VerbError::Usage(e.to_string()))?;
    if !crate::token::refs(&Value::Object(manifest.clone())).is_empty() {
        return Err(VerbError::Usage(
            "the manifest holds a token (a stack attribute known only after apply): an imperative apply needs plain values".into(),
        ));
    }
    let ObjectRef {
        api_version,
        kind,
        namespace,
        name,
    } = object;
    let kind = KindRef::new(&api_version, &kind);
    let t = Target::resolve(kube, &kind, namespace.as_deref().unwrap_or(""), &name).await?;
    let target = t.describe();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let body = Value::Object(manifest.clone());
    let applied = mutations
        .perform("server-side apply", &target, "", async {
            t.api
                .patch(&t.name, &params, &Patch::Apply(&body))
                .await
                .map_err(|e| api_error("server-side apply", &target, e))
        })
        .await?;
    Ok(Applied {
        object: applied.map(|o: DynamicObject| object_value(&o, &kind)),
        target,
    })
}

/// A JSON merge patch (RFC 7386: `()` removes a key) of one object; returns the patched object,
/// `None` in a dry run.
pub async fn patch(
    kube: &Kube,
    mutations: &Mutations,
    kind: &KindRef,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<Option<Value>, VerbError> {
    if !patch.is_object() {
        return Err(VerbError::Usage(format!(
            "a merge patch is a map, like `#{{spec: #{{replicas: 3}}}}`, not `{}`",
            brief(patch, 80)
        )));
    }
    let t = Target::resolve(kube, kind, namespace, name).await?;
    let target = t.describe();
    let detail = if kind.kind == "Secret" {
        "<redacted>".to_string()
    } else {
        brief(patch, 200)
    };
    let patched = mutations
        .perform("patch", &target, &detail, async {
            t.api
                .patch(&t.name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map_err(|e| api_error("patch", &target, e))
        })
        .await?;
    Ok(patched.map(|o: DynamicObject| object_value(&o, kind)))
}

/// Deletes one object. Returns whether it was there: `false` when it was already gone (a delete
/// of something absent is not an error). In a dry run, it reads whether the object is there.
pub async fn delete(
    kube: &Kube,
    mutations: &Mutations,
    kind: &KindRef,
    namespace: &str,
    name: &str,
) -> Result<bool, VerbError> {
    let t = Target::resolve(kube, kind, namespace, name).await?;
    let target = t.describe();
    if mutations.dry_run() {
        let there = t.get().await?.is_some();
        if !there {
            return Ok(false);
        }
    }
    let deleted = mutations
        .perform("delete", &target, "", async {
            match t.api.delete(&t.name, &DeleteParams::default()).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
                Err(e) => Err(api_error("delete", &target, e)),
            }
        })
        .await?;
    Ok(deleted.unwrap_or(true))
}

/// The object at `namespace/name` as JSON (for verbs that read before they act).
pub(super) async fn read(t: &Target, operation: &str) -> Result<Value, VerbError> {
    let obj = t
        .api
        .get(&t.name)
        .await
        .map_err(|e| api_error(operation, t.describe(), e))?;
    Ok(clean(
        serde_json::to_value(&obj).unwrap_or(Value::Null),
        &t.kind,
    ))
}

/// `Deployment payments/web` for a kind argument and names, before resolution.
pub fn name_of(kind: &KindRef, namespace: &str, name: &str) -> String {
    describe(&kind.kind, namespace_arg(namespace), name.trim())
}
