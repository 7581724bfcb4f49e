//! Handles: what a resource declaration returns to the script.

use crate::address::Address;
use crate::token;

/// An attribute a handle does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{kind}` has no attribute `{name}`{hint}")]
pub struct NoAttribute {
    /// The resource type.
    pub kind: String,
    /// The attribute asked for.
    pub name: String,
    /// `; did you mean `…`?`, or `; it has …`.
    pub hint: String,
}

/// A declared resource as the script sees it; `handle.id`, `handle.arn` … are tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// The resource's address.
    pub address: Address,
    /// The attributes it exposes.
    pub attributes: &'static [&'static str],
}

impl Handle {
    /// The token for one attribute, or an error naming the attributes that exist.
    pub fn attribute(&self, name: &str) -> Result<String, NoAttribute> {
        if name == "address" {
            return Ok(self.address.to_string());
        }
        if name == "name" {
            // A Kubernetes object's address name is `namespace/name`.
            let n = self.address.name();
            return Ok(n.rsplit('/').next().unwrap_or(n).to_string());
        }
        if self.attributes.contains(&name) {
            return Ok(token::marker(&self.address, name));
        }
        let hint = crate::schema::suggest(name, self.attributes)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_else(|| format!("; it has {}", self.attributes.join(", ")));
        Err(NoAttribute {
            kind: self.address.kind().to_string(),
            name: name.to_string(),
            hint,
        })
    }
}

/// Registers the `Handle` type: `handle.id`, `handle["arn"]`, printing.
pub fn register(engine: &mut rhai::Engine) {
    engine
        .register_type_with_name::<Handle>("Handle")
        .register_indexer_get(
            |h: &mut Handle, key: &str| -> Result<String, Box<rhai::EvalAltResult>> {
                h.attribute(key)
                    .map_err(|e| crate::raise::fail(e, rhai::Position::NONE))
            },
        )
        .register_fn("to_string", |h: &mut Handle| h.address.to_string())
        .register_fn("to_debug", |h: &mut Handle| {
            format!("Handle({})", h.address)
        });
}
