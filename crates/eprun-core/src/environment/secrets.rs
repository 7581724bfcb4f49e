//! `[secrets]`: the payment platform's Secrets Manager secrets, metadata only (stdlib/secrets.rhai).

use serde::{Deserialize, Serialize};

/// The secrets a region owns; their values never appear here, in scripts or in state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsValues {
    /// The KMS key that encrypts them (an ARN, key id or alias).
    #[serde(default = "default_key")]
    pub kms_key_id: String,
    /// Regions that keep a read-only replica of each secret (the DR region).
    #[serde(default)]
    pub replica_regions: Vec<String>,
    /// Days a deleted secret can still be restored: 0 (at once) or 7–30.
    #[serde(default = "default_window")]
    pub recovery_window_in_days: u32,
    /// Keep the secrets from deletion (`protect: true`).
    #[serde(default)]
    pub protect: bool,
    /// The secrets, one `[[secrets.items]]` table each.
    pub items: Vec<SecretValues>,
}

/// One secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValues {
    /// Its full name, e.g. `examplepay/prod/payments-db`.
    pub name: String,
    /// What it holds and who reads it.
    #[serde(default)]
    pub description: String,
}

fn default_key() -> String {
    "alias/aws/secretsmanager".into()
}

fn default_window() -> u32 {
    30
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_items_with_defaults() {
        let v: SecretsValues =
            toml::from_str("[[items]]\nname = \"examplepay/prod/payments-db\"").unwrap();
        assert_eq!(v.kms_key_id, "alias/aws/secretsmanager");
        assert_eq!(v.recovery_window_in_days, 30);
        assert_eq!(v.items[0].name, "examplepay/prod/payments-db");
        assert!(
            toml::from_str::<SecretsValues>("[[items]]\nname = \"a\"\nvalue = \"hunter2\"")
                .is_err(),
            "no values, ever"
        );
    }
}
