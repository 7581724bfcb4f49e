//! The one adapter between typed AWS resource descriptions and the planner's `Resource` trait.
//!
//! A resource type describes only what is its own: its schema, typed props, the item the SDK
//! answers, its attributes, how it is found, and its few SDK calls. The adapter does the rest for
//! every type alike: ownership filtering, observing, natural keys, docs, tag sync, and treating a
//! delete of something already gone as done.

use crate::Result;
use crate::address::Address;
use crate::context::Context;
use crate::invalid::Invalid;
use crate::resource::{
    CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource, gone_ok,
};
use crate::schema::Field;
use crate::{Aws, CloudError, CloudErrorKind, tags};
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::OnceLock;

/// One attribute a handle exposes, read from the item the SDK answers.
pub struct Attr<T> {
    /// Its name, e.g. `arn`.
    pub name: &'static str,
    /// What its value is, for the docs, when the name does not say (e.g. `the name`).
    pub note: Option<&'static str>,
    /// Its value for one item; the connection gives the region for ARNs built by hand.
    pub read: fn(&Aws, &T) -> Value,
    /// Whether it is always the prop of the same name, so that updating the prop changes it too.
    pub follows_prop: bool,
    /// Another name with the same value, listed after it and shown in the docs as `name` (= `alias`).
    pub alias: Option<&'static str>,
}

impl<T> Attr<T> {
    /// An attribute named `name`, read by `read`.
    pub const fn new(name: &'static str, read: fn(&Aws, &T) -> Value) -> Self {
        Self {
            name,
            note: None,
            read,
            follows_prop: false,
            alias: None,
        }
    }

    /// The same attribute, with `note` saying in the docs what its value is.
    pub const fn note(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }

    /// The same attribute, as the prop of the same name (e.g. a key's `alias`, updatable in place).
    pub const fn follows_prop(mut self) -> Self {
        self.follows_prop = true;
        self
    }

    /// The same attribute, also readable as `alias` (e.g. a zone's `id` as `zone_id`).
    pub const fn alias(mut self, alias: &'static str) -> Self {
        self.alias = Some(alias);
        self
    }

    /// Its name and its alias, if it has one.
    fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.alias)
    }
}

/// How a type's resources are told apart from everyone else's.
pub enum Identity {
    /// By the ownership tags the create call sets; later tag changes go through the service's tagger.
    Tags(&'static dyn Tagger),
    /// By name: tagged like `Tags`, and one with no ownership tags is adopted by its name (the
    /// natural key its props make); one tagged for another stack is never touched.
    Named(&'static dyn Tagger, fn(&Props) -> Option<String>),
    /// By a key made from its resolved props, for types that cannot carry tags.
    NaturalKey(fn(&Props) -> Option<String>),
    /// By the owner its item names itself (`Description::owner`, e.g. Route 53's caller
    /// reference), for types tagged only after their create; tags change through the tagger.
    Recorded(&'static dyn Tagger),
}

/// Changes the tags of one service's resources.
#[async_trait]
pub trait Tagger: Send + Sync {
    /// Sets and removes the tags `change` names on the resource `on`.
    async fn retag(&self, aws: &Aws, on: &Observed, change: Retag<'_>) -> Result<()>;
}

/// The tags to set and the tag keys to remove on one resource.
#[derive(Clone, Copy)]
pub struct Retag<'a> {
    /// Tags to set, as (key, value).
    pub set: &'a [(String, String)],
    /// Tag keys to remove.
    pub remove: &'a [String],
}

impl dyn Tagger {
    /// Keeps `value` as the tag `key` on `on`, or removes the tag when it is `None`: for a prop AWS
    /// does not keep itself (a deletion window, a recovery window).
    pub async fn keep(
        &self,
        aws: &Aws,
        on: &Observed,
        key: &str,
        value: Option<impl ToString>,
    ) -> Result<()> {
        let remove = value.is_none().then(|| key.to_string());
        let set = tags::keep(&[], key, value);
        let change = Retag {
            set: &set,
            remove: remove.as_slice(),
        };
        self.retag(aws, on, change).await
    }
}

/// What a description creates: the address, its typed props, and the tags to set in the create call.
#[derive(Clone, Copy)]
pub struct New<'a, P> {
    /// The resource's address, for errors.
    pub address: &'a Address,
    /// Its props, as declared (tokens resolved).
    pub props: &'a P,
    /// The ownership and user tags.
    pub tags: &'a [(String, String)],
}

/// One updatable field to change on the resource `id`, from `current` to `desired`.
#[derive(Clone, Copy)]
pub struct Change<'a, P> {
    /// The cloud's id of the resource.
    pub id: &'a str,
    /// The field, never `tags`.
    pub field: &'a str,
    /// The props as they are.
    pub current: &'a P,
    /// The props as declared.
    pub desired: &'a P,
}

/// Every updatable field to change on the resource `on` in one update.
#[derive(Clone, Copy)]
pub struct Changes<'a, P> {
    /// The resource as observed.
    pub on: &'a Observed,
    /// The fields that change, never `tags`.
    pub fields: &'a [String],
    /// The props as they are.
    pub current: &'a P,
    /// The props as declared.
    pub desired: &'a P,
}

