//! The applier: carries out a plan in parallel, in dependency order, saving state after every step.

use crate::address::Address;
use crate::cloud_error::CloudError;
use crate::context::Context;
use crate::plan::Action;
use crate::planner::Planned;
use crate::progress::Progress;
use crate::resource::{self, CreateRequest, Observed, Props};
use crate::state::{ResourceState, State, Status};
use crate::state_store::{StateError, StateStore};
use crate::tags::ownership_tags;
use crate::token;
use crate::walk::Walk;
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Apply stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// One or more operations failed; everything that did not depend on them was carried out
    /// and state was saved.
    #[error("apply stopped: {}{}\nstate saved with {done} change(s) applied; fix the cause and apply again", failures.join("\n  "), held_back(held))]
    Failed {
        /// Each failure, one line each.
        failures: Vec<String>,
        /// The changes not started because something they depend on failed: (change, failed one).
        held: Vec<(String, String)>,
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

/// The lines naming the changes a failure held back, if any.
fn held_back(held: &[(String, String)]) -> String {
    held.iter()
        .map(|(change, cause)| format!("\n  not started: {change}, because `{cause}` failed"))
        .collect()
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
    /// Resources recorded at a new address by a `moved`.
    pub moved: usize,
}

/// How an apply runs.
pub struct ApplyOptions {
    /// The most operations in flight at once.
    pub parallelism: usize,
    /// Where progress goes.
    pub progress: Progress,
}

/// One step of an apply: deleting a resource, or building it (create, update or no-op).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    /// Delete it (the first half of a replacement, or a resource no longer declared).
    Delete(Address),
    /// Create, update or keep it.
    Build(Address),
}

impl Change {
    /// The address the step is about.
    fn address(&self) -> &Address {
        match self {
            Change::Delete(a) | Change::Build(a) => a,
        }
    }

    /// How a message names the step.
    fn describe(&self) -> String {
        match self {
            Change::Delete(a) => format!("deleting `{a}`"),
            Change::Build(a) => format!("`{a}`"),
        }
    }
}

/// How starting a step went.
enum Start {
    /// A call is under way.
    Running(BoxFuture<'static, (Change, Instant, Result<Outcome, CloudError>)>),
    /// Nothing to call (a no-op, or a delete of what is already gone).
    Done,
    /// It cannot run; the text says why.
    Failed(String),
}

enum Outcome {
    Created(Observed),
    Updated(Observed),
    Deleted,
}

struct Run<'a> {
    cx: &'a Context,
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
    cx: &Context,
    store: &dyn StateStore,
    state: &mut State,
    planned: &Planned,
    opts: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    planned.rekey(state);
    for gone in &planned.vanished {
        state.resources.remove(gone);
    }
    let mut run = Run {
        cx,
        store,
        state,
        planned,
        opts,
        attrs: HashMap::new(),
        report: ApplyReport {
            moved: planned.moves.len(),
            ..ApplyReport::default()
        },
        failures: Vec::new(),
    };

