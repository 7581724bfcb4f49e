//! eprun's Rhai host: the engine and its sandbox, the registered API, diagnostics, sessions,
//! the connections scripts use, and runbooks with their journals.

// The core's modules, at the paths this crate's files name them by.
use eprun_aws as aws;
use eprun_core::{
    address, context, declaration, dr_copy, environment, interrupt, moved, mutation, project,
    resource, schema, secret, state, state_store, style, token, verdict,
};
use eprun_k8s as k8s;

pub mod api;
pub mod connections;
pub mod diagnostic;
pub mod dr;
pub mod engine;
pub mod handle;
pub mod journal;
pub mod policy;
pub mod providers;
pub mod raise;
pub mod recursion;
pub mod runbook;
pub mod session;
pub mod stores;
pub mod value;
