//! The functions scripts call: the stack, resource declarations and helpers.

mod aws_verbs;
mod helm;
mod k8s;
mod k8s_verbs;
mod moved;
mod resources;
mod rotation;
mod runbook;
mod secrets;
mod stack;
mod util;

use crate::session::Session;
use rhai::Engine;

pub(crate) use crate::raise::fail;
pub(crate) use stack::origin;
pub(crate) use util::register as register_helpers;

/// Registers the whole eprun API into an engine.
pub fn register(engine: &mut Engine, session: &Session) {
    crate::handle::register(engine);
    let mut aws = rhai::Module::new();
    stack::register(engine, &mut aws, session);
    moved::register(engine, session);
    util::register(engine);
    // One sub-module per service (`aws::eks`, …): resource declarations and verbs side by side.
    let mut services = Services::new();
    resources::register(&mut services, session);
    aws_verbs::register(&mut services, session);
    secrets::register(engine, &mut services, session);
    for (service, module) in services {
        aws.set_sub_module(service, module);
    }
    engine.register_static_module("aws", aws.into());
    runbook::register(engine, session);
    let mut kube = rhai::Module::new();
    k8s::register(&mut kube, session);
    k8s_verbs::register(&mut kube, session);
    engine.register_static_module("k8s", kube.into());
    let mut helm = rhai::Module::new();
    helm::register(&mut helm, session);
    engine.register_static_module("helm", helm.into());
    let mut rotation = rhai::Module::new();
    rotation::register(&mut rotation, session);
    engine.register_static_module("rotation", rotation.into());
}

/// The `aws::<service>` sub-modules while they are filled, by service name.
pub(crate) type Services = std::collections::BTreeMap<&'static str, rhai::Module>;
