//! EC2 verbs: VPC lookups, and what an instance type holds.

use super::invalid;
use crate::Result;
use crate::all;
use aws_sdk_ec2::types::{Filter, Tag, Vpc};
use serde_json::{Map, Value, json};

/// DescribeVpcs with filters given as a map (`{"tag:Name": "x", "cidr": ["10.0.0.0/16"]}`; a value
/// is a string or an array of strings): `[{vpc_id, cidr_block, state, is_default, name, tags}]`.
pub async fn describe_vpcs(
    ec2: &aws_sdk_ec2::Client,
    filters: &Map<String, Value>,
) -> Result<Value> {
    let target = describe_target(filters);
    let filters = to_filters("DescribeVpcs", &target, filters)?;
    let call = ec2
        .describe_vpcs()
        .set_filters((!filters.is_empty()).then_some(filters));
    let vpcs: Vec<_> = all!(call, "DescribeVpcs", &target)?;
    Ok(Value::Array(vpcs.iter().map(vpc).collect()))
}

/// DescribeInstanceTypes for one type as `#{type, vcpus, memory_mib}`: what a node of it adds to
/// a node group's capacity.
pub async fn describe_instance_type(ec2: &aws_sdk_ec2::Client, name: &str) -> Result<Value> {
    const OP: &str = "DescribeInstanceTypes";
    let call = ec2
        .describe_instance_types()
        .instance_types(aws_sdk_ec2::types::InstanceType::from(name));
    let out = call
        .send()
        .await
        .map_err(|e| crate::from_sdk(OP, name, e))?;
    let info = out.instance_types().first();
    let info =
        info.ok_or_else(|| invalid(OP, name, format!("EC2 has no instance type `{name}`")))?;
    Ok(json!({
        "type": name,
        "vcpus": info.v_cpu_info().and_then(|v| v.default_v_cpus()),
        "memory_mib": info.memory_info().and_then(|m| m.size_in_mib()),
    }))
}

/// How the error of a lookup names what it looked for.
fn describe_target(filters: &Map<String, Value>) -> String {
    if filters.is_empty() {
        "all VPCs".to_string()
    } else {
        format!("VPCs where {}", Value::Object(filters.clone()))
    }
}

/// A filter map as EC2 filters.
fn to_filters(operation: &str, target: &str, filters: &Map<String, Value>) -> Result<Vec<Filter>> {
    filters
        .iter()
        .map(|(name, value)| {
            let values = match value {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        Value::Bool(b) => Ok(b.to_string()),
                        other => Err(invalid(
                            operation,
                            target,
                            format!("filter `{name}` holds {other}; its values are strings"),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Value::Number(n) => vec![n.to_string()],
                Value::Bool(b) => vec![b.to_string()],
                other => {
                    return Err(invalid(
                        operation,
                        target,
                        format!("filter `{name}` is {other}; give a string or an array of strings"),
                    ));
                }
            };
            Ok(Filter::builder()
                .name(name)
                .set_values(Some(values))
                .build())
        })
        .collect()
}

/// EC2 tags as a map.
pub fn tag_map(tags: &[Tag]) -> Value {
    Value::Object(
        tags.iter()
            .filter_map(|t| Some((t.key()?.to_string(), json!(t.value().unwrap_or_default()))))
            .collect(),
    )
}

fn vpc(v: &Vpc) -> Value {
    let name = v
        .tags()
        .iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value());
    json!({
        "vpc_id": super::opt_str(v.vpc_id()),
        "cidr_block": super::opt_str(v.cidr_block()),
        "state": super::opt_str(v.state().map(|s| s.as_str())),
        "is_default": v.is_default().unwrap_or(false),
        "name": super::opt_str(name),
        "tags": tag_map(v.tags()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_strings_and_arrays() {
        let given = json!({"tag:Name": "examplepay", "cidr": ["10.10.0.0/16", "10.20.0.0/16"]});
        let f = to_filters("DescribeVpcs", "t", given.as_object().unwrap()).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name(), Some("tag:Name"));
        assert_eq!(f[0].values(), ["examplepay"]);
        assert_eq!(f[1].values(), ["10.10.0.0/16", "10.20.0.0/16"]);
        let bad = json!({"tag:Name": {"x": 1}});
        let e = to_filters("DescribeVpcs", "t", bad.as_object().unwrap()).unwrap_err();
        assert!(e.to_string().contains("filter `tag:Name`"), "{e}");
    }

    #[test]
    fn a_vpc_is_a_plain_map() {
        let v = Vpc::builder()
            .vpc_id("vpc-1")
            .cidr_block("10.10.0.0/16")
            .state(aws_sdk_ec2::types::VpcState::Available)
            .tags(Tag::builder().key("Name").value("examplepay-local").build())
            .build();
        assert_eq!(
            vpc(&v),
            json!({"vpc_id": "vpc-1", "cidr_block": "10.10.0.0/16", "state": "available", "is_default": false,
                   "name": "examplepay-local", "tags": {"Name": "examplepay-local"}})
        );
    }
}
