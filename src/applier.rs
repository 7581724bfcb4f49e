//! The applier: carries out a plan in parallel, in dependency order, saving state after every step.

use crate::address::Address;
use crate::aws::{Aws, CloudError, ownership_tags};
use crate::plan::Action;
use crate::planner::Planned;
use crate::progress::Progress;
use crate::resource::{self, CreateRequest, Observed, Props};
use crate::state::{ResourceState, State, Status};
use crate::state_store::{StateError, StateStore};
use crate::token;
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Apply stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// One or more operations failed; the rest was let finish and state was saved.
    #[error("apply stopped: {}\nstate saved with {done} change(s) applied; fix the cause and apply again", failures.join("\n  "))]
    Failed {
        /// Each failure, one line each.
        failures: Vec<String>,
        /// Changes that were applied.
        done: usize,
    },
    /// Ctrl-C: in-flight work finished and state was saved.
    #[error(
        "apply interrupted by Ctrl-C; state saved with {done} change(s) applied; apply again to finish"
    )]
    Interrupted {
        /// Changes that were applied.
        done: usize,
    },
    /// State could not be saved.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What an apply did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyReport {
    /// Resources created (replacements included).
    pub created: usize,
    /// Resources updated in place.
    pub updated: usize,
    /// Resources deleted (replacements included).
    pub deleted: usize,
}

/// How an apply runs.
pub struct ApplyOptions {
    /// The most operations in flight at once.
    pub parallelism: usize,
    /// Where progress goes.
    pub progress: Progress,
}

enum Outcome {
    Created(Observed),
    Updated(Observed),
    Deleted,
}

struct Run<'a> {
    aws: &'a Aws,
    store: &'a dyn StateStore,
    state: &'a mut State,
    planned: &'a Planned,
    opts: &'a ApplyOptions,
    attrs: HashMap<Address, Props>,
    report: ApplyReport,
    failures: Vec<String>,
}

/// Carries out a plan; `state` is updated and saved as each step completes.
pub async fn apply(
    aws: &Aws,
    store: &dyn StateStore,
    state: &mut State,
    planned: &Planned,
    opts: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    for gone in &planned.vanished {
        state.resources.remove(gone);
    }
    let mut run = Run {
        aws,
        store,
        state,
        planned,
        opts,
        attrs: HashMap::new(),
        report: ApplyReport::default(),
        failures: Vec::new(),
    };

    let deletes: Vec<Address> = planned
        .nodes
        .values()
        .filter(|n| matches!(n.action, Action::Delete | Action::Replace))
        .map(|n| n.address.clone())
        .collect();
    let delete_waits = run.deletion_order(&deletes);
    run.phase(delete_waits, true).await?;

    let builds: BTreeMap<Address, Vec<Address>> = planned
        .nodes
        .values()
        .filter(|n| n.action != Action::Delete)
        .map(|n| (n.address.clone(), n.deps.clone()))
        .collect();
    run.phase(builds, false).await?;

    let outputs: BTreeMap<String, Value> = planned
        .outputs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                token::resolve(v, &|r| {
                    run.attrs
                        .get(&r.address)
                        .and_then(|a| a.get(&r.attribute))
                        .cloned()
                }),
            )
        })
        .collect();
    run.state.outputs = outputs;
    run.store.save(run.state).await?;
    opts.progress.finish();
    Ok(run.report)
}

/// Desired props whose `tags` include the ownership tags, so a tag update never drops them
/// (some APIs, like S3's PutBucketTagging, replace the whole set).
fn with_ownership_tags(
    res: &dyn resource::Resource,
    stack: &str,
    address: &Address,
    mut props: Props,
) -> Props {
    if res.schema().iter().any(|f| f.name == "tags") {
        let tags: serde_json::Map<String, Value> = ownership_tags(stack, address, &props)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        props.insert("tags".into(), Value::Object(tags));
    }
    props
}

