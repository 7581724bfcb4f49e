//! Resource addresses: `<service>.<type>.<name>`, unique in a stack.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The address of a declared resource, e.g. `ec2.subnet.examplepay-prod-private-a`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    kind: String,
    name: String,
}

/// Why a text is not an address, or a name not usable in one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// An empty resource name.
    #[error("a resource name cannot be empty")]
    EmptyName,
    /// A resource name over 128 characters.
    #[error("resource name `{0}` is longer than 128 characters")]
    LongName(String),
    /// A resource name with a character addresses and tokens cannot carry.
    #[error("resource name `{name}` contains `{bad}`; names use letters, digits, `-` and `_`")]
    BadCharacter {
        /// The name.
        name: String,
        /// The first character not allowed.
        bad: char,
    },
    /// A Kubernetes object id that is not `namespace/name` of DNS names.
    #[error(
        "`{0}` is not a Kubernetes object name; names use lowercase letters, digits, `-` and `.`"
    )]
    NotObjectName(String),
    /// A text without the `<service>.<type>.<name>` shape.
    #[error("`{0}` is not an address; addresses look like `ec2.vpc.main`")]
    NotAddress(String),
}

impl Address {
    /// Builds an address from a resource kind (`ec2.vpc`) and a name, checking the name.
    pub fn new(kind: &str, name: &str) -> Result<Self, AddressError> {
        // Kubernetes objects and Helm releases are named by their in-cluster `namespace/name`.
        if kind.starts_with("k8s.") || kind.starts_with("helm.") {
            validate_object_id(name)?;
        } else {
            validate_name(name)?;
        }
        Ok(Self {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }

    /// The resource kind, e.g. `ec2.vpc`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The name the script gave the resource.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks that a resource name is usable inside an address and a token.
pub fn validate_name(name: &str) -> Result<(), AddressError> {
    if name.is_empty() {
        return Err(AddressError::EmptyName);
    }
    if name.len() > 128 {
        return Err(AddressError::LongName(name.into()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        let name = name.into();
        return Err(AddressError::BadCharacter { name, bad });
    }
    Ok(())
}

/// Checks a Kubernetes object's `namespace/name` (DNS names: letters, digits, `-` and `.`).
fn validate_object_id(id: &str) -> Result<(), AddressError> {
    let parts: Vec<&str> = id.split('/').collect();
    let ok = parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 253
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        });
    if ok {
        Ok(())
    } else {
        Err(AddressError::NotObjectName(id.into()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(svc), Some(ty), Some(name)) if !svc.is_empty() && !ty.is_empty() => {
                Address::new(&format!("{svc}.{ty}"), name)
            }
            _ => Err(AddressError::NotAddress(s.into())),
        }
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let a: Address = "ec2.subnet.examplepay-prod-private-a".parse().unwrap();
        assert_eq!(a.kind(), "ec2.subnet");
        assert_eq!(a.name(), "examplepay-prod-private-a");
        assert_eq!(a.to_string(), "ec2.subnet.examplepay-prod-private-a");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(Address::new("ec2.vpc", "a.b").is_err());
        assert!(Address::new("ec2.vpc", "").is_err());
        assert!("vpc".parse::<Address>().is_err());
        assert!(Address::new("k8s.deployment", "Payments/web").is_err());
    }

    #[test]
    fn kubernetes_objects_are_named_namespace_slash_name() {
        let a: Address = "k8s.deployment.payments/payment-service".parse().unwrap();
        assert_eq!(a.kind(), "k8s.deployment");
        assert_eq!(a.name(), "payments/payment-service");
        assert!(Address::new("k8s.nodepool", "gpu.v1").is_ok());
    }
}
