//! Plans as plain data: what apply would do, and how it is summarised.

use crate::address::Address;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What apply does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Delete it and create it again (a field that cannot change in place changed).
    Replace,
    /// Delete it.
    Delete,
    /// Nothing.
    Noop,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Noop => "noop",
        })
    }
}

/// A value that is present in the document, even as `null` (which serde would read as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The prop's name.
    pub name: String,
    /// Its current value (absent on create).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub before: Option<Value>,
    /// Its new value (absent on delete); tokens show as `(known after apply)`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub after: Option<Value>,
    /// Whether this field forces the replacement.
    pub forces_replacement: bool,
    /// Who else owns the field, when changing it conflicts with them (a Kubernetes field
    /// manager); apply then needs `--force-conflicts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// The change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The resource.
    pub address: Address,
    /// Its kind, e.g. `ec2.vpc`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What happens to it.
    pub action: Action,
    /// The address it was recorded at, when a `moved` re-addresses it in this apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Address>,
    /// The fields that change (all declared fields on create).
    pub fields: Vec<FieldChange>,
    /// Why, when it is not obvious (adopted after a crash, no longer declared, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What changes inside it, for a resource that holds others (a Helm release's objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside: Option<Inside>,
}

impl Change {
    /// Whether apply does anything about it: acts on the resource, or records it at a new address.
    pub fn is_change(&self) -> bool {
        self.action != Action::Noop || self.moved_from.is_some()
    }
}

/// What a change does to the objects a resource holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Inside {
    /// The objects that change, field by field.
    Known {
        /// One entry per object that changes.
        objects: Vec<InnerChange>,
    },
    /// What it holds could not be worked out (e.g. a chart that could not be fetched), and why.
    Unknown {
        /// Why, e.g. `chart not fetched: …`.
        why: String,
    },
}

/// The change to one object inside a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InnerChange {
    /// How the object is named, e.g. `Deployment karpenter/karpenter`.
    pub object: String,
    /// What happens to it.
    pub action: Action,
    /// Its fields that change (none listed for a whole object created or deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// How many changes of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Creates.
    pub create: usize,
    /// In-place updates.
    pub update: usize,
    /// Replacements.
    pub replace: usize,
    /// Deletions.
    pub delete: usize,
    /// Re-addressed by a `moved` (whatever else happens to them).
    pub moved: usize,
}

/// What refreshing cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// AWS request attempts made.
    pub api_calls: u64,
    /// Wall time of the command so far.
    pub elapsed_ms: u64,
}

/// The whole plan of a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The stack's name.
    pub stack: String,
    /// Every resource's change, noops included, in apply order.
    pub changes: Vec<Change>,
    /// Counts by action.
    pub summary: Summary,
    /// Outputs as far as they are known (not part of the `plan --json` document).
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Whether live state was read (false for a plan on an empty state, which needs no network).
    pub refreshed: bool,
    /// Calls and time.
    pub stats: Stats,
}

impl Plan {
    /// Counts the changes by action.
    pub fn summarize(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::Noop => {}
            }
            s.moved += usize::from(c.moved_from.is_some());
        }
        s
    }

    /// Whether apply would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(Change::is_change)
    }

    /// The JSON document of `eprun plan --json` (noops left out, unless they move).
    pub fn to_json(&self) -> Value {
        let changes: Vec<&Change> = self.changes.iter().filter(|c| c.is_change()).collect();
        serde_json::json!({
            "stack": self.stack,
            "changes": changes,
            "summary": self.summary,
            "refreshed": self.refreshed,
            "stats": self.stats,
        })
    }
}
