//! `aws::ec2::security_group`: a security group with its ingress and egress rules.

use super::{
    pairs, props, retry_dependency, stack_filter, str_prop, tag_spec, untagged, update_tags,
};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, ResourceType};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A security group; its rules are part of it, as `ingress` and `egress` sets.
pub struct SecurityGroup;

const RULE: &[Field] = &[
    Field::required(
        "protocol",
        Kind::Str,
        "`tcp`, `udp`, `icmp`, `icmpv6`, a protocol number, or `-1` for all",
    ),
    Field::optional(
        "from_port",
        Kind::Int,
        "first port (ICMP type); 0 for protocol `-1`",
    )
    .default("0"),
    Field::optional(
        "to_port",
        Kind::Int,
        "last port (ICMP code); 0 for protocol `-1`",
    )
    .default("0"),
    Field::optional(
        "cidr_blocks",
        Kind::StrSet,
        "the IPv4 and IPv6 blocks the rule allows",
    ),
    Field::optional("description", Kind::Str, "what the rule is for"),
];

/// AWS gives every new group this egress rule, so an undeclared `egress` means exactly it.
const DEFAULT_EGRESS: &str =
    r#"[{"protocol":"-1","from_port":0,"to_port":0,"cidr_blocks":["0.0.0.0/0"]}]"#;

const SCHEMA: &[Field] = &[
    Field::required("name", Kind::Str, "the group name, unique in the VPC"),
    Field::optional("description", Kind::Str, "the group description")
        .default("\"Managed by eprun\"")
        .force_new(),
    Field::required("vpc_id", Kind::Str, "the VPC the group belongs to"),
    Field::optional("ingress", Kind::ObjectSet(RULE), "inbound rules").default("[]"),
    Field::optional(
        "egress",
        Kind::ObjectSet(RULE),
        "outbound rules; AWS's allow-all rule when left out",
    )
    .default(DEFAULT_EGRESS),
    TAGS,
];

/// New groups can take a moment to show up in Describe calls.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One allowed (protocol, ports, block) with its description: the unit AWS adds and removes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    protocol: String,
    from: i64,
    to: i64,
    cidr: String,
    description: Option<String>,
}

impl Grant {
    /// What AWS identifies a rule by; the description is an attribute of it.
    fn key(&self) -> (&str, i64, i64, &str) {
        (&self.protocol, self.from, self.to, &self.cidr)
    }
}

/// Ports as AWS keeps them: protocol `-1` has none, which reads as 0 to 0.
fn ports(protocol: &str, from: i64, to: i64) -> (i64, i64) {
    if protocol == "-1" { (0, 0) } else { (from, to) }
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.filter(|d| !d.is_empty()).map(String::from)
}

/// The grants of an `ingress`/`egress` value (declared or observed); absent means the field's default.
fn grants(field: &str, rules: Option<&Value>) -> Vec<Grant> {
    let default = SCHEMA
        .iter()
        .find(|f| f.name == field)
        .and_then(|f| f.default)
        .and_then(|d| serde_json::from_str(d).ok());
    let Some(Value::Array(rules)) = rules.cloned().or(default) else {
        return Vec::new();
    };
    let mut out = BTreeSet::new();
    for rule in rules.iter().filter_map(Value::as_object) {
        let protocol = str_prop(rule, "protocol").to_string();
        let int = |k: &str| rule.get(k).and_then(Value::as_i64).unwrap_or(0);
        let (from, to) = ports(&protocol, int("from_port"), int("to_port"));
        let description = nonempty(rule.get("description").and_then(Value::as_str));
        for cidr in super::list_prop(rule, "cidr_blocks") {
            out.insert(Grant {
                protocol: protocol.clone(),
                from,
                to,
                cidr,
                description: description.clone(),
            });
        }
    }
    out.into_iter().collect()
}

