//! `helm.release`: a Helm release declared in a stack, installed, upgraded and uninstalled by
//! the real `helm` binary, so that `helm list`, `helm history` and `helm rollback` work on it.

use super::chart::ChartSource;
use super::inside;
use super::values::ValuesFile;
use super::{Helm, namespace_and_name};
use crate::Kube;
use crate::address::Address;
use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::connection::ToolAccess;
use crate::context::Context;
use crate::manifest::{self, STACK_LABEL};
use crate::plan::{FieldChange, Inside};
use crate::resource::{CreateRequest, Observed, Props, ReadHints, Resource, gone_ok};
use crate::schema::{Field, Kind};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The release label that records where its chart came from ([`ChartSource::digest`]).
pub const SOURCE_LABEL: &str = "eprun.dev/chart-source";

/// The kind of every release.
pub const KIND: &str = "helm.release";

/// How long helm waits for a release's objects when the declaration does not say.
const DEFAULT_TIMEOUT: &str = "5m";

/// What a declaration may set.
static SCHEMA: &[Field] = &[
    Field::required("name", Kind::Str, "The release's name."),
    Field::required("namespace", Kind::Str, "The namespace it is installed in."),
    Field::required(
        "chart",
        Kind::Str,
        "The chart: its name in `repository`, an `oci://` reference, or a local path (from the project root).",
    )
    .updatable(),
    Field::optional(
        "repository",
        Kind::Str,
        "The URL of the Helm repository that serves `chart`.",
    )
    .updatable(),
    Field::optional(
        "version",
        Kind::Str,
        "The pinned chart version (required for a repository or OCI chart).",
    )
    .updatable(),
    Field::optional(
        "values",
        Kind::Json,
        "The release's values (tokens such as role ARNs are resolved at apply).",
    )
    .updatable(),
    Field::optional(
        "create_namespace",
        Kind::Bool,
        "Whether helm creates the namespace when it is missing.",
    )
    .default("true")
    .updatable(),
    Field::optional(
        "timeout",
        Kind::Str,
        "How long helm waits for the release's objects to be ready (a Go duration).",
    )
    .default("\"5m\"")
    .updatable(),
];

/// Helm releases, declared through `helm::release(name, props)`.
pub struct HelmRelease;

/// The one instance the registry lists.
pub static HELM_RELEASE: HelmRelease = HelmRelease;

/// `helm list -o json`, one row.
#[derive(Debug, Deserialize)]
struct Listed {
    name: String,
    namespace: String,
}

/// `helm get metadata -o json`.
#[derive(Debug, Deserialize)]
struct Metadata {
    chart: String,
    version: String,
    #[serde(default, rename = "appVersion")]
    app_version: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    revision: u64,
    status: String,
}

