//! The planner: compares declarations with what exists (refreshed in batches) and decides each change.

use crate::address::Address;
use crate::cloud_error::CloudError;
use crate::context::Context;
use crate::declaration::{Declarations, Move};
use crate::moved::{self, MoveError};
use crate::plan::{Action, Change, FieldChange, Plan, Stats};
use crate::resource::{self, Observed, Props, ReadHints, Resource};
use crate::schema::normalize_props;
use crate::state::{State, Status};
use crate::token::{self, TokenRef, display};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A plan that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The declarations do not form a graph (a cycle, an unknown `depends_on`).
    #[error(transparent)]
    Graph(#[from] Box<crate::graph::GraphError>),
    /// A protected resource would be deleted or replaced.
    #[error(
        "`{address}` is protected and would be {verb}{why}\nhint: keep its declaration, or set `protect: false` and apply before removing it"
    )]
    Protected {
        /// The resource.
        address: Address,
        /// `deleted` or `replaced`.
        verb: &'static str,
        /// Which field forces a replacement, if any.
        why: String,
    },
    /// A `moved` cannot be made.
    #[error(transparent)]
    Move(#[from] MoveError),
    /// State names a resource type this eprun does not know.
    #[error(
        "state holds `{address}` of unknown type `{kind}`; it was written by another eprun version"
    )]
    UnknownKind {
        /// The resource.
        address: Address,
        /// Its recorded type.
        kind: String,
    },
}

/// A resource found by the batched refresh.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its kind.
    pub kind: String,
    /// Its region.
    pub region: String,
    /// What was read.
    pub observed: Observed,
}

/// What a refresh reads: every (type, region) the stack declares or recorded, with the natural
/// keys known before apply.
pub fn refresh_groups(decls: &Declarations, state: &State) -> Groups {
    let mut groups: Groups = BTreeMap::new();
    for d in &decls.resources {
        let hints = groups
            .entry((d.address.kind().to_string(), d.region.clone()))
            .or_default();
        if let Some(res) = resource::lookup(d.address.kind()) {
            hints.natural_keys.extend(
                res.natural_key(&d.props)
                    .filter(|k| token::refs_in_str(k).is_empty()),
            );
        }
    }
    for r in state.resources.values() {
        let hints = groups
            .entry((r.kind.clone(), r.region.clone()))
            .or_default();
        hints.natural_keys.extend(r.natural_key.clone());
        hints.ids.extend((!r.id.is_empty()).then(|| r.id.clone()));
    }
    groups
}

/// Batched reads, grouped by (kind, region), with the natural keys each should look for.
pub type Groups = BTreeMap<(String, String), ReadHints>;

/// Reads each group with one batched, paginated call per type and region, all in parallel.
pub async fn read_groups(
    cx: &Context,
    stack: &str,
    groups: Groups,
) -> Result<Vec<Found>, CloudError> {
    let reads = groups.into_iter().filter_map(|((kind, region), hints)| {
        let res = resource::lookup(&kind)?;
        let cx = cx.in_region(&region);
        Some(async move {
            let found = res.read_all(&cx, stack, &hints).await?;
            Ok::<_, CloudError>(
                found
                    .into_iter()
                    .map(|observed| Found {
                        kind: kind.clone(),
                        region: region.clone(),
                        observed,
                    })
                    .collect::<Vec<_>>(),
            )
        })
    });
    let all = futures::future::try_join_all(reads).await?;
    Ok(all.into_iter().flatten().collect())
}

/// What the applier needs about one resource.
#[derive(Debug, Clone)]
pub struct Node {
    /// The resource.
    pub address: Address,
    /// Its region.
    pub region: String,
    /// What happens to it.
    pub action: Action,
    /// Declared props, tokens unresolved (absent for deletions).
    pub desired: Option<Props>,
    /// What it depends on now (declared) or did (recorded), for ordering.
    pub deps: Vec<Address>,
    /// What exists now.
    pub current: Option<Observed>,
    /// Fields to update in place.
    pub changed: Vec<String>,
    /// Keep it from deletion.
    pub protect: bool,
    /// Fields owned by someone else.
    pub ignore_changes: Vec<String>,
}

