//! Declarations: what a stack script asked for, collected while it runs.

use crate::address::Address;
use crate::environment::Environment;
use crate::resource::{DeclaredProps, Props};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Where in a script something was declared.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// The script or module, relative to the project root.
    pub source: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// One declared resource.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// Its address.
    pub address: Address,
    /// The region it lives in.
    pub region: String,
    /// Its props, possibly holding tokens.
    pub props: Props,
    /// Resources it depends on: through tokens and through `depends_on`.
    pub deps: BTreeSet<Address>,
    /// Addresses named by `depends_on` as strings, checked when the graph is built.
    pub named_deps: Vec<String>,
    /// Keep it from deletion.
    pub protect: bool,
    /// Fields owned by someone else.
    pub ignore_changes: Vec<String>,
    /// Where it was declared.
    pub origin: Origin,
}

/// One `moved(from, to)` a script made: the resource recorded at `from` is declared at `to` now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The address the resource was recorded at.
    pub from: Address,
    /// The address it is declared at now.
    pub to: Address,
    /// Where `moved` was called.
    pub origin: Origin,
}

/// Why a declaration cannot join the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclarationError {
    /// The address is declared already.
    #[error("duplicate address `{address}`: already declared at {first}")]
    Duplicate {
        /// The address.
        address: Address,
        /// Where it was declared first.
        first: Origin,
    },
}

/// What a script declared: its stack, resources, outputs and moves.
#[derive(Debug, Default)]
pub struct Declarations {
    /// The environment named by `stack(…)`, once called.
    pub environment: Option<Environment>,
    /// Where `stack(…)` was called.
    pub stack_origin: Option<Origin>,
    /// Resources in declaration order.
    pub resources: Vec<Declaration>,
    index: HashMap<Address, usize>,
    /// Outputs by name, possibly holding tokens.
    pub outputs: BTreeMap<String, Value>,
    /// `moved(from, to)` calls, in script order.
    pub moves: Vec<Move>,
}

impl Declarations {
    /// Adds a declaration, refusing a duplicate address. Its deps gain every resource its props
    /// refer to through tokens, and never hold itself.
    pub fn add(&mut self, mut decl: Declaration) -> Result<(), DeclarationError> {
        decl.deps.extend(
            crate::token::refs(&serde_json::Value::Object(decl.props.clone()))
                .into_iter()
                .map(|r| r.address),
        );
        decl.deps.remove(&decl.address);
        if let Some(&i) = self.index.get(&decl.address) {
            return Err(DeclarationError::Duplicate {
                address: decl.address,
                first: self.resources[i].origin.clone(),
            });
        }
        self.index
            .insert(decl.address.clone(), self.resources.len());
        self.resources.push(decl);
        Ok(())
    }

    /// The declaration at an address.
    pub fn get(&self, address: &Address) -> Option<&Declaration> {
        self.index.get(address).map(|&i| &self.resources[i])
    }

    /// Whether the script declared a stack.
    pub fn is_stack(&self) -> bool {
        self.environment.is_some()
    }
}

impl DeclaredProps for Declarations {
    fn props_of(&self, address: &Address) -> Option<&Props> {
        self.get(address).map(|d| &d.props)
    }
}
