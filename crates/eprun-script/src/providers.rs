//! The providers this build carries, installed into the core's registry of resource types.

use crate::resource::{self, Registry, Resource};

/// Kinds served by one type each, by prefix.
static FAMILIES: &[(&str, &dyn Resource)] = &[("k8s.", &crate::k8s::object::KUBE_OBJECT)];

/// Installs every AWS resource type and the Kubernetes object family; later calls change nothing.
pub fn install() {
    resource::install(Registry {
        types: crate::aws::RESOURCES,
        families: FAMILIES,
    });
}
