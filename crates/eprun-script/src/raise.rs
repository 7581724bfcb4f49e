//! The one way a registered function fails: a script error at the caller's position.

use rhai::{EvalAltResult, Position};

/// A script error at a position: a message, or an error as its message says it.
pub fn fail(message: impl std::fmt::Display, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.to_string().into(), pos))
}
