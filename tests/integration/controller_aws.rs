//! The AWS side of the Karpenter controller: `iam.policy`, `iam.role_policy_attachment`,
//! `iam.instance_profile`, `sqs.queue` and `events.rule` in one small stack, applied through the
//! real binary against moto, read back with independent SDK clients, planned clean, changed in
//! place and destroyed.

use serde_json::{Value, json};

use crate::support::*;

const SCRIPT: &str = "scripts/controller_aws.rhai";

/// The node role with its instance profile, the interruption queue fed by a spot-interruption
/// rule, and the controller's role with a policy that may read the queue. A role's `id` is its
/// name (`handle.name` is the declaration's name, not a token).
const STACK: &str = r#"let env = stack("local/us-east-1");

fn trust(service) {
    #{ Version: "2012-10-17", Statement: [#{ Effect: "Allow", Principal: #{ Service: service }, Action: "sts:AssumeRole" }] }
}

let node = aws::iam::role("karpenter-node", #{
    name: "examplepay-local-karpenter-node",
    assume_role_policy: trust("ec2.amazonaws.com"),
});
aws::iam::instance_profile("karpenter-node", #{
    name: "examplepay-local-karpenter-node",
    role: node.id,
});
let queue = aws::sqs::queue("karpenter", #{
    name: "examplepay-local-karpenter",
    message_retention_seconds: 300,
    policy: #{ Version: "2012-10-17", Statement: [#{
        Effect: "Allow",
        Principal: #{ Service: ["events.amazonaws.com", "sqs.amazonaws.com"] },
        Action: "sqs:SendMessage",
        Resource: "*",
    }] },
    tags: #{ team: "platform" },
});
aws::events::rule("karpenter-spot-interruption", #{
    name: "examplepay-local-karpenter-spot-interruption",
    description: "Spot interruption warnings for Karpenter",
    event_pattern: #{ source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
    targets: [#{ id: "karpenter", arn: queue.arn }],
});
let controller = aws::iam::role("karpenter-controller", #{
    name: "examplepay-local-karpenter-controller",
    assume_role_policy: trust("ec2.amazonaws.com"),
});
let policy = aws::iam::policy("karpenter-controller", #{
    name: "examplepay-local-karpenter-controller",
    description: "What Karpenter's controller may do",
    policy: #{ Version: "2012-10-17", Statement: [
        #{ Sid: "Interruptions", Effect: "Allow", Action: ["sqs:DeleteMessage", "sqs:ReceiveMessage"], Resource: queue.arn },
        #{ Sid: "PassNodeRole", Effect: "Allow", Action: "iam:PassRole", Resource: node.arn },
    ] },
});
aws::iam::role_policy_attachment("karpenter-controller", #{ role: controller.id, policy_arn: policy.arn });
"#;

const NODE: &str = "examplepay-local-karpenter-node";
const CONTROLLER: &str = "examplepay-local-karpenter-controller";
const QUEUE: &str = "examplepay-local-karpenter";
const RULE: &str = "examplepay-local-karpenter-spot-interruption";

/// `eprun ARGS` on the stack against moto (no Kubernetes: the stack declares no objects).
fn run(project: &Project, moto: &Moto, args: &[&str]) -> Output {
    let mut all = vec![args[0], SCRIPT, "--env", LOCAL_US];
    all.extend(&args[1..]);
    let out = eprun(project, &all)
        .env("AWS_ENDPOINT_URL", &moto.endpoint())
        .run();
    out.expect_no_panic();
    out
}

/// A plan that finds nothing to do.
fn expect_no_changes(project: &Project, moto: &Moto, when: &str) {
    let plan = run(project, moto, &["plan", "--detailed-exitcode"]);
    assert!(
        plan.code == 0 && plan.stdout.contains("No changes."),
        "{when}: the plan must say `No changes.`\n{plan}"
    );
}

/// What the stack made, read without eprun.
#[derive(Debug)]
struct Seen {
    /// The default version's id and document of the controller policy, and how many versions it has.
    policy: Option<(String, Value, usize)>,
    /// The policies attached to the controller role.
    attached: Vec<String>,
    /// The roles in the node instance profile (`None`: no profile).
    profile_roles: Option<Vec<String>>,
    /// The queue's attributes and tags.
    queue: Option<(Value, Value)>,
    /// The rule's pattern, state, targets (`id`, `arn`) and tags.
    rule: Option<(Value, String, Vec<(String, String)>, Value)>,
}

/// Reads the stack's resources with the test's own SDK clients; what is gone reads as `None`.
fn read(moto: &Moto) -> Seen {
    use aws_sdk_iam::types::PolicyScopeType;
    use aws_sdk_sqs::types::QueueAttributeName;
    let (iam, sqs, events) = (
        iam_client(moto, "us-east-1"),
        sqs_client(moto, "us-east-1"),
        eventbridge_client(moto, "us-east-1"),
    );
    block_on(async {
        let policies = iam
            .list_policies()
            .scope(PolicyScopeType::Local)
            .send()
            .await;
        let policies = policies.expect("ListPolicies");
        let arn = policies
            .policies()
            .iter()
            .find(|p| p.policy_name() == Some(CONTROLLER))
            .and_then(|p| p.arn().map(String::from));
        let mut policy = None;
        if let Some(arn) = &arn {
            let got = iam
                .get_policy()
                .policy_arn(arn)
                .send()
                .await
                .expect("GetPolicy");
            let p = got.policy().expect("a policy");
            let tags = p.tags();
            assert!(
                tags.iter()
                    .any(|t| t.key() == "eprun:stack" && t.value() == LOCAL_US),
                "the policy is tagged for the stack: {tags:?}"
            );
            let version = p
                .default_version_id()
                .expect("a default version")
                .to_string();
            let got = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(&version);
            let got = got.send().await.expect("GetPolicyVersion");
            let text = got
                .policy_version()
                .and_then(|v| v.document())
                .unwrap_or_default();
            let doc: Value = serde_json::from_str(&decode_policy(text)).expect("a JSON document");
            let versions = iam.list_policy_versions().policy_arn(arn).send().await;
            let count = versions.expect("ListPolicyVersions").versions().len();
            policy = Some((version, doc, count));
        }
        let attached = iam
            .list_attached_role_policies()
            .role_name(CONTROLLER)
            .send()
            .await;
        let attached = attached.map(|a| {
            let arns = a.attached_policies().iter().filter_map(|p| p.policy_arn());
            arns.map(String::from).collect()
        });
        let profile = iam
            .get_instance_profile()
            .instance_profile_name(NODE)
            .send()
            .await;
        let profile_roles = profile.ok().and_then(|p| p.instance_profile).map(|p| {
            p.roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect()
        });
        let mut queue = None;
        if let Ok(url) = sqs.get_queue_url().queue_name(QUEUE).send().await {
            let url = url.queue_url().expect("a queue URL");
            let got = sqs.get_queue_attributes().queue_url(url);
            let got = got.attribute_names(QueueAttributeName::All).send().await;
            let attributes: serde_json::Map<String, Value> = got
                .expect("GetQueueAttributes")
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_string(), json!(v)))
                .collect();
            let tags = sqs.list_queue_tags().queue_url(url).send().await;
            let tags = tags
                .expect("ListQueueTags")
                .tags()
                .cloned()
                .unwrap_or_default();
            queue = Some((Value::Object(attributes), json!(tags)));
        }
        let mut rule = None;
        if let Ok(got) = events.describe_rule().name(RULE).send().await {
            let pattern = serde_json::from_str(got.event_pattern().unwrap_or_default())
                .expect("a JSON pattern");
            let state = got
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            let targets = events.list_targets_by_rule().rule(RULE).send().await;
            let targets = targets.expect("ListTargetsByRule");
            let targets = targets.targets().iter();
            let targets = targets
                .map(|t| (t.id().to_string(), t.arn().to_string()))
                .collect();
            let arn = got.arn().expect("a rule ARN");
            let tags = events
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await;
            let tags = tags.expect("ListTagsForResource");
            let tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), json!(t.value())));
            let tags = Value::Object(tags.collect());
            rule = Some((pattern, state, targets, tags));
        }
        Seen {
            policy,
            attached: attached.unwrap_or_default(),
            profile_roles,
            queue,
            rule,
        }
    })
}

