//! Terraform state files (format version 4, as `terraform state pull` prints them): the managed
//! resource instances they hold, by Terraform address.

use serde::Deserialize;
use serde_json::Value;

/// A Terraform state that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TerraformStateError {
    /// Not JSON, or not shaped like a state.
    #[error("`{origin}` is not a Terraform state: {source}")]
    Parse {
        /// The file or object it came from.
        origin: String,
        /// What the JSON reader said.
        source: serde_json::Error,
    },
    /// A format version other than 4.
    #[error(
        "`{origin}` is a Terraform state of format version {version}; eprun reads version 4\nhint: `terraform state pull` with Terraform 0.12 or later prints version 4"
    )]
    Version {
        /// The file or object it came from.
        origin: String,
        /// Its `version`.
        version: u64,
    },
}

/// One managed resource instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Its Terraform address, e.g. `module.vpc.aws_subnet.private["a"]`.
    pub address: String,
    /// Its Terraform type, e.g. `aws_subnet`.
    pub tf_type: String,
    /// Its attributes, named as the provider names them.
    pub attributes: Value,
}

#[derive(Deserialize)]
struct StateFile {
    version: u64,
    #[serde(default)]
    resources: Vec<ResourceBlock>,
}

#[derive(Deserialize)]
struct ResourceBlock {
    #[serde(default)]
    module: Option<String>,
    mode: String,
    #[serde(rename = "type")]
    tf_type: String,
    name: String,
    #[serde(default)]
    instances: Vec<InstanceBlock>,
}

#[derive(Deserialize)]
struct InstanceBlock {
    #[serde(default)]
    index_key: Option<Value>,
    #[serde(default)]
    attributes: Value,
}

/// The managed resource instances of the state `text` read from `origin` (data sources are not
/// resources anyone owns, and are left out).
pub fn parse(origin: &str, text: &str) -> Result<Vec<Instance>, TerraformStateError> {
    let file: StateFile =
        serde_json::from_str(text).map_err(|source| TerraformStateError::Parse {
            origin: origin.to_string(),
            source,
        })?;
    if file.version != 4 {
        return Err(TerraformStateError::Version {
            origin: origin.to_string(),
            version: file.version,
        });
    }
    let mut out = Vec::new();
    for r in file.resources.into_iter().filter(|r| r.mode == "managed") {
        let module = r.module.map(|m| format!("{m}.")).unwrap_or_default();
        for i in r.instances {
            let index = match &i.index_key {
                Some(Value::String(k)) => format!("[{}]", Value::String(k.clone())),
                Some(k) => format!("[{k}]"),
                None => String::new(),
            };
            out.push(Instance {
                address: format!("{module}{}.{}{index}", r.tf_type, r.name),
                tf_type: r.tf_type.clone(),
                attributes: i.attributes,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_named_by_module_type_name_and_index() {
        let text = r#"{"version": 4, "terraform_version": "1.9.8", "serial": 3, "lineage": "x",
          "resources": [
            {"mode": "managed", "type": "aws_vpc", "name": "this", "module": "module.vpc",
             "instances": [{"attributes": {"id": "vpc-1"}}]},
            {"mode": "managed", "type": "aws_subnet", "name": "private",
             "instances": [{"index_key": "a", "attributes": {"id": "subnet-1"}},
                           {"index_key": 1, "attributes": {"id": "subnet-2"}}]},
            {"mode": "data", "type": "aws_caller_identity", "name": "me",
             "instances": [{"attributes": {"id": "123"}}]}]}"#;
        let got: Vec<String> = parse("s.tfstate", text)
            .unwrap()
            .into_iter()
            .map(|i| i.address)
            .collect();
        assert_eq!(
            got,
            [
                "module.vpc.aws_vpc.this",
                "aws_subnet.private[\"a\"]",
                "aws_subnet.private[1]"
            ]
        );
    }

    #[test]
    fn other_versions_and_other_files_are_refused_by_name() {
        let err = parse("old.tfstate", r#"{"version": 3, "modules": []}"#).unwrap_err();
        assert!(err.to_string().contains("version 3"), "{err}");
        let err = parse("notes.txt", "hello").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`notes.txt` is not a Terraform state"),
            "{err}"
        );
    }
}
