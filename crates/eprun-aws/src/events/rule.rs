//! `aws::events::rule`: an EventBridge rule on the default event bus and the targets it sends
//! matched events to (e.g. spot interruption warnings to Karpenter's queue).
//!
//! EventBridge cannot list rules by tag, so the stack finds its rules by name (their natural
//! key): ListRules, page by page, then ListTagsForResource and ListTargetsByRule for the names
//! the stack declares or recorded only.

use super::{EventsTags, eb_tags};
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, by_name, found, resource};
use crate::iam::policy_text;
use crate::invalid::Invalid;
use crate::props::{schema, str_prop};
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::verbs::empty_answer;
use crate::{Aws, CloudError, CloudErrorKind, sdk, token};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::{Rule as EbRule, RuleState, Target};
use serde_json::{Value, json};
use std::collections::BTreeSet;

resource! {
    /// A rule and its targets.
    pub struct Rule: RULE = "events.rule",
        "An EventBridge rule on the default event bus, with the targets it sends matched events to.";
    reads RuleItem;
    terraform "aws_cloudwatch_event_rule";
    props RuleProps {
        name: String = required(Str, "the rule name, unique on the default event bus"),
        description: Option<String> = optional(Str, "what the rule is for"),
        event_pattern: Value = required(Json, "the events it matches").updatable(),
        state: Option<String> = optional(Enum(&["ENABLED", "DISABLED"]), "whether it sends events on")
            .default("\"ENABLED\""),
        targets: Option<Vec<RuleTarget>> =
            optional(ObjectSet(TARGET), "where matched events go: `[#{ id, arn }]` (at most 5)"),
    } + TAGS
}

schema! {
    /// One target of a rule.
    #[derive(Clone, PartialEq)]
    pub struct RuleTarget: TARGET {
        id: String = required(Str, "the target's id in the rule (1 to 64 letters, digits, `.`, `-` and `_`)"),
        arn: String = required(Str, "what receives the events, e.g. an SQS queue's `arn`"),
    }
}

/// How many targets EventBridge lets one rule have.
const MAX_TARGETS: usize = 5;

/// A rule as read: the rule, its targets and its tags.
pub struct RuleItem {
    rule: EbRule,
    targets: Vec<RuleTarget>,
    tags: Vec<(String, String)>,
}

/// Checks a name or target id: 1 to 64 letters, digits, `.`, `-` and `_`; `refusal` makes the
/// error of why it is not.
fn check_id(id: &str, refusal: impl FnOnce(String) -> Invalid) -> Result<(), Invalid> {
    let valid = |c: char| c.is_ascii_alphanumeric() || ".-_".contains(c);
    if token::is_unknown(&json!(id)) || (1..=64).contains(&id.len()) && id.chars().all(valid) {
        return Ok(());
    }
    Err(refusal(format!(
        "`{id}` is not valid (1 to 64 letters, digits, `.`, `-` and `_`)"
    )))
}

/// The targets to remove (by id) and to put to go from `current` to `desired`; a target whose id
/// stays is put again, which replaces it.
fn target_changes(
    current: &[RuleTarget],
    desired: &[RuleTarget],
) -> (Vec<String>, Vec<RuleTarget>) {
    let kept: BTreeSet<&str> = desired.iter().map(|t| t.id.as_str()).collect();
    let remove = current.iter().filter(|t| !kept.contains(t.id.as_str()));
    let put = desired.iter().filter(|t| !current.contains(t));
    (
        remove.map(|t| t.id.clone()).collect(),
        put.cloned().collect(),
    )
}

/// An error when a PutTargets or RemoveTargets call answered with failed entries (it does not fail
/// as a whole): each as `target (code: message)`.
fn failures<'a>(
    operation: &str,
    rule: &str,
    failed: impl Iterator<Item = (Option<&'a str>, Option<&'a str>, Option<&'a str>)>,
) -> Result<()> {
    let each = failed.map(|(id, code, message)| {
        let (id, code) = (id.unwrap_or("?"), code.unwrap_or("Failed"));
        format!(
            "target `{id}` ({code}: {})",
            message.unwrap_or("no reason given")
        )
    });
    let each: Vec<String> = each.collect();
    match each.is_empty() {
        true => Ok(()),
        false => Err(CloudError::new(
            operation,
            rule,
            CloudErrorKind::Service("FailedEntries".into()),
            each.join("; "),
        )),
    }
}

