//! The functions scripts call: the stack, resource declarations and helpers.

mod k8s;
mod resources;
mod stack;
mod util;

use crate::engine::Session;
use rhai::{Engine, EvalAltResult, Position};

/// Registers the whole eprun API into an engine.
pub fn register(engine: &mut Engine, session: &Session) {
    crate::handle::register(engine);
    let mut aws = rhai::Module::new();
    stack::register(engine, &mut aws, session);
    util::register(engine);
    resources::register(&mut aws, session);
    engine.register_static_module("aws", aws.into());
    let mut kube = rhai::Module::new();
    k8s::register(&mut kube, session);
    engine.register_static_module("k8s", kube.into());
}

/// A script error at a position.
pub(crate) fn fail(message: impl Into<String>, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into().into(), pos))
}
