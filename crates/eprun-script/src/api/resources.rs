//! Resource declarations: `aws::<service>::<type>(name, props)` for every registered type.

use super::fail;
use super::stack::origin;
use crate::address::Address;
use crate::declaration::{Declaration, Declarations};
use crate::handle::Handle;
use crate::resource::{self, Props, Resource};
use crate::schema::{self, Kind};
use crate::session::Session;
use crate::value::to_json;
use rhai::{Dynamic, EvalAltResult, FuncRegistration, ImmutableString, NativeCallContext};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Keys every declaration accepts besides the type's own props.
pub const META_KEYS: &[&str] = &["depends_on", "protect", "ignore_changes", "region"];

/// Registers `aws::<service>::<type>` for every resource type into `services` (one module per
/// service); `super::register` adds the verbs to the same modules, then installs them under `aws`.
pub(super) fn register(services: &mut super::Services, session: &Session) {
    for &res in resource::registry() {
        let (service, noun) = res.kind().split_once('.').unwrap_or(("aws", res.kind()));
        let module = services.entry(service).or_default();
        let s = session.clone();
        let comments = doc_comments(res);
        FuncRegistration::new(noun)
            .with_comments(comments.iter().map(String::as_str))
            .with_params_info(["name: &str", "props: Map", "Handle"])
            .set_into_module(
                module,
                move |ctx: NativeCallContext, name: ImmutableString, props: rhai::Map| {
                    declare(&ctx, &s, res, &name, props)
                },
            );
    }
}

