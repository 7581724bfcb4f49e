//! Resource types for the core's own tests: a network and a subnet with the schemas of EC2's, so
//! plans can be made without any provider.

use crate::cloud_error::{CloudError, CloudErrorKind};
use crate::context::Context;
use crate::resource::{self, CreateRequest, Observed, Props, ReadHints, Registry, Resource};
use crate::schema::{Field, Kind, TAGS};
use async_trait::async_trait;

/// A type that only plans: every cloud call fails.
struct Planned {
    kind: &'static str,
    schema: &'static [Field],
}

#[async_trait]
impl Resource for Planned {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn doc(&self) -> &'static str {
        "a resource type for tests"
    }

    fn schema(&self) -> &'static [Field] {
        self.schema
    }

    async fn read_all(
        &self,
        _cx: &Context,
        _stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        Err(offline(self.kind))
    }

    async fn create(
        &self,
        _cx: &Context,
        _req: &CreateRequest<'_>,
    ) -> Result<Observed, CloudError> {
        Err(offline(self.kind))
    }

    async fn update(
        &self,
        _cx: &Context,
        _current: &Observed,
        _desired: &Props,
        _changed: &[String],
    ) -> Result<Observed, CloudError> {
        Err(offline(self.kind))
    }

    async fn delete(&self, _cx: &Context, _current: &Observed) -> Result<(), CloudError> {
        Err(offline(self.kind))
    }
}

/// The error of every cloud call of a test type.
fn offline(kind: &str) -> CloudError {
    CloudError::new(
        "call",
        kind,
        CloudErrorKind::Unreachable,
        "no cloud in tests",
    )
}

static VPC: Planned = Planned {
    kind: "ec2.vpc",
    schema: &[
        Field::required("cidr_block", Kind::Cidr, "the block"),
        Field::optional("enable_dns_support", Kind::Bool, "dns").default("true"),
        Field::optional("enable_dns_hostnames", Kind::Bool, "hostnames").default("false"),
        Field::optional(
            "instance_tenancy",
            Kind::Enum(&["default", "dedicated"]),
            "tenancy",
        )
        .default("\"default\"")
        .force_new(),
        TAGS,
    ],
};

static SUBNET: Planned = Planned {
    kind: "ec2.subnet",
    schema: &[
        Field::required("vpc_id", Kind::Str, "the network"),
        Field::required("cidr_block", Kind::Cidr, "the block"),
        Field::required("availability_zone", Kind::Str, "the zone"),
        Field::optional("map_public_ip_on_launch", Kind::Bool, "public").default("false"),
        TAGS,
    ],
};

/// The test types, in docs order.
static TYPES: &[&dyn Resource] = &[&VPC, &SUBNET];

/// Installs the test types (once per test process).
pub fn install() {
    resource::install(Registry {
        types: TYPES,
        families: &[],
    });
}

/// Declares `address` with `props` (JSON) in `us-east-1`, with the test types installed.
pub fn declare(d: &mut crate::declaration::Declarations, address: &str, props: serde_json::Value) {
    install();
    d.add(crate::declaration::Declaration {
        address: address.parse().expect("a valid address"),
        region: "us-east-1".into(),
        props: props.as_object().cloned().unwrap_or_default(),
        deps: Default::default(),
        named_deps: vec![],
        protect: false,
        ignore_changes: vec![],
        origin: crate::declaration::Origin::default(),
    })
    .expect("a new address");
}

/// The change of `address` by `action` with `fields`.
pub fn change(
    address: &str,
    action: crate::plan::Action,
    fields: Vec<crate::plan::FieldChange>,
) -> crate::plan::Change {
    crate::plan::Change {
        address: address.parse().expect("a valid address"),
        kind: address.rsplit_once('.').map_or("", |(k, _)| k).into(),
        action,
        fields,
        reason: None,
        inside: None,
        moved_from: None,
    }
}

/// A refreshed plan of `local/us-east-1` made of `changes`.
pub fn plan(changes: Vec<crate::plan::Change>) -> crate::plan::Plan {
    crate::plan::Plan {
        stack: "local/us-east-1".into(),
        summary: crate::plan::Plan::summarize(&changes),
        changes,
        outputs: Default::default(),
        refreshed: true,
        stats: Default::default(),
    }
}