    let deletes: Vec<Address> = planned
        .nodes
        .values()
        .filter(|n| matches!(n.action, Action::Delete | Action::Replace))
        .map(|n| n.address.clone())
        .collect();
    let mut waits: BTreeMap<Change, Vec<Change>> = run
        .deletion_order(&deletes)
        .into_iter()
        .map(|(a, w)| {
            (
                Change::Delete(a),
                w.into_iter().map(Change::Delete).collect(),
            )
        })
        .collect();
    let mut order = BTreeMap::new();
    for n in planned
        .nodes
        .values()
        .filter(|n| n.action != Action::Delete)
    {
        let build = Change::Build(n.address.clone());
        let mut deps: Vec<Change> = n.deps.iter().cloned().map(Change::Build).collect();
        if n.action == Action::Replace {
            deps.push(Change::Delete(n.address.clone()));
        }
        waits.insert(build.clone(), deps);
        // Deletions go first (a replaced subnet frees its block for the next one), but a failed
        // deletion holds back only what depends on it.
        order.insert(build, deletes.iter().cloned().map(Change::Delete).collect());
    }
    run.walk(Walk::new(waits).with_order(order)).await?;

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

/// Every string inside a JSON value (nested policies included).
fn strings<'a>(value: &'a Value, out: &mut BTreeSet<&'a str>) {
    match value {
        Value::String(s) => {
            out.insert(s);
        }
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
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
    /// For each resource to delete, the ones that must be deleted before it (its dependents):
    /// the reverse of the dependencies recorded in the plan and state, or, for a resource found
    /// by its tags alone, of the references its observed props make to the others' ids.
    fn deletion_order(&self, deletes: &[Address]) -> BTreeMap<Address, Vec<Address>> {
        let set: BTreeSet<&Address> = deletes.iter().collect();
        let recorded = |a: &Address| -> Option<Vec<Address>> {
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
            let deps = recorded(y).unwrap_or_else(|| self.referenced(y, deletes));
            for x in deps.iter().filter(|x| set.contains(x)) {
                if let Some(w) = waits.get_mut(x) {
                    w.push(y.clone());
                }
            }
        }
        waits
    }

    /// The resources among `others` of another type whose id or ARN appears in the observed props
    /// of `address` (a subnet's `vpc_id`, a node group's `node_role_arn`).
    fn referenced(&self, address: &Address, others: &[Address]) -> Vec<Address> {
        let current = |a: &Address| self.planned.nodes.get(a).and_then(|n| n.current.as_ref());
        let Some(props) = current(address).map(|c| Value::Object(c.props.clone())) else {
            return Vec::new();
        };
        let mut values = BTreeSet::new();
        strings(&props, &mut values);
        others
            .iter()
            .filter(|x| x.kind() != address.kind())
            .filter(|x| {
                current(x).is_some_and(|c| {
                    [c.id.as_str(), c.attr("arn")]
                        .into_iter()
                        .any(|v| !v.is_empty() && values.contains(v))
                })
            })
            .cloned()
            .collect()
    }

    fn done_count(&self) -> usize {
        self.report.created + self.report.updated + self.report.deleted
    }

    /// Runs every step once what it waits for is done; a failure holds back only its dependents.
    async fn walk(&mut self, mut walk: Walk<Change>) -> Result<(), ApplyError> {
        let mut inflight: JoinSet<(Change, Instant, Result<Outcome, CloudError>)> = JoinSet::new();
        let mut names: BTreeMap<Address, Instant> = BTreeMap::new();
        let mut interrupted = false;
        loop {
            interrupted |= crate::interrupt::requested();
            let mut progressed = false;
            if !interrupted {
                for change in walk.ready() {
                    if inflight.len() >= self.opts.parallelism.max(1) {
                        walk.defer(&change);
                        continue;
                    }
                    progressed = true;
                    match self.start(&change).await? {
                        Start::Running(fut) => {
                            names.insert(change.address().clone(), Instant::now());
                            inflight.spawn(fut);
                        }
                        Start::Done => walk.done(&change),
                        Start::Failed(why) => {
                            walk.failed(&change);
                            self.failures.push(why);
                        }
                    }
                }
            }
            if inflight.is_empty() {
                let waiting = walk.waiting();
                if waiting.is_empty() || interrupted {
                    break;
                }
                if !progressed {
                    let names: Vec<String> = waiting.iter().map(Change::describe).collect();
                    self.failures.push(format!(
                        "these changes wait on each other, so none can start: {}",
                        names.join(", ")
                    ));
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
            let (change, began, result) = match joined {
                Ok(x) => x,
                Err(e) => {
                    self.failures.push(format!("an apply task failed: {e}"));
                    continue;
                }
            };
            names.remove(change.address());
            match result {
                Ok(outcome) => {
                    self.finish(change.address(), outcome, began.elapsed())
                        .await?;
                    walk.done(&change);
                }
                Err(mut e) => {
                    // Name the address even when the call was about a cloud id.
                    e.address = Some(change.address().to_string());
                    self.opts.progress.line(&format!("  ✗ {e}"));
                    self.failures.push(e.to_string());
                    walk.failed(&change);
                }
            }
        }
        if !self.failures.is_empty() {
            self.store.save(self.state).await?;
            self.opts.progress.finish();
            return Err(ApplyError::Failed {
                failures: self.failures.clone(),
                held: walk
                    .skipped()
                    .into_iter()
                    .map(|(change, cause)| (change.describe(), cause.address().to_string()))
                    .collect(),
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

    /// Starts one step.
    async fn start(&mut self, change: &Change) -> Result<Start, ApplyError> {
        let address = change.address();
        let node = &self.planned.nodes[address];
        let Some(res) = resource::lookup(address.kind()) else {
            return Ok(Start::Done);
        };
        let cx = self.cx.in_region(&node.region);
        let step = change.clone();
        let began = Instant::now();
        if let Change::Delete(_) = change {
            let Some(current) = node.current.clone() else {
                return Ok(Start::Done);
            };
            self.opts
                .progress
                .line(&format!("  - {address}: deleting…"));
            return Ok(Start::Running(Box::pin(async move {
                let r = res.delete(&cx, &current).await.map(|_| Outcome::Deleted);
                (step, began, r)
            })));
        }
        let resolved = self.resolve(node.desired.as_ref().unwrap_or(&Props::new()));
        if node.action == Action::Noop {
            let current = node.current.clone().unwrap_or_default();
            self.attrs.insert(address.clone(), current.attrs.clone());
            self.record(address, &current, Status::Created, &resolved);
            self.opts.progress.step();
            return Ok(Start::Done);
        }
        if let Some(r) = token::refs(&Value::Object(resolved.clone()))
            .into_iter()
            .next()
        {
            return Ok(Start::Failed(format!(
                "`{address}`: `{}.{}` has no value after its resource was applied",
                r.address, r.attribute
            )));
        }
        let stack = self.state.stack.clone();
        match (node.action, node.current.clone()) {
            (Action::Update, Some(current)) => {
                let changed = node.changed.clone();
                let resolved = with_ownership_tags(res, &stack, address, resolved);
                self.opts
                    .progress
                    .line(&format!("  ~ {address}: updating {}…", changed.join(", ")));
                Ok(Start::Running(Box::pin(async move {
                    let r = res
                        .update(&cx, &current, &resolved, &changed)
                        .await
                        .map(Outcome::Updated);
                    (step, began, r)
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
                Ok(Start::Running(Box::pin(async move {
                    let addr = step.address().clone();
                    let tags = ownership_tags(&stack, &addr, &resolved);
                    let req = CreateRequest {
                        address: &addr,
                        stack: &stack,
                        props: &resolved,
                        tags,
                    };
                    let r = res.create(&cx, &req).await.map(Outcome::Created);
                    (step, began, r)
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
