//! The connections imperative calls use: AWS and Kubernetes per environment, opened on first use.

use crate::aws::Aws;
use crate::context::Context;
use crate::environment::Environment;
use crate::k8s::{Kube, Target};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Opens AWS for an environment's region, and its Kubernetes cluster when it has `[k8s]`.
pub async fn open(env: &Environment) -> Context {
    open_with(env, false).await
}

/// Like [`open`]; `force_conflicts` lets server-side applies take fields other managers own.
pub async fn open_with(env: &Environment, force_conflicts: bool) -> Context {
    let aws = Aws::load(&env.region).await;
    let cx = Context::new().with(aws.clone());
    match Target::of(env) {
        Some(target) => {
            cx.with(Kube::new(target, Arc::new(aws)).with_force_conflicts(force_conflicts))
        }
        None => cx,
    }
}

/// One connection per environment for a session, and the environments `in_env` scopes select.
#[derive(Default)]
pub struct Connections {
    by_env: tokio::sync::Mutex<HashMap<String, Context>>,
    scopes: Mutex<Vec<Environment>>,
}

impl Connections {
    /// The connection for `env`, opened once per session.
    pub async fn for_env(&self, env: &Environment) -> Context {
        let mut map = self.by_env.lock().await;
        if let Some(cx) = map.get(&env.name) {
            return cx.clone();
        }
        let cx = open(env).await;
        map.insert(env.name.clone(), cx.clone());
        cx
    }

    /// The environment of the innermost `in_env` scope, if any.
    pub fn scoped(&self) -> Option<Environment> {
        self.lock_scopes().last().cloned()
    }

    /// Enters an `in_env` scope; the guard leaves it.
    pub fn enter(self: &Arc<Self>, env: Environment) -> ScopeGuard {
        self.lock_scopes().push(env);
        ScopeGuard(self.clone())
    }

    fn lock_scopes(&self) -> std::sync::MutexGuard<'_, Vec<Environment>> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Leaves an `in_env` scope when dropped, also when the closure failed.
pub struct ScopeGuard(Arc<Connections>);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        self.0.lock_scopes().pop();
    }
}