/// Grants back as rules, one per (protocol, ports, description), in the schema's shape.
fn rules_json(grants: &[Grant]) -> Value {
    let mut groups: BTreeMap<(&str, i64, i64, &Option<String>), Vec<&str>> = BTreeMap::new();
    for g in grants {
        groups
            .entry((&g.protocol, g.from, g.to, &g.description))
            .or_default()
            .push(&g.cidr);
    }
    Value::Array(
        groups
            .into_iter()
            .map(|((protocol, from, to, description), mut cidrs)| {
                cidrs.sort();
                let mut rule = props([
                    ("protocol", json!(protocol)),
                    ("from_port", json!(from)),
                    ("to_port", json!(to)),
                    ("cidr_blocks", json!(cidrs)),
                ]);
                if let Some(d) = description {
                    rule.insert("description".into(), json!(d));
                }
                Value::Object(rule)
            })
            .collect(),
    )
}

/// The grants of AWS permissions; rules naming security groups or prefix lists are not this schema's.
fn from_permissions(perms: &[IpPermission]) -> Vec<Grant> {
    let mut out = BTreeSet::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from, to) = ports(
            &protocol,
            p.from_port().unwrap_or(0).into(),
            p.to_port().unwrap_or(0).into(),
        );
        let v4 = p.ip_ranges().iter().map(|r| (r.cidr_ip(), r.description()));
        let v6 = p
            .ipv6_ranges()
            .iter()
            .map(|r| (r.cidr_ipv6(), r.description()));
        for (cidr, description) in v4.chain(v6) {
            if let Some(cidr) = cidr {
                out.insert(Grant {
                    protocol: protocol.clone(),
                    from,
                    to,
                    cidr: cidr.into(),
                    description: nonempty(description),
                });
            }
        }
    }
    out.into_iter().collect()
}

/// Grants as AWS permissions, one per (protocol, ports).
fn to_permissions(grants: &[&Grant]) -> Vec<IpPermission> {
    let mut groups: BTreeMap<(&str, i64, i64), Vec<&Grant>> = BTreeMap::new();
    for g in grants {
        groups
            .entry((&g.protocol, g.from, g.to))
            .or_default()
            .push(g);
    }
    groups
        .into_iter()
        .map(|((protocol, from, to), gs)| {
            let mut p = IpPermission::builder().ip_protocol(protocol);
            if protocol != "-1" {
                p = p.from_port(from as i32).to_port(to as i32);
            }
            for g in gs {
                p = if g.cidr.contains(':') {
                    p.ipv6_ranges(
                        Ipv6Range::builder()
                            .cidr_ipv6(&g.cidr)
                            .set_description(g.description.clone())
                            .build(),
                    )
                } else {
                    p.ip_ranges(
                        IpRange::builder()
                            .cidr_ip(&g.cidr)
                            .set_description(g.description.clone())
                            .build(),
                    )
                };
            }
            p.build()
        })
        .collect()
}

/// What turns `current` into `desired`: grants to revoke, to authorize, and to re-describe in place.
#[derive(Debug, Default, PartialEq)]
struct RuleChanges<'a> {
    revoke: Vec<&'a Grant>,
    authorize: Vec<&'a Grant>,
    describe: Vec<&'a Grant>,
}

fn rule_changes<'a>(current: &'a [Grant], desired: &'a [Grant]) -> RuleChanges<'a> {
    let cur: BTreeMap<_, _> = current.iter().map(|g| (g.key(), g)).collect();
    let want: BTreeMap<_, _> = desired.iter().map(|g| (g.key(), g)).collect();
    RuleChanges {
        revoke: current
            .iter()
            .filter(|g| !want.contains_key(&g.key()))
            .collect(),
        authorize: desired
            .iter()
            .filter(|g| !cur.contains_key(&g.key()))
            .collect(),
        describe: desired
            .iter()
            .filter(|g| {
                cur.get(&g.key())
                    .is_some_and(|c| c.description != g.description)
            })
            .collect(),
    }
}

/// Names AWS answers with instead of the protocol numbers; writing the number would never diff clean.
const NAMED_PROTOCOLS: [(&str, &str); 5] = [
    ("1", "icmp"),
    ("6", "tcp"),
    ("17", "udp"),
    ("58", "icmpv6"),
    ("all", "-1"),
];