#[test]
fn controller_aws_types_apply_plan_clean_change_in_place_and_destroy_on_moto() {
    let moto = Moto::start();
    let project = Project::new();
    project.write(SCRIPT, STACK);

    run(&project, &moto, &["apply", "--yes"]).expect_success();
    expect_no_changes(&project, &moto, "right after the apply");

    let seen = read(&moto);
    let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:{QUEUE}");
    let (version, doc, _) = seen.policy.clone().expect("the controller policy exists");
    assert_eq!(version, "v1", "{seen:?}");
    assert_eq!(
        doc["Statement"][0]["Resource"],
        json!(queue_arn),
        "{seen:?}"
    );
    assert_eq!(
        doc["Statement"][1]["Resource"],
        json!(format!(
            "arn:aws:iam::123456789012:role/eprun/{LOCAL_US}/{NODE}"
        )),
        "the node role's ARN resolved into the policy: {seen:?}"
    );
    let policy_arn = format!("arn:aws:iam::123456789012:policy/{CONTROLLER}");
    assert_eq!(seen.attached, [policy_arn.clone()], "{seen:?}");
    assert_eq!(seen.profile_roles, Some(vec![NODE.to_string()]), "{seen:?}");
    let (attributes, tags) = seen.queue.clone().expect("the queue exists");
    assert_eq!(
        attributes["MessageRetentionPeriod"],
        json!("300"),
        "{seen:?}"
    );
    assert_eq!(attributes["VisibilityTimeout"], json!("30"), "{seen:?}");
    assert_eq!(
        attributes["SqsManagedSseEnabled"],
        json!("true"),
        "{seen:?}"
    );
    let queue_policy: Value =
        serde_json::from_str(attributes["Policy"].as_str().expect("a queue policy")).unwrap();
    assert_eq!(
        queue_policy["Statement"][0]["Action"],
        json!("sqs:SendMessage")
    );
    assert_eq!(tags["eprun:stack"], json!(LOCAL_US), "{seen:?}");
    assert_eq!(
        tags["eprun:address"],
        json!("sqs.queue.karpenter"),
        "{seen:?}"
    );
    assert_eq!(tags["team"], json!("platform"), "{seen:?}");
    let (pattern, state, targets, rule_tags) = seen.rule.clone().expect("the rule exists");
    assert_eq!(
        pattern,
        json!({"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]})
    );
    assert_eq!(state, "ENABLED");
    assert_eq!(targets, [("karpenter".to_string(), queue_arn.clone())]);
    assert_eq!(rule_tags["eprun:stack"], json!(LOCAL_US), "{seen:?}");

    // With the state lost, the next apply finds every resource again (by name, the tags saying
    // whose it is) instead of making it twice.
    let state = project.state_path(LOCAL_US);
    std::fs::remove_file(&state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
    let adopted = run(&project, &moto, &["apply", "--yes"]);
    adopted.expect_success();
    assert!(
        adopted.stdout.contains("No changes."),
        "after a lost state nothing is made again\n{adopted}"
    );
    assert_eq!(project.state_resource_count(LOCAL_US), 7, "{adopted}");
    expect_no_changes(&project, &moto, "after the state was rebuilt");

    // A new policy document, a longer retention and another target id: all in place.
    project.edit(SCRIPT, |s| {
        s.replace(
            r#"Action: ["sqs:DeleteMessage", "sqs:ReceiveMessage"]"#,
            r#"Action: ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]"#,
        )
        .replace(
            "message_retention_seconds: 300",
            "message_retention_seconds: 600",
        )
        .replace(
            r#"#{ id: "karpenter", arn"#,
            r#"#{ id: "karpenter-queue", arn"#,
        )
    });
    let plan = run(&project, &moto, &["plan", "--json"]);
    plan.expect_success();
    let summary = &plan.json()["summary"];
    let counts = ["create", "update", "replace", "delete"].map(|c| summary[c].as_u64());
    assert_eq!(
        counts,
        [Some(0), Some(3), Some(0), Some(0)],
        "the policy, the queue and the rule are updated in place\n{plan}"
    );
    run(&project, &moto, &["apply", "--yes"]).expect_success();
    expect_no_changes(&project, &moto, "after the changes");
    let seen = read(&moto);
    let (version, doc, count) = seen.policy.clone().expect("the controller policy exists");
    assert_eq!(
        (version.as_str(), count),
        ("v2", 2),
        "a new default version: {seen:?}"
    );
    assert_eq!(
        doc["Statement"][0]["Action"],
        json!(["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"])
    );
    let (attributes, _) = seen.queue.clone().expect("the queue exists");
    assert_eq!(
        attributes["MessageRetentionPeriod"],
        json!("600"),
        "{seen:?}"
    );
    let (_, _, targets, _) = seen.rule.clone().expect("the rule exists");
    assert_eq!(targets, [("karpenter-queue".to_string(), queue_arn)]);
    assert_eq!(seen.attached, [policy_arn], "{seen:?}");

    let destroyed = run(&project, &moto, &["destroy", "--yes"]);
    destroyed.expect_success();
    let seen = read(&moto);
    assert!(
        seen.policy.is_none()
            && seen.attached.is_empty()
            && seen.profile_roles.is_none()
            && seen.queue.is_none()
            && seen.rule.is_none(),
        "everything is gone after destroy: {seen:?}\n{destroyed}"
    );
    assert_eq!(project.state_resource_count(LOCAL_US), 0, "{destroyed}");
}
