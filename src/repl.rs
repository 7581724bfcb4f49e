//! The interactive session.

use crate::cli::Global;
use crate::error::{Error, Result};

/// Runs the REPL.
pub async fn run(_g: &Global) -> Result<u8> {
    Err(Error::usage("repl: under construction"))
}