/// A plan together with what apply needs to carry it out.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan, as shown.
    pub plan: Plan,
    /// Every resource by address.
    pub nodes: BTreeMap<Address, Node>,
    /// Recorded resources that no longer exist; apply forgets them.
    pub vanished: Vec<Address>,
    /// Outputs with tokens unresolved.
    pub outputs: BTreeMap<String, Value>,
    /// Natural keys of planned creates that became known by resolving tokens: with a lost
    /// state, a refresh could not ask for them, so they are read before the plan is final.
    pub unread_keys: Groups,
    /// The script's moves of recorded resources; apply re-keys the state with them first.
    pub moves: Vec<Move>,
}

impl Planned {
    /// Records each moved resource at its new address, as this plan assumes.
    pub fn rekey(&self, state: &mut State) {
        for m in &self.moves {
            moved::rekey(state, &m.from, &m.to);
        }
    }
}

/// Compares declarations with what exists. `found` is `None` when nothing was refreshed
/// (then the state's records stand for what exists).
pub fn plan(
    stack: &str,
    decls: &Declarations,
    state: &State,
    found: Option<Vec<Found>>,
) -> Result<Planned, PlanError> {
    let graph = crate::graph::build(decls)?;
    let refreshed = found.is_some();

    // Moves come first: the state and what the refresh found are re-keyed to the addresses
    // declared now, so the matching below finds a moved resource where it is declared.
    let moves = moved::pending(decls, state)?;
    let mut rekeyed = state.clone();
    for m in &moves {
        moved::rekey(&mut rekeyed, &m.from, &m.to);
    }
    let state = &rekeyed;
    let mut stale_tags: HashMap<Address, Address> = HashMap::new();
    let found = found.map(|mut found| {
        for f in &mut found {
            if let Some(from) = moved::readdress(&decls.moves, state, &mut f.observed) {
                stale_tags.extend(f.observed.address.clone().map(|to| (to, from)));
            }
        }
        found
    });

    let mut by_address: HashMap<Address, Observed> = HashMap::new();
    let mut by_key: HashMap<(String, String), Observed> = HashMap::new();
    // Untagged resources the state records by id (imported or migrated, not yet applied).
    let mut by_id: HashMap<(String, String), Observed> = HashMap::new();
    match found {
        Some(found) => {
            for f in found {
                match (&f.observed.address, &f.observed.natural_key) {
                    (Some(a), _) if a.kind() == f.kind => {
                        by_address.insert(a.clone(), f.observed);
                    }
                    (_, Some(k)) => {
                        by_key.insert((f.kind.clone(), k.clone()), f.observed);
                    }
                    _ => {
                        by_id.insert((f.kind.clone(), f.observed.id.clone()), f.observed);
                    }
                }
            }
        }
        None => {
            for (addr, r) in state
                .resources
                .iter()
                .filter(|(_, r)| r.status == Status::Created)
            {
                by_address.insert(addr.clone(), r.observed(addr));
            }
        }
    }

    let mut nodes: BTreeMap<Address, Node> = BTreeMap::new();
    let mut changes = Vec::new();
    let mut unread_keys: Groups = BTreeMap::new();
    for address in &graph.order {
        let Some(decl) = decls.get(address) else {
            continue;
        };
        let Some(res) = resource::lookup(address.kind()) else {
            continue;
        };
        let resolved = resolve_known(&decl.props, &nodes);
        let recorded = state.resources.get(address);
        let current = by_address
            .remove(address)
            .or_else(|| {
                let key = res
                    .natural_key(&resolved)
                    .or_else(|| recorded.and_then(|r| r.natural_key.clone()))?;
                by_key.remove(&(address.kind().to_string(), key))
            })
            .or_else(|| by_id.remove(&(address.kind().to_string(), recorded?.id.clone())));
        let mut reason = None;
        if current.is_none() && refreshed {
            if let Some(key) = res
                .natural_key(&resolved)
                .filter(|k| token::refs_in_str(k).is_empty())
            {
                unread_keys
                    .entry((address.kind().to_string(), decl.region.clone()))
                    .or_default()
                    .natural_keys
                    .insert(key);
            }
        }
        let (action, fields) = match &current {
            None => {
                if recorded.is_some_and(|r| r.status == Status::Pending) {
                    reason = Some(
                        "an earlier create was interrupted and nothing was found; creating it"
                            .to_string(),
                    );
                }
                (Action::Create, create_fields(res, &resolved))
            }
            Some(cur) => {
                let how = if cur.address.is_some() {
                    "by its tags"
                } else {
                    "by name"
                };
                match recorded.map(|r| r.status) {
                    Some(Status::Pending) => {
                        reason = Some(format!("adopted: found {how} after an interrupted create"))
                    }
                    None if refreshed => {
                        reason = Some(format!("adopted: it already exists, found {how}"))
                    }
                    Some(Status::Created) if cur.address.is_none() => {
                        reason = Some("imported: recorded by its id".to_string())
                    }
                    _ => {}
                }
                let mut fields = res
                    .field_diff(&resolved, cur, &decl.ignore_changes)
                    .unwrap_or_else(|| diff(res, &resolved, cur, &decl.ignore_changes));
                // Found by name, it may lack the ownership tags that later refreshes look for.
                let has_tags = res.schema().iter().any(|f| f.name == "tags");
                if cur.address.is_none() && has_tags && !fields.iter().any(|f| f.name == "tags") {
                    fields.push(FieldChange {
                        name: "tags".into(),
                        before: cur.props.get("tags").cloned(),
                        after: resolved
                            .get("tags")
                            .cloned()
                            .or(Some(Value::Object(Props::new()))),
                        forces_replacement: false,
                        conflict: None,
                    });
                    reason = reason.map(|r| format!("{r}; its ownership tags will be set"));
                }
                // Moved, its ownership tag still names the old address: a retag moves it too.
                if let Some(from) = stale_tags.get(address)
                    && res.taggable()
                    && has_tags
                    && !fields.iter().any(|f| f.name == "tags")
                {
                    fields.push(moved::tag_change(stack, from, address, cur, &resolved));
                }
                let action = if fields.iter().any(|f| f.forces_replacement) {
                    Action::Replace
                } else if fields.is_empty() {
                    Action::Noop
                } else {
                    Action::Update
                };
                (action, fields)
            }
        };
        let protect = decl.protect || recorded.is_some_and(|r| r.protect);
        if action == Action::Replace && protect {
            let why = fields
                .iter()
                .find(|f| f.forces_replacement)
                .map(|f| format!(" (`{}` changed)", f.name))
                .unwrap_or_default();
            return Err(PlanError::Protected {
                address: address.clone(),
                verb: "replaced",
                why,
            });
        }
        let changed = fields.iter().map(|f| f.name.clone()).collect();
        changes.push(Change {
            address: address.clone(),
            kind: address.kind().to_string(),
            action,
            moved_from: moves
                .iter()
                .find(|m| &m.to == address)
                .map(|m| m.from.clone()),
            fields,
            reason,
            inside: None,
        });
        nodes.insert(
            address.clone(),
            Node {
                address: address.clone(),
                region: decl.region.clone(),
                action,
                desired: Some(decl.props.clone()),
                deps: graph.deps[address].clone(),
                current,
                changed,
                protect: decl.protect,
                ignore_changes: decl.ignore_changes.clone(),
            },
        );
    }

    let mut vanished = Vec::new();
    let mut deletions: BTreeMap<Address, (Node, Option<String>)> = BTreeMap::new();
    for (address, r) in &state.resources {
        if nodes.contains_key(address) {
            continue;
        }
        if resource::lookup(&r.kind).is_none() {
            return Err(PlanError::UnknownKind {
                address: address.clone(),
                kind: r.kind.clone(),
            });
        }
        let current = by_address
            .remove(address)
            .or_else(|| {
                r.natural_key
                    .as_ref()
                    .and_then(|k| by_key.remove(&(r.kind.clone(), k.clone())))
            })
            .or_else(|| by_id.remove(&(r.kind.clone(), r.id.clone())));
        let Some(current) = current else {
            vanished.push(address.clone());
            continue;
        };
        if r.protect {
            return Err(PlanError::Protected {
                address: address.clone(),
                verb: "deleted",
                why: " (no longer declared)".into(),
            });
        }
        let node = deletion(address, &r.region, current, r.deps.clone());
        deletions.insert(address.clone(), (node, Some("no longer declared".into())));
    }
    for (address, current) in by_address {
        let region = state
            .resources
            .get(&address)
            .map(|r| r.region.clone())
            .unwrap_or_default();
        let node = deletion(&address, &region, current, Vec::new());
        deletions.insert(
            address,
            (node, Some("tagged for this stack but not declared".into())),
        );
    }
    for (address, (node, reason)) in deletions {
        changes.push(Change {
            address: address.clone(),
            kind: address.kind().to_string(),
            action: Action::Delete,
            moved_from: None,
            fields: Vec::new(),
            reason,
            inside: None,
        });
        nodes.insert(address, node);
    }

    let outputs: BTreeMap<String, Value> = decls.outputs.clone();
    let known_outputs = outputs
        .iter()
        .map(|(k, v)| (k.clone(), display(&resolve_known_value(v, &nodes))))
        .collect();
    let summary = Plan::summarize(&changes);
    Ok(Planned {
        plan: Plan {
            stack: stack.to_string(),
            changes,
            summary,
            outputs: known_outputs,
            refreshed,
            stats: Stats::default(),
        },
        nodes,
        vanished,
        outputs,
        unread_keys,
        moves,
    })
}

