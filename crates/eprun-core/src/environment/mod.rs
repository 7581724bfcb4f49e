//! Environment files: the values a stack is built with (`environments/<name>.toml`), no logic.

/// Declares serde `default` functions that each answer a fixed string:
/// `string_defaults! { default_refresh = "1h"; }`.
macro_rules! string_defaults {
    ($($name:ident = $value:literal;)*) => {
        $(
            fn $name() -> String {
                $value.into()
            }
        )*
    };
}

mod dns;
mod dr;
mod eks;
mod k8s;
mod secrets;
mod transit_gateway;
mod vpc;

pub use dns::DnsValues;
pub use dr::DrValues;
pub use eks::{EksValues, LOG_TYPES};
pub use k8s::{
    AnalysisValues, Architecture, BurnRateValues, CapacityType, ChartValues, Connect,
    ConsolidationPolicy, DisruptionBudgetValues, DisruptionReason, ExternalSecretsValues,
    FailureAction, ImageVerificationValues, K8sValues, KarpenterAlertValues, KarpenterValues,
    MonitoringValues, NetworkPoliciesValues, NodePoolValues, NodePressureValues, PoliciesValues,
    ResourcesValues, RolloutsValues, SloValues, TaintEffect, TaintValues,
};
pub use secrets::{SecretValues, SecretsValues};
pub use transit_gateway::TransitGatewayValues;
pub use vpc::{NatMode, VpcValues};

use crate::project::Project;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A missing or malformed environment file.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    /// The environment name does not match a file.
    #[error("environment `{name}` not found: no file `{path}`{hint}")]
    Missing {
        /// The name asked for.
        name: String,
        /// Where eprun looked.
        path: String,
        /// A near name, if any.
        hint: String,
    },
    /// The file is not valid TOML or has an unknown or mistyped key.
    #[error("{path}{at}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// `:line:column` when known.
        at: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// Subnet lists that do not give one block per availability zone.
    #[error(
        "{path}: key `vpc.public_subnets`/`vpc.private_subnets`: need one block per AZ ({azs} AZs, {public} public, {private} private)"
    )]
    SubnetsPerAz {
        /// The file.
        path: String,
        /// How many availability zones `vpc.azs` names.
        azs: usize,
        /// How many public blocks.
        public: usize,
        /// How many private blocks.
        private: usize,
    },
    /// A subnet block outside the VPC's.
    #[error("{path}: key `vpc.{key}`: `{subnet}` is outside the VPC's `{cidr}`")]
    SubnetOutside {
        /// The file.
        path: String,
        /// `public_subnets` or `private_subnets`.
        key: &'static str,
        /// The block.
        subnet: ipnet::Ipv4Net,
        /// The VPC's block.
        cidr: ipnet::Ipv4Net,
    },
    /// A name that cannot be an environment.
    #[error("`{name}` is not an environment name; names look like `prod/us-east-1`")]
    BadName {
        /// The name given.
        name: String,
    },
}

/// A file's text and its name relative to the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceText {
    /// E.g. `environments/prod/us-east-1.toml`.
    pub name: String,
    /// The file's contents.
    pub text: String,
}

/// Where a stack keeps its state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "backend")]
pub enum StateBackend {
    /// A JSON file under `<root>/.eprun/state/`.
    #[default]
    Local,
    /// An object in S3, with a lock object beside it.
    S3(S3Backend),
}

/// `[state] backend = "s3"`: where the state object lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Backend {
    /// The bucket.
    pub bucket: String,
    /// The state object's key; the lock is `<key>.lock`, the previous version `<key>.backup`.
    pub key: String,
    /// The bucket's region (default: the stack's).
    pub region: Option<String>,
}

/// Whether a region is the primary or the disaster-recovery side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves traffic by default.
    Primary,
    /// Takes over when the primary fails.
    Dr,
}

/// One environment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The environment's name (`prod/us-east-1`), from its path; not written in the file.
    #[serde(default, skip_deserializing)]
    pub name: String,
    /// The AWS region the stack lives in.
    pub region: String,
    /// Primary or DR.
    pub role: Role,
    /// Other environments this one works with, by role (`primary = "prod/us-east-1"`).
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    /// Where the stack's state lives.
    #[serde(default)]
    pub state: StateBackend,
    /// Tags added to every taggable resource (like Terraform's `default_tags`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The region's network.
    pub vpc: Option<VpcValues>,
    /// The region's Transit Gateway and its peering (stdlib/transit_gateway.rhai).
    pub transit_gateway: Option<TransitGatewayValues>,
    /// Latency-based DNS with health checks (stdlib/dns_failover.rhai).
    pub dns: Option<DnsValues>,
    /// Secrets Manager secrets, metadata only (stdlib/secrets.rhai).
    pub secrets: Option<SecretsValues>,
    /// The region's Kubernetes cluster (stdlib/eks.rhai).
    pub eks: Option<EksValues>,
    /// The region's Kubernetes API and add-ons (stdlib/k8s/).
    pub k8s: Option<K8sValues>,
    /// The recovery objectives the DR runbooks are measured against (the DR environment's).
    pub dr: Option<DrValues>,
}

impl Environment {
    /// Loads and checks `environments/<name>.toml`.
    pub fn load(project: &Project, name: &str) -> Result<Self, EnvironmentError> {
        Self::read(project, name).map(|(env, _)| env)
    }

