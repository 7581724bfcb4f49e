//! `aws::ec2::security_group`: a security group with its ingress and egress rules.

use super::operation;
use super::prelude::*;
use crate::Result;
use crate::{from_sdk, token};
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, SecurityGroup as Group};
use std::collections::{BTreeMap, BTreeSet};

resource! {
    /// A security group; its rules are part of it, as `ingress` and `egress` sets.
    pub struct SecurityGroup: SECURITY_GROUP = "ec2.security_group",
        "A security group with its `ingress` and `egress` rules.";
    reads Group, tagged by pairs;
    terraform "aws_security_group";
    props SecurityGroupProps {
        name: Option<String> = required(Str, "the group name, unique in the VPC"),
        description: Option<String> =
            optional(Str, "the group description").default("\"Managed by eprun\"").force_new(),
        vpc_id: Option<String> = required(Str, "the VPC the group belongs to"),
        ingress: Option<Vec<Rule>> = optional(ObjectSet(RULE), "inbound rules").default("[]"),
        egress: Option<Vec<Rule>> =
            optional(ObjectSet(RULE), "outbound rules; AWS's allow-all rule when left out")
                .default(DEFAULT_EGRESS),
    } + TAGS
}

schema! {
    /// One rule as declared: a protocol, ports, and the blocks it allows.
    #[derive(Clone)]
    struct Rule: RULE {
        protocol: String =
            required(Str, "`tcp`, `udp`, `icmp`, `icmpv6`, a protocol number, or `-1` for all"),
        from_port: Option<i64> =
            optional(Int, "first port (ICMP type); 0 for protocol `-1`").default("0"),
        to_port: Option<i64> =
            optional(Int, "last port (ICMP code); 0 for protocol `-1`").default("0"),
        cidr_blocks: Vec<String> = optional(StrSet, "the IPv4 and IPv6 blocks the rule allows"),
        description: Option<String> = optional(Str, "what the rule is for"),
    }
}

/// AWS gives every new group this egress rule, so an undeclared `egress` means exactly it.
const DEFAULT_EGRESS: &str =
    r#"[{"protocol":"-1","from_port":0,"to_port":0,"cidr_blocks":["0.0.0.0/0"]}]"#;

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

impl Rule {
    /// Its ports as AWS keeps them.
    fn ports(&self) -> (i64, i64) {
        let (from, to) = (self.from_port.unwrap_or(0), self.to_port.unwrap_or(0));
        ports(&self.protocol, from, to)
    }
}

/// The grants of an `ingress`/`egress` value (declared or observed); absent means the field's default.
fn grants(field: &str, rules: Option<&[Rule]>) -> Vec<Grant> {
    let default: Option<Vec<Rule>> = SCHEMA
        .iter()
        .find(|f| f.name == field)
        .and_then(|f| f.default)
        .and_then(|d| serde_json::from_str(d).ok());
    let rules = rules.or(default.as_deref()).unwrap_or_default();
    let mut out = BTreeSet::new();
    for rule in rules {
        let (from, to) = rule.ports();
        for cidr in &rule.cidr_blocks {
            out.insert(Grant {
                protocol: rule.protocol.clone(),
                from,
                to,
                cidr: cidr.clone(),
                description: nonempty(rule.description.as_deref()),
            });
        }
    }
    out.into_iter().collect()
}

/// Grants back as rules, one per (protocol, ports, description).
fn rules(grants: &[Grant]) -> Vec<Rule> {
    let mut groups: BTreeMap<(&str, i64, i64, &Option<String>), Vec<String>> = BTreeMap::new();
    for g in grants {
        let group = groups.entry((&g.protocol, g.from, g.to, &g.description));
        group.or_default().push(g.cidr.clone());
    }
    type Group<'a> = ((&'a str, i64, i64, &'a Option<String>), Vec<String>);
    let rule = |((protocol, from, to, description), mut cidr_blocks): Group| {
        cidr_blocks.sort();
        Rule {
            protocol: String::from(protocol),
            from_port: Some(from),
            to_port: Some(to),
            cidr_blocks,
            description: description.clone(),
        }
    };
    groups.into_iter().map(rule).collect()
}

