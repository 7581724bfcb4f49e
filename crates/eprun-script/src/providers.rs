//! The providers this build carries, installed into the core's registry of resource types.

use crate::resource::{self, Registry, Resource};

/// Kinds served by one type each, by prefix: Kubernetes objects, and Helm releases (declared
/// through their own functions, so `eprun docs` lists them there).
static FAMILIES: &[(&str, &dyn Resource)] = &[
    ("k8s.", &crate::k8s::object::KUBE_OBJECT),
    (
        crate::k8s::helm::release::KIND,
        &crate::k8s::helm::release::HELM_RELEASE,
    ),
];

/// Installs every AWS resource type, Kubernetes objects and Helm releases; later calls change nothing.
pub fn install() {
    resource::install(Registry {
        types: crate::aws::RESOURCES,
        families: FAMILIES,
    });
}
