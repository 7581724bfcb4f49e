//! `helm::release(name, props)`: Helm releases declared in a stack, beside AWS resources and
//! Kubernetes objects.

use super::fail;
use super::k8s::{cluster_environment, in_cluster_deps};
use super::resources::{META_KEYS, Meta};
use crate::address::Address;
use crate::handle::Handle;
use crate::k8s::helm::chart::ChartSource;
use crate::k8s::helm::release::{HELM_RELEASE, KIND};
use crate::resource::Resource;
use crate::schema;
use crate::session::Session;
use crate::value::to_json;
use eprun_core::invalid::Invalid;
use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};
use serde_json::{Value, json};

/// Registers the declaration function into the `helm` module.
pub(super) fn register(helm: &mut Module, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("release")
        .with_comments([
            "/// Declares a Helm release in the stack, at address `helm.release.<namespace>/<name>`,",
            "/// after the stack's EKS cluster, its node groups and the release's namespace.",
            "/// `props`: `namespace`, `chart` (a name in `repository`, an `oci://` reference or a",
            "/// local path from the project root), `repository`, `version` (pinned; required unless",
            "/// the chart is local), `values` (a map; tokens such as role ARNs resolve at apply),",
            "/// `create_namespace` (default `true`), `timeout` (default `\"5m\"`), and `depends_on`,",
            "/// `protect`, `ignore_changes` (`\"values.<path>\"`, `\"version\"`, …).",
            "/// Apply runs `helm upgrade --install`, so `helm list`, `helm history` and",
            "/// `helm rollback` work on the release; an unchanged chart and values never run helm.",
            "/// Plans show the objects inside the release that change, field by field; a chart",
            "/// pulled once is cached under `.eprun/charts`, and one that cannot be fetched shows",
            "/// as `(chart not fetched)`. The handle's attributes: `name`, `namespace`, `revision`,",
            "/// `status`, `app_version`.",
        ])
        .with_params_info(["name: &str", "props: Map", "Handle"])
        .set_into_module(
            helm,
            move |ctx: NativeCallContext, name: &str, props: rhai::Map| {
                declare(&ctx, &s, name, props)
            },
        );
}

fn declare(
    ctx: &NativeCallContext,
    session: &Session,
    name: &str,
    mut raw: rhai::Map,
) -> Result<Handle, Box<EvalAltResult>> {
    let pos = ctx.call_position();
    let err = |m: String| fail(m, pos);
    let namespace = raw
        .get("namespace")
        .and_then(|v| v.clone().into_immutable_string().ok())
        .ok_or_else(|| err(format!("helm release `{name}`: `namespace` is required")))?;
    let address =
        Address::new(KIND, &format!("{namespace}/{name}")).map_err(|e| err(e.to_string()))?;
    let in_decl = |m: String| fail(format!("`{address}`: {m}"), pos);
    let meta = Meta::take(&mut raw).map_err(|e| in_decl(e.to_string()))?;
    if meta.region.is_some() {
        return Err(in_decl(
            "a Helm release lives in its cluster's region; remove `region`".into(),
        ));
    }
    let Value::Object(mut props) =
        to_json(&Dynamic::from_map(raw)).map_err(|e| in_decl(e.to_string()))?
    else {
        return Err(in_decl("props must be a map".into()));
    };
    if props.contains_key("name") {
        return Err(in_decl(
            "the release's name is the first argument; remove `name` from the props".into(),
        ));
    }
    props.insert("name".into(), json!(name));
    schema::validate_among(HELM_RELEASE.schema(), META_KEYS, &props)
        .map_err(|e| in_decl(e.to_string()))?;
    check(&props, &meta.ignore_changes).map_err(|e| in_decl(e.to_string()))?;
    let env = cluster_environment(session).map_err(|e| err(e.to_string()))?;
    let mut decls = session.declarations();
    let mut meta = meta;
    meta.deps.extend(in_cluster_deps(&decls, Some(&namespace)));
    // helm waits for the release's pods, which need the cluster's nodes.
    meta.deps.extend(
        decls
            .resources
            .iter()
            .filter(|d| d.address.kind() == "eks.node_group")
            .map(|d| d.address.clone()),
    );
    meta.add(
        &mut decls,
        ctx,
        address,
        &env.region,
        props,
        HELM_RELEASE.attributes(),
    )
}

/// What the schema cannot say: a remote chart is pinned, values are a map, and
/// `ignore_changes` names what a release compares.
fn check(props: &serde_json::Map<String, Value>, ignore: &[String]) -> Result<(), Invalid> {
    let local = matches!(ChartSource::of(props), ChartSource::Local(_));
    if !local && !props.contains_key("version") {
        let why = "a chart from a repository or registry needs a pinned `version`";
        return Err(Invalid::Combination(why.into()));
    }
    if props.get("values").is_some_and(|v| !v.is_object()) {
        return Err(Invalid::Combination("`values` is a map".into()));
    }
    if let Some(bad) = ignore.iter().find(|f| {
        !matches!(f.as_str(), "chart" | "version" | "values") && !f.starts_with("values.")
    }) {
        return Err(Invalid::Combination(format!(
            "`ignore_changes` names `{bad}`; a release compares `chart`, `version` and `values.<path>`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_remote_chart_must_be_pinned_and_values_be_a_map() {
        let unpinned = props(json!({"chart": "karpenter", "repository": "https://c"}));
        assert!(
            check(&unpinned, &[])
                .unwrap_err()
                .to_string()
                .contains("pinned `version`")
        );
        assert!(check(&props(json!({"chart": "charts/demo"})), &[]).is_ok());
        let bad = props(json!({"chart": "charts/demo", "values": [1]}));
        assert!(check(&bad, &[]).is_err());
        let ignored = check(
            &props(json!({"chart": "charts/demo"})),
            &["replicas".into()],
        );
        assert!(ignored.unwrap_err().to_string().contains("`replicas`"));
        assert!(
            check(
                &props(json!({"chart": "charts/demo"})),
                &["values.a.b".into()]
            )
            .is_ok()
        );
    }
}
