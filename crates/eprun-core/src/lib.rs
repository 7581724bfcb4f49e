//! The cloud-neutral core of eprun: addresses, tokens, schemas, declarations, plans, state, the
//! `Resource` trait with its provider-neutral `Context`, and the walk that applies a plan.
//!
//! It compiles without any AWS or Kubernetes crate; providers build on it.

pub mod address;
pub mod applier;
pub mod cloud_error;
pub mod cluster;
pub mod context;
pub mod declaration;
pub mod digest;
pub mod discover;
pub mod dr_copy;
pub mod environment;
pub mod graph;
pub mod interrupt;
pub mod invalid;
pub mod migration;
pub mod moved;
pub mod mutation;
pub mod plan;
pub mod plan_markdown;
pub mod plan_view;
pub mod planner;
pub mod progress;
pub mod project;
pub mod resource;
pub mod saved_plan;
pub mod schema;
pub mod secret;
pub mod state;
pub mod state_store;
pub mod style;
pub mod tags;
pub mod terraform_state;
#[cfg(test)]
mod testing;
pub mod token;
pub mod verdict;
pub mod walk;