/// Asks each planned create or update what it does inside the resource (a Helm release's
/// objects), all at once; only types that hold other objects answer.
pub async fn explain(cx: &Context, planned: &mut Planned) {
    let asks = planned
        .plan
        .changes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            if !matches!(c.action, Action::Create | Action::Update | Action::Replace) {
                return None;
            }
            let res = resource::lookup(&c.kind)?;
            let node = planned.nodes.get(&c.address)?;
            let desired = match display(&resolve_known_value(
                &Value::Object(node.desired.clone()?),
                &planned.nodes,
            )) {
                Value::Object(m) => m,
                _ => return None,
            };
            let current = (c.action != Action::Create)
                .then_some(node.current.as_ref())
                .flatten();
            let cx = cx.in_region(&node.region);
            Some(async move { (i, res.explain(&cx, &desired, current).await) })
        });
    for (i, inside) in futures::future::join_all(asks).await {
        planned.plan.changes[i].inside = inside;
    }
}

fn deletion(address: &Address, region: &str, current: Observed, deps: Vec<Address>) -> Node {
    Node {
        address: address.clone(),
        region: region.to_string(),
        action: Action::Delete,
        desired: None,
        deps,
        current: Some(current),
        changed: Vec::new(),
        protect: false,
        ignore_changes: Vec::new(),
    }
}