/// The grants of AWS permissions; rules naming security groups or prefix lists are not this schema's.
fn from_permissions(perms: &[IpPermission]) -> Vec<Grant> {
    let mut out = BTreeSet::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from, to) = (p.from_port().unwrap_or(0), p.to_port().unwrap_or(0));
        let (from, to) = ports(&protocol, from.into(), to.into());
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
    let permission = |((protocol, from, to), gs): ((&str, i64, i64), Vec<&Grant>)| {
        let mut p = IpPermission::builder().ip_protocol(protocol);
        if protocol != "-1" {
            p = p.from_port(from as i32).to_port(to as i32);
        }
        for g in gs {
            let description = g.description.clone();
            p = if g.cidr.contains(':') {
                let range = Ipv6Range::builder().cidr_ipv6(&g.cidr);
                p.ipv6_ranges(range.set_description(description).build())
            } else {
                let range = IpRange::builder().cidr_ip(&g.cidr);
                p.ip_ranges(range.set_description(description).build())
            };
        }
        p.build()
    };
    groups.into_iter().map(permission).collect()
}

/// What turns `current` into `desired`: grants to revoke, to authorize, and to re-describe in place.
#[derive(Debug, Default, PartialEq)]
struct RuleChanges<'a> {
    revoke: Vec<&'a Grant>,
    authorize: Vec<&'a Grant>,
    describe: Vec<&'a Grant>,
}

