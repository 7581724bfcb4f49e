//! `eprun run FILE`: a runbook's steps in order, with a journal, dry run and resume.

use crate::cli::Global;
use crate::error::{Error, Result};
use std::path::Path;

/// The flags of `eprun run`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Show mutating calls instead of making them.
    pub dry_run: bool,
    /// The run to continue.
    pub resume: Option<String>,
    /// `name=value` parameters.
    pub params: Vec<String>,
    /// Answer yes to every `confirm`.
    pub yes: bool,
}

/// Runs a runbook.
pub async fn run(file: &Path, _g: &Global, _opts: Options) -> Result<u8> {
    Err(Error::usage(format!("`{}`: runbooks are being built", file.display())))
}