#[async_trait]
impl Resource for HelmRelease {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn doc(&self) -> &'static str {
        "A Helm release, installed and upgraded by the `helm` binary; plans show the changes to the objects inside it."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &[
            "id",
            "name",
            "namespace",
            "revision",
            "status",
            "app_version",
        ]
    }

    fn taggable(&self) -> bool {
        false
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let text = |k: &str| props.get(k).and_then(Value::as_str);
        Some(format!("{}/{}", text("namespace")?, text("name")?))
    }

    fn field_diff(
        &self,
        desired: &Props,
        current: &Observed,
        ignore: &[String],
    ) -> Option<Vec<FieldChange>> {
        Some(diff(desired, current, ignore))
    }

    async fn explain(
        &self,
        cx: &Context,
        desired: &Props,
        current: Option<&Observed>,
    ) -> Option<Inside> {
        Some(inside::explain(cx, desired, current).await)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let (helm, kube) = (Helm::of(cx)?, Kube::of(cx)?);
        if let Err(e) = kube.client().await {
            // A cluster that does not exist yet (or is still creating) holds no release.
            return if e.is_not_found() {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        let access = kube.tool_access().await?;
        let label = manifest::stack_label(stack);
        let selector = format!("{STACK_LABEL}={label}");
        let mut found = list(&helm, &access, Some(&selector)).await?;
        let known =
            |found: &[Listed], k: &String| found.iter().any(|f| key(&f.namespace, &f.name) == *k);
        // Releases the stack declares but did not label (installed by hand) are adopted by name.
        if hints.natural_keys.iter().any(|k| !known(&found, k)) {
            let all = list(&helm, &access, None).await?;
            let adopted: Vec<Listed> = all
                .into_iter()
                .filter(|l| {
                    let k = key(&l.namespace, &l.name);
                    hints.natural_keys.contains(&k) && !known(&found, &k)
                })
                .collect();
            found.extend(adopted);
        }
        let reads = found
            .iter()
            .map(|l| read_one(&helm, &access, &l.namespace, &l.name, &label));
        futures::future::try_join_all(reads).await
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        install(cx, req.props, &manifest::stack_label(req.stack)).await
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        if current.attr("status").starts_with("pending-") {
            unblock(cx, current).await?;
        }
        let props = with_changed_values(desired, current, changed);
        install(cx, &props, current.attr("stack_label")).await
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let flags = ["--ignore-not-found", "--wait", "--timeout", DEFAULT_TIMEOUT];
        gone_ok(on_release(cx, "uninstall", current, "uninstall", &flags).await)
    }
}

/// A release that a killed run left `pending-*` refuses every other operation: a first install
/// is uninstalled (it never worked), an upgrade or rollback is rolled back to the last revision.
async fn unblock(cx: &Context, current: &Observed) -> Result<(), CloudError> {
    if current.attr("status") == "pending-install" {
        let flags = ["--wait", "--ignore-not-found"];
        on_release(cx, "unblock release", current, "uninstall", &flags).await
    } else {
        on_release(cx, "unblock release", current, "rollback", &["--wait"]).await
    }
}

/// Runs `helm <verb> <name> --namespace <namespace> <flags…>` on the installed release `current`.
async fn on_release(
    cx: &Context,
    operation: &str,
    current: &Observed,
    verb: &str,
    flags: &[&str],
) -> Result<(), CloudError> {
    let (helm, kube) = (Helm::of(cx)?, Kube::of(cx)?);
    let access = kube.tool_access().await?;
    let (namespace, name) = namespace_and_name(&current.id);
    let mut args = vec![verb, name, "--namespace", namespace];
    args.extend(flags);
    helm.run(operation, &current.id, &args, Some(&access))
        .await
        .map(|_| ())
}

/// `desired` with the installed values, except those the plan changes: values under
/// `ignore_changes` (never in `changed`) keep what someone else set.
fn with_changed_values(desired: &Props, current: &Observed, changed: &[String]) -> Props {
    let empty = json!({});
    let want = desired.get("values").unwrap_or(&empty);
    let mut values = match current.props.get("values") {
        Some(Value::Object(m)) => m.clone(),
        _ => Props::new(),
    };
    for path in changed.iter().filter_map(|c| c.strip_prefix("values.")) {
        let wanted = path.split('.').try_fold(want, |v, k| v.get(k));
        manifest::put_path(&mut values, path, wanted.cloned());
    }
    let mut props = desired.clone();
    props.insert("values".into(), Value::Object(values));
    props
}

/// `namespace/name`: a release's id and natural key.
fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The releases `helm list` shows in every namespace, with the label `selector` if given.
async fn list(
    helm: &Helm,
    access: &ToolAccess,
    selector: Option<&str>,
) -> Result<Vec<Listed>, CloudError> {
    let mut args = vec!["list", "--all-namespaces", "--output", "json", "--max", "0"];
    if let Some(s) = selector {
        args.extend(["--selector", s]);
    }
    let out = helm
        .run("list releases", "helm", &args, Some(access))
        .await?;
    serde_json::from_str(&out).map_err(|e| unexpected("list releases", "helm", e))
}

/// One release as eprun compares it.
async fn read_one(
    helm: &Helm,
    access: &ToolAccess,
    namespace: &str,
    name: &str,
    label: &str,
) -> Result<Observed, CloudError> {
    let id = key(namespace, name);
    let id_ref = id.as_str();
    let get = |what: &'static str| async move {
        let args = [
            "get",
            what,
            name,
            "--namespace",
            namespace,
            "--output",
            "json",
        ];
        helm.run("get release", id_ref, &args, Some(access)).await
    };
    let (metadata, values) = futures::future::try_join(get("metadata"), get("values")).await?;
    let meta: Metadata =
        serde_json::from_str(&metadata).map_err(|e| unexpected("get release", &id, e))?;
    let values: Value =
        serde_json::from_str(&values).map_err(|e| unexpected("get release", &id, e))?;
    let ours = meta.labels.get(STACK_LABEL).map(String::as_str) == Some(label);
    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("namespace".into(), json!(namespace));
    props.insert("chart".into(), json!(meta.chart));
    props.insert("version".into(), json!(meta.version));
    // `helm get values` answers `null` for a release installed without values.
    props.insert(
        "values".into(),
        if values.is_null() { json!({}) } else { values },
    );
    let mut attrs = Props::new();
    attrs.insert("id".into(), json!(id));
    attrs.insert("name".into(), json!(name));
    attrs.insert("namespace".into(), json!(namespace));
    attrs.insert("revision".into(), json!(meta.revision));
    attrs.insert("status".into(), json!(meta.status));
    attrs.insert("app_version".into(), json!(meta.app_version));
    attrs.insert(
        "source".into(),
        json!(meta.labels.get(SOURCE_LABEL).cloned().unwrap_or_default()),
    );
    attrs.insert("stack_label".into(), json!(label));
    Ok(Observed {
        address: ours.then(|| Address::new(KIND, &id).ok()).flatten(),
        natural_key: Some(id.clone()),
        id,
        props,
        attrs,
    })
}