/// The value of a token from a resource that keeps its attributes through this apply.
fn known_attr(nodes: &BTreeMap<Address, Node>, r: &TokenRef) -> Option<Value> {
    let node = nodes.get(&r.address)?;
    if !matches!(node.action, Action::Noop | Action::Update) {
        return None;
    }
    node.current.as_ref()?.attrs.get(&r.attribute).cloned()
}

pub(crate) fn resolve_known(props: &Props, nodes: &BTreeMap<Address, Node>) -> Props {
    match resolve_known_value(&Value::Object(props.clone()), nodes) {
        Value::Object(m) => m,
        _ => Props::new(),
    }
}

fn resolve_known_value(v: &Value, nodes: &BTreeMap<Address, Node>) -> Value {
    token::resolve(v, &|r| known_attr(nodes, r))
}

fn create_fields(res: &dyn Resource, desired: &Props) -> Vec<FieldChange> {
    normalize_props(res.schema(), desired)
        .into_iter()
        .map(|(name, v)| FieldChange {
            name,
            before: None,
            after: Some(display(&v)),
            forces_replacement: false,
            conflict: None,
        })
        .collect()
}

/// The fields whose declared value differs from what exists, semantically.
pub fn diff(
    res: &dyn Resource,
    desired: &Props,
    current: &Observed,
    ignore: &[String],
) -> Vec<FieldChange> {
    let want = normalize_props(res.schema(), desired);
    let have = normalize_props(res.schema(), &current.props);
    let mut out = Vec::new();
    for field in res.schema() {
        let Some(w) = want.get(field.name) else {
            continue;
        };
        if ignore.iter().any(|i| i == field.name) {
            continue;
        }
        let h = have.get(field.name);
        if token::is_unknown(w) || h != Some(w) {
            out.push(FieldChange {
                name: field.name.to_string(),
                before: h.cloned(),
                after: Some(display(w)),
                forces_replacement: field.force_new,
                conflict: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ResourceState;
    use crate::testing::declare;
    use serde_json::json;

    fn addr(s: &str) -> Address {
        s.parse().unwrap()
    }

    fn props(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    fn network() -> Declarations {
        let mut d = Declarations::default();
        declare(&mut d, "ec2.vpc.main", json!({"cidr_block": "10.0.0.0/16"}));
        let vpc_id = token::marker(&addr("ec2.vpc.main"), "id");
        declare(
            &mut d,
            "ec2.subnet.a",
            json!({"vpc_id": vpc_id, "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a"}),
        );
        d
    }

    /// The network with its VPC declaring `enable_dns_hostnames`, which the live one does not have.
    fn network_with_dns_hostnames() -> Declarations {
        let mut d = network();
        d.resources[0]
            .props
            .insert("enable_dns_hostnames".into(), json!(true));
        d
    }

    fn found(address: &str, id: &str, p: Value) -> Found {
        let a = addr(address);
        Found {
            kind: a.kind().to_string(),
            region: "us-east-1".into(),
            observed: Observed {
                address: Some(a),
                id: id.into(),
                natural_key: None,
                props: props(p),
                attrs: props(json!({"id": id})),
            },
        }
    }

    fn live_vpc(cidr: &str) -> Found {
        found(
            "ec2.vpc.main",
            "vpc-1",
            json!({"cidr_block": cidr, "enable_dns_support": true, "enable_dns_hostnames": false, "instance_tenancy": "default", "tags": {}}),
        )
    }

    fn live_subnet() -> Found {
        found(
            "ec2.subnet.a",
            "subnet-1",
            json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": false, "tags": {}}),
        )
    }

    /// The change planned for the resource at `a`.
    fn change<'p>(p: &'p Planned, a: &str) -> &'p Change {
        p.plan
            .changes
            .iter()
            .find(|c| c.address == addr(a))
            .unwrap()
    }

    fn action(p: &Planned, a: &str) -> Action {
        change(p, a).action
    }

    /// Why the resource at `a` has its action, or "" where the plan gives no reason.
    fn reason<'p>(p: &'p Planned, a: &str) -> &'p str {
        change(p, a).reason.as_deref().unwrap_or_default()
    }

    /// Plans `d` from `state` where the VPC (with `cidr`) and the subnet are found by their tags.
    fn plan_live(d: &Declarations, state: &State, cidr: &str) -> Result<Planned, PlanError> {
        plan("s", d, state, Some(vec![live_vpc(cidr), live_subnet()]))
    }

    #[test]
    fn empty_state_plans_creates_with_unknown_tokens() {
        let p = plan("s", &network(), &State::new("s"), None).unwrap();
        assert_eq!(p.plan.summary.create, 2);
        let subnet = change(&p, "ec2.subnet.a");
        let vpc_id = subnet.fields.iter().find(|f| f.name == "vpc_id").unwrap();
        assert_eq!(vpc_id.after, Some(json!("(known after apply)")));
    }

    #[test]
    fn matching_resources_resolve_tokens_and_plan_nothing() {
        let p = plan_live(&network(), &State::new("s"), "10.0.0.0/16").unwrap();
        assert!(!p.plan.has_changes(), "{:?}", p.plan.changes);
    }

    #[test]
    fn replacing_a_dependency_replaces_what_depends_on_it() {
        let p = plan_live(&network(), &State::new("s"), "10.9.0.0/16").unwrap();
        assert_eq!(action(&p, "ec2.vpc.main"), Action::Replace);
        assert_eq!(action(&p, "ec2.subnet.a"), Action::Replace);
        let vpc = change(&p, "ec2.vpc.main");
        assert!(
            vpc.fields
                .iter()
                .any(|f| f.name == "cidr_block" && f.forces_replacement)
        );
    }

    #[test]
    fn updatable_field_plans_an_update() {
        let d = network_with_dns_hostnames();
        let p = plan_live(&d, &State::new("s"), "10.0.0.0/16").unwrap();
        assert_eq!(action(&p, "ec2.vpc.main"), Action::Update);
        assert_eq!(action(&p, "ec2.subnet.a"), Action::Noop);
    }

    #[test]
    fn ignored_fields_are_not_compared() {
        let mut d = network_with_dns_hostnames();
        d.resources[0].ignore_changes = vec!["enable_dns_hostnames".into()];
        let p = plan_live(&d, &State::new("s"), "10.0.0.0/16").unwrap();
        assert!(!p.plan.has_changes());
    }

    fn recorded(kind: &str, protect: bool) -> ResourceState {
        crate::testing::install();
        ResourceState {
            kind: kind.into(),
            region: "us-east-1".into(),
            status: Status::Created,
            id: "subnet-1".into(),
            natural_key: None,
            props: Props::new(),
            attrs: Props::new(),
            deps: vec![],
            protect,
            ignore_changes: vec![],
        }
    }

    #[test]
    fn removed_declaration_plans_a_deletion_and_protect_refuses_it() {
        let mut d = Declarations::default();
        declare(&mut d, "ec2.vpc.main", json!({"cidr_block": "10.0.0.0/16"}));
        let mut state = State::new("s");
        state
            .resources
            .insert(addr("ec2.subnet.a"), recorded("ec2.subnet", false));
        let p = plan_live(&d, &state, "10.0.0.0/16").unwrap();
        assert_eq!(action(&p, "ec2.subnet.a"), Action::Delete);

        state
            .resources
            .insert(addr("ec2.subnet.a"), recorded("ec2.subnet", true));
        let err = plan_live(&d, &state, "10.0.0.0/16").unwrap_err();
        assert!(err.to_string().contains("protected"), "{err}");
    }

    #[test]
    fn tagged_resource_missing_from_state_is_adopted_not_created() {
        let p = plan_live(&network(), &State::new("s"), "10.0.0.0/16").unwrap();
        assert_eq!(action(&p, "ec2.vpc.main"), Action::Noop);
        assert!(reason(&p, "ec2.vpc.main").starts_with("adopted"));
    }

    #[test]
    fn pending_create_found_by_tags_is_adopted() {
        let mut state = State::new("s");
        let mut pending = recorded("ec2.vpc", false);
        pending.status = Status::Pending;
        state.resources.insert(addr("ec2.vpc.main"), pending);
        let p = plan("s", &network(), &state, Some(vec![live_vpc("10.0.0.0/16")])).unwrap();
        assert_eq!(action(&p, "ec2.vpc.main"), Action::Noop);
        assert!(reason(&p, "ec2.vpc.main").contains("interrupted"));
        assert_eq!(action(&p, "ec2.subnet.a"), Action::Create);
    }

    /// The network with its subnet declared at `subnet` (and `moves`), the state recording the
    /// VPC and the subnet at `at`, and the refresh finding the subnet tagged `tagged`.
    fn plan_moved(subnet: &str, at: &str, tagged: &str, moves: &[(&str, &str)]) -> Planned {
        let mut d = Declarations::default();
        declare(&mut d, "ec2.vpc.main", json!({"cidr_block": "10.0.0.0/16"}));
        let vpc_id = token::marker(&addr("ec2.vpc.main"), "id");
        declare(
            &mut d,
            subnet,
            json!({"vpc_id": vpc_id, "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a"}),
        );
        for (from, to) in moves {
            let m = crate::declaration::Move {
                from: addr(from),
                to: addr(to),
                origin: Default::default(),
            };
            moved::add(&mut d, m).unwrap();
        }
        let mut state = State::new("s");
        state
            .resources
            .insert(addr("ec2.vpc.main"), recorded("ec2.vpc", false));
        state
            .resources
            .insert(addr(at), recorded("ec2.subnet", false));
        let mut subnet = live_subnet();
        subnet.observed.address = Some(addr(tagged));
        plan("s", &d, &state, Some(vec![live_vpc("10.0.0.0/16"), subnet])).unwrap()
    }

    #[test]
    fn moved_resource_is_retagged_where_it_is_declared_not_recreated() {
        let p = plan_moved(
            "ec2.subnet.b",
            "ec2.subnet.a",
            "ec2.subnet.a",
            &[("ec2.subnet.a", "ec2.subnet.b")],
        );
        let s = p.plan.summary;
        assert_eq!((s.create, s.update, s.delete, s.moved), (0, 1, 0, 1));
        let c = change(&p, "ec2.subnet.b");
        assert_eq!(c.moved_from, Some(addr("ec2.subnet.a")));
        let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["tags"]);

        let mut state = State::new("s");
        state
            .resources
            .insert(addr("ec2.subnet.a"), recorded("ec2.subnet", false));
        p.rekey(&mut state);
        assert!(state.resources.contains_key(&addr("ec2.subnet.b")));
        assert!(!state.resources.contains_key(&addr("ec2.subnet.a")));
    }

    #[test]
    fn resource_state_mv_re_addressed_is_retagged_not_recreated() {
        let p = plan_moved("ec2.subnet.b", "ec2.subnet.b", "ec2.subnet.a", &[]);
        let s = p.plan.summary;
        assert_eq!((s.create, s.update, s.delete, s.moved), (0, 1, 0, 0));
        assert_eq!(action(&p, "ec2.subnet.b"), Action::Update);
    }

    #[test]
    fn applied_move_kept_in_the_script_changes_nothing() {
        let p = plan_moved(
            "ec2.subnet.b",
            "ec2.subnet.b",
            "ec2.subnet.b",
            &[("ec2.subnet.a", "ec2.subnet.b")],
        );
        assert!(!p.plan.has_changes(), "{:?}", p.plan.changes);
    }
}
