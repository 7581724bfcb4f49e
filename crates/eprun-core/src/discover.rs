//! `plan --discover`: rebuilds a lost state from what the ownership tags say the stack owns.

use crate::address::Address;
use crate::planner::Planned;
use crate::state::{ResourceState, State, Status};

/// Records every resource the refresh found for the stack; returns (address, id) of each new record.
pub fn record(state: &mut State, planned: &Planned) -> Vec<(Address, String)> {
    let mut added = Vec::new();
    for node in planned.nodes.values() {
        let Some(current) = &node.current else {
            continue;
        };
        if state
            .resources
            .get(&node.address)
            .is_some_and(|r| r.status == Status::Created)
        {
            continue;
        }
        let record = ResourceState::found(
            node.address.kind(),
            &node.region,
            current,
            node.deps.clone(),
            node.protect,
            node.ignore_changes.clone(),
        );
        state.resources.insert(node.address.clone(), record);
        added.push((node.address.clone(), current.id.clone()));
    }
    added
}

/// What discovery found, for people.
pub fn summary(found: &[(Address, String)], location: &str) -> String {
    if found.is_empty() {
        return "discover: nothing new found; the state already knows everything the tags show"
            .into();
    }
    let mut out = format!(
        "discover: recorded {} resource(s) in `{location}`:\n",
        found.len()
    );
    for (a, id) in found {
        out.push_str(&format!("  {a}  {id}\n"));
    }
    out
}
