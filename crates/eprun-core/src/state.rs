//! State: what a stack owns, as plain data.

use crate::address::Address;
use crate::resource::{Observed, Props};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The current format version of state files.
pub const FORMAT_VERSION: u32 = 1;

/// Whether a resource exists or was only about to be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created and confirmed.
    Created,
    /// A create call was about to be made; the next run looks it up before creating it again.
    Pending,
}

/// One resource the stack owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Its kind, e.g. `ec2.vpc`.
    pub kind: String,
    /// The region it lives in.
    pub region: String,
    /// Created or pending.
    pub status: Status,
    /// The cloud's id, once known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The natural key for types found without tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub natural_key: Option<String>,
    /// The props as last applied (resolved, never secret).
    #[serde(default)]
    pub props: Props,
    /// Its attributes.
    #[serde(default)]
    pub attrs: Props,
    /// The addresses it depends on, so deletion runs in the right order.
    #[serde(default)]
    pub deps: Vec<Address>,
    /// Refuse deletion.
    #[serde(default)]
    pub protect: bool,
    /// Fields owned by someone else.
    #[serde(default)]
    pub ignore_changes: Vec<String>,
}

impl ResourceState {
    /// The record of a resource that exists: created, with what was read of it.
    pub fn found(
        kind: &str,
        region: &str,
        current: &Observed,
        deps: Vec<Address>,
        protect: bool,
        ignore_changes: Vec<String>,
    ) -> Self {
        Self {
            kind: kind.to_string(),
            region: region.to_string(),
            status: Status::Created,
            id: current.id.clone(),
            natural_key: current.natural_key.clone(),
            props: current.props.clone(),
            attrs: current.attrs.clone(),
            deps,
            protect,
            ignore_changes,
        }
    }

    /// The resource as an observation, for deletion when it could not be refreshed.
    pub fn observed(&self, address: &Address) -> Observed {
        Observed {
            address: Some(address.clone()),
            id: self.id.clone(),
            natural_key: self.natural_key.clone(),
            props: self.props.clone(),
            attrs: self.attrs.clone(),
        }
    }
}

/// Everything eprun remembers about one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// The stack's name, e.g. `prod/us-east-1`.
    pub stack: String,
    /// Bumped on every write.
    pub serial: u64,
    /// Fixed when the state is first created; a state from another lineage is refused.
    pub lineage: String,
    /// Resources by address.
    #[serde(default)]
    pub resources: BTreeMap<Address, ResourceState>,
    /// Published outputs.
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
}

impl State {
    /// A new, empty state for a stack.
    pub fn new(stack: &str) -> Self {
        Self {
            version: FORMAT_VERSION,
            stack: stack.to_string(),
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Whether the stack owns nothing yet.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}