/// Checks one rule set: protocols as AWS reports them, ports where needed, canonical blocks, and rules
/// that AWS would merge (same protocol, ports and description) written as one.
fn check_rules(field: &str, rules: Option<&Value>) -> Result<(), String> {
    let Some(rules) = rules.and_then(Value::as_array) else {
        return Ok(());
    };
    let mut seen: BTreeMap<(String, i64, i64, String), usize> = BTreeMap::new();
    let mut cidrs_seen = BTreeSet::new();
    for (i, rule) in rules.iter().filter_map(Value::as_object).enumerate() {
        let n = i + 1;
        let protocol = str_prop(rule, "protocol");
        if let Some((_, name)) = NAMED_PROTOCOLS
            .iter()
            .find(|(num, _)| protocol.eq_ignore_ascii_case(num))
        {
            return Err(format!(
                "in `{field}` rule {n}: write protocol `{protocol}` as `{name}`"
            ));
        }
        let named = ["-1", "tcp", "udp", "icmp", "icmpv6"].contains(&protocol);
        if !named && protocol.parse::<u8>().is_err() {
            return Err(format!(
                "in `{field}` rule {n}: protocol `{protocol}` is not `tcp`, `udp`, `icmp`, `icmpv6`, `-1` or a protocol number"
            ));
        }
        if matches!(protocol, "tcp" | "udp")
            && !(rule.contains_key("from_port") && rule.contains_key("to_port"))
        {
            return Err(format!(
                "in `{field}` rule {n}: a `{protocol}` rule needs `from_port` and `to_port`"
            ));
        }
        let cidrs = super::list_prop(rule, "cidr_blocks");
        if cidrs.is_empty() {
            return Err(format!(
                "in `{field}` rule {n}: `cidr_blocks` must name at least one block"
            ));
        }
        let int = |k: &str| rule.get(k).and_then(Value::as_i64).unwrap_or(0);
        let (from, to) = ports(protocol, int("from_port"), int("to_port"));
        for cidr in &cidrs {
            if token::is_unknown(&json!(cidr)) {
                continue;
            }
            let net = cidr.parse::<ipnet::IpNet>().map_err(|_| {
                format!("in `{field}` rule {n}: `{cidr}` is not a valid CIDR block")
            })?;
            if net.trunc().to_string() != *cidr {
                return Err(format!(
                    "in `{field}` rule {n}: write `{cidr}` as `{}`",
                    net.trunc()
                ));
            }
            if !cidrs_seen.insert((protocol.to_string(), from, to, cidr.clone())) {
                return Err(format!(
                    "in `{field}`: `{cidr}` appears twice for protocol `{protocol}` ports {from}-{to}"
                ));
            }
        }
        let description = str_prop(rule, "description").to_string();
        if let Some(first) = seen.insert((protocol.to_string(), from, to, description), n) {
            return Err(format!(
                "in `{field}`: rules {first} and {n} have the same protocol, ports and description; put their `cidr_blocks` in one rule"
            ));
        }
    }
    Ok(())
}

/// Sends one kind of rule call for a direction (six SDK operations with the same shape).
macro_rules! send_rules {
    ($ec2:expr, $op:ident, $name:literal, $id:expr, $perms:expr) => {
        $ec2.$op()
            .group_id($id)
            .set_ip_permissions(Some($perms))
            .send()
            .await
            .map(drop)
            .map_err(|e| crate::from_sdk($name, $id, e))
    };
}

