//! `k8s.object`: a declared Kubernetes object, server-side applied with field manager `eprun`.

use super::manifest::{self, ADDRESS_ANNOTATION, ObjectRef, STACK_LABEL};
use super::readiness;
use super::{FIELD_MANAGER, Kube};
use crate::address::Address;
use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::context::Context;
use crate::plan::FieldChange;
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource, gone_ok};
use crate::schema::Field;
use async_trait::async_trait;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where an observation keeps the owning stack's label, for updates of adopted objects.
const STACK_LABEL_ATTR: &str = "stack_label";
/// Where an observation keeps who owns which fields (from `managedFields`), for the diff.
const OWNERSHIP_ATTR: &str = "field_owners";

/// Every Kubernetes kind, declared through `k8s::object(manifest)`.
pub struct KubeObject;

/// The one instance the registry hands out for `k8s.*` kinds.
pub static KUBE_OBJECT: KubeObject = KubeObject;

#[async_trait]
impl Resource for KubeObject {
    fn kind(&self) -> &'static str {
        "k8s.object"
    }

    fn doc(&self) -> &'static str {
        "A Kubernetes object, server-side applied with field manager `eprun` and pruned when removed."
    }

    fn schema(&self) -> &'static [Field] {
        &[]
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["uid", "namespace", "resource_version"]
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        ObjectRef::of(props).ok().map(|o| o.natural_key())
    }

    fn field_diff(
        &self,
        desired: &Props,
        current: &Observed,
        ignore: &[String],
    ) -> Option<Vec<FieldChange>> {
        let owned = manifest::Ownership::from_value(current.attrs.get(OWNERSHIP_ATTR));
        Some(manifest::plan_diff(desired, &current.props, &owned, ignore))
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let kube = Kube::of(cx)?;
        if let Err(e) = kube.client().await {
            // A cluster that does not exist yet (or is still creating) holds no objects.
            return if e.is_not_found() {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        let wanted: Vec<ObjectRef> = hints
            .natural_keys
            .iter()
            .filter_map(|k| ObjectRef::from_natural_key(k))
            .collect();
        let mut kinds: BTreeMap<(String, String), Vec<&ObjectRef>> = BTreeMap::new();
        for o in &wanted {
            kinds
                .entry((o.api_version.clone(), o.kind.clone()))
                .or_default()
                .push(o);
        }
        let label = manifest::stack_label(stack);
        let mut out = Vec::new();
        for ((api_version, kind), objects) in kinds {
            let (api, _) = match kube.api(&api_version, &kind, None).await {
                Ok(api) => api,
                // A kind the server does not serve (yet: the stack may declare its CRD) has no
                // objects; declaring an unknown kind is refused when the script runs.
                Err(e) if e.is("UnknownKind") => continue,
                Err(e) => return Err(e),
            };
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| kube.fail("list", format!("{api_version} {kind}"), e))?;
            for item in list.items {
                let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
                value["apiVersion"] = json!(api_version);
                value["kind"] = json!(kind);
                let ours = item
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(STACK_LABEL))
                    == Some(&label);
                let reference = ObjectRef {
                    api_version: api_version.clone(),
                    kind: kind.clone(),
                    namespace: item.metadata.namespace.clone(),
                    name: item.metadata.name.clone().unwrap_or_default(),
                };
                // Labels are re-checked here: a server may ignore the selector.
                if !ours && !objects.contains(&&reference) {
                    continue;
                }
                out.push(observed(&reference, &value, ours, &label));
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        apply(
            cx,
            req.address,
            &manifest::stack_label(req.stack),
            req.props,
        )
        .await
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let address = current
            .address
            .clone()
            .or_else(|| ObjectRef::of(desired).ok().and_then(|o| o.address().ok()))
            .ok_or_else(|| {
                CloudError::new(
                    "server-side apply",
                    &current.id,
                    CloudErrorKind::NotFound,
                    "no address",
                )
            })?;
        let label = current
            .attrs
            .get(STACK_LABEL_ATTR)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = manifest::for_update(desired, &current.props, changed);
        apply(cx, &address, label, &body).await
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let object = current
            .natural_key
            .as_deref()
            .and_then(ObjectRef::from_natural_key)
            .or_else(|| ObjectRef::of(&current.props).ok())
            .ok_or_else(|| {
                CloudError::new(
                    "delete",
                    &current.id,
                    CloudErrorKind::NotFound,
                    "unknown object",
                )
            })?;
        let (kube, api) = connect(cx, &object).await?;
        gone_ok(
            api.delete(&object.name, &DeleteParams::default())
                .await
                .map(|_| ())
                .map_err(|e| kube.fail("delete", describe(&object), e)),
        )
    }
}

/// `Kind namespace/name`, how messages name an object.
pub fn describe(object: &ObjectRef) -> String {
    format!("{} {}", object.kind, object.id())
}

/// The cluster's connection and the API that serves `object`.
async fn connect(
    cx: &Context,
    object: &ObjectRef,
) -> Result<(Arc<Kube>, Api<DynamicObject>), CloudError> {
    let kube = Kube::of(cx)?;
    let (api, _) = kube
        .api(
            &object.api_version,
            &object.kind,
            object.namespace.as_deref(),
        )
        .await?;
    Ok((kube, api))
}

/// Server-side applies a manifest with the ownership label (`label`: the stack's) and annotation.
async fn apply(
    cx: &Context,
    address: &Address,
    label: &str,
    props: &Props,
) -> Result<Observed, CloudError> {
    let object = ObjectRef::of(props).map_err(|m| {
        CloudError::new(
            "server-side apply",
            address,
            CloudErrorKind::Service("Invalid".into()),
            m.to_string(),
        )
    })?;
    let (kube, api) = connect(cx, &object).await?;
    let body = manifest::with_ownership(props, label, address);
    // Strict: a field the schema does not know is an error, not silently dropped.
    let mut params = PatchParams::apply(FIELD_MANAGER).validation_strict();
    if kube.force_conflicts() {
        params = params.force();
    }
    let applied: DynamicObject = api
        .patch(&object.name, &params, &Patch::Apply(Value::Object(body)))
        .await
        .map_err(|e| {
            let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
            let mut err = kube.fail("server-side apply", describe(&object), e);
            if conflict {
                err.message.push_str(
                    " (another field manager owns these fields: give `--force-conflicts` to take them over, or list them in `ignore_changes`)",
                );
            }
            err
        })?;
    let mut value = serde_json::to_value(&applied).unwrap_or(Value::Null);
    value["apiVersion"] = json!(object.api_version);
    value["kind"] = json!(object.kind);
    readiness::wait(&kube, &api, &object, &value).await?;
    Ok(observed(&object, &value, true, label))
}

/// What was read or applied; `label` is the refreshing stack's, kept for later updates.
fn observed(object: &ObjectRef, live: &Value, ours: bool, label: &str) -> Observed {
    let meta = &live["metadata"];
    let address = ours
        .then(|| meta["annotations"][ADDRESS_ANNOTATION].as_str())
        .flatten()
        .and_then(|a| a.parse().ok());
    let mut attrs = Props::new();
    attrs.insert("id".into(), json!(object.id()));
    attrs.insert("uid".into(), meta["uid"].clone());
    attrs.insert(
        "namespace".into(),
        json!(object.namespace.clone().unwrap_or_default()),
    );
    attrs.insert("resource_version".into(), meta["resourceVersion"].clone());
    attrs.insert(STACK_LABEL_ATTR.into(), json!(label));
    attrs.insert(
        OWNERSHIP_ATTR.into(),
        manifest::Ownership::of(live).to_value(),
    );
    Observed {
        address,
        id: object.id(),
        natural_key: Some(object.natural_key()),
        props: manifest::observed_props(live),
        attrs,
    }
}
