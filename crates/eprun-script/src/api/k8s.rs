//! `k8s::object(manifest)`: Kubernetes objects declared in a stack, beside its AWS resources.

use super::fail;
use super::resources::Meta;
use crate::address::Address;
use crate::declaration::Declarations;
use crate::environment::Environment;
use crate::handle::Handle;
use crate::k8s::catalog;
use crate::k8s::manifest;
use crate::k8s::object::KUBE_OBJECT;
use crate::resource::Resource;
use crate::schema;
use crate::session::Session;
use crate::value::to_json;
use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext};
use serde_json::Value;

/// Registers the declaration function into the `k8s` module.
pub(super) fn register(k8s: &mut Module, session: &Session) {
    let comments = [
        "/// Declares a Kubernetes object in the stack (a map in Kubernetes JSON shape:",
        "/// `apiVersion`, `kind`, `metadata: #{name, namespace}`, …). Plans show a field-level",
        "/// diff of the fields it sets; apply is server-side apply with field manager `eprun`;",
        "/// an object removed from the script is deleted. It depends on the stack's EKS cluster,",
        "/// its namespace and the CustomResourceDefinition of its kind when the stack declares",
        "/// them (declare a CRD before its objects); a custom resource without its CRD in the stack",
        "/// waits for the stack's Helm releases declared before it (their charts ship CRDs).",
        "/// Apply waits until the object is usable:",
        "/// a CRD established, a Deployment, StatefulSet or DaemonSet rolled out.",
        "///",
        "/// `meta` (optional): `depends_on: [handles]`, `protect: bool`,",
        "/// `ignore_changes: [\"spec.replicas\", …]` (dot paths owned by someone else).",
        "/// The handle's attributes: `name`, `namespace`, `uid`.",
    ];
    let s = session.clone();
    FuncRegistration::new("object")
        .with_comments(comments)
        .with_params_info(["manifest: Map", "Handle"])
        .set_into_module(k8s, move |ctx: NativeCallContext, manifest: rhai::Map| {
            declare(&ctx, &s, manifest, rhai::Map::new())
        });
    let s = session.clone();
    FuncRegistration::new("object")
        .with_comments(comments)
        .with_params_info(["manifest: Map", "meta: Map", "Handle"])
        .set_into_module(
            k8s,
            move |ctx: NativeCallContext, manifest: rhai::Map, meta: rhai::Map| {
                declare(&ctx, &s, manifest, meta)
            },
        );
}

fn declare(
    ctx: &NativeCallContext,
    session: &Session,
    raw: rhai::Map,
    mut meta: rhai::Map,
) -> Result<Handle, Box<EvalAltResult>> {
    let pos = ctx.call_position();
    let err = |m: String| fail(m, pos);
    let Value::Object(props) = to_json(&Dynamic::from_map(raw)).map_err(|e| err(e.to_string()))?
    else {
        return Err(err("a manifest is a map".into()));
    };
    let (object, known) = manifest::check(&props).map_err(|e| err(e.to_string()))?;
    let address = object.address().map_err(|e| err(e.to_string()))?;
    let in_decl = |m: String| fail(format!("`{address}`: {m}"), pos);
    let mut keys = Meta::take(&mut meta).map_err(|e| in_decl(e.to_string()))?;
    if keys.region.is_some() {
        return Err(in_decl(
            "a Kubernetes object lives in its cluster's region; remove `region`".into(),
        ));
    }
    if let Some(extra) = meta.keys().next() {
        return Err(in_decl(format!(
            "unknown key `{extra}` in the meta map (it takes `depends_on`, `protect`, `ignore_changes`)"
        )));
    }
    if let Some(bad) = keys
        .ignore_changes
        .iter()
        .find(|p| manifest::get_path(&props, p).is_none())
    {
        return Err(in_decl(format!(
            "`ignore_changes` names `{bad}`, which the manifest does not set"
        )));
    }
    let env = cluster_environment(session).map_err(|e| err(e.to_string()))?;
    // A kind whose CRD this stack declares is served once that CRD is applied.
    let definition = session
        .declarations()
        .resources
        .iter()
        .find(|d| manifest::defines_kind(&d.props, &object))
        .map(|d| d.address.clone());
    // A custom resource may be defined by a CRD that one of the stack's Helm releases ships:
    // it waits for them, and its kind cannot be checked before they are installed.
    let releases: Vec<Address> = if is_custom(&object.api_version) && definition.is_none() {
        session
            .declarations()
            .resources
            .iter()
            .filter(|d| d.address.kind() == crate::k8s::helm::release::KIND)
            .map(|d| d.address.clone())
            .collect()
    } else {
        Vec::new()
    };
    if !known && definition.is_none() && releases.is_empty() {
        check_kind_by_discovery(session, &object.api_version, &object.kind)
            .map_err(|e| in_decl(e.to_string()))?;
    }

    let mut decls = session.declarations();
    keys.deps.extend(definition);
    keys.deps.extend(releases);
    keys.deps
        .extend(in_cluster_deps(&decls, object.namespace.as_deref()));
    keys.add(
        &mut decls,
        ctx,
        address,
        &env.region,
        props,
        KUBE_OBJECT.attributes(),
    )
}