impl SecurityGroup {
    fn observe(aws: &Aws, stack: &str, sg: &aws_sdk_ec2::types::SecurityGroup) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(sg.tags()))?;
        let id = sg.group_id().unwrap_or_default().to_string();
        let arn = sg
            .security_group_arn()
            .map(String::from)
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:ec2:{}:{}:security-group/{id}",
                    aws.region(),
                    sg.owner_id().unwrap_or_default()
                )
            });
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: props([
                ("name", json!(sg.group_name().unwrap_or_default())),
                ("description", json!(sg.description().unwrap_or_default())),
                ("vpc_id", json!(sg.vpc_id().unwrap_or_default())),
                (
                    "ingress",
                    rules_json(&from_permissions(sg.ip_permissions())),
                ),
                (
                    "egress",
                    rules_json(&from_permissions(sg.ip_permissions_egress())),
                ),
                ("tags", user_tags),
            ]),
            attrs: props([("id", json!(id)), ("arn", json!(arn))]),
        })
    }

    async fn describe(
        aws: &Aws,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, CloudError> {
        match aws
            .ec2()
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.security_groups().first().cloned()),
            Err(e) => match crate::from_sdk("DescribeSecurityGroups", id, e) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Brings one direction's rules from `current` to `desired` without a gap: new blocks are added
    /// and description-only changes made in place before anything is revoked.
    async fn sync_rules(
        aws: &Aws,
        id: &str,
        egress: bool,
        current: &[Grant],
        desired: &[Grant],
    ) -> Result<(), CloudError> {
        let changes = rule_changes(current, desired);
        let ec2 = aws.ec2();
        if !changes.authorize.is_empty() {
            let perms = to_permissions(&changes.authorize);
            if egress {
                send_rules!(
                    ec2,
                    authorize_security_group_egress,
                    "AuthorizeSecurityGroupEgress",
                    id,
                    perms
                )?;
            } else {
                send_rules!(
                    ec2,
                    authorize_security_group_ingress,
                    "AuthorizeSecurityGroupIngress",
                    id,
                    perms
                )?;
            }
        }
        if !changes.describe.is_empty() {
            let perms = to_permissions(&changes.describe);
            if egress {
                send_rules!(
                    ec2,
                    update_security_group_rule_descriptions_egress,
                    "UpdateSecurityGroupRuleDescriptionsEgress",
                    id,
                    perms
                )?;
            } else {
                send_rules!(
                    ec2,
                    update_security_group_rule_descriptions_ingress,
                    "UpdateSecurityGroupRuleDescriptionsIngress",
                    id,
                    perms
                )?;
            }
        }
        if !changes.revoke.is_empty() {
            let perms = to_permissions(&changes.revoke);
            if egress {
                send_rules!(
                    ec2,
                    revoke_security_group_egress,
                    "RevokeSecurityGroupEgress",
                    id,
                    perms
                )?;
            } else {
                send_rules!(
                    ec2,
                    revoke_security_group_ingress,
                    "RevokeSecurityGroupIngress",
                    id,
                    perms
                )?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for SecurityGroup {
    fn kind(&self) -> &'static str {
        "ec2.security_group"
    }

    fn doc(&self) -> &'static str {
        "A security group with its `ingress` and `egress` rules. Attributes: `id`, `arn`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_rules("ingress", props.get("ingress"))?;
        check_rules("egress", props.get("egress"))
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let mut pages = aws
            .ec2()
            .describe_security_groups()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("DescribeSecurityGroups", stack, e))?;
            out.extend(
                page.security_groups()
                    .iter()
                    .filter_map(|sg| Self::observe(aws, stack, sg)),
            );
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let description = match str_prop(p, "description") {
            "" => "Managed by eprun",
            d => d,
        };
        let out = aws
            .ec2()
            .create_security_group()
            .group_name(str_prop(p, "name"))
            .description(description)
            .vpc_id(str_prop(p, "vpc_id"))
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateSecurityGroup", req.address, e))?;
        let id = out.group_id().unwrap_or_default().to_string();
        let visible = || async {
            Ok(match Self::describe(aws, &id).await? {
                Some(_) => WaitState::Ready,
                None => WaitState::Pending("not visible yet".into()),
            })
        };
        wait_until("CreateSecurityGroup", &id, VISIBLE_TIMEOUT, visible).await?;
        let fresh = Self::describe(aws, &id)
            .await?
            .ok_or_else(|| untagged("CreateSecurityGroup", req.address, "security group"))?;
        let fresh = Self::observe(aws, req.stack, &fresh)
            .ok_or_else(|| untagged("CreateSecurityGroup", req.address, "security group"))?;
        for (field, egress) in [("ingress", false), ("egress", true)] {
            let (current, desired) = (
                grants(field, fresh.props.get(field)),
                grants(field, p.get(field)),
            );
            Self::sync_rules(aws, &id, egress, &current, &desired).await?;
        }
        let mut done = fresh;
        for field in ["ingress", "egress"] {
            done.props
                .insert(field.into(), rules_json(&grants(field, p.get(field))));
        }
        Ok(done)
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        for field in changed {
            match field.as_str() {
                f @ ("ingress" | "egress") => {
                    let (have, want) = (grants(f, current.props.get(f)), grants(f, desired.get(f)));
                    Self::sync_rules(aws, &current.id, f == "egress", &have, &want).await?;
                }
                "tags" => update_tags(aws, &current.id, &current.props, desired).await?,
                _ => {}
            }
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        let ec2 = aws.ec2();
        retry_dependency("DeleteSecurityGroup", &current.id, || async {
            ec2.delete_security_group()
                .group_id(&current.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteSecurityGroup", &current.id, e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::normalize;

    fn grant(protocol: &str, from: i64, to: i64, cidr: &str, description: Option<&str>) -> Grant {
        Grant {
            protocol: protocol.into(),
            from,
            to,
            cidr: cidr.into(),
            description: description.map(String::from),
        }
    }

    #[test]
    fn aws_default_egress_reads_as_the_schema_default() {
        let perm = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let observed = rules_json(&from_permissions(&[perm]));
        let default: Value = serde_json::from_str(DEFAULT_EGRESS).unwrap();
        let kind = Kind::ObjectSet(RULE);
        assert_eq!(normalize(&kind, &observed), normalize(&kind, &default));
        assert_eq!(
            grants("egress", None),
            vec![grant("-1", 0, 0, "0.0.0.0/0", None)]
        );
    }

    #[test]
    fn merged_aws_permissions_split_back_into_declared_rules() {
        let declared = json!([
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8", "::/0"]},
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["192.168.0.0/16"], "description": "office"},
        ]);
        let want = grants("ingress", Some(&declared));
        let perms = to_permissions(&want.iter().collect::<Vec<_>>());
        assert_eq!(
            perms.len(),
            1,
            "AWS keeps one permission per protocol and ports"
        );
        let observed = rules_json(&from_permissions(&perms));
        let kind = Kind::ObjectSet(RULE);
        assert_eq!(normalize(&kind, &observed), normalize(&kind, &declared));
    }

    #[test]
    fn changes_add_before_removing_and_edit_descriptions_in_place() {
        let current = vec![
            grant("tcp", 22, 22, "10.0.0.0/8", None),
            grant("tcp", 443, 443, "0.0.0.0/0", None),
        ];
        let desired = vec![
            grant("tcp", 443, 443, "0.0.0.0/0", Some("web")),
            grant("udp", 53, 53, "10.0.0.0/8", None),
        ];
        let c = rule_changes(&current, &desired);
        assert_eq!(c.revoke, vec![&current[0]]);
        assert_eq!(c.authorize, vec![&desired[1]]);
        assert_eq!(c.describe, vec![&desired[0]]);
        assert_eq!(rule_changes(&current, &current), RuleChanges::default());
    }

    #[test]
    fn rule_checks() {
        let check = |v: Value| check_rules("ingress", Some(&v));
        assert!(check(json!([{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}])).is_ok());
        assert_eq!(
            check(json!([{"protocol": "6", "cidr_blocks": ["0.0.0.0/0"]}])).unwrap_err(),
            "in `ingress` rule 1: write protocol `6` as `tcp`"
        );
        assert!(
            check(json!([{"protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]))
                .unwrap_err()
                .contains("needs `from_port` and `to_port`")
        );
        assert!(
            check(json!([{"protocol": "-1"}]))
                .unwrap_err()
                .contains("at least one block")
        );
        assert_eq!(
            check(json!([{"protocol": "-1", "cidr_blocks": ["10.1.2.3/16"]}])).unwrap_err(),
            "in `ingress` rule 1: write `10.1.2.3/16` as `10.1.0.0/16`"
        );
        let split = json!([
            {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["10.0.0.0/8"]},
            {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["172.16.0.0/12"]},
        ]);
        assert!(
            check(split)
                .unwrap_err()
                .contains("rules 1 and 2 have the same protocol, ports and description")
        );
        let vpc = token::marker(&"ec2.vpc.main".parse().unwrap(), "cidr_block");
        assert!(check(json!([{"protocol": "-1", "cidr_blocks": [vpc]}])).is_ok());
    }
}