/// The changes from `current` to `desired` grants.
fn rule_changes<'a>(current: &'a [Grant], desired: &'a [Grant]) -> RuleChanges<'a> {
    let cur: BTreeMap<_, _> = current.iter().map(|g| (g.key(), g)).collect();
    let want: BTreeMap<_, _> = desired.iter().map(|g| (g.key(), g)).collect();
    let missing = |from: &'a [Grant], to: &BTreeMap<_, _>| -> Vec<&'a Grant> {
        from.iter().filter(|g| !to.contains_key(&g.key())).collect()
    };
    RuleChanges {
        revoke: missing(current, &want),
        authorize: missing(desired, &cur),
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
fn check_rules(field: &str, rules: Option<&Value>) -> Result<(), Invalid> {
    let Some(rules) = rules else {
        return Ok(());
    };
    let rules: Vec<Rule> = serde_json::from_value(rules.clone()).map_err(|e| Invalid::Part {
        prop: field.into(),
        part: String::new(),
        why: e.to_string(),
    })?;
    let mut seen: BTreeMap<(&str, i64, i64, &str), usize> = BTreeMap::new();
    let mut cidrs_seen = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let (n, protocol) = (i + 1, rule.protocol.as_str());
        let wrong = |why: String| {
            Err(Invalid::Part {
                prop: field.into(),
                part: format!(" rule {n}"),
                why,
            })
        };
        let named = NAMED_PROTOCOLS
            .iter()
            .find(|(num, _)| protocol.eq_ignore_ascii_case(num));
        if let Some((_, name)) = named {
            return wrong(format!("write protocol `{protocol}` as `{name}`"));
        }
        let known = ["-1", "tcp", "udp", "icmp", "icmpv6"].contains(&protocol);
        if !known && protocol.parse::<u8>().is_err() {
            return wrong(format!(
                "protocol `{protocol}` is not `tcp`, `udp`, `icmp`, `icmpv6`, `-1` or a protocol number"
            ));
        }
        if matches!(protocol, "tcp" | "udp") && (rule.from_port.is_none() || rule.to_port.is_none())
        {
            return wrong(format!(
                "a `{protocol}` rule needs `from_port` and `to_port`"
            ));
        }
        if rule.cidr_blocks.is_empty() {
            return wrong("`cidr_blocks` must name at least one block".into());
        }
        let (from, to) = rule.ports();
        for cidr in rule
            .cidr_blocks
            .iter()
            .filter(|c| !token::is_unknown(&json!(c)))
        {
            let Ok(net) = cidr.parse::<ipnet::IpNet>() else {
                return wrong(format!("`{cidr}` is not a valid CIDR block"));
            };
            if net.trunc().to_string() != *cidr {
                return wrong(format!("write `{cidr}` as `{}`", net.trunc()));
            }
            if !cidrs_seen.insert((protocol, from, to, cidr)) {
                return Err(Invalid::Part {
                    prop: field.into(),
                    part: String::new(),
                    why: format!(
                        "`{cidr}` appears twice for protocol `{protocol}` ports {from}-{to}"
                    ),
                });
            }
        }
        let description = rule.description.as_deref().unwrap_or_default();
        if let Some(first) = seen.insert((protocol, from, to, description), n) {
            return Err(Invalid::Part {
                prop: field.into(),
                part: String::new(),
                why: format!(
                    "rules {first} and {n} have the same protocol, ports and description; put their `cidr_blocks` in one rule"
                ),
            });
        }
    }
    Ok(())
}

/// Sends `grants` with the ingress or egress form of one rule call, if there are any.
macro_rules! send_rules {
    ($aws:expr, $id:expr, $egress:expr, $grants:expr, $ingress_call:ident, $egress_call:ident) => {
        if !$grants.is_empty() {
            let (perms, ec2) = (Some(to_permissions(&$grants)), $aws.ec2());
            if $egress {
                let call = ec2.$egress_call().group_id($id).set_ip_permissions(perms);
                call.send()
                    .await
                    .map_err(|e| from_sdk(&operation(stringify!($egress_call)), $id, e))?;
            } else {
                let call = ec2.$ingress_call().group_id($id).set_ip_permissions(perms);
                call.send()
                    .await
                    .map_err(|e| from_sdk(&operation(stringify!($ingress_call)), $id, e))?;
            }
        }
    };
}

/// Brings one direction's rules from `current` to `desired` without a gap: new blocks are added
/// and description-only changes made in place before anything is revoked.
async fn sync_rules(
    aws: &Aws,
    id: &str,
    egress: bool,
    have: &[Grant],
    want: &[Grant],
) -> Result<()> {
    let changes = rule_changes(have, want);
    send_rules!(
        aws,
        id,
        egress,
        changes.authorize,
        authorize_security_group_ingress,
        authorize_security_group_egress
    );
    send_rules!(
        aws,
        id,
        egress,
        changes.describe,
        update_security_group_rule_descriptions_ingress,
        update_security_group_rule_descriptions_egress
    );
    send_rules!(
        aws,
        id,
        egress,
        changes.revoke,
        revoke_security_group_ingress,
        revoke_security_group_egress
    );
    Ok(())
}

/// The group with id `id`, once Describe sees it.
async fn describe(aws: &Aws, id: &str) -> Result<Option<Group>> {
    first(describe!(aws.describe_security_groups().group_ids(id), id))
}

#[async_trait]
impl Description for SecurityGroup {
    const ATTRIBUTES: &'static [Attr<Group>] = &[
        Attr::new("id", |_, g| json!(g.group_id())),
        Attr::new("arn", |aws, g| match g.security_group_arn() {
            Some(arn) => json!(arn),
            None => arn(aws, g.owner_id(), "security-group", g.group_id()),
        }),
    ];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_rules("ingress", props.get("ingress"))?;
        check_rules("egress", props.get("egress"))
    }

    const FETCH: Option<Fetch<Group>> = fetch!(describe_security_groups, set_group_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Group>> {
        describe!(
            aws.describe_security_groups().filters(stack_filter(stack)),
            stack
        )
    }

    async fn props(&self, _: &Aws, g: &Group) -> Result<SecurityGroupProps> {
        let read = |perms| Some(rules(&from_permissions(perms)));
        Ok(SecurityGroupProps {
            name: Some(g.group_name().unwrap_or_default().into()),
            description: Some(g.description().unwrap_or_default().into()),
            vpc_id: Some(g.vpc_id().unwrap_or_default().into()),
            ingress: read(g.ip_permissions()),
            egress: read(g.ip_permissions_egress()),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, SecurityGroupProps>) -> Result<Group> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let description = nonempty(p.description.as_deref());
        let out = aws
            .ec2()
            .create_security_group()
            .set_group_name(p.name.clone())
            .description(description.as_deref().unwrap_or("Managed by eprun"))
            .set_vpc_id(p.vpc_id.clone())
            .tag_specifications(tags_at_create(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(sdk("CreateSecurityGroup", address))?;
        let id = out.group_id().unwrap_or_default();
        let wait = Wait("CreateSecurityGroup", VISIBLE_TIMEOUT);
        let fresh = settle(aws, id, wait, describe, visible).await?;
        let mut group =
            fresh.ok_or_else(|| untagged("CreateSecurityGroup", address, "security group"))?;
        let (ingress, egress) = (
            grants("ingress", p.ingress.as_deref()),
            grants("egress", p.egress.as_deref()),
        );
        sync_rules(
            aws,
            id,
            false,
            &from_permissions(group.ip_permissions()),
            &ingress,
        )
        .await?;
        sync_rules(
            aws,
            id,
            true,
            &from_permissions(group.ip_permissions_egress()),
            &egress,
        )
        .await?;
        // The rules are now as declared, and AWS would answer them so.
        let permissions = |g: &[Grant]| Some(to_permissions(&g.iter().collect::<Vec<_>>()));
        group.ip_permissions = permissions(&ingress);
        group.ip_permissions_egress = permissions(&egress);
        Ok(group)
    }

    async fn update(&self, aws: &Aws, change: Change<'_, SecurityGroupProps>) -> Result<()> {
        let (id, field, current, desired) =
            (change.id, change.field, change.current, change.desired);
        let rules = |p: &SecurityGroupProps| match field {
            "ingress" => grants(field, p.ingress.as_deref()),
            _ => grants(field, p.egress.as_deref()),
        };
        if matches!(field, "ingress" | "egress") {
            let egress = field == "egress";
            sync_rules(aws, id, egress, &rules(current), &rules(desired)).await?;
        }
        Ok(())
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &SecurityGroupProps) -> Result<()> {
        retry_dependency("DeleteSecurityGroup", id, || async {
            let sent = aws.ec2().delete_security_group().group_id(id).send().await;
            sent.map(drop).map_err(sdk("DeleteSecurityGroup", id))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::round_trip;
    use crate::schema::normalize;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::types::Tag;
    use aws_smithy_mocks::mock;

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
        let observed = json!(rules(&from_permissions(&[perm])));
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
        let typed: Vec<Rule> = serde_json::from_value(declared.clone()).unwrap();
        let want = grants("ingress", Some(&typed));
        let perms = to_permissions(&want.iter().collect::<Vec<_>>());
        assert_eq!(
            perms.len(),
            1,
            "AWS keeps one permission per protocol and ports"
        );
        let observed = json!(rules(&from_permissions(&perms)));
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
            check(json!([{"protocol": "6", "cidr_blocks": ["0.0.0.0/0"]}]))
                .unwrap_err()
                .to_string(),
            "in `ingress` rule 1: write protocol `6` as `tcp`"
        );
        assert!(
            check(json!([{"protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]))
                .unwrap_err()
                .to_string()
                .contains("needs `from_port` and `to_port`")
        );
        assert!(
            check(json!([{"protocol": "-1"}]))
                .unwrap_err()
                .to_string()
                .contains("at least one block")
        );
        assert_eq!(
            check(json!([{"protocol": "-1", "cidr_blocks": ["10.1.2.3/16"]}]))
                .unwrap_err()
                .to_string(),
            "in `ingress` rule 1: write `10.1.2.3/16` as `10.1.0.0/16`"
        );
        let split = json!([
            {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["10.0.0.0/8"]},
            {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["172.16.0.0/12"]},
        ]);
        assert!(
            check(split)
                .unwrap_err()
                .to_string()
                .contains("rules 1 and 2 have the same protocol, ports and description")
        );
        let vpc = token::marker(&"ec2.vpc.main".parse().unwrap(), "cidr_block");
        assert!(check(json!([{"protocol": "-1", "cidr_blocks": [vpc]}])).is_ok());
    }

    #[tokio::test]
    async fn a_created_group_round_trip_as_declared() {
        let declared = json!({
            "name": "web", "vpc_id": "vpc-1", "description": "Managed by eprun",
            "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}],
        });
        let address = "ec2.security_group.web".parse().unwrap();
        let owned = crate::tags::ownership_tags("test", &address, declared.as_object().unwrap());
        let create = mock!(Client::create_security_group).then_output(|| {
            CreateSecurityGroupOutput::builder()
                .group_id("sg-1")
                .build()
        });
        let describe = mock!(Client::describe_security_groups).then_output(move || {
            let tags = owned
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build());
            let allow_all = IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build());
            let group = Group::builder()
                .group_id("sg-1")
                .group_name("web")
                .description("Managed by eprun")
                .vpc_id("vpc-1")
                .owner_id("123456789012")
                .ip_permissions_egress(allow_all.build())
                .set_tags(Some(tags.collect()));
            DescribeSecurityGroupsOutput::builder()
                .security_groups(group.build())
                .build()
        });
        let authorize = mock!(Client::authorize_security_group_ingress)
            .match_requests(|r| r.group_id() == Some("sg-1") && r.ip_permissions().len() == 1)
            .then_output(|| {
                AuthorizeSecurityGroupIngressOutput::builder()
                    .r#return(true)
                    .build()
            });
        let observed = round_trip(
            &SECURITY_GROUP,
            &Aws::mocked(&[&create, &describe, &authorize]),
            "ec2.security_group.web",
            declared,
        )
        .await;
        assert_eq!(observed.id, "sg-1");
        assert_eq!(
            observed.attrs["arn"],
            "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1"
        );
    }
}