    /// Loads and checks `environments/<name>.toml`, returning its path (relative to the project
    /// root) and text too, for those that record what a run read.
    pub fn read(project: &Project, name: &str) -> Result<(Self, SourceText), EnvironmentError> {
        if name.is_empty()
            || name.contains("..")
            || name.starts_with('/')
            || name.ends_with(".toml")
        {
            return Err(EnvironmentError::BadName { name: name.into() });
        }
        let path = project.environment_file(name);
        let shown = format!("environments/{name}.toml");
        let text = std::fs::read_to_string(&path).map_err(|_| EnvironmentError::Missing {
            name: name.into(),
            path: shown.clone(),
            hint: near_name(project, name)
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default(),
        })?;
        let env = Self::parse(&shown, name, &text)?;
        Ok((env, SourceText { name: shown, text }))
    }

    /// Parses the text of an environment file; `path` is only used in messages.
    pub fn parse(path: &str, name: &str, text: &str) -> Result<Self, EnvironmentError> {
        let mut env: Environment = toml::from_str(text).map_err(|e| {
            let (at, message) = describe_toml_error(text, &e);
            EnvironmentError::Invalid {
                path: path.into(),
                at,
                message,
            }
        })?;
        env.name = name.to_string();
        env.check(path)?;
        Ok(env)
    }

    /// Checks what TOML types alone do not: one subnet block per AZ, each inside the VPC's.
    fn check(&self, path: &str) -> Result<(), EnvironmentError> {
        if let Some(vpc) = &self.vpc {
            let n = vpc.azs.len();
            if vpc.public_subnets.len() != n || vpc.private_subnets.len() != n {
                return Err(EnvironmentError::SubnetsPerAz {
                    path: path.into(),
                    azs: n,
                    public: vpc.public_subnets.len(),
                    private: vpc.private_subnets.len(),
                });
            }
            for (key, nets) in [
                ("public_subnets", &vpc.public_subnets),
                ("private_subnets", &vpc.private_subnets),
            ] {
                if let Some(bad) = nets.iter().find(|s| !vpc.cidr.contains(*s)) {
                    return Err(EnvironmentError::SubnetOutside {
                        path: path.into(),
                        key,
                        subnet: *bad,
                        cidr: vpc.cidr,
                    });
                }
            }
        }
        Ok(())
    }

    /// The environment named for a peer role (`primary`, `dr`).
    pub fn peer(&self, role: &str) -> Option<&str> {
        self.peers.get(role).map(String::as_str)
    }
}

/// A readable TOML error: `:line:column`, and a message naming the key with the source line.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> (String, String) {
    let msg = err.message().trim().to_string();
    let Some(span) = err.span() else {
        return (String::new(), msg);
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count() + 1)
        .unwrap_or(1);
    let source = text.lines().nth(line - 1).unwrap_or_default();
    let table = text
        .lines()
        .take(line - 1)
        .filter_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .last()
        .map(|t| format!("{}.", t.trim()))
        .unwrap_or_default();
    let key = source
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty());
    let message = match key {
        Some(k) => format!("key `{table}{k}`: {msg}\n    {source}"),
        None => format!("{msg}\n    {source}"),
    };
    (format!(":{line}:{col}"), message)
}

/// The environment whose name is closest to `name`, for a hint.
fn near_name(project: &Project, name: &str) -> Option<String> {
    let dir = project.root().join("environments");
    let mut names = Vec::new();
    for group in std::fs::read_dir(&dir).ok()?.flatten() {
        if let Ok(files) = std::fs::read_dir(group.path()) {
            for f in files.flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "toml") {
                    if let (Some(g), Some(stem)) = (
                        group.file_name().to_str(),
                        p.file_stem().and_then(|s| s.to_str()),
                    ) {
                        names.push(format!("{g}/{stem}"));
                    }
                }
            }
        }
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    crate::schema::suggest(name, &refs).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
region = "us-east-1"
role = "primary"
[vpc]
name = "examplepay-prod"
cidr = "10.10.0.0/16"
azs = ["us-east-1a"]
public_subnets = ["10.10.0.0/20"]
private_subnets = ["10.10.64.0/18"]
"#;

    #[test]
    fn parses_a_good_file() {
        let env = Environment::parse("x.toml", "prod/us-east-1", GOOD).unwrap();
        assert_eq!(env.region, "us-east-1");
        assert_eq!(env.vpc.unwrap().nat_gateways, NatMode::PerAz);
    }

    /// The error parsing `GOOD`, read from `path`, with `from` replaced by `to`.
    fn parse_error(path: &str, from: &str, to: &str) -> String {
        Environment::parse(path, "x", &GOOD.replace(from, to))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = parse_error("environments/x.toml", "cidr = ", "cidrr = ");
        assert!(
            err.contains("environments/x.toml:6:1: key `vpc.cidrr`: unknown field `cidrr`"),
            "{err}"
        );
        assert!(err.contains("cidrr"), "{err}");
    }

    #[test]
    fn mistyped_value_is_named() {
        let err = parse_error("x.toml", "\"10.10.0.0/16\"", "\"10.10.0.0/33\"");
        assert!(err.contains("x.toml:6:8: key `vpc.cidr`"), "{err}");
    }

    #[test]
    fn s3_backend_is_read_and_its_keys_checked() {
        let text = GOOD.replace(
            "role = \"primary\"",
            "role = \"primary\"\n[state]\nbackend = \"s3\"\nbucket = \"b\"\nkey = \"k.json\"",
        );
        let env = Environment::parse("x.toml", "x", &text).unwrap();
        assert_eq!(
            env.state,
            StateBackend::S3(S3Backend {
                bucket: "b".into(),
                key: "k.json".into(),
                region: None
            })
        );
        let bad = text.replace("bucket = ", "buckit = ");
        assert!(Environment::parse("x.toml", "x", &bad).is_err());
    }

    #[test]
    fn subnet_outside_vpc_is_refused() {
        let err = parse_error("x.toml", "10.10.64.0/18", "10.20.64.0/18");
        assert!(err.contains("outside the VPC"), "{err}");
    }
}