/// `helm upgrade --install` with the declared chart and values, labelled for the stack; then
/// the release as it is now.
async fn install(cx: &Context, props: &Props, label: &str) -> Result<Observed, CloudError> {
    let (helm, kube) = (Helm::of(cx)?, Kube::of(cx)?);
    let text = |k: &str| props.get(k).and_then(Value::as_str).unwrap_or_default();
    let (name, namespace) = (text("name"), text("namespace"));
    let id = key(namespace, name);
    let source = ChartSource::of(props);
    let chart = source.fetch(&helm).await?;
    let values = ValuesFile::write(props, &id)?;
    let access = kube.tool_access().await?;
    let labels = format!("{STACK_LABEL}={label},{SOURCE_LABEL}={}", source.digest());
    let chart = chart.display().to_string();
    let timeout = Some(text("timeout"))
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_TIMEOUT);
    let values_path = values.path();
    let mut args = vec![
        "upgrade",
        "--install",
        name,
        &chart,
        "--namespace",
        namespace,
        "--values",
        &values_path,
        "--labels",
        &labels,
        "--wait",
        "--timeout",
        timeout,
    ];
    if props.get("create_namespace") != Some(&Value::Bool(false)) {
        args.push("--create-namespace");
    }
    if kube.force_conflicts() {
        args.push("--force-conflicts");
    }
    helm.run("install", &id, &args, Some(&access)).await?;
    read_one(&helm, &access, namespace, name, label).await
}

/// Helm printed something eprun cannot read.
fn unexpected(operation: &str, target: &str, e: serde_json::Error) -> CloudError {
    CloudError::new(
        operation,
        target,
        CloudErrorKind::Service("Helm".into()),
        format!("unexpected output from helm: {e}"),
    )
}

/// What differs between the declared release and the installed one: the chart's source or
/// version, each value that changed (`values.<path>`), and a release not in `deployed` state.
fn diff(desired: &Props, current: &Observed, ignore: &[String]) -> Vec<FieldChange> {
    let ignored = |name: &str| manifest::is_ignored(name, ignore);
    let change = |name: &str, before: Option<Value>, after: Option<Value>| FieldChange {
        name: name.into(),
        before,
        after,
        forces_replacement: false,
        conflict: None,
    };
    let mut out = Vec::new();
    let source = ChartSource::of(desired);
    let recorded = current.attr("source");
    if !ignored("chart") && !recorded.is_empty() && recorded != source.digest() {
        out.push(change(
            "chart",
            current.props.get("chart").cloned(),
            Some(json!(source.describe())),
        ));
    }
    let version = desired.get("version").and_then(Value::as_str);
    if let Some(v) = version.filter(|_| !ignored("version"))
        && current.props.get("version").and_then(Value::as_str) != Some(v)
    {
        out.push(change(
            "version",
            current.props.get("version").cloned(),
            Some(json!(v)),
        ));
    }
    let empty = json!({});
    let want = desired.get("values").unwrap_or(&empty);
    let have = current.props.get("values").unwrap_or(&empty);
    leaf_diff("values", want, have, &mut |name, before, after| {
        if !ignored(&name) {
            out.push(change(&name, before, after));
        }
    });
    let status = current.attr("status");
    if status != "deployed" && !status.is_empty() {
        out.push(change(
            "status",
            Some(json!(status)),
            Some(json!("deployed")),
        ));
    }
    out
}

