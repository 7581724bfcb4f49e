//! Migration: matching resources that exist outside eprun (read live, e.g. from a Terraform
//! state's ids) to the stack's declarations by their identity, so they are recorded, not created.

use crate::address::Address;
use crate::cloud_error::CloudError;
use crate::context::Context;
use crate::declaration::Declarations;
use crate::plan::Action;
use crate::planner::{self, Found, Node, PlanError};
use crate::resource::{self, Observed, Props, ReadHints, Resource};
use crate::state::{ResourceState, State};
use crate::tags;
use crate::token;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A resource that exists outside eprun, as read live, and the names it had there (Terraform
/// addresses; several when more than one names it, e.g. a KMS key and its alias).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// What was read.
    pub found: Found,
    /// Where it came from, e.g. `module.vpc.aws_subnet.private[0]`.
    pub sources: Vec<String>,
}

/// A declaration matched to an existing resource.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The declaration's address.
    pub address: Address,
    /// The names it had outside eprun.
    pub sources: Vec<String>,
    /// The record to keep in state.
    pub record: ResourceState,
}

/// Something that was not matched, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmatched {
    /// A declaration's address or an outside name.
    pub what: String,
    /// Why it was not matched.
    pub why: String,
}

/// How the existing resources and the declarations were matched.
#[derive(Debug, Clone, Default)]
pub struct Migration {
    /// Declarations matched to one existing resource each.
    pub matched: Vec<Matched>,
    /// Declarations more than one existing resource fits: nothing is recorded while any is left.
    pub ambiguous: Vec<Unmatched>,
    /// Declarations nothing fits (a plan creates them).
    pub not_found: Vec<Unmatched>,
    /// Existing resources no declaration fits (left alone: eprun does not own them).
    pub unclaimed: Vec<Unmatched>,
}

/// Matches `candidates` to the declarations, in dependency order so that a match resolves the
/// tokens of what depends on it (a subnet's `vpc_id` once its VPC is matched). A declaration
/// matches the one candidate of its type and region with its natural key or, for types found by
/// tags, whose fields that force replacement agree with the declared ones; when several agree,
/// the one whose `Name` tag is the declared name.
pub fn match_candidates(
    decls: &Declarations,
    candidates: Vec<Candidate>,
) -> Result<Migration, PlanError> {
    let graph = crate::graph::build(decls)?;
    let mut pool: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
    let mut nodes: BTreeMap<Address, Node> = BTreeMap::new();
    let mut out = Migration::default();
    for address in &graph.order {
        let (Some(decl), Some(res)) = (decls.get(address), resource::lookup(address.kind())) else {
            continue;
        };
        let desired = planner::resolve_known(&decl.props, &nodes);
        let same: Vec<usize> = (pool.iter().enumerate())
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(_, c)| c.found.kind == address.kind() && c.found.region == decl.region)
            .map(|(i, _)| i)
            .collect();
        let observed = |i: &usize| {
            &pool[*i]
                .as_ref()
                .expect("taken from the pool")
                .found
                .observed
        };
        let mut hits: Vec<usize> = match res.natural_key(&desired) {
            Some(key) => same
                .iter()
                .copied()
                .filter(|i| observed(i).natural_key.as_deref() == Some(key.as_str()))
                .collect(),
            None => (same.iter().copied())
                .filter(|i| agrees(res, &desired, observed(i)))
                .collect(),
        };
        if hits.len() > 1 {
            let name = declared_name(address, &desired);
            let named: Vec<usize> = (hits.iter().copied())
                .filter(|i| name_tag(observed(i)) == Some(name.as_str()))
                .collect();
            if !named.is_empty() {
                hits = named;
            }
        }
        match hits.as_slice() {
            [i] => {
                let Some(c) = pool[*i].take() else { continue };
                let deps = graph.deps.get(address).cloned().unwrap_or_default();
                let record = ResourceState::found(
                    address.kind(),
                    &decl.region,
                    &c.found.observed,
                    deps.clone(),
                    decl.protect,
                    decl.ignore_changes.clone(),
                );
                nodes.insert(
                    address.clone(),
                    Node {
                        address: address.clone(),
                        region: decl.region.clone(),
                        action: Action::Noop,
                        desired: Some(decl.props.clone()),
                        deps,
                        current: Some(c.found.observed),
                        changed: Vec::new(),
                        protect: decl.protect,
                        ignore_changes: decl.ignore_changes.clone(),
                    },
                );
                out.matched.push(Matched {
                    address: address.clone(),
                    sources: c.sources,
                    record,
                });
            }
            [] => out.not_found.push(Unmatched {
                what: address.to_string(),
                why: if same.is_empty() {
                    format!("nothing of type `{}` left to match", address.kind())
                } else {
                    format!(
                        "no `{}` agrees on {}",
                        address.kind(),
                        identity_fields(res, &desired)
                    )
                },
            }),
            several => {
                let names: Vec<String> = (several.iter())
                    .filter_map(|i| pool[*i].as_ref())
                    .map(|c| format!("`{}` ({})", c.sources.join("`, `"), c.found.observed.id))
                    .collect();
                out.ambiguous.push(Unmatched {
                    what: address.to_string(),
                    why: format!("{} fit it: {}", several.len(), names.join(", ")),
                });
            }
        }
    }
    let declared_kinds: Vec<&str> = decls.resources.iter().map(|d| d.address.kind()).collect();
    for c in pool.into_iter().flatten() {
        let why = if declared_kinds.contains(&c.found.kind.as_str()) {
            format!("no declaration of `{}` agrees with it", c.found.kind)
        } else {
            format!("the stack declares no `{}`", c.found.kind)
        };
        out.unclaimed.push(Unmatched {
            what: format!("{} ({})", c.sources.join(", "), c.found.observed.id),
            why,
        });
    }
    Ok(out)
}

