//! The provider-neutral context a resource works in: one connection per provider, in one region.

use crate::cloud_error::{CloudError, CloudErrorKind};
use std::any::Any;
use std::sync::Arc;

/// One provider's connection (AWS, a Kubernetes cluster), as the core carries it.
pub trait Connection: Any + Send + Sync {
    /// The same connection for another region; a connection without regions answers itself.
    fn in_region(self: Arc<Self>, region: &str) -> Arc<dyn Connection>;
}

/// The connections of one stack or session; resources take the one of their provider.
#[derive(Clone, Default)]
pub struct Context {
    parts: Vec<Arc<dyn Connection>>,
}

impl Context {
    /// A context with no connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same context with `part` added.
    pub fn with<C: Connection>(mut self, part: impl Into<Arc<C>>) -> Self {
        self.parts.push(part.into());
        self
    }

    /// Every connection, for another region.
    pub fn in_region(&self, region: &str) -> Self {
        Self {
            parts: self
                .parts
                .iter()
                .map(|p| p.clone().in_region(region))
                .collect(),
        }
    }

    /// The connection of type `C`, or an error saying which is missing and how to give it.
    pub fn get<C: Connection>(&self, what: &str, hint: &str) -> Result<Arc<C>, CloudError> {
        self.parts
            .iter()
            .find_map(|p| {
                let any: Arc<dyn Any + Send + Sync> = p.clone();
                any.downcast::<C>().ok()
            })
            .ok_or_else(|| CloudError::new("connect", what, CloudErrorKind::Credentials, hint))
    }
}