/// The body of a tagger: the `tag` call when there are tags to `set`, then the `untag` call when
/// there are keys to `remove`; a call is built only when it is made, and its error names `target`:
/// `retag!(set, remove, url; sqs.tag_queue()…, "TagQueue"; sqs.untag_queue()…, "UntagQueue")`.
macro_rules! retag {
    ($set:expr, $remove:expr, $target:expr;
     $tag:expr, $tag_op:literal; $untag:expr, $untag_op:literal) => {{
        if !$set.is_empty() {
            $tag.send().await.map_err($crate::sdk($tag_op, $target))?;
        }
        if !$remove.is_empty() {
            $untag
                .send()
                .await
                .map_err($crate::sdk($untag_op, $target))?;
        }
    }};
}
pub(crate) use retag;

/// Declares a service's tagger: a unit struct whose `retag` is `retag!` over the client and the
/// target it names, written with the names it gives the connection, the resource and the change:
/// `tagger!(pub struct SqsTags: |aws, on, set, remove| sqs = aws.sqs(), url = on.id.as_str(); …)`.
macro_rules! tagger {
    ($(#[$doc:meta])* pub struct $name:ident: |$aws:ident, $on:ident, $set:ident, $remove:ident|
     $client:ident = $make:expr, $target:ident = $of:expr;
     $tag:expr, $tag_op:literal; $untag:expr, $untag_op:literal) => {
        $(#[$doc])*
        pub struct $name;

        #[async_trait::async_trait]
        impl $crate::adapter::Tagger for $name {
            async fn retag(
                &self,
                $aws: &$crate::Aws,
                $on: &$crate::resource::Observed,
                change: $crate::adapter::Retag<'_>,
            ) -> Result<(), $crate::CloudError> {
                let ($set, $remove) = (change.set, change.remove);
                let ($client, $target) = ($make, $of);
                $crate::adapter::retag!($set, $remove, $target;
                    $tag, $tag_op; $untag, $untag_op);
                Ok(())
            }
        }
    };
}
pub(crate) use tagger;

/// What one AWS resource type is called and holds, as `resource!` declares it.
pub trait ResourceType {
    /// Its props, typed; field names are the schema names (`tags` is the adapter's).
    type Props: Serialize + DeserializeOwned + Send + Sync;
    /// What a read answers for one resource (the SDK type, or a tuple with what else it needs).
    type Item: Send + Sync + 'static;

    /// The kind, e.g. `ec2.vpc`.
    const KIND: &'static str;
    /// One sentence for `eprun docs`; the attribute list is added to it.
    const SUMMARY: &'static str;
    /// The props a declaration may set.
    const SCHEMA: &'static [Field];
    /// The Terraform resource types whose instances are of this type (`aws_vpc`), for migration.
    const TERRAFORM: &'static [&'static str] = &[];

    /// The tags an item carries itself, as `resource!`'s `tagged by` reads them; none without it.
    fn item_tags(_item: &Self::Item) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Declares a resource type in one place: its unit struct, the adapter the registry lists, its
/// kind and `eprun docs` sentence, the item it reads, and its props (their schema and typed
/// struct, as `schema!` declares them, in `SCHEMA` and the struct named after `props`, documented
/// "The props of `<kind>`." and what its own doc comment adds). `tagged by pairs` reads an item's
/// tags as the service's `pairs` reads what the item's `tags()` answers; `terraform` names the
/// Terraform resource types whose instances are of this type:
///
/// ```ignore
/// resource! {
///     /// A VPC with its DNS attributes.
///     pub struct Vpc: VPC = "ec2.vpc", "A VPC.";
///     reads aws_sdk_ec2::types::Vpc, tagged by pairs;
///     terraform "aws_vpc";
///     props VpcProps {
///         cidr_block: String = required(Cidr, "the IPv4 CIDR block of the VPC"),
///     } + TAGS
/// }
/// ```
macro_rules! resource {
    ($(#[$doc:meta])* pub struct $name:ident: $adapter:ident = $kind:literal, $summary:literal;
     reads $item:ty $(, tagged by $pairs:path)?;
     $(terraform $($tf:literal),+;)?
     $(#[$props_meta:meta])* props $props:ident { $($fields:tt)* } $(+ $extra:expr)*) => {
        $(#[$doc])*
        pub struct $name;

        #[doc = concat!("The `", $kind, "` resource type.")]
        pub static $adapter: $crate::adapter::Adapter<$name> = $crate::adapter::Adapter::new($name);

        impl $crate::adapter::ResourceType for $name {
            type Props = $props;
            type Item = $item;
            const KIND: &'static str = $kind;
            const SUMMARY: &'static str = $summary;
            const SCHEMA: &'static [$crate::schema::Field] = SCHEMA;
            $(const TERRAFORM: &'static [&'static str] = &[$($tf),+];)?
            $(
                fn item_tags(item: &Self::Item) -> Vec<(String, String)> {
                    $pairs(item.tags())
                }
            )?
        }

        $crate::props::schema! {
            #[doc = concat!("The props of `", $kind, "`.")]
            $(#[$props_meta])*
            pub struct $props: SCHEMA { $($fields)* } $(+ $extra)*
        }
    };
}
pub(crate) use resource;

/// A read of the items whose cloud ids are given, whoever made them; those not there are left out.
pub type Fetch<T> = for<'a> fn(&'a Aws, &'a [String]) -> BoxFuture<'a, Result<Vec<T>>>;

/// What one AWS resource type does: its attributes, how it is found, and the SDK calls that are
/// truly its own.
#[async_trait]
pub trait Description: ResourceType + Send + Sync + 'static {
    /// The attributes a handle exposes: `id` first, the cloud's id of the item (a string).
    const ATTRIBUTES: &'static [Attr<Self::Item>];
    /// How its resources are found again.
    const IDENTITY: Identity;

    /// Checks a declaration against the others already made.
    fn validate(&self, _props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        Ok(())
    }

    /// Every tag on an item (for types found by tags, and those tagged only after their create):
    /// by default those `resource!`'s `tagged by` reads.
    fn tags(&self, item: &Self::Item) -> Vec<(String, String)> {
        Self::item_tags(item)
    }

    /// The address an item names as its owner's in `stack`, for `Identity::Recorded`.
    fn owner(&self, _stack: &str, _item: &Self::Item) -> Option<Address> {
        None
    }

    /// The natural key an item carries itself, when its props make none (e.g. a caller reference).
    fn item_key(&self, _item: &Self::Item) -> Option<String> {
        None
    }

    /// How a Terraform instance of `tf_type` is found, when neither the natural key its
    /// attributes make (Terraform names them as the props are named) nor its `id` says it.
    fn terraform_id(&self, _tf_type: &str, _attributes: &Value) -> Option<String> {
        None
    }

    /// The read by ids the default `fetch` makes (an EC2 type's `ec2::fetch!`); `None` by default.
    const FETCH: Option<Fetch<Self::Item>> = None;

    /// Reads the items whose cloud ids are `ids`, whoever made them; those not there are left out.
    /// `None`: the type is not read by id. Resources that `eprun import` or a migration recorded
    /// carry no ownership tags until their first apply, so a refresh finds them this way. By
    /// default, what `FETCH` reads.
    async fn fetch(&self, aws: &Aws, ids: &[String]) -> Option<Result<Vec<Self::Item>>> {
        let fetch = Self::FETCH?;
        Some(fetch(aws, ids).await)
    }

    /// Reads the candidates: every item that may belong to the stack, in batched, paginated calls.
    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<Self::Item>>;

    /// The props of an item as they are, named as declared.
    async fn props(&self, aws: &Aws, item: &Self::Item) -> Result<Self::Props>;

    /// Creates the resource with `tags` set in the same call, waits until it is usable, and returns it.
    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Self::Item>;

    /// Changes one updatable field from its current to its desired value.
    async fn update(&self, _aws: &Aws, _change: Change<'_, Self::Props>) -> Result<()> {
        Ok(())
    }

    /// Changes every updatable field in `changes` (called once per update, also when only `tags`
    /// changed), for APIs that change several fields in one call. Answers the item as it is
    /// afterwards when that moves an attribute. By default, one `update` per field.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, Self::Props>,
    ) -> Result<Option<Self::Item>> {
        let (on, fields, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        for field in fields {
            let id = &on.id;
            self.update(
                aws,
                Change {
                    id,
                    field,
                    current,
                    desired,
                },
            )
            .await?;
        }
        Ok(None)
    }

    /// Deletes the resource and waits until it is gone; "not found" counts as done.
    async fn delete(&self, aws: &Aws, id: &str, current: &Self::Props) -> Result<()>;
}

/// A described type as a `Resource`.
pub struct Adapter<D> {
    description: D,
    doc: OnceLock<&'static str>,
    attributes: OnceLock<&'static [&'static str]>,
}

impl<D: Description> Adapter<D> {
    /// The adapter for `description`.
    pub const fn new(description: D) -> Self {
        Self {
            description,
            doc: OnceLock::new(),
            attributes: OnceLock::new(),
        }
    }

    /// The props of an item as observed, with its user tags, or `None` when another stack owns it.
    /// `owned` is its address (if tagged) and user tags when the caller already knows them.
    async fn observe(
        &self,
        aws: &Aws,
        stack: &str,
        item: &D::Item,
        owned: Option<(Option<Address>, Value)>,
    ) -> Result<Option<Observed>> {
        let (address, user_tags) = match (&D::IDENTITY, owned) {
            (_, Some((a, t))) => (a, Some(t)),
            (Identity::Tags(_), None) => {
                match tags::split_owned(stack, self.description.tags(item)) {
                    Some((a, t)) => (Some(a), Some(t)),
                    None => return Ok(None),
                }
            }
            (Identity::Named(..), None) => {
                match tags::owner(stack, self.description.tags(item)).split() {
                    Some((a, t)) => (a, Some(t)),
                    None => return Ok(None),
                }
            }
            (Identity::Recorded(_), None) => match self.owner_of(stack, item) {
                Some(a) => {
                    let t = tags::visible(&a, self.description.tags(item));
                    (Some(a), Some(t))
                }
                None => return Ok(None),
            },
            // Untaggable in its create call, it may still carry ownership tags set afterwards;
            // another kind's (e.g. the other side's of a shared resource) do not name it.
            (Identity::NaturalKey(_), None) => (
                tags::split_owned(stack, self.description.tags(item))
                    .map(|(a, _)| a)
                    .filter(|a| a.kind() == D::KIND),
                None,
            ),
        };
        let mut props = to_props(&self.description.props(aws, item).await?);
        if let Some(t) = user_tags {
            props.insert("tags".into(), t);
        }
        let natural_key = self
            .natural_key(&props)
            .or_else(|| self.description.item_key(item));
        let attrs = attrs::<D>(aws, item);
        Ok(Some(Observed {
            address,
            id: attrs
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            natural_key,
            attrs,
            props,
        }))
    }
}

impl<D: Description> Adapter<D> {
    /// The address an item of a type tagged after its create names as the stack's: its ownership
    /// tag, which a move re-tags, before what it names itself (a caller reference never changes).
    fn owner_of(&self, stack: &str, item: &D::Item) -> Option<Address> {
        let tagged = tags::split_owned(stack, self.description.tags(item)).map(|(a, _)| a);
        (tagged.filter(|a| a.kind() == D::KIND)).or_else(|| self.description.owner(stack, item))
    }

    /// The resources whose ids are `ids`, with no address when untagged and without those another
    /// stack owns; `None` when the type is not read by id.
    async fn read_by_id(
        &self,
        cx: &Context,
        stack: &str,
        ids: &[String],
    ) -> Result<Option<Vec<Observed>>> {
        let aws = &Aws::of(cx)?;
        let Some(items) = self.description.fetch(aws, ids).await else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for item in &items? {
            let owned = match D::IDENTITY {
                Identity::NaturalKey(_) => None,
                // One tagged for another stack is not ours to adopt.
                _ => match self.adoptable(stack, item) {
                    Some(owned) => Some(owned),
                    None => continue,
                },
            };
            out.extend(self.observe(aws, stack, item, owned).await?);
        }
        Ok(Some(out))
    }

    /// The address (if it names one for `stack`) and user tags of an item read by id: ours, or
    /// untagged and so adoptable; `None` when another stack owns it.
    fn adoptable(&self, stack: &str, item: &D::Item) -> Option<(Option<Address>, Value)> {
        let tags = self.description.tags(item);
        match self.owner_of(stack, item) {
            Some(a) => Some((Some(a.clone()), tags::visible(&a, tags))),
            None => tags::owner(stack, tags).split(),
        }
    }
}

/// The attributes of an item.
fn attrs<D: Description>(aws: &Aws, item: &D::Item) -> Props {
    let mut out = Props::new();
    for a in D::ATTRIBUTES {
        let value = (a.read)(aws, item);
        out.extend(a.names().map(|name| (name.to_string(), value.clone())));
    }
    out
}

/// Typed props as the planner's plain map; `None` fields are left out.
pub(crate) fn to_props<P: Serialize>(props: &P) -> Props {
    match serde_json::to_value(props) {
        Ok(Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Props::new(),
    }
}

/// The planner's plain map as typed props, or an error naming the resource.
fn typed<P: DeserializeOwned>(operation: &str, target: &str, props: &Props) -> Result<P> {
    serde_json::from_value(Value::Object(props.clone())).map_err(|e| {
        CloudError::new(
            operation,
            target,
            CloudErrorKind::Service("InvalidProps".into()),
            format!("the props do not fit the schema: {e}"),
        )
    })
}

#[async_trait]
impl<D: Description> Resource for Adapter<D> {
    fn kind(&self) -> &'static str {
        D::KIND
    }

    fn doc(&self) -> &'static str {
        self.doc.get_or_init(|| {
            let names: Vec<String> = D::ATTRIBUTES
                .iter()
                .map(|a| match (a.alias, a.note) {
                    (Some(alias), _) => format!("`{}` (= `{alias}`)", a.name),
                    (None, Some(note)) => format!("`{}` ({note})", a.name),
                    (None, None) => format!("`{}`", a.name),
                })
                .collect();
            // One string per type for the life of the process, so `doc` can stay `&'static`.
            Box::leak(format!("{} Attributes: {}.", D::SUMMARY, names.join(", ")).into_boxed_str())
        })
    }

    fn schema(&self) -> &'static [Field] {
        D::SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        self.attributes.get_or_init(|| {
            // As for `doc`: one small list per type, made once.
            Box::leak(D::ATTRIBUTES.iter().flat_map(Attr::names).collect())
        })
    }

    fn taggable(&self) -> bool {
        !matches!(D::IDENTITY, Identity::NaturalKey(_))
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        match D::IDENTITY {
            Identity::NaturalKey(key) | Identity::Named(_, key) => key(props),
            Identity::Tags(_) | Identity::Recorded(_) => None,
        }
    }

    fn validate(&self, props: &Props, others: &dyn DeclaredProps) -> Result<(), Invalid> {
        self.description.validate(props, others)
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<Observed>> {
        let aws = &Aws::of(cx)?;
        let mut out = Vec::new();
        for item in self.description.list(aws, stack, hints).await? {
            out.extend(self.observe(aws, stack, &item, None).await?);
        }
        let seen = |key: &String| {
            (out.iter()).any(|o: &Observed| &o.id == key || o.natural_key.as_ref() == Some(key))
        };
        let missing: Vec<String> = (hints.ids.iter()).filter(|id| !seen(id)).cloned().collect();
        if !missing.is_empty() {
            out.extend(
                self.read_by_id(cx, stack, &missing)
                    .await?
                    .unwrap_or_default(),
            );
        }
        Ok(out)
    }

    async fn read_ids(
        &self,
        cx: &Context,
        stack: &str,
        ids: &[String],
    ) -> Option<Result<Vec<Observed>>> {
        self.read_by_id(cx, stack, ids).await.transpose()
    }

    fn terraform_types(&self) -> &'static [&'static str] {
        D::TERRAFORM
    }

    fn terraform_id(&self, tf_type: &str, attributes: &Value) -> Option<String> {
        let props = attributes.as_object().cloned().unwrap_or_default();
        (self.description.terraform_id(tf_type, attributes))
            .or_else(|| self.natural_key(&props))
            .or_else(|| Some(attributes.get("id")?.as_str()?.to_string()))
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed> {
        let aws = &Aws::of(cx)?;
        let target = req.address.to_string();
        let props: D::Props = typed("create", &target, req.props)?;
        let new = New {
            address: req.address,
            props: &props,
            tags: &req.tags,
        };
        let item = self.description.create(aws, new).await?;
        let owned = match D::IDENTITY {
            Identity::NaturalKey(_) => None,
            _ => tags::split_owned(req.stack, req.tags.iter().cloned()).map(|(a, t)| (Some(a), t)),
        };
        let mut observed = self
            .observe(aws, req.stack, &item, owned)
            .await?
            .unwrap_or_default();
        observed.address = Some(req.address.clone());
        Ok(observed)
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed> {
        let aws = &Aws::of(cx)?;
        let have: D::Props = typed("update", &current.id, &current.props)?;
        let want: D::Props = typed("update", &current.id, desired)?;
        let fields: Vec<String> = changed.iter().filter(|f| *f != "tags").cloned().collect();
        let changes = Changes {
            on: current,
            fields: &fields,
            current: &have,
            desired: &want,
        };
        let now = self.description.update_fields(aws, changes).await?;
        if changed.iter().any(|f| f == "tags") {
            if let Identity::Tags(tagger)
            | Identity::Named(tagger, _)
            | Identity::Recorded(tagger) = D::IDENTITY
            {
                let (set, remove) = tags::tag_changes(&current.props, desired);
                if !set.is_empty() || !remove.is_empty() {
                    let change = Retag {
                        set: &set,
                        remove: &remove,
                    };
                    tagger.retag(aws, current, change).await?;
                }
            }
        }
        let mut next = current.updated(desired, changed);
        // A natural key or an attribute made of an updated prop changes with it (a renamed alias).
        next.natural_key = self.natural_key(&next.props).or(next.natural_key);
        if let Some(item) = now {
            next.attrs = attrs::<D>(aws, &item);
        }
        let followed = D::ATTRIBUTES
            .iter()
            .filter(|a| a.follows_prop && changed.iter().any(|c| c == a.name));
        for attr in followed {
            if let Some(v) = next.props.get(attr.name).cloned() {
                next.attrs.insert(attr.name.to_string(), v);
            }
        }
        Ok(next)
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<()> {
        let aws = &Aws::of(cx)?;
        let props: D::Props = typed("delete", &current.id, &current.props)?;
        gone_ok(self.description.delete(aws, &current.id, &props).await)
    }
}

/// A describe call's answer, with "not found" as `None`.
pub fn found<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The string values of `fields` in `props`, or `None` while one is unset or still a token: the
/// parts of a natural key, known only once every part is.
pub fn known<'a, const N: usize>(props: &'a Props, fields: [&str; N]) -> Option<[&'a str; N]> {
    let values = fields.map(|f| {
        props
            .get(f)
            .filter(|v| !crate::token::is_unknown(v))
            .and_then(Value::as_str)
    });
    values
        .iter()
        .all(Option::is_some)
        .then(|| values.map(Option::unwrap_or_default))
}

/// The `name` prop, once known: the natural key of types found by their name.
pub fn by_name(props: &Props) -> Option<String> {
    known(props, ["name"]).map(|[name]| name.to_string())
}

#[cfg(test)]
pub(crate) mod testing {
    //! The round trip every described type is tested with.

    use super::*;

    /// Creates `declared` at `address` through `res` on `aws` (mocked), checks that a plan would
    /// then change nothing (the type reads back what it wrote), and answers what was observed.
    pub(crate) async fn round_trip(
        res: &dyn Resource,
        aws: &Aws,
        address: &str,
        declared: serde_json::Value,
    ) -> Observed {
        let address: Address = address.parse().expect("a valid address");
        let declared = declared.as_object().expect("props are a map").clone();
        let req = CreateRequest {
            address: &address,
            stack: "test",
            props: &declared,
            tags: tags::ownership_tags("test", &address, &declared),
        };
        let observed =
            (res.create(&aws.context(), &req).await).expect("the mocked create succeeds");
        let changes = crate::planner::diff(res, &declared, &observed, &[]);
        assert_eq!(
            changes,
            vec![],
            "it reads back as declared: {:?}",
            observed.props
        );
        observed
    }

    /// What `res` reads for `stack` on `aws` (mocked) with `hints`.
    pub(crate) async fn read_all(
        res: &dyn Resource,
        aws: &Aws,
        stack: &str,
        hints: &ReadHints,
    ) -> Vec<Observed> {
        (res.read_all(&aws.context(), stack, hints).await).expect("the mocked read succeeds")
    }

    /// A declaration with no others beside it, for `validate`.
    pub(crate) struct NoOthers;

    impl DeclaredProps for NoOthers {
        fn props_of(&self, _: &Address) -> Option<&Props> {
            None
        }
    }

    /// Why `res` refuses the declaration `props` (made with no others beside it).
    pub(crate) fn refusal(res: &dyn Resource, props: &Props) -> String {
        res.validate(props, &NoOthers)
            .expect_err("the declaration is refused")
            .to_string()
    }

    /// Props written as JSON.
    pub(crate) fn obj(v: Value) -> Props {
        v.as_object().cloned().unwrap_or_default()
    }

    /// How `res` observes `item` for `stack` (mocked calls on `aws`): `None` when another stack owns it.
    pub(crate) async fn observe<D: Description>(
        res: &Adapter<D>,
        aws: &Aws,
        stack: &str,
        item: &D::Item,
    ) -> Option<Observed> {
        res.observe(aws, stack, item, None)
            .await
            .expect("the item's props read")
    }
}