/// The resources of `kind` in `region` that `keys` name, by cloud id or natural key, whoever made
/// them (one with no ownership tags has no address): one batched read, plus reads by id.
pub async fn read_named(
    cx: &Context,
    stack: &str,
    kind: &str,
    region: &str,
    keys: &BTreeSet<String>,
) -> Result<Vec<Observed>, CloudError> {
    let Some(res) = resource::lookup(kind) else {
        return Ok(Vec::new());
    };
    let hints = ReadHints {
        natural_keys: keys.clone(),
        ids: keys.clone(),
    };
    let all = res.read_all(&cx.in_region(region), stack, &hints).await?;
    let named = |o: &Observed| {
        keys.contains(&o.id) || o.natural_key.as_ref().is_some_and(|k| keys.contains(k))
    };
    Ok(all.into_iter().filter(named).collect())
}

/// Records every match in `state` (as created, with its id and props); addresses the state
/// already holds are left as they are. Returns the addresses recorded.
pub fn record(state: &mut State, migration: &Migration) -> Vec<Address> {
    let mut added = Vec::new();
    for m in &migration.matched {
        if !state.resources.contains_key(&m.address) {
            state.resources.insert(m.address.clone(), m.record.clone());
            added.push(m.address.clone());
        }
    }
    added
}

/// Whether what exists has every declared, known field that forces replacement.
fn agrees(res: &dyn Resource, desired: &Props, current: &Observed) -> bool {
    planner::diff(res, desired, current, &[])
        .iter()
        .all(|f| !f.forces_replacement || desired.get(&f.name).is_none_or(token::is_unknown))
}

/// The declared fields that identify a resource (those that force replacement), for messages.
fn identity_fields(res: &dyn Resource, desired: &Props) -> String {
    let names: Vec<String> = (res.schema().iter())
        .filter(|f| f.force_new && desired.contains_key(f.name))
        .map(|f| format!("`{}`", f.name))
        .collect();
    if names.is_empty() {
        "its `Name` tag".into()
    } else {
        names.join(", ")
    }
}

/// The `Name` a declaration gives its resource: its `Name` tag, else its address name.
fn declared_name(address: &Address, desired: &Props) -> String {
    (tags::user_tags(desired).remove("Name")).unwrap_or_else(|| address.name().to_string())
}

