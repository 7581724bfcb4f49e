//! Policy verdicts as plain data: what a policy script said about a plan, and where it said it.

use crate::declaration::Origin;
use crate::style::{bold, red, yellow};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How much a verdict weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Apply refuses the plan.
    Deny,
    /// Shown; apply goes on.
    Warn,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Deny => "deny",
            Severity::Warn => "warn",
        })
    }
}

/// One `deny(..)` or `warn(..)` call of a policy script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Deny or warn.
    pub severity: Severity,
    /// What the policy said.
    pub message: String,
    /// Where the call was made (`policy/<file>.rhai:line:column`).
    #[serde(flatten)]
    pub origin: Origin,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.severity, self.message)
    }
}

/// Whether any verdict denies the plan.
pub fn any_deny(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(|v| v.severity == Severity::Deny)
}

/// The verdicts as people read them after a plan: denials in red, warnings in yellow, each
/// with the place of its call (empty when there are none).
pub fn render(verdicts: &[Verdict]) -> String {
    if verdicts.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{}\n", bold("Policy:"));
    for v in verdicts {
        let label = match v.severity {
            Severity::Deny => red("deny"),
            Severity::Warn => yellow("warn"),
        };
        out.push_str(&format!("  {label}  {}  ({})\n", v.message, v.origin));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(severity: Severity) -> Verdict {
        Verdict {
            severity,
            message: "no".into(),
            origin: Origin {
                source: "policy/prod.rhai".into(),
                line: 3,
                column: 9,
            },
        }
    }

    #[test]
    fn a_verdict_is_flat_json_and_names_its_place() {
        let v = verdict(Severity::Deny);
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"severity": "deny", "message": "no", "source": "policy/prod.rhai", "line": 3, "column": 9})
        );
        assert_eq!(v.to_string(), "policy/prod.rhai:3:9: deny: no");
    }

    #[test]
    fn only_a_deny_denies() {
        assert!(!any_deny(&[verdict(Severity::Warn)]));
        assert!(any_deny(&[
            verdict(Severity::Warn),
            verdict(Severity::Deny)
        ]));
        assert_eq!(render(&[]), "");
    }
}