/// Whether an API group is a custom resource's (a dotted group outside `*.k8s.io`).
fn is_custom(api_version: &str) -> bool {
    api_version
        .split_once('/')
        .is_some_and(|(group, _)| group.contains('.') && !group.ends_with(".k8s.io"))
}

/// Why something cannot be declared inside the stack's cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InClusterError {
    /// No `stack(...)` yet.
    #[error("call `stack(\"<environment>\")` before declaring what goes into its cluster")]
    NoStack,
    /// The environment does not say how to reach its cluster.
    #[error("environment `{0}` has no `[k8s]` table saying how to reach its cluster")]
    NoCluster(String),
    /// The cluster's discovery does not know the kind.
    #[error("{message}{hint}")]
    UnknownKind {
        /// What the cluster answered.
        message: String,
        /// `; did you mean `…`?` for a near kind, or nothing.
        hint: String,
    },
}

/// The stack's environment, which must say how to reach its cluster.
pub(super) fn cluster_environment(session: &Session) -> Result<Environment, InClusterError> {
    let env = session
        .declarations()
        .environment
        .clone()
        .ok_or(InClusterError::NoStack)?;
    if env.k8s.is_none() {
        return Err(InClusterError::NoCluster(env.name));
    }
    Ok(env)
}

/// What something inside the cluster depends on: the stack's EKS cluster, and its namespace
/// when the stack declares it.
pub(super) fn in_cluster_deps(decls: &Declarations, namespace: Option<&str>) -> Vec<Address> {
    decls
        .resources
        .iter()
        .filter(|d| {
            let kind = d.address.kind();
            kind == "eks.cluster"
                || (kind == "k8s.namespace" && Some(d.address.name()) == namespace)
        })
        .map(|d| d.address.clone())
        .collect()
}

/// Asks the cluster's discovery about a kind eprun does not know; only a definite "no such kind"
/// is an error here (an unreachable cluster is reported by the plan).
fn check_kind_by_discovery(
    session: &Session,
    api_version: &str,
    kind: &str,
) -> Result<(), InClusterError> {
    let Ok(cx) = session.context() else {
        return Ok(());
    };
    let Ok(kube) = crate::k8s::Kube::of(&cx) else {
        return Ok(());
    };
    match session.runtime.block_on(kube.kind(api_version, kind)) {
        Err(e) if e.is("UnknownKind") => {
            let hint = schema::suggest(kind, &catalog::kind_names())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Err(InClusterError::UnknownKind {
                message: e.message,
                hint,
            })
        }
        _ => Ok(()),
    }
}
