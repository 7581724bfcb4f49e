//! The one way a registered function fails: a script error at the caller's position.

use rhai::{EvalAltResult, Position};

/// A script error at a position.
pub fn fail(message: impl Into<String>, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into().into(), pos))
}
