//! The dependency graph of a stack's declarations: order, and cycles named.

use crate::address::{Address, AddressError};
use crate::declaration::{Declarations, Origin};
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graphmap::DiGraphMap;
use std::collections::BTreeMap;

/// Declarations in dependency order, with each one's dependencies.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Addresses, dependencies first.
    pub order: Vec<Address>,
    /// Each address's dependencies.
    pub deps: BTreeMap<Address, Vec<Address>>,
}

/// Why declarations do not form a graph; each names where the script declared the resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A `depends_on` entry that is not an address.
    #[error("{origin}: `depends_on`: {source}")]
    BadAddress {
        /// Where the resource was declared.
        origin: Origin,
        /// Why the entry is not an address.
        source: AddressError,
    },
    /// A `depends_on` address that no declaration has.
    #[error("{origin}: `{address}` depends on `{named}`, which is not declared{hint}")]
    UnknownDependsOn {
        /// Where the resource was declared.
        origin: Origin,
        /// The resource.
        address: Address,
        /// The address it names.
        named: String,
        /// `; did you mean `…`?` for a near address, or nothing.
        hint: String,
    },
    /// A reference (a token in the props) to an address that no declaration has.
    #[error("{origin}: `{address}` refers to `{dep}`, which is not declared")]
    UnknownReference {
        /// Where the resource was declared.
        origin: Origin,
        /// The resource.
        address: Address,
        /// The address it refers to.
        dep: Address,
    },
    /// Resources that depend on each other in a circle.
    #[error("{origin}: dependency cycle: {}", cycle.join(" → "))]
    Cycle {
        /// Where the first resource of the cycle was declared.
        origin: String,
        /// The addresses around the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
}

/// Builds the graph, resolving `depends_on` addresses and refusing cycles (the error boxed, as it
/// is large and rare).
pub fn build(decls: &Declarations) -> Result<Graph, Box<GraphError>> {
    let mut deps: BTreeMap<Address, Vec<Address>> = BTreeMap::new();
    let known: Vec<String> = decls
        .resources
        .iter()
        .map(|d| d.address.to_string())
        .collect();
    for d in &decls.resources {
        let mut list: Vec<Address> = d.deps.iter().cloned().collect();
        for named in &d.named_deps {
            let addr: Address = named.parse().map_err(|source| {
                Box::new(GraphError::BadAddress {
                    origin: d.origin.clone(),
                    source,
                })
            })?;
            if decls.get(&addr).is_none() {
                let refs: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint = crate::schema::suggest(named, &refs)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(Box::new(GraphError::UnknownDependsOn {
                    origin: d.origin.clone(),
                    address: d.address.clone(),
                    named: named.clone(),
                    hint,
                }));
            }
            list.push(addr);
        }
        for dep in &list {
            if decls.get(dep).is_none() {
                return Err(Box::new(GraphError::UnknownReference {
                    origin: d.origin.clone(),
                    address: d.address.clone(),
                    dep: dep.clone(),
                }));
            }
        }
        list.sort();
        list.dedup();
        deps.insert(d.address.clone(), list);
    }

    let index: BTreeMap<&Address, usize> = decls
        .resources
        .iter()
        .enumerate()
        .map(|(i, d)| (&d.address, i))
        .collect();
    let mut g: DiGraphMap<usize, (), std::hash::RandomState> = DiGraphMap::new();
    for (i, d) in decls.resources.iter().enumerate() {
        g.add_node(i);
        for dep in &deps[&d.address] {
            g.add_edge(index[dep], i, ());
        }
    }
    match toposort(&g, None) {
        Ok(order) => Ok(Graph {
            order: order
                .into_iter()
                .map(|i| decls.resources[i].address.clone())
                .collect(),
            deps,
        }),
        Err(_) => {
            let cycle = tarjan_scc(&g)
                .into_iter()
                .find(|scc| scc.len() > 1)
                .unwrap_or_default();
            let mut names: Vec<String> = cycle
                .iter()
                .rev()
                .map(|&i| decls.resources[i].address.to_string())
                .collect();
            if let Some(first) = names.first().cloned() {
                names.push(first);
            }
            let at = cycle
                .first()
                .map(|&i| decls.resources[i].origin.to_string())
                .unwrap_or_default();
            Err(Box::new(GraphError::Cycle {
                origin: at,
                cycle: names,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{Declaration, Origin};
    use std::collections::BTreeSet;

    fn decl(name: &str, deps: &[&str], named: &[&str]) -> Declaration {
        Declaration {
            address: format!("ec2.subnet.{name}").parse().unwrap(),
            region: "us-east-1".into(),
            props: Default::default(),
            deps: deps
                .iter()
                .map(|d| format!("ec2.subnet.{d}").parse().unwrap())
                .collect::<BTreeSet<_>>(),
            named_deps: named.iter().map(|s| s.to_string()).collect(),
            protect: false,
            ignore_changes: vec![],
            origin: Origin {
                source: "s.rhai".into(),
                line: 1,
                column: 1,
            },
        }
    }

    fn decls(list: Vec<Declaration>) -> Declarations {
        let mut d = Declarations::default();
        for x in list {
            d.add(x).unwrap();
        }
        d
    }

    #[test]
    fn orders_dependencies_first() {
        let g = build(&decls(vec![
            decl("c", &["b"], &[]),
            decl("b", &["a"], &[]),
            decl("a", &[], &[]),
        ]))
        .unwrap();
        let names: Vec<&str> = g.order.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn names_the_cycle() {
        let err = build(&decls(vec![
            decl("a", &[], &["ec2.subnet.b"]),
            decl("b", &["a"], &[]),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("dependency cycle"), "{err}");
        assert!(
            err.contains("ec2.subnet.a") && err.contains("ec2.subnet.b"),
            "{err}"
        );
    }

    #[test]
    fn unknown_named_dependency_suggests_the_near_one() {
        let err = build(&decls(vec![
            decl("alpha", &[], &["ec2.subnet.alpah"]),
            decl("beta", &[], &[]),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("not declared"), "{err}");
    }
}
