//! Moves: `moved(from, to)` in a script and `eprun state mv` re-address a recorded resource
//! without touching it, so a rename or a move into a module is never a delete and a create.

use crate::address::Address;
use crate::declaration::{Declarations, Move, Origin};
use crate::plan::FieldChange;
use crate::resource::{Observed, Props};
use crate::state::State;
use crate::tags::{Tags, ownership_tags};
use serde_json::Value;

/// A move that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// A resource cannot change its type by moving.
    #[error(
        "cannot move `{from}` to `{to}`: a `{}` cannot become a `{}`\nhint: a move changes only the address; to change the type, declare the new one and let the plan replace it",
        from.kind(),
        to.kind()
    )]
    KindsDiffer {
        /// The old address.
        from: Address,
        /// The new address.
        to: Address,
    },
    /// Kubernetes objects and Helm releases are addressed by what names them in the cluster.
    #[error(
        "cannot move `{address}`: Kubernetes objects and Helm releases are addressed by their `namespace/name` in the cluster, so another address is another object"
    )]
    NamedByIdentity {
        /// The address given.
        address: Address,
    },
    /// `from` and `to` are the same address.
    #[error("cannot move `{address}` to itself")]
    SameAddress {
        /// The address given twice.
        address: Address,
    },
    /// Two `moved` calls name the same address.
    #[error("`{address}` is already moved by the `moved` at {first}")]
    Twice {
        /// The address named twice.
        address: Address,
        /// The first `moved` that names it.
        first: Origin,
    },
    /// The new address is not declared by the script.
    #[error("{}: `moved` to `{}`, which is not declared{hint}", of.origin, of.to)]
    ToNotDeclared {
        /// The `moved`.
        of: Box<Move>,
        /// "; did you mean …" when a declared address is close.
        hint: String,
    },
    /// The old address is still declared, so the resource would be in two places.
    #[error(
        "{}: `moved` from `{}`, which is still declared at {declared}\nhint: remove that declaration: the resource now lives at `{}`",
        of.origin,
        of.from,
        of.to
    )]
    FromStillDeclared {
        /// The `moved`.
        of: Box<Move>,
        /// Where the old address is declared.
        declared: Origin,
    },
    /// The state records both addresses, so the move would lose one of the resources.
    #[error(
        "{}: cannot move `{}` to `{}`: the state of `{stack}` records both\nhint: `eprun state rm` the one that no longer stands for a resource, or remove this `moved`",
        of.origin,
        of.from,
        of.to
    )]
    BothRecorded {
        /// The `moved`.
        of: Box<Move>,
        /// The stack.
        stack: String,
    },
    /// `state mv`: nothing is recorded at the old address.
    #[error("`{from}` is not in the state of `{stack}`{hint}")]
    FromAbsent {
        /// The stack.
        stack: String,
        /// The old address.
        from: Address,
        /// "; did you mean …" when a recorded address is close.
        hint: String,
    },
    /// `state mv`: something is already recorded at the new address.
    #[error(
        "`{to}` is already in the state of `{stack}`\nhint: `eprun state rm {to}` first if that record no longer stands for a resource"
    )]
    ToRecorded {
        /// The stack.
        stack: String,
        /// The new address.
        to: Address,
    },
}

/// Checks a move on its own: two different addresses of the same type, neither of them a
/// Kubernetes object or Helm release.
pub fn check_pair(from: &Address, to: &Address) -> Result<(), MoveError> {
    if from == to {
        return Err(MoveError::SameAddress {
            address: from.clone(),
        });
    }
    if let Some(address) = [from, to].into_iter().find(|a| named_by_identity(a)) {
        return Err(MoveError::NamedByIdentity {
            address: address.clone(),
        });
    }
    if from.kind() != to.kind() {
        return Err(MoveError::KindsDiffer {
            from: from.clone(),
            to: to.clone(),
        });
    }
    Ok(())
}

/// Adds a script's `moved(from, to)` to its declarations, refusing a pair that can never move
/// and an address another `moved` already names (a resource moves from one place to one place).
pub fn add(decls: &mut Declarations, m: Move) -> Result<(), MoveError> {
    check_pair(&m.from, &m.to)?;
    for address in [&m.from, &m.to] {
        if let Some(first) = decls
            .moves
            .iter()
            .find(|o| &o.from == address || &o.to == address)
        {
            return Err(MoveError::Twice {
                address: address.clone(),
                first: first.origin.clone(),
            });
        }
    }
    decls.moves.push(m);
    Ok(())
}