/// PutTargets: adds `targets` to the rule, or replaces those of the same id.
async fn put_targets(aws: &Aws, rule: &str, targets: &[RuleTarget]) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let target = |t: &RuleTarget| Target::builder().id(&t.id).arn(&t.arn).build().ok();
    let call = aws.eventbridge().put_targets().rule(rule);
    let call = call.set_targets(Some(targets.iter().filter_map(target).collect()));
    let out = call.send().await.map_err(sdk("PutTargets", rule))?;
    let failed = out.failed_entries().iter();
    let each = failed.map(|f| (f.target_id(), f.error_code(), f.error_message()));
    failures("PutTargets", rule, each)
}

/// RemoveTargets: takes the targets of these ids off the rule.
async fn remove_targets(aws: &Aws, rule: &str, ids: Vec<String>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let call = aws
        .eventbridge()
        .remove_targets()
        .rule(rule)
        .set_ids(Some(ids));
    let out = call.send().await.map_err(sdk("RemoveTargets", rule))?;
    let failed = out.failed_entries().iter();
    let each = failed.map(|f| (f.target_id(), f.error_code(), f.error_message()));
    failures("RemoveTargets", rule, each)
}

/// The targets of a rule (one page: a rule has five at most).
async fn targets(aws: &Aws, rule: &str) -> Result<Vec<RuleTarget>> {
    let call = aws.eventbridge().list_targets_by_rule().rule(rule);
    let out = call.send().await.map_err(sdk("ListTargetsByRule", rule))?;
    let target = |t: &Target| RuleTarget {
        id: t.id().to_string(),
        arn: t.arn().to_string(),
    };
    Ok(out.targets().iter().map(target).collect())
}

/// Every rule on the default event bus (the SDK has no paginator for ListRules).
async fn rules(aws: &Aws, stack: &str) -> Result<Vec<EbRule>> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let call = aws.eventbridge().list_rules().set_next_token(token);
        let page = call.send().await.map_err(sdk("ListRules", stack))?;
        all.extend(page.rules.unwrap_or_default());
        token = page.next_token;
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Reads a listed rule's tags and targets.
async fn read(aws: &Aws, rule: EbRule) -> Result<RuleItem> {
    let (name, arn) = (
        rule.name().unwrap_or_default(),
        rule.arn().unwrap_or_default(),
    );
    let call = aws.eventbridge().list_tags_for_resource().resource_arn(arn);
    let out = call.send().await.map_err(sdk("ListTagsForResource", arn))?;
    let pair = |t: &aws_sdk_eventbridge::types::Tag| (t.key().to_string(), t.value().to_string());
    let tags = out.tags().iter().map(pair).collect();
    let targets = targets(aws, name).await?;
    Ok(RuleItem {
        rule,
        targets,
        tags,
    })
}

