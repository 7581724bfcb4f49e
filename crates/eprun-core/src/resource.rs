//! The `Resource` trait: what every resource type implements, and the registry of types.

use crate::address::Address;
use crate::cloud_error::CloudError;
use crate::context::Context;
use crate::invalid::Invalid;
use crate::schema::Field;
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// Plain props or attributes of one resource.
pub type Props = Map<String, Value>;

/// A resource as it exists in the cloud, in the same shape as its declared props.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The address found in its `eprun:address` tag, when it has one.
    pub address: Option<Address>,
    /// The cloud's id for it (`vpc-…`, a bucket name, `rtb-…|0.0.0.0/0` for a route).
    pub id: String,
    /// The key that finds it without tags, for types that cannot carry tags.
    pub natural_key: Option<String>,
    /// Its current props, named as in the schema.
    pub props: Props,
    /// Its attributes (`id`, `arn`, …) that other resources may reference.
    pub attrs: Props,
}

/// What the create call receives: resolved props plus the ownership tags to set in the same call.
#[derive(Debug, Clone)]
pub struct CreateRequest<'a> {
    /// The address being created.
    pub address: &'a Address,
    /// The stack that owns it.
    pub stack: &'a str,
    /// Props with every token resolved.
    pub props: &'a Props,
    /// `Name`, `eprun:stack`, `eprun:address` and the user's tags.
    pub tags: Vec<(String, String)>,
}

/// Hints for a batched read: the natural keys the stack expects, for types found by name, and the
/// ids it recorded, for resources that carry no ownership tags yet (imported or migrated).
#[derive(Debug, Clone, Default)]
pub struct ReadHints {
    /// Natural keys of declared or recorded resources of this type.
    pub natural_keys: BTreeSet<String>,
    /// Cloud ids the state records for this type; those the batched read does not find by their
    /// tags are read by id.
    pub ids: BTreeSet<String>,
}

/// One resource type (AWS, or Kubernetes objects): its schema and how to read, create, update and delete it.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The kind, e.g. `ec2.vpc`; the Rhai function is `aws::ec2::vpc`.
    fn kind(&self) -> &'static str;

    /// One line for `eprun docs` and the REPL.
    fn doc(&self) -> &'static str;

    /// The props a declaration may set.
    fn schema(&self) -> &'static [Field];

    /// The attributes a handle exposes (`id` is always one).
    fn attributes(&self) -> &'static [&'static str] {
        &["id"]
    }

    /// Whether the type carries the ownership tags (else it is found by natural key).
    fn taggable(&self) -> bool {
        true
    }

    /// The key that identifies a declared resource without tags (resolved props).
    fn natural_key(&self, _props: &Props) -> Option<String> {
        None
    }

    /// Compares itself when its fields are not a flat schema (Kubernetes manifests); `None`
    /// means the planner's schema-driven comparison applies.
    fn field_diff(
        &self,
        _desired: &Props,
        _current: &Observed,
        _ignore: &[String],
    ) -> Option<Vec<crate::plan::FieldChange>> {
        None
    }

    /// What a planned create or update does inside the resource, for a type that holds other
    /// objects (a Helm release); `desired` shows unknown tokens as `(known after apply)`.
    /// `None`: the fields say it all. Plans call it after the refresh, also offline.
    async fn explain(
        &self,
        _cx: &Context,
        _desired: &Props,
        _current: Option<&Observed>,
    ) -> Option<crate::plan::Inside> {
        None
    }

    /// Checks a declaration against the others already made (e.g. a subnet inside its VPC).
    fn validate(&self, _props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        Ok(())
    }

    /// Reads every resource of this type that the stack owns, in one batched, paginated call.
    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError>;

    /// Reads the resources whose cloud ids are `ids`, whoever made them: one with no ownership
    /// tags has no address. `None`: the type is not read by id (and cannot be imported).
    async fn read_ids(
        &self,
        _cx: &Context,
        _stack: &str,
        _ids: &[String],
    ) -> Option<Result<Vec<Observed>, CloudError>> {
        None
    }

    /// The Terraform resource types (`aws_vpc`, …) whose instances are resources of this type,
    /// for `eprun migrate terraform`.
    fn terraform_types(&self) -> &'static [&'static str] {
        &[]
    }

    /// What finds the Terraform instance of `tf_type` with these attributes: its natural key, or
    /// its cloud id (as `read_ids` takes it); `None` when they name neither. By default its `id`.
    fn terraform_id(&self, _tf_type: &str, attributes: &Value) -> Option<String> {
        attributes.get("id")?.as_str().map(String::from)
    }

    /// Creates the resource with its ownership tags in the same call and waits until it is usable.
    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError>;

    /// Changes the updatable fields listed in `changed` to their values in `desired`.
    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError>;

    /// Deletes the resource and waits until it is gone.
    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError>;
}

/// Read access to the props of resources declared so far, for cross-resource checks.
pub trait DeclaredProps {
    /// The literal props of the resource at `address`, if declared.
    fn props_of(&self, address: &Address) -> Option<&Props>;
}

/// Every resource type of the providers: listed ones by kind, and families by kind prefix.
pub struct Registry {
    /// The types in the order `eprun docs` lists them.
    pub types: &'static [&'static dyn Resource],
    /// Types that serve every kind under a prefix (`k8s.` for Kubernetes objects).
    pub families: &'static [(&'static str, &'static dyn Resource)],
}

/// The registry the providers installed.
static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Installs the providers' types; the first call wins, later ones change nothing.
pub fn install(registry: Registry) {
    let _ = REGISTRY.set(registry);
}

/// Every listed resource type, in a stable order (none before [`install`]).
pub fn registry() -> &'static [&'static dyn Resource] {
    REGISTRY.get().map_or(&[], |r| r.types)
}

/// The resource type for a kind such as `ec2.vpc` or `k8s.Deployment`.
pub fn lookup(kind: &str) -> Option<&'static dyn Resource> {
    let r = REGISTRY.get()?;
    r.families
        .iter()
        .find(|(prefix, _)| kind.starts_with(prefix))
        .map(|(_, res)| *res)
        .or_else(|| r.types.iter().copied().find(|t| t.kind() == kind))
}

impl Observed {
    /// Its string attribute `name` (e.g. `arn`), or `""` when it has none.
    pub fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// This observation after an update that set `changed` to their values in `desired`.
    pub fn updated(&self, desired: &Props, changed: &[String]) -> Observed {
        let mut next = self.clone();
        for field in changed {
            match desired.get(field) {
                Some(v) => next.props.insert(field.clone(), v.clone()),
                None => next.props.remove(field),
            };
        }
        next
    }
}

/// Treats "already gone" as success, for deletes.
pub fn gone_ok(result: Result<(), CloudError>) -> Result<(), CloudError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}