/// Whether the address is the object's own `namespace/name` (its ownership annotation names the
/// same), so no other address can stand for it.
fn named_by_identity(address: &Address) -> bool {
    address.kind().starts_with("k8s.") || address.kind().starts_with("helm.")
}

/// The script's moves that apply to `state` (their `from` is recorded), after checking each
/// against the declarations; a move whose `from` is not recorded was applied already and is kept
/// in the script only as history.
pub fn pending(decls: &Declarations, state: &State) -> Result<Vec<Move>, MoveError> {
    let mut out = Vec::new();
    for m in &decls.moves {
        if decls.get(&m.to).is_none() {
            let declared: Vec<String> = decls
                .resources
                .iter()
                .filter(|d| d.address.kind() == m.to.kind())
                .map(|d| d.address.to_string())
                .collect();
            let names: Vec<&str> = declared.iter().map(String::as_str).collect();
            let hint = crate::schema::suggest(&m.to.to_string(), &names)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(MoveError::ToNotDeclared {
                of: Box::new(m.clone()),
                hint,
            });
        }
        if let Some(d) = decls.get(&m.from) {
            return Err(MoveError::FromStillDeclared {
                of: Box::new(m.clone()),
                declared: d.origin.clone(),
            });
        }
        match (
            state.resources.contains_key(&m.from),
            state.resources.contains_key(&m.to),
        ) {
            (false, _) => {}
            (true, true) => {
                return Err(MoveError::BothRecorded {
                    of: Box::new(m.clone()),
                    stack: state.stack.clone(),
                });
            }
            (true, false) => out.push(m.clone()),
        }
    }
    Ok(out)
}

/// `eprun state mv`: re-addresses the resource recorded at `from`, refusing when nothing is
/// recorded there, something is recorded at `to`, or the types differ.
pub fn rename(state: &mut State, from: &Address, to: &Address) -> Result<(), MoveError> {
    check_pair(from, to)?;
    if !state.resources.contains_key(from) {
        let recorded: Vec<String> = state.resources.keys().map(Address::to_string).collect();
        let names: Vec<&str> = recorded.iter().map(String::as_str).collect();
        let hint = crate::schema::suggest(&from.to_string(), &names)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(MoveError::FromAbsent {
            stack: state.stack.clone(),
            from: from.clone(),
            hint,
        });
    }
    if state.resources.contains_key(to) {
        return Err(MoveError::ToRecorded {
            stack: state.stack.clone(),
            to: to.clone(),
        });
    }
    rekey(state, from, to);
    Ok(())
}

/// Moves the record at `from` to `to`, and the recorded dependencies on it with it (they order
/// deletions); a checked move, so nothing is recorded at `to`.
pub fn rekey(state: &mut State, from: &Address, to: &Address) {
    let Some(record) = state.resources.remove(from) else {
        return;
    };
    state.resources.insert(to.clone(), record);
    for dep in state
        .resources
        .values_mut()
        .flat_map(|r| r.deps.iter_mut())
        .filter(|d| *d == from)
    {
        *dep = to.clone();
    }
}

/// Re-addresses a resource the refresh found whose ownership tag names an old address: the
/// `from` of one of the script's moves, or an address the state no longer records while it
/// records the same resource (same type and id) elsewhere, as `eprun state mv` leaves it.
/// Returns the stale address, for the tag update that corrects it.
pub fn readdress(moves: &[Move], state: &State, observed: &mut Observed) -> Option<Address> {
    let tagged = observed.address.clone()?;
    let to = match moves.iter().find(|m| m.from == tagged) {
        Some(m) => m.to.clone(),
        None if state.resources.contains_key(&tagged) || observed.id.is_empty() => return None,
        None => state
            .resources
            .iter()
            .find(|(a, r)| a.kind() == tagged.kind() && r.id == observed.id)
            .map(|(a, _)| a.clone())?,
    };
    observed.address = Some(to);
    Some(tagged)
}