/// The `Name` tag of what exists.
fn name_tag(observed: &Observed) -> Option<&str> {
    observed
        .props
        .get("tags")?
        .get("Name")
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::declare;
    use serde_json::json;

    fn candidate(kind: &str, id: &str, source: &str, p: Value) -> Candidate {
        Candidate {
            found: Found {
                kind: kind.into(),
                region: "us-east-1".into(),
                observed: Observed {
                    address: None,
                    id: id.into(),
                    natural_key: None,
                    props: p.as_object().unwrap().clone(),
                    attrs: json!({"id": id}).as_object().unwrap().clone(),
                },
            },
            sources: vec![source.into()],
        }
    }

    /// A VPC and two subnets in it, the second's identity only told apart by its CIDR.
    fn network() -> Declarations {
        let mut d = Declarations::default();
        declare(&mut d, "ec2.vpc.main", json!({"cidr_block": "10.0.0.0/16"}));
        let vpc = token::marker(&"ec2.vpc.main".parse().unwrap(), "id");
        for (name, cidr) in [("a", "10.0.1.0/24"), ("b", "10.0.2.0/24")] {
            declare(
                &mut d,
                &format!("ec2.subnet.{name}"),
                json!({"vpc_id": vpc, "cidr_block": cidr, "availability_zone": "us-east-1a"}),
            );
        }
        d
    }

    fn subnet(id: &str, cidr: &str) -> Candidate {
        candidate(
            "ec2.subnet",
            id,
            &format!("aws_subnet.{id}"),
            json!({"vpc_id": "vpc-1", "cidr_block": cidr, "availability_zone": "us-east-1a", "tags": {}}),
        )
    }

    fn vpc(id: &str, cidr: &str, name: &str) -> Candidate {
        candidate(
            "ec2.vpc",
            id,
            &format!("aws_vpc.{id}"),
            json!({"cidr_block": cidr, "tags": {"Name": name}}),
        )
    }

    #[test]
    fn a_match_resolves_the_tokens_of_what_depends_on_it() {
        let found = vec![
            subnet("subnet-2", "10.0.2.0/24"),
            vpc("vpc-1", "10.0.0.0/16", "x"),
            subnet("subnet-1", "10.0.1.0/24"),
        ];
        let m = match_candidates(&network(), found).unwrap();
        let pairs: Vec<(String, String)> = (m.matched.iter())
            .map(|m| (m.address.to_string(), m.record.id.clone()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("ec2.vpc.main".to_string(), "vpc-1".to_string()),
                ("ec2.subnet.a".into(), "subnet-1".into()),
                ("ec2.subnet.b".into(), "subnet-2".into())
            ]
        );
        assert!(m.unclaimed.is_empty() && m.ambiguous.is_empty());
    }

    #[test]
    fn several_that_agree_are_told_apart_by_name_or_reported_ambiguous() {
        let two = || {
            vec![
                vpc("vpc-1", "10.0.0.0/16", "other"),
                vpc("vpc-2", "10.0.0.0/16", "main"),
            ]
        };
        let m = match_candidates(&network(), two()).unwrap();
        assert_eq!(m.matched[0].record.id, "vpc-2");
        assert_eq!(m.unclaimed.len(), 1, "{:?}", m.unclaimed);

        let same = vec![
            vpc("vpc-1", "10.0.0.0/16", "x"),
            vpc("vpc-2", "10.0.0.0/16", "y"),
        ];
        let m = match_candidates(&network(), same).unwrap();
        assert!(m.matched.is_empty());
        assert_eq!(m.ambiguous[0].what, "ec2.vpc.main");
        assert!(m.ambiguous[0].why.contains("vpc-1") && m.ambiguous[0].why.contains("vpc-2"));
    }

    #[test]
    fn a_different_identity_is_not_matched_and_says_which_fields() {
        let m = match_candidates(&network(), vec![vpc("vpc-9", "10.9.0.0/16", "main")]).unwrap();
        assert!(m.matched.is_empty());
        let vpc = &m.not_found[0];
        assert_eq!(vpc.what, "ec2.vpc.main");
        assert!(vpc.why.contains("`cidr_block`"), "{}", vpc.why);
        assert!(m.unclaimed[0].why.contains("agrees"), "{:?}", m.unclaimed);
    }
}
