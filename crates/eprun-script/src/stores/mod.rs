//! The state backends: the local JSON file (atomic writes, checksum, backup) and S3, each with its lock.

mod local;
mod s3;

pub use local::LocalStore;
pub use s3::S3Store;

use crate::environment::{Environment, StateBackend};
use crate::project::Project;
use crate::state_store::StateStore;

/// The store an environment names.
pub fn open(project: &Project, env: &Environment) -> Box<dyn StateStore> {
    match &env.state {
        StateBackend::Local => Box::new(LocalStore::new(project, &env.name)),
        StateBackend::S3(cfg) => Box::new(S3Store::new(cfg, &env.region)),
    }
}