/// The doc comment of a declaration function: the type's line and one line per prop.
fn doc_comments(res: &dyn Resource) -> Vec<String> {
    let mut lines = vec![
        format!("/// {}", res.doc()),
        "///".to_string(),
        "/// Props:".to_string(),
    ];
    for f in res.schema() {
        let mut notes = Vec::new();
        if f.required {
            notes.push("required".to_string());
        }
        if f.force_new {
            notes.push("replaces".to_string());
        }
        if let Some(d) = f.default {
            notes.push(format!("default {d}"));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        lines.push(format!("/// * `{}`: {}{notes}", f.name, f.doc));
    }
    lines.push(
        "/// * `depends_on`: handles or addresses to create first; `protect`: refuse deletion;"
            .to_string(),
    );
    lines.push(
        "///   `ignore_changes`: fields owned by someone else; `region`: default the stack's"
            .to_string(),
    );
    lines
}

fn declare(
    ctx: &NativeCallContext,
    session: &Session,
    res: &'static dyn Resource,
    name: &str,
    mut raw: rhai::Map,
) -> Result<Handle, Box<EvalAltResult>> {
    let pos = ctx.call_position();
    let err = |m: String| fail(m, pos);
    let address = Address::new(res.kind(), name).map_err(|e| err(e.to_string()))?;
    let in_decl = |m: String| fail(format!("`{address}`: {m}"), pos);

    let meta = Meta::take(&mut raw).map_err(|e| in_decl(e.to_string()))?;
    if let Some(bad) = meta
        .ignore_changes
        .iter()
        .find(|f| !res.schema().iter().any(|s| s.name == f.as_str()))
    {
        let names: Vec<&str> = res.schema().iter().map(|f| f.name).collect();
        let hint = schema::suggest(bad, &names)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(in_decl(format!(
            "`ignore_changes` names `{bad}`, which is not a property{hint}"
        )));
    }
    let json = to_json(&Dynamic::from_map(raw)).map_err(|e| in_decl(e.to_string()))?;
    let Value::Object(mut props) = json else {
        return Err(in_decl("props must be a map".into()));
    };
    schema::validate_among(res.schema(), META_KEYS, &props).map_err(|e| in_decl(e.to_string()))?;

    let mut decls = session.declarations();
    let Some(env) = decls.environment.clone() else {
        return Err(err(
            "call `stack(\"<environment>\")` before declaring resources".into(),
        ));
    };
    merge_default_tags(res, &mut props, &env.tags);
    res.validate(&props, &*decls)
        .map_err(|e| in_decl(e.to_string()))?;
    meta.add(
        &mut decls,
        ctx,
        address,
        &env.region,
        props,
        res.attributes(),
    )
}

/// The environment's tags under the declaration's own, for taggable types.
fn merge_default_tags(res: &dyn Resource, props: &mut Props, defaults: &BTreeMap<String, String>) {
    let has_tags = res
        .schema()
        .iter()
        .any(|f| f.name == "tags" && matches!(f.kind, Kind::Tags));
    if !has_tags || defaults.is_empty() {
        return;
    }
    let mut merged: serde_json::Map<String, Value> = defaults
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if let Some(Value::Object(own)) = props.get("tags") {
        merged.extend(own.clone());
    }
    props.insert("tags".into(), Value::Object(merged));
}

/// The keys every declaration takes besides its props.
pub(super) struct Meta {
    /// `depends_on` addresses given as strings.
    pub named_deps: Vec<String>,
    /// `depends_on` handles.
    pub deps: BTreeSet<Address>,
    /// `protect`.
    pub protect: bool,
    /// `ignore_changes`.
    pub ignore_changes: Vec<String>,
    /// `region`.
    pub region: Option<String>,
}

/// Why a declaration's meta keys (`depends_on`, `protect`, `ignore_changes`, `region`) are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// `depends_on` that is not an array.
    #[error("`depends_on` must be an array of handles")]
    DependsOnNotArray,
    /// A `depends_on` entry that is neither a handle nor an address.
    #[error("`depends_on` holds a {0}; it takes handles or addresses")]
    DependsOnEntry(String),
    /// A key that takes a bool or a string given something else.
    #[error("`{key}` must be a {expected}")]
    Type {
        /// The key.
        key: &'static str,
        /// `bool` or `string`.
        expected: &'static str,
    },
    /// A list of strings that is not an array.
    #[error("`{0}` must be an array of strings")]
    NotArray(&'static str),
    /// A list of strings holding something else.
    #[error("`{key}` must hold strings, not {given}")]
    NotString {
        /// The key.
        key: &'static str,
        /// The type given.
        given: String,
    },
}

impl Meta {
    /// Takes the meta keys out of a declaration's map.
    pub fn take(raw: &mut rhai::Map) -> Result<Meta, MetaError> {
        let (named_deps, deps) = take_depends_on(raw.remove("depends_on"))?;
        let protect = match raw.remove("protect") {
            None => false,
            Some(v) => v.as_bool().map_err(|_| MetaError::Type {
                key: "protect",
                expected: "bool",
            })?,
        };
        let ignore_changes = take_strings(raw.remove("ignore_changes"), "ignore_changes")?;
        let region = match raw.remove("region") {
            None => None,
            Some(v) => Some(v.into_string().map_err(|_| MetaError::Type {
                key: "region",
                expected: "string",
            })?),
        };
        Ok(Meta {
            named_deps,
            deps,
            protect,
            ignore_changes,
            region,
        })
    }

    /// Adds to `decls` the declaration of `address` made at `ctx`, with `props` and these keys,
    /// in their `region` or else in `region`; returns its handle.
    pub fn add(
        self,
        decls: &mut Declarations,
        ctx: &NativeCallContext,
        address: Address,
        region: &str,
        props: Props,
        attributes: &'static [&'static str],
    ) -> Result<Handle, Box<EvalAltResult>> {
        let Meta {
            named_deps,
            deps,
            protect,
            ignore_changes,
            region: own_region,
        } = self;
        decls
            .add(Declaration {
                address: address.clone(),
                region: own_region.unwrap_or_else(|| region.to_string()),
                props,
                deps,
                named_deps,
                protect,
                ignore_changes,
                origin: origin(ctx),
            })
            .map_err(|e| fail(e.to_string(), ctx.call_position()))?;
        Ok(Handle {
            address,
            attributes,
        })
    }
}

/// `depends_on`: handles (resolved now) and address strings (checked when the graph is built).
fn take_depends_on(value: Option<Dynamic>) -> Result<(Vec<String>, BTreeSet<Address>), MetaError> {
    let mut named = Vec::new();
    let mut handles = BTreeSet::new();
    let Some(value) = value else {
        return Ok((named, handles));
    };
    let items = value
        .into_array()
        .map_err(|_| MetaError::DependsOnNotArray)?;
    for item in items {
        if let Some(h) = item.clone().try_cast::<Handle>() {
            handles.insert(h.address);
        } else if item.is_string() {
            named.push(item.to_string());
        } else {
            return Err(MetaError::DependsOnEntry(item.type_name().to_string()));
        }
    }
    Ok((named, handles))
}

fn take_strings(value: Option<Dynamic>, key: &'static str) -> Result<Vec<String>, MetaError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value.into_array().map_err(|_| MetaError::NotArray(key))?;
    items
        .into_iter()
        .map(|i| {
            i.into_string().map_err(|given| MetaError::NotString {
                key,
                given: given.to_string(),
            })
        })
        .collect()
}