#[async_trait]
impl Description for Rule {
    const ATTRIBUTES: &'static [Attr<RuleItem>] = &[
        Attr::new("id", |_, r: &RuleItem| json!(r.rule.name())).note("the name"),
        Attr::new("arn", |_, r| json!(r.rule.arn())),
    ];
    const IDENTITY: Identity = Identity::Named(&EventsTags, by_name);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_id(str_prop(props, "name"), |why| Invalid::value("name", why))?;
        if matches!(props.get("event_pattern"), Some(Value::Array(_))) {
            return Err(Invalid::form(
                "event_pattern",
                "must be a map, not an array",
            ));
        }
        let targets = props.get("targets").and_then(Value::as_array);
        let ids = targets
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_str());
        let mut seen = BTreeSet::new();
        for id in ids {
            check_id(id, |why| {
                Invalid::Combination(format!("a target's `id`: {why}"))
            })?;
            if !seen.insert(id) {
                return Err(Invalid::value(
                    "targets",
                    format!("the id `{id}` is used twice"),
                ));
            }
        }
        match seen.len() > MAX_TARGETS {
            true => Err(Invalid::value(
                "targets",
                format!(
                    "a rule has {MAX_TARGETS} targets at most, not {}",
                    seen.len()
                ),
            )),
            false => Ok(()),
        }
    }

    fn tags(&self, r: &RuleItem) -> Vec<(String, String)> {
        r.tags.clone()
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<RuleItem>> {
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for rule in rules(aws, stack).await? {
            if rule.name().is_some_and(|n| hints.natural_keys.contains(n)) {
                // Not found: listed a moment ago and deleted since.
                out.extend(found(read(aws, rule).await)?);
            }
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, r: &RuleItem) -> Result<RuleProps> {
        let rule = &r.rule;
        Ok(RuleProps {
            name: rule.name().unwrap_or_default().to_string(),
            description: Some(rule.description().unwrap_or_default().to_string()),
            event_pattern: json!(rule.event_pattern().unwrap_or_default()),
            state: rule.state().map(|s| s.as_str().to_string()),
            targets: Some(r.targets.clone()),
        })
    }

    /// PutRule with the ownership tags, then PutTargets. PutRule also overwrites a rule of the
    /// same name, so one that exists already (another stack's: the stack's own was adopted by
    /// the read) is refused first.
    async fn create(&self, aws: &Aws, new: New<'_, RuleProps>) -> Result<RuleItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let events = aws.eventbridge();
        let existing = events.describe_rule().name(&p.name).send().await;
        if found(existing.map_err(sdk("DescribeRule", address)))?.is_some() {
            return Err(CloudError::new(
                "PutRule",
                address,
                CloudErrorKind::Service("ResourceAlreadyExists".into()),
                format!(
                    "a rule named `{}` already exists on the default event bus and is not this stack's",
                    p.name
                ),
            ));
        }
        let pattern = policy_text(&p.event_pattern);
        let state = p.state.as_deref().unwrap_or("ENABLED");
        let out = events
            .put_rule()
            .name(&p.name)
            .event_pattern(&pattern)
            .state(RuleState::from(state))
            .set_description(p.description.clone())
            .set_tags(Some(eb_tags(tags)))
            .send()
            .await
            .map_err(sdk("PutRule", address))?;
        let target = address.to_string();
        let arn = out
            .rule_arn
            .ok_or_else(|| empty_answer("PutRule", &target, "rule ARN"))?;
        let targets = p.targets.clone().unwrap_or_default();
        put_targets(aws, &p.name, &targets).await?;
        let rule = EbRule::builder()
            .name(&p.name)
            .arn(arn)
            .event_pattern(pattern)
            .state(RuleState::from(state))
            .set_description(p.description.clone());
        Ok(RuleItem {
            rule: rule.build(),
            targets,
            tags: tags.to_vec(),
        })
    }

    /// PutRule again for the pattern, state and description; RemoveTargets and PutTargets for
    /// the targets that changed.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, RuleProps>,
    ) -> Result<Option<RuleItem>> {
        let (changed, current, desired) = (changes.fields, changes.current, changes.desired);
        let name = changes.on.id.as_str();
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("event_pattern") || has("state") || has("description") {
            let state = desired.state.as_deref().unwrap_or("ENABLED");
            let call = aws.eventbridge().put_rule().name(name);
            let call = call.event_pattern(policy_text(&desired.event_pattern));
            let call = call.state(RuleState::from(state));
            let call = call.set_description(desired.description.clone());
            call.send().await.map_err(sdk("PutRule", name))?;
        }
        if has("targets") {
            let have = current.targets.as_deref().unwrap_or_default();
            let want = desired.targets.as_deref().unwrap_or_default();
            let (remove, put) = target_changes(have, want);
            remove_targets(aws, name, remove).await?;
            put_targets(aws, name, &put).await?;
        }
        Ok(None)
    }

    /// Removes the targets the rule has now (EventBridge refuses to delete it otherwise), then
    /// the rule.
    async fn delete(&self, aws: &Aws, name: &str, _current: &RuleProps) -> Result<()> {
        let ids = targets(aws, name)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        remove_targets(aws, name, ids).await?;
        let r = aws.eventbridge().delete_rule().name(name).send().await;
        r.map(drop).map_err(sdk("DeleteRule", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, round_trip};
    use crate::adapter::{Retag, Tagger};
    use crate::address::Address;
    use crate::resource::{Observed, Resource};
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_eventbridge::Client;
    use aws_sdk_eventbridge::error::ErrorMetadata;
    use aws_sdk_eventbridge::operation::delete_rule::DeleteRuleOutput;
    use aws_sdk_eventbridge::operation::describe_rule::{DescribeRuleError, DescribeRuleOutput};
    use aws_sdk_eventbridge::operation::list_rules::ListRulesOutput;
    use aws_sdk_eventbridge::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_eventbridge::operation::list_targets_by_rule::ListTargetsByRuleOutput;
    use aws_sdk_eventbridge::operation::put_rule::PutRuleOutput;
    use aws_sdk_eventbridge::operation::put_targets::PutTargetsOutput;
    use aws_sdk_eventbridge::operation::remove_targets::RemoveTargetsOutput;
    use aws_sdk_eventbridge::types::error::ResourceNotFoundException;
    use aws_sdk_eventbridge::types::{PutTargetsResultEntry, Tag};
    use aws_smithy_mocks::mock;

    const PATTERN: &str =
        r#"{"source":["aws.ec2"],"detail-type":["EC2 Spot Instance Interruption Warning"]}"#;
    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:karpenter-interruptions";

    fn target(id: &str, arn: &str) -> RuleTarget {
        RuleTarget {
            id: id.into(),
            arn: arn.into(),
        }
    }

    fn declared() -> Value {
        json!({
            "name": "karpenter-spot-interruption",
            "description": "Spot interruption warnings for Karpenter",
            "event_pattern": serde_json::from_str::<Value>(PATTERN).unwrap(),
            "targets": [{"id": "karpenter", "arn": QUEUE}],
            "tags": {"team": "platform"},
        })
    }

    fn rule(name: &str) -> EbRule {
        EbRule::builder()
            .name(name)
            .arn(format!("arn:aws:events:us-east-1:123456789012:rule/{name}"))
            // EventBridge answers with the pattern as written, spaced its own way.
            .event_pattern(r#"{"detail-type": ["EC2 Spot Instance Interruption Warning"], "source": ["aws.ec2"]}"#)
            .state(RuleState::Enabled)
            .description("Spot interruption warnings for Karpenter")
            .build()
    }

    fn absent() -> DescribeRuleError {
        let meta = ErrorMetadata::builder()
            .code("ResourceNotFoundException")
            .build();
        DescribeRuleError::ResourceNotFoundException(
            ResourceNotFoundException::builder().meta(meta).build(),
        )
    }

    #[test]
    fn target_changes_remove_what_went_and_put_what_is_new_or_changed() {
        let (a, b) = (target("a", QUEUE), target("b", QUEUE));
        let b_elsewhere = target("b", "arn:aws:sqs:us-east-1:123456789012:other");
        let c = target("c", QUEUE);
        let (remove, put) =
            target_changes(&[a.clone(), b.clone()], &[b_elsewhere.clone(), c.clone()]);
        // `a` went; `b` moved, which PutTargets does in place; `c` is new.
        assert_eq!(remove, ["a"]);
        assert_eq!(put, [b_elsewhere, c]);
        let (remove, put) = target_changes(&[a.clone(), b.clone()], &[b.clone(), a.clone()]);
        assert!(remove.is_empty() && put.is_empty());
        let (remove, put) = target_changes(&[a, b], &[]);
        assert_eq!(
            (remove, put),
            (vec!["a".to_string(), "b".to_string()], vec![])
        );
    }

    #[test]
    fn names_targets_and_patterns_are_checked() {
        let check = |v: Value| RULE.validate(v.as_object().unwrap(), &NoOthers);
        assert!(check(declared()).is_ok());
        let twice = json!({"name": "r", "event_pattern": {}, "targets": [{"id": "q", "arn": QUEUE}, {"id": "q", "arn": QUEUE}]});
        assert!(
            check(twice)
                .unwrap_err()
                .to_string()
                .contains("the id `q` is used twice")
        );
        let six: Vec<Value> = (0..6)
            .map(|i| json!({"id": format!("t{i}"), "arn": QUEUE}))
            .collect();
        let many = json!({"name": "r", "event_pattern": {}, "targets": six});
        assert!(
            check(many)
                .unwrap_err()
                .to_string()
                .contains("5 targets at most, not 6")
        );
        let bad = json!({"name": "has space", "event_pattern": {}});
        assert!(
            check(bad)
                .unwrap_err()
                .to_string()
                .contains("property `name`: `has space` is not valid")
        );
        let array = json!({"name": "r", "event_pattern": []});
        assert!(
            check(array)
                .unwrap_err()
                .to_string()
                .contains("must be a map")
        );
    }

    #[tokio::test]
    async fn changed_targets_are_removed_and_put_in_place() {
        let remove = mock!(Client::remove_targets)
            .match_requests(|r| r.rule() == Some("r") && r.ids() == ["old"])
            .then_output(|| RemoveTargetsOutput::builder().failed_entry_count(0).build());
        let put = mock!(Client::put_targets)
            .match_requests(|r| r.targets().len() == 1 && r.targets()[0].id() == "new")
            .then_output(|| PutTargetsOutput::builder().failed_entry_count(0).build());
        let aws = Aws::mocked(&[&remove, &put]);
        let current: RuleProps = serde_json::from_value(
            json!({"name": "r", "event_pattern": {}, "targets": [{"id": "old", "arn": QUEUE}]}),
        )
        .unwrap();
        let desired: RuleProps = serde_json::from_value(
            json!({"name": "r", "event_pattern": {}, "targets": [{"id": "new", "arn": QUEUE}]}),
        )
        .unwrap();
        let on = Observed {
            id: "r".into(),
            ..Observed::default()
        };
        let changed = ["targets".to_string()];
        let changes = Changes {
            on: &on,
            fields: &changed,
            current: &current,
            desired: &desired,
        };
        Rule.update_fields(&aws, changes).await.unwrap();
        assert_eq!((remove.num_calls(), put.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_target_eventbridge_refuses_is_an_error_naming_it() {
        let put = mock!(Client::put_targets).then_output(|| {
            let failed = PutTargetsResultEntry::builder()
                .target_id("karpenter")
                .error_code("ValidationException")
                .error_message("queue not found")
                .build();
            PutTargetsOutput::builder()
                .failed_entry_count(1)
                .failed_entries(failed)
                .build()
        });
        let aws = Aws::mocked(&[&put]);
        let e = put_targets(&aws, "r", &[target("karpenter", QUEUE)])
            .await
            .unwrap_err();
        assert_eq!(e.operation, "PutTargets");
        assert_eq!(
            e.message,
            "target `karpenter` (ValidationException: queue not found)"
        );
    }

    #[tokio::test]
    async fn delete_removes_the_targets_it_has_now_first() {
        let list = mock!(Client::list_targets_by_rule).then_output(|| {
            let t = |id: &str| Target::builder().id(id).arn(QUEUE).build().unwrap();
            ListTargetsByRuleOutput::builder()
                .targets(t("karpenter"))
                .targets(t("added-by-hand"))
                .build()
        });
        let remove = mock!(Client::remove_targets)
            .match_requests(|r| r.ids() == ["karpenter", "added-by-hand"])
            .then_output(|| RemoveTargetsOutput::builder().failed_entry_count(0).build());
        let delete = mock!(Client::delete_rule).then_output(|| DeleteRuleOutput::builder().build());
        let aws = Aws::mocked(&[&list, &remove, &delete]);
        let p: RuleProps = serde_json::from_value(declared()).unwrap();
        Rule.delete(&aws, "karpenter-spot-interruption", &p)
            .await
            .unwrap();
        assert_eq!((remove.num_calls(), delete.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn read_finds_the_expected_names_with_their_tags_and_targets() {
        let list = mock!(Client::list_rules).then_output(|| {
            ListRulesOutput::builder()
                .rules(rule("karpenter-spot-interruption"))
                .rules(rule("not-expected"))
                .build()
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| {
            let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
            ListTagsForResourceOutput::builder()
                .tags(tag(STACK_TAG, "s"))
                .tags(tag(ADDRESS_TAG, "events.rule.spot"))
                .tags(tag("team", "platform"))
                .build()
        });
        let targets = mock!(Client::list_targets_by_rule).then_output(|| {
            let t = Target::builder()
                .id("karpenter")
                .arn(QUEUE)
                .build()
                .unwrap();
            ListTargetsByRuleOutput::builder().targets(t).build()
        });
        let aws = Aws::mocked(&[&list, &tags, &targets]);
        let hints = ReadHints {
            natural_keys: ["karpenter-spot-interruption".to_string()].into(),
            ..Default::default()
        };
        let found = RULE.read_all(&aws.context(), "s", &hints).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(targets.num_calls(), 1);
        assert_eq!(found[0].address, Some("events.rule.spot".parse().unwrap()));
        let declared = declared();
        let diff = crate::planner::diff(&RULE, declared.as_object().unwrap(), &found[0], &[]);
        assert!(diff.is_empty(), "{diff:?}");
    }

    /// A rule's id is its name; its tags are changed on its ARN, an attribute.
    #[tokio::test]
    async fn tags_change_on_the_rule_arn() {
        let arn = "arn:aws:events:us-east-1:123456789012:rule/spot";
        let tag = mock!(Client::tag_resource)
            .match_requests(move |r| r.resource_arn() == Some(arn) && r.tags().len() == 1)
            .then_output(|| {
                aws_sdk_eventbridge::operation::tag_resource::TagResourceOutput::builder().build()
            });
        let untag = mock!(Client::untag_resource)
            .match_requests(move |r| r.resource_arn() == Some(arn) && r.tag_keys() == ["old"])
            .then_output(|| {
                aws_sdk_eventbridge::operation::untag_resource::UntagResourceOutput::builder()
                    .build()
            });
        let aws = Aws::mocked(&[&tag, &untag]);
        let on = Observed {
            id: "spot".into(),
            attrs: json!({"arn": arn}).as_object().unwrap().clone(),
            ..Observed::default()
        };
        let set = [("team".to_string(), "platform".to_string())];
        let change = Retag {
            set: &set,
            remove: &["old".into()],
        };
        EventsTags.retag(&aws, &on, change).await.unwrap();
        assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_rule_of_the_same_name_is_not_overwritten() {
        let describe = mock!(Client::describe_rule).then_output(|| {
            DescribeRuleOutput::builder()
                .name("karpenter-spot-interruption")
                .build()
        });
        let put = mock!(Client::put_rule).then_output(|| PutRuleOutput::builder().build());
        let aws = Aws::mocked(&[&describe, &put]);
        let address: Address = "events.rule.spot".parse().unwrap();
        let p: RuleProps = serde_json::from_value(declared()).unwrap();
        let new = New {
            address: &address,
            props: &p,
            tags: &[],
        };
        let e = Rule.create(&aws, new).await.err().unwrap();
        assert!(e.message.contains("already exists"), "{e}");
        assert_eq!(put.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_created_rule_round_trip_as_declared() {
        let describe = mock!(Client::describe_rule).then_error(absent);
        let put = mock!(Client::put_rule)
            .match_requests(|r| {
                r.state() == Some(&RuleState::Enabled)
                    && r.tags().iter().any(|t| t.key() == STACK_TAG)
            })
            .then_compute_output(|r| {
                let name = r.name().unwrap_or_default();
                PutRuleOutput::builder()
                    .rule_arn(format!("arn:aws:events:us-east-1:123456789012:rule/{name}"))
                    .build()
            });
        let targets = mock!(Client::put_targets)
            .match_requests(|r| r.targets().iter().any(|t| t.arn() == QUEUE))
            .then_output(|| PutTargetsOutput::builder().failed_entry_count(0).build());
        let observed = round_trip(
            &RULE,
            &Aws::mocked(&[&describe, &put, &targets]),
            "events.rule.spot",
            declared(),
        )
        .await;
        assert_eq!(targets.num_calls(), 1);
        assert_eq!(observed.id, "karpenter-spot-interruption");
        assert_eq!(
            observed.attrs["arn"],
            json!("arn:aws:events:us-east-1:123456789012:rule/karpenter-spot-interruption")
        );
    }
}
