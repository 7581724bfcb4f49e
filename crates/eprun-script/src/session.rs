//! One run's session: what the registered functions of a script share.

use crate::declaration::Declarations;
use crate::project::Project;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Why a session has no connection to act on.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Neither `in_env`, `stack(...)` nor `--env` named an environment.
    #[error("no environment: pass `--env NAME` (e.g. `--env prod/us-east-1`) or call `stack(...)`")]
    NoEnvironment,
    /// The environment `--env` names cannot be loaded.
    #[error(transparent)]
    Environment(#[from] crate::environment::EnvironmentError),
    /// The environment's connection cannot be made.
    #[error(transparent)]
    Connect(#[from] eprun_core::cloud_error::CloudError),
}

/// Source texts by name, kept so errors can quote the line they point at.
#[derive(Debug, Clone, Default)]
pub struct Sources(Arc<Mutex<BTreeMap<String, String>>>);

impl Sources {
    /// Remembers a source text.
    pub fn insert(&self, name: &str, text: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), text.to_string());
    }

    /// Every source seen so far, as (name, text).
    pub fn all(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The text of a source, if known.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

/// Everything the registered functions of one run share.
#[derive(Clone)]
pub struct Session {
    /// The project the script belongs to.
    pub project: Project,
    /// `--env`: replaces the environment the script names.
    pub env_override: Option<String>,
    /// Sources seen so far.
    pub sources: Sources,
    /// What the script declared.
    pub declarations: Arc<Mutex<Declarations>>,
    /// The async runtime, for functions that call AWS from synchronous Rhai.
    pub runtime: tokio::runtime::Handle,
    /// AWS and Kubernetes connections for imperative calls, per environment.
    pub connections: Arc<crate::connections::Connections>,
    /// Whether mutating calls are made or only shown (dry run), and where they are recorded.
    pub mutations: Arc<crate::mutation::Mutations>,
    /// `plan --local-state`: every stack's state is read from the project's local files, never
    /// from the backend its environment names (a plan without access to the team's state).
    pub local_state: bool,
}

impl Session {
    /// A session for scripts of `project`.
    pub fn new(
        project: Project,
        env_override: Option<String>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            project,
            env_override,
            sources: Sources::default(),
            declarations: Arc::new(Mutex::new(Declarations::default())),
            runtime,
            connections: Arc::default(),
            mutations: Arc::default(),
            local_state: false,
        }
    }

    /// The state store of an environment: the backend it names, or the project's local file
    /// under `--local-state`.
    pub fn store(
        &self,
        env: &crate::environment::Environment,
    ) -> Box<dyn crate::state_store::StateStore> {
        if self.local_state {
            Box::new(crate::stores::LocalStore::new(&self.project, &env.name))
        } else {
            crate::stores::open(&self.project, env)
        }
    }

    /// The environment imperative calls act on: the innermost `in_env`, else the stack's, else `--env`.
    pub fn environment(&self) -> Result<crate::environment::Environment, SessionError> {
        if let Some(env) = self.connections.scoped() {
            return Ok(env);
        }
        if let Some(env) = self.declarations().environment.clone() {
            return Ok(env);
        }
        match &self.env_override {
            Some(name) => Ok(crate::environment::Environment::load(&self.project, name)?),
            None => Err(SessionError::NoEnvironment),
        }
    }

    /// Loads an environment file the script asked for, remembering its text among the sources
    /// (a saved plan's digest covers every file a run read).
    pub fn load_environment(
        &self,
        name: &str,
    ) -> Result<crate::environment::Environment, crate::environment::EnvironmentError> {
        let (env, file) = crate::environment::Environment::read(&self.project, name)?;
        self.sources.insert(&file.name, &file.text);
        Ok(env)
    }

    /// The AWS connection of the current environment.
    pub fn aws(&self) -> Result<crate::aws::Aws, SessionError> {
        Ok(crate::aws::Aws::of(&self.context()?)?)
    }

    /// The connections of the current environment.
    pub fn context(&self) -> Result<crate::context::Context, SessionError> {
        let env = self.environment()?;
        Ok(self.runtime.block_on(self.connections.for_env(&env)))
    }

    /// Locks the declarations.
    pub fn declarations(&self) -> std::sync::MutexGuard<'_, Declarations> {
        self.declarations.lock().unwrap_or_else(|p| p.into_inner())
    }
}