/// Every leaf where `want` and `have` differ, by dot path under `path`; maps are compared key by
/// key, anything else as a whole.
fn leaf_diff(
    path: &str,
    want: &Value,
    have: &Value,
    out: &mut dyn FnMut(String, Option<Value>, Option<Value>),
) {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, wv) in w {
                let sub = format!("{path}.{k}");
                match h.get(k) {
                    Some(hv) => leaf_diff(&sub, wv, hv, out),
                    None => out(sub, None, Some(crate::token::display(wv))),
                }
            }
            for (k, hv) in h.iter().filter(|(k, _)| !w.contains_key(*k)) {
                out(format!("{path}.{k}"), Some(hv.clone()), None);
            }
        }
        _ if crate::token::is_unknown(want) || want != have => out(
            path.into(),
            Some(have.clone()),
            Some(crate::token::display(want)),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(values: Value, status: &str, source: &str) -> Observed {
        let mut o = Observed::default();
        o.props.insert("version".into(), json!("1.0.0"));
        o.props.insert("values".into(), values);
        o.attrs.insert("status".into(), json!(status));
        o.attrs.insert("source".into(), json!(source));
        o
    }

    fn props(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn unchanged_chart_and_values_plan_nothing() {
        let desired = props(
            json!({"chart": "demo", "repository": "https://c", "version": "1.0.0",
            "values": {"a": {"b": 1}, "c": [1, 2]}}),
        );
        let source = ChartSource::of(&desired).digest();
        let current = observed(json!({"a": {"b": 1}, "c": [1, 2]}), "deployed", &source);
        assert!(diff(&desired, &current, &[]).is_empty());
    }

    #[test]
    fn values_differ_leaf_by_leaf_and_removed_values_show() {
        let desired = props(
            json!({"chart": "demo", "repository": "https://c", "version": "1.1.0",
            "values": {"a": {"b": 2}}}),
        );
        let source = ChartSource::of(&desired).digest();
        let current = observed(json!({"a": {"b": 1}, "gone": true}), "failed", &source);
        let names: Vec<String> = diff(&desired, &current, &[])
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["version", "values.a.b", "values.gone", "status"]);
        let kept = diff(&desired, &current, &["values.a".into(), "version".into()]);
        assert_eq!(kept.len(), 2, "{kept:?}");
    }

    #[test]
    fn an_update_keeps_the_installed_values_it_does_not_change() {
        let desired = props(json!({"values": {"replicas": 2, "image": "v2", "new": {"a": 1}}}));
        let current = observed(
            json!({"replicas": 5, "image": "v1", "old": true}),
            "deployed",
            "",
        );
        let changed: Vec<String> = ["values.image", "values.new.a", "values.old"]
            .map(String::from)
            .into();
        let props = with_changed_values(&desired, &current, &changed);
        assert_eq!(
            props["values"],
            json!({"replicas": 5, "image": "v2", "new": {"a": 1}}),
            "`replicas` (ignored, so not changed) keeps its installed value"
        );
    }

    #[test]
    fn a_chart_from_elsewhere_is_a_change() {
        let desired =
            props(json!({"chart": "demo", "repository": "https://other", "version": "1.0.0"}));
        let current = observed(json!({}), "deployed", "0123456789abcdef");
        let changes = diff(&desired, &current, &[]);
        assert_eq!(changes[0].name, "chart");
    }
}
