//! `eprun runs list|show ID`: runbook journals.

use crate::cli::{Global, RunsAction};
use crate::error::{Error, Result};

/// Lists runs or shows one.
pub async fn run(_action: RunsAction, _g: &Global) -> Result<u8> {
    Err(Error::usage("runbook journals are being built"))
}