/// The tag update that makes a moved resource's ownership tags (and a `Name` that was its
/// address name) name its new address, so later refreshes find it there: only the tags that
/// differ, before and after.
pub fn tag_change(
    stack: &str,
    from: &Address,
    to: &Address,
    current: &Observed,
    desired: &Props,
) -> FieldChange {
    let before: Tags = ownership_tags(stack, from, &current.props)
        .into_iter()
        .collect();
    let after: Tags = ownership_tags(stack, to, desired).into_iter().collect();
    let differing = |own: &Tags, other: &Tags| -> Value {
        Value::Object(
            own.iter()
                .filter(|(k, v)| other.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    FieldChange {
        name: "tags".into(),
        before: Some(differing(&before, &after)),
        after: Some(differing(&after, &before)),
        forces_replacement: false,
        conflict: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::Declaration;
    use crate::state::{ResourceState, Status};

    fn addr(s: &str) -> Address {
        s.parse().unwrap()
    }

    fn record(deps: &[&str]) -> ResourceState {
        ResourceState {
            kind: "ec2.subnet".into(),
            region: "us-east-1".into(),
            status: Status::Created,
            id: "subnet-1".into(),
            natural_key: None,
            props: Default::default(),
            attrs: Default::default(),
            deps: deps.iter().map(|d| addr(d)).collect(),
            protect: false,
            ignore_changes: vec![],
        }
    }

    fn state_with(addresses: &[&str]) -> State {
        let mut s = State::new("s");
        for a in addresses {
            s.resources.insert(addr(a), record(&[]));
        }
        s
    }

    fn origin(line: usize) -> Origin {
        Origin {
            source: "stack.rhai".into(),
            line,
            column: 1,
        }
    }

    fn declarations(declared: &[&str], moves: &[(&str, &str)]) -> Declarations {
        let mut d = Declarations::default();
        for (i, a) in declared.iter().enumerate() {
            d.add(Declaration {
                address: addr(a),
                region: "us-east-1".into(),
                props: Default::default(),
                deps: Default::default(),
                named_deps: vec![],
                protect: false,
                ignore_changes: vec![],
                origin: origin(i + 1),
            })
            .unwrap();
        }
        for (from, to) in moves {
            add(
                &mut d,
                Move {
                    from: addr(from),
                    to: addr(to),
                    origin: origin(10),
                },
            )
            .unwrap();
        }
        d
    }

    #[test]
    fn pair_of_other_types_itself_or_kubernetes_objects_is_refused() {
        let kinds = check_pair(&addr("ec2.subnet.a"), &addr("ec2.vpc.a")).unwrap_err();
        assert!(
            kinds
                .to_string()
                .contains("`ec2.subnet` cannot become a `ec2.vpc`")
        );
        let same = check_pair(&addr("ec2.subnet.a"), &addr("ec2.subnet.a")).unwrap_err();
        assert_eq!(same.to_string(), "cannot move `ec2.subnet.a` to itself");
        let k8s = check_pair(&addr("k8s.namespace.a"), &addr("k8s.namespace.b")).unwrap_err();
        assert!(k8s.to_string().contains("`namespace/name`"), "{k8s}");
        assert!(check_pair(&addr("ec2.subnet.a"), &addr("ec2.subnet.b")).is_ok());
    }

    #[test]
    fn pending_keeps_recorded_moves_and_skips_applied_ones() {
        let d = declarations(
            &["ec2.subnet.b", "ec2.subnet.d"],
            &[
                ("ec2.subnet.a", "ec2.subnet.b"),
                ("ec2.subnet.c", "ec2.subnet.d"),
            ],
        );
        let moves = pending(&d, &state_with(&["ec2.subnet.a", "ec2.subnet.d"])).unwrap();
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].from, addr("ec2.subnet.a"));
    }

    #[test]
    fn pending_refuses_undeclared_to_declared_from_and_both_recorded() {
        let undeclared = declarations(&["ec2.subnet.bb"], &[("ec2.subnet.a", "ec2.subnet.b")]);
        let err = pending(&undeclared, &state_with(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "stack.rhai:10:1: `moved` to `ec2.subnet.b`, which is not declared; did you mean `ec2.subnet.bb`?"
        );

        let both_declared = declarations(
            &["ec2.subnet.a", "ec2.subnet.b"],
            &[("ec2.subnet.a", "ec2.subnet.b")],
        );
        let err = pending(&both_declared, &state_with(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("still declared at stack.rhai:1:1"), "{err}");

        let d = declarations(&["ec2.subnet.b"], &[("ec2.subnet.a", "ec2.subnet.b")]);
        let err = pending(&d, &state_with(&["ec2.subnet.a", "ec2.subnet.b"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("records both"), "{err}");
    }

    #[test]
    fn rename_moves_the_record_and_the_dependencies_on_it() {
        let mut s = state_with(&["ec2.subnet.a"]);
        s.resources
            .insert(addr("ec2.nat_gateway.n"), record(&["ec2.subnet.a"]));
        rename(&mut s, &addr("ec2.subnet.a"), &addr("ec2.subnet.b")).unwrap();
        assert!(!s.resources.contains_key(&addr("ec2.subnet.a")));
        assert_eq!(s.resources[&addr("ec2.subnet.b")].id, "subnet-1");
        assert_eq!(
            s.resources[&addr("ec2.nat_gateway.n")].deps,
            vec![addr("ec2.subnet.b")]
        );
    }

    #[test]
    fn rename_refuses_absent_from_and_recorded_to() {
        let mut s = state_with(&["ec2.subnet.aa", "ec2.subnet.b"]);
        let absent = rename(&mut s, &addr("ec2.subnet.a"), &addr("ec2.subnet.c")).unwrap_err();
        assert_eq!(
            absent.to_string(),
            "`ec2.subnet.a` is not in the state of `s`; did you mean `ec2.subnet.aa`?"
        );
        let taken = rename(&mut s, &addr("ec2.subnet.aa"), &addr("ec2.subnet.b")).unwrap_err();
        assert!(
            taken
                .to_string()
                .starts_with("`ec2.subnet.b` is already in the state")
        );
        assert!(s.resources.contains_key(&addr("ec2.subnet.aa")));
    }

    fn tagged(address: &str, id: &str) -> Observed {
        Observed {
            address: Some(addr(address)),
            id: id.into(),
            ..Observed::default()
        }
    }

    #[test]
    fn found_under_a_moved_address_stands_for_the_new_one() {
        let moves = [Move {
            from: addr("ec2.subnet.a"),
            to: addr("ec2.subnet.b"),
            origin: origin(1),
        }];
        let mut o = tagged("ec2.subnet.a", "subnet-1");
        let state = state_with(&[]);
        assert_eq!(
            readdress(&moves, &state, &mut o),
            Some(addr("ec2.subnet.a"))
        );
        assert_eq!(o.address, Some(addr("ec2.subnet.b")));
        assert_eq!(readdress(&moves, &state, &mut o), None);
    }

    #[test]
    fn found_under_an_address_state_mv_left_stands_for_its_record() {
        let state = state_with(&["ec2.subnet.b"]);
        let mut o = tagged("ec2.subnet.a", "subnet-1");
        assert_eq!(readdress(&[], &state, &mut o), Some(addr("ec2.subnet.a")));
        assert_eq!(o.address, Some(addr("ec2.subnet.b")));

        let mut other = tagged("ec2.subnet.c", "subnet-2");
        assert_eq!(readdress(&[], &state, &mut other), None);
        assert_eq!(other.address, Some(addr("ec2.subnet.c")));
    }

    #[test]
    fn tag_change_names_the_new_address_and_keeps_a_chosen_name() {
        let current = Observed {
            props: serde_json::json!({"tags": {"team": "x"}})
                .as_object()
                .unwrap()
                .clone(),
            ..Observed::default()
        };
        let (from, to) = (addr("ec2.subnet.a"), addr("ec2.subnet.b"));
        let f = tag_change("s", &from, &to, &current, &current.props);
        assert_eq!(f.name, "tags");
        assert_eq!(
            f.before,
            Some(serde_json::json!({"Name": "a", "eprun:address": "ec2.subnet.a"}))
        );
        assert_eq!(
            f.after,
            Some(serde_json::json!({"Name": "b", "eprun:address": "ec2.subnet.b"}))
        );

        let named = serde_json::json!({"tags": {"Name": "kept"}})
            .as_object()
            .unwrap()
            .clone();
        let current = Observed {
            props: named.clone(),
            ..Observed::default()
        };
        let f = tag_change("s", &from, &to, &current, &named);
        assert_eq!(
            f.after,
            Some(serde_json::json!({"eprun:address": "ec2.subnet.b"}))
        );
    }
}