impl Run<'_> {
    /// For each resource to delete, the ones that must be deleted before it (its dependents).
    fn deletion_order(&self, deletes: &[Address]) -> BTreeMap<Address, Vec<Address>> {
        let set: BTreeSet<&Address> = deletes.iter().collect();
        let rank = |a: &Address| {
            resource::registry()
                .iter()
                .position(|r| r.kind() == a.kind())
                .unwrap_or(0)
        };
        let deps_of = |a: &Address| -> Option<Vec<Address>> {
            let mut d: Vec<Address> = self
                .planned
                .nodes
                .get(a)
                .map(|n| n.deps.clone())
                .unwrap_or_default();
            if let Some(r) = self.state.resources.get(a) {
                d.extend(r.deps.iter().cloned());
            }
            (!d.is_empty() || self.state.resources.contains_key(a)).then_some(d)
        };
        let mut waits: BTreeMap<Address, Vec<Address>> =
            deletes.iter().map(|a| (a.clone(), Vec::new())).collect();
        for y in deletes {
            match deps_of(y) {
                Some(deps) => {
                    for x in deps.iter().filter(|x| set.contains(x)) {
                        if let Some(w) = waits.get_mut(x) {
                            w.push(y.clone());
                        }
                    }
                }
                // Found by tags with no record of its dependencies: order by type instead.
                None => {
                    for x in deletes.iter().filter(|x| rank(x) < rank(y)) {
                        if let Some(w) = waits.get_mut(x) {
                            w.push(y.clone());
                        }
                    }
                }
            }
        }
        waits
    }

    fn done_count(&self) -> usize {
        self.report.created + self.report.updated + self.report.deleted
    }

    /// Runs one phase: each item starts once everything it waits for is done.
    async fn phase(
        &mut self,
        waits: BTreeMap<Address, Vec<Address>>,
        deleting: bool,
    ) -> Result<(), ApplyError> {
        let mut done: BTreeSet<Address> = BTreeSet::new();
        let mut started: BTreeSet<Address> = BTreeSet::new();
        let mut inflight: JoinSet<(Address, Instant, Result<Outcome, CloudError>)> = JoinSet::new();
        let mut names: BTreeMap<Address, Instant> = BTreeMap::new();
        let mut interrupted = false;
        loop {
            interrupted |= crate::interrupt::requested();
            if self.failures.is_empty() && !interrupted {
                let ready: Vec<Address> = waits
                    .iter()
                    .filter(|(a, w)| {
                        !started.contains(*a)
                            && w.iter().all(|d| done.contains(d) || !waits.contains_key(d))
                    })
                    .map(|(a, _)| a.clone())
                    .collect();
                for address in ready {
                    if inflight.len() >= self.opts.parallelism.max(1) {
                        break;
                    }
                    started.insert(address.clone());
                    match self.start(&address, deleting).await? {
                        Some(fut) => {
                            names.insert(address.clone(), Instant::now());
                            inflight.spawn(fut);
                        }
                        None => {
                            done.insert(address);
                        }
                    }
                }
            }
            if inflight.is_empty() {
                let pending = waits.keys().any(|a| !started.contains(a));
                if !pending || !self.failures.is_empty() || interrupted {
                    break;
                }
                continue;
            }
            let waiting: Vec<String> = names
                .iter()
                .map(|(a, t)| format!("{a} ({}s)", t.elapsed().as_secs()))
                .collect();
            self.opts.progress.waiting(&waiting.join(", "));
            let next = tokio::select! {
                n = inflight.join_next() => n,
                _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
            };
            let Some(joined) = next else { continue };
            let (address, began, result) = match joined {
                Ok(x) => x,
                Err(e) => {
                    self.failures.push(format!("an apply task failed: {e}"));
                    continue;
                }
            };
            names.remove(&address);
            match result {
                Ok(outcome) => {
                    self.finish(&address, outcome, began.elapsed()).await?;
                    done.insert(address);
                }
                Err(mut e) => {
                    // Name the address even when the call was about a cloud id.
                    e.address = Some(address.to_string());
                    self.opts.progress.line(&format!("  ✗ {e}"));
                    self.failures.push(e.to_string());
                }
            }
        }
        if !self.failures.is_empty() {
            self.store.save(self.state).await?;
            self.opts.progress.finish();
            return Err(ApplyError::Failed {
                failures: self.failures.clone(),
                done: self.done_count(),
            });
        }
        if interrupted {
            self.store.save(self.state).await?;
            self.opts.progress.finish();
            return Err(ApplyError::Interrupted {
                done: self.done_count(),
            });
        }
        Ok(())
    }

    /// Starts one step; returns `None` when there is nothing to call (a noop).
    async fn start(
        &mut self,
        address: &Address,
        deleting: bool,
    ) -> Result<
        Option<BoxFuture<'static, (Address, Instant, Result<Outcome, CloudError>)>>,
        ApplyError,
    > {
        let node = &self.planned.nodes[address];
        let Some(res) = resource::lookup(address.kind()) else {
            return Ok(None);
        };
        let aws = self.aws.in_region(&node.region);
        let addr = address.clone();
        let began = Instant::now();
        if deleting {
            let Some(current) = node.current.clone() else {
                return Ok(None);
            };
            self.opts
                .progress
                .line(&format!("  - {address}: deleting…"));
            return Ok(Some(Box::pin(async move {
                let r = res.delete(&aws, &current).await.map(|_| Outcome::Deleted);
                (addr, began, r)
            })));
        }
        let resolved = self.resolve(node.desired.as_ref().unwrap_or(&Props::new()));
        if node.action == Action::Noop {
            let current = node.current.clone().unwrap_or_default();
            self.attrs.insert(address.clone(), current.attrs.clone());
            self.record(address, &current, Status::Created, &resolved);
            self.opts.progress.step();
            return Ok(None);
        }
        if let Some(r) = token::refs(&Value::Object(resolved.clone()))
            .into_iter()
            .next()
        {
            self.failures.push(format!(
                "`{address}`: `{}.{}` has no value after its resource was applied",
                r.address, r.attribute
            ));
            return Ok(None);
        }
        let stack = self.state.stack.clone();
        match (node.action, node.current.clone()) {
            (Action::Update, Some(current)) => {
                let changed = node.changed.clone();
                let resolved = with_ownership_tags(res, &stack, address, resolved);
                self.opts
                    .progress
                    .line(&format!("  ~ {address}: updating {}…", changed.join(", ")));
                Ok(Some(Box::pin(async move {
                    let r = res
                        .update(&aws, &current, &resolved, &changed)
                        .await
                        .map(Outcome::Updated);
                    (addr, began, r)
                })))
            }
            _ => {
                let pending = Observed {
                    address: Some(address.clone()),
                    natural_key: res.natural_key(&resolved),
                    ..Observed::default()
                };
                self.record(address, &pending, Status::Pending, &resolved);
                self.store.save(self.state).await?;
                self.opts
                    .progress
                    .line(&format!("  + {address}: creating…"));
                Ok(Some(Box::pin(async move {
                    let tags = ownership_tags(&stack, &addr, &resolved);
                    let req = CreateRequest {
                        address: &addr,
                        stack: &stack,
                        props: &resolved,
                        tags,
                    };
                    let r = res.create(&aws, &req).await.map(Outcome::Created);
                    (addr, began, r)
                })))
            }
        }
    }

    async fn finish(
        &mut self,
        address: &Address,
        outcome: Outcome,
        took: Duration,
    ) -> Result<(), ApplyError> {
        let secs = format!("{:.1}s", took.as_secs_f64());
        match outcome {
            Outcome::Deleted => {
                self.state.resources.remove(address);
                self.report.deleted += 1;
                self.opts
                    .progress
                    .line(&format!("  - {address}: deleted in {secs}"));
            }
            Outcome::Created(obs) | Outcome::Updated(obs) => {
                let node = &self.planned.nodes[address];
                if node.action == Action::Update {
                    self.report.updated += 1;
                    self.opts
                        .progress
                        .line(&format!("  ~ {address}: updated in {secs}"));
                } else {
                    self.report.created += 1;
                    self.opts
                        .progress
                        .line(&format!("  + {address}: created in {secs} ({})", obs.id));
                }
                self.attrs.insert(address.clone(), obs.attrs.clone());
                let resolved = self.resolve(node.desired.as_ref().unwrap_or(&Props::new()));
                self.record(address, &obs, Status::Created, &resolved);
            }
        }
        self.store.save(self.state).await?;
        self.opts.progress.step();
        Ok(())
    }

    fn resolve(&self, props: &Props) -> Props {
        let lookup = |r: &token::TokenRef| {
            self.attrs
                .get(&r.address)
                .and_then(|a| a.get(&r.attribute))
                .cloned()
        };
        match token::resolve(&Value::Object(props.clone()), &lookup) {
            Value::Object(m) => m,
            _ => Props::new(),
        }
    }

    fn record(&mut self, address: &Address, obs: &Observed, status: Status, resolved: &Props) {
        let node = &self.planned.nodes[address];
        let props = if obs.props.is_empty() {
            resolved.clone()
        } else {
            obs.props.clone()
        };
        self.state.resources.insert(
            address.clone(),
            ResourceState {
                kind: address.kind().to_string(),
                region: node.region.clone(),
                status,
                id: obs.id.clone(),
                natural_key: obs.natural_key.clone(),
                props,
                attrs: obs.attrs.clone(),
                deps: node.deps.clone(),
                protect: node.protect,
                ignore_changes: node.ignore_changes.clone(),
            },
        );
    }
}
