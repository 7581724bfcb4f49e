//! What a release change does to the objects inside it: the chart rendered with the declared
//! values (`helm template`), compared field by field with the live objects.

use super::chart::ChartSource;
use super::values::ValuesFile;
use super::{Helm, namespace_and_name};
use crate::Kube;
use crate::catalog;
use crate::cloud_error::CloudError;
use crate::context::Context;
use crate::manifest::{self, ObjectRef};
use crate::object::describe;
use crate::plan::{Action, FieldChange, InnerChange, Inside};
use crate::resource::{Observed, Props};
use kube::api::DynamicObject;
use serde_json::{Value, json};

/// The objects a planned install or upgrade creates, changes or removes; `Unknown` (with why)
/// when the chart cannot be fetched or rendered, so an offline plan still shows the release.
pub async fn explain(cx: &Context, desired: &Props, current: Option<&Observed>) -> Inside {
    let unknown = |what: &str, e: CloudError| Inside::Unknown {
        why: format!("{what}: {}", e.message),
    };
    let helm = match Helm::of(cx) {
        Ok(h) => h,
        Err(e) => return unknown("chart not rendered", e),
    };
    let chart = match ChartSource::of(desired).fetch(&helm).await {
        Ok(c) => c,
        Err(e) => return unknown("chart not fetched", e),
    };
    let rendered = match render(&helm, desired, &chart.display().to_string()).await {
        Ok(r) => r,
        Err(e) => return unknown("chart not rendered", e),
    };
    // Live objects only matter for a release that exists, on a cluster that can be reached.
    let kube = current.and_then(|_| Kube::of(cx).ok());
    let mut objects = Vec::new();
    for (object, props) in &rendered {
        let live = match &kube {
            Some(kube) => live(kube, object).await,
            None => None,
        };
        match live {
            None => objects.push(InnerChange {
                object: describe(object),
                action: Action::Create,
                fields: Vec::new(),
            }),
            Some(live) => {
                let fields = masked(object, manifest::diff(props, &live, &[]));
                if !fields.is_empty() {
                    objects.push(InnerChange {
                        object: describe(object),
                        action: Action::Update,
                        fields,
                    });
                }
            }
        }
    }
    if let (Some(kube), Some(current)) = (&kube, current) {
        for object in previous(&helm, kube, current).await {
            if !rendered.iter().any(|(r, _)| *r == object) {
                objects.push(InnerChange {
                    object: describe(&object),
                    action: Action::Delete,
                    fields: Vec::new(),
                });
            }
        }
    }
    Inside::Known { objects }
}

/// The chart rendered with the declared values: each object with its identity.
async fn render(
    helm: &Helm,
    desired: &Props,
    chart: &str,
) -> Result<Vec<(ObjectRef, Props)>, CloudError> {
    let text = |k: &str| desired.get(k).and_then(Value::as_str).unwrap_or_default();
    let (name, namespace) = (text("name"), text("namespace"));
    let id = format!("{namespace}/{name}");
    let values = ValuesFile::write(desired, &id)?;
    let values_path = values.path();
    let args = [
        "template",
        name,
        chart,
        "--namespace",
        namespace,
        "--values",
        &values_path,
        "--include-crds",
    ];
    let out = helm.run("render chart", &id, &args, None).await?;
    Ok(objects(&out, namespace))
}

/// The objects of a multi-document manifest; namespaced kinds without a namespace are in the
/// release's (helm puts them there).
fn objects(manifest: &str, namespace: &str) -> Vec<(ObjectRef, Props)> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(manifest).unwrap_or_default();
    docs.into_iter()
        .filter_map(|doc| {
            let Value::Object(mut props) = doc else {
                return None;
            };
            let mut object = ObjectRef::of(&props).ok()?;
            let namespaced =
                catalog::lookup(&object.api_version, &object.kind).is_none_or(|k| k.namespaced);
            if object.namespace.is_none() && namespaced {
                object.namespace = Some(namespace.to_string());
                if let Some(Value::Object(meta)) = props.get_mut("metadata") {
                    meta.insert("namespace".into(), json!(namespace));
                }
            }
            Some((object, props))
        })
        .collect()
}

/// The live object as eprun compares it, if it exists.
async fn live(kube: &Kube, object: &ObjectRef) -> Option<Props> {
    let (api, _) = kube
        .api(
            &object.api_version,
            &object.kind,
            object.namespace.as_deref(),
        )
        .await
        .ok()?;
    let found: DynamicObject = api.get_opt(&object.name).await.ok()??;
    let value = serde_json::to_value(&found).ok()?;
    Some(manifest::observed_props(&value))
}

/// The objects of the release's current revision (`helm get manifest`).
async fn previous(helm: &Helm, kube: &Kube, current: &Observed) -> Vec<ObjectRef> {
    let (namespace, name) = namespace_and_name(&current.id);
    let Ok(access) = kube.tool_access().await else {
        return Vec::new();
    };
    let args = ["get", "manifest", name, "--namespace", namespace];
    match helm
        .run("get release", &current.id, &args, Some(&access))
        .await
    {
        Ok(out) => objects(&out, namespace)
            .into_iter()
            .map(|(o, _)| o)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A Secret's values never reach a plan: they show as `(sensitive)`.
fn masked(object: &ObjectRef, fields: Vec<FieldChange>) -> Vec<FieldChange> {
    if object.kind != "Secret" {
        return fields;
    }
    let hide = |v: Option<Value>| v.map(|_| json!("(sensitive)"));
    fields
        .into_iter()
        .map(|f| FieldChange {
            before: hide(f.before),
            after: hide(f.after),
            ..f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_objects_land_in_the_release_namespace_unless_cluster_scoped() {
        let manifest = "---\n# Source: demo/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: b\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: demo\n";
        let objects = objects(manifest, "apps");
        let ids: Vec<String> = objects.iter().map(|(o, _)| describe(o)).collect();
        assert_eq!(ids, ["ConfigMap apps/demo", "ClusterRole demo"]);
        assert_eq!(objects[0].1["metadata"]["namespace"], "apps");
    }

    #[test]
    fn secret_values_are_masked() {
        let object = ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some("a".into()),
            name: "s".into(),
        };
        let field = FieldChange {
            name: "data.token".into(),
            before: Some(json!("b2xk")),
            after: Some(json!("bmV3")),
            forces_replacement: false,
            conflict: None,
        };
        let shown = masked(&object, vec![field]);
        assert_eq!(shown[0].after, Some(json!("(sensitive)")));
    }
}
