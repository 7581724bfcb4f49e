//! The AWS side of the controllers in the regional stack, read back with independent SDK clients
//! after applying the stack to moto and the local control plane: Karpenter's interruption queue
//! fed by four EventBridge rules, the nodes' instance profile and the controller's policy
//! (`stdlib/karpenter.rhai`), and the secret reads of External Secrets and the payment service
//! (`secrets::reader`), Fluent Bit's CloudWatch Logs writes and the ADOT collector's X-Ray writes
//! (`stdlib/observability.rhai`); and no IRSA role is left without a policy or holds `*` on `*`.

use crate::support::*;
use serde_json::{Value, json};

const CLUSTER: &str = "examplepay-local";

/// The default document of the customer policy `name`, and the policies attached to `role`.
fn policy_of(moto: &Moto, name: &str, role: &str) -> (Value, Vec<String>) {
    let iam = iam_client(moto, "us-east-1");
    let arn = format!("arn:aws:iam::123456789012:policy/{name}");
    block_on(async {
        let policy = iam.get_policy().policy_arn(&arn).send().await;
        let policy = policy.expect("GetPolicy").policy.expect("a policy");
        let version = policy.default_version_id().expect("a default version");
        let got = iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(version);
        let got = got.send().await.expect("GetPolicyVersion");
        let text = got
            .policy_version()
            .and_then(|v| v.document())
            .unwrap_or_default();
        let doc = serde_json::from_str(&decode_policy(text)).expect("a JSON document");
        let attached = iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await;
        let attached = attached.expect("ListAttachedRolePolicies");
        let arns = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn());
        (doc, arns.map(String::from).collect())
    })
}

/// Whether an IAM resource pattern matches `arn`: `*` any run of characters, `?` exactly one.
fn glob(pattern: &[u8], arn: &[u8]) -> bool {
    match (pattern.split_first(), arn.split_first()) {
        (None, _) => arn.is_empty(),
        (Some((b'*', rest)), _) => (0..=arn.len()).any(|i| glob(rest, &arn[i..])),
        (Some((b'?', rest)), Some((_, tail))) => glob(rest, tail),
        (Some((p, rest)), Some((a, tail))) => p == a && glob(rest, tail),
        (Some(_), None) => false,
    }
}

/// A statement's `Action` or `Resource` as a list, whether written as one string or several.
fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn karpenter_infrastructure_and_the_secret_readers_policies_are_applied_least_privilege() {
    let moto = Moto::start();
    let project = Project::new();
    let out = eprun(
        &project,
        &[
            "apply",
            "scripts/prod/us-east-1.rhai",
            "--env",
            LOCAL_US,
            "--yes",
        ],
    )
    .moto(&moto)
    .run();
    out.expect_success();

    // The queue is named after the cluster, keeps messages five minutes, and lets EventBridge send.
    let sqs = sqs_client(&moto, "us-east-1");
    let events = eventbridge_client(&moto, "us-east-1");
    let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:{CLUSTER}");
    let (retention, queue_policy, rules) = block_on(async {
        let url = sqs.get_queue_url().queue_name(CLUSTER).send().await;
        let url = url.expect("GetQueueUrl").queue_url.expect("a queue URL");
        let got = sqs.get_queue_attributes().queue_url(&url);
        let got = got.attribute_names(aws_sdk_sqs::types::QueueAttributeName::All);
        let attributes = got
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .unwrap_or_default();
        let attribute = |name| {
            let name = aws_sdk_sqs::types::QueueAttributeName::from(name);
            attributes.get(&name).cloned().unwrap_or_default()
        };
        let prefix = format!("{CLUSTER}-karpenter-");
        let rules = events.list_rules().name_prefix(&prefix).send().await;
        let mut seen = Vec::new();
        for rule in rules.expect("ListRules").rules() {
            let name = rule.name().unwrap_or_default().to_string();
            let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap_or_default())
                .expect("a JSON pattern");
            let targets = events.list_targets_by_rule().rule(&name).send().await;
            let targets = targets.expect("ListTargetsByRule");
            let arns: Vec<String> = targets
                .targets()
                .iter()
                .map(|t| t.arn().to_string())
                .collect();
            seen.push((name.trim_start_matches(&prefix).to_string(), pattern, arns));
        }
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        (
            attribute("MessageRetentionPeriod"),
            attribute("Policy"),
            seen,
        )
    });
    assert_eq!(retention, "300");
    let queue_policy: Value = serde_json::from_str(&queue_policy).expect("a queue policy");
    assert_eq!(
        queue_policy["Statement"][0]["Principal"]["Service"],
        json!(["events.amazonaws.com", "sqs.amazonaws.com"]),
        "{queue_policy}"
    );
    let expected = [
        (
            "instance-state-change",
            "aws.ec2",
            "EC2 Instance State-change Notification",
        ),
        (
            "rebalance",
            "aws.ec2",
            "EC2 Instance Rebalance Recommendation",
        ),
        ("scheduled-change", "aws.health", "AWS Health Event"),
        (
            "spot-interruption",
            "aws.ec2",
            "EC2 Spot Instance Interruption Warning",
        ),
    ];
    assert_eq!(rules.len(), expected.len(), "{rules:?}");
    for ((name, pattern, targets), (want, source, detail)) in rules.iter().zip(expected) {
        assert_eq!(name, want, "{rules:?}");
        assert_eq!(
            pattern,
            &json!({"source": [source], "detail-type": [detail]}),
            "{name}"
        );
        assert_eq!(
            targets,
            &[queue_arn.clone()],
            "the rule `{name}` feeds the queue"
        );
    }

    // The nodes' instance profile holds the cluster's node role.
    let iam = iam_client(&moto, "us-east-1");
    let roles = block_on(async {
        let got = iam
            .get_instance_profile()
            .instance_profile_name(format!("{CLUSTER}-karpenter-node"));
        let profile = got
            .send()
            .await
            .expect("GetInstanceProfile")
            .instance_profile;
        let profile = profile.expect("an instance profile");
        profile
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect::<Vec<_>>()
    });
    assert_eq!(roles, [format!("{CLUSTER}-node")]);

    // The controller's policy is attached to its IRSA role, and it is least privilege: every
    // action named, nothing but reads on all resources, the queue and the node role by ARN.
    let name = format!("{CLUSTER}-karpenter-controller");
    let (doc, attached) = policy_of(&moto, &name, &format!("{CLUSTER}-karpenter"));
    assert_eq!(
        attached,
        [format!("arn:aws:iam::123456789012:policy/{name}")]
    );
    let statements = doc["Statement"].as_array().expect("statements");
    for s in statements {
        let (actions, resources) = (list(&s["Action"]), list(&s["Resource"]));
        assert!(
            actions.iter().all(|a| !a.contains('*')),
            "no wildcard action: {s}"
        );
        if resources.iter().any(|r| r == "*") {
            let reads = |a: &String| a.starts_with("ec2:Describe") || a == "pricing:GetProducts";
            assert!(
                actions.iter().all(reads),
                "only reads on every resource: {s}"
            );
        }
    }
    let by_sid = |sid: &str| {
        let s = statements.iter().find(|s| s["Sid"] == sid);
        s.unwrap_or_else(|| panic!("no statement `{sid}` in {doc}"))
            .clone()
    };
    assert_eq!(
        by_sid("AllowInterruptionQueueActions")["Resource"],
        json!(queue_arn)
    );
    let pass = by_sid("AllowPassingInstanceRole");
    assert_eq!(
        pass["Resource"],
        json!(format!(
            "arn:aws:iam::123456789012:role/eprun/{LOCAL_US}/{CLUSTER}-node"
        )),
        "{pass}"
    );
    let delete = by_sid("AllowScopedDeletion");
    assert_eq!(
        delete["Condition"]["StringEquals"]
            [format!("aws:ResourceTag/kubernetes.io/cluster/{CLUSTER}")],
        "owned",
        "only the cluster's own instances are terminated: {delete}"
    );

    // External Secrets and the payment service read the stack's secrets, by ARN, and nothing else.
    let sm = secretsmanager_client(&moto, "us-east-1");
    let secret_arns: Vec<String> = block_on(async {
        let listed = sm.list_secrets().send().await.expect("ListSecrets");
        let arns = listed.secret_list().iter().filter_map(|s| s.arn());
        arns.map(String::from).collect()
    });
    assert_eq!(secret_arns.len(), 3, "{secret_arns:?}");
    for reader in ["external-secrets", "payment-service"] {
        let name = format!("{CLUSTER}-{reader}-secret-reads");
        let (doc, attached) = policy_of(&moto, &name, &format!("{CLUSTER}-{reader}"));
        assert_eq!(
            attached,
            [format!("arn:aws:iam::123456789012:policy/{name}")]
        );
        let statements = doc["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1, "{doc}");
        let actions = list(&statements[0]["Action"]);
        assert_eq!(
            actions,
            [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue"
            ]
        );
        let patterns = list(&statements[0]["Resource"]);
        assert_eq!(patterns.len(), 3, "one pattern per secret: {doc}");
        for arn in &secret_arns {
            let covered = patterns.iter().any(|p| glob(p.as_bytes(), arn.as_bytes()));
            assert!(covered, "`{arn}` is readable by {reader}: {doc}");
        }
    }

    // Fluent Bit writes the cluster's container logs to its one log group; nothing else.
    let name = format!("{CLUSTER}-fluent-bit-logs");
    let (doc, attached) = policy_of(&moto, &name, &format!("{CLUSTER}-fluent-bit"));
    assert_eq!(
        attached,
        [format!("arn:aws:iam::123456789012:policy/{name}")]
    );
    let group = format!("arn:aws:logs:us-east-1:*:log-group:/aws/eks/{CLUSTER}/containers");
    for s in doc["Statement"].as_array().expect("statements") {
        for resource in list(&s["Resource"]) {
            assert!(
                resource.starts_with(&group),
                "only the cluster's log group: {s}"
            );
        }
        assert!(
            list(&s["Action"])
                .iter()
                .all(|a| a.starts_with("logs:") && !a.contains('*')),
            "{s}"
        );
    }

    // The ADOT collector sends traces to X-Ray: X-Ray grants these only on `*`, so the actions
    // are named one by one, all writes and sampling reads.
    let name = format!("{CLUSTER}-adot-collector-traces");
    let (doc, attached) = policy_of(&moto, &name, &format!("{CLUSTER}-adot-collector"));
    assert_eq!(
        attached,
        [format!("arn:aws:iam::123456789012:policy/{name}")]
    );
    let actions = list(&doc["Statement"][0]["Action"]);
    assert!(
        actions.contains(&"xray:PutTraceSegments".to_string()),
        "{doc}"
    );
    assert!(
        actions.contains(&"xray:PutTelemetryRecords".to_string()),
        "{doc}"
    );
    assert!(
        actions
            .iter()
            .all(|a| a.starts_with("xray:Put") || a.starts_with("xray:GetSampling")),
        "{doc}"
    );

    // Every IRSA role has a policy for its workload, and no policy allows `*` on `*`.
    for sa in [
        "karpenter",
        "external-secrets",
        "payment-service",
        "fluent-bit",
        "adot-collector",
    ] {
        let role = format!("{CLUSTER}-{sa}");
        let attached = block_on(async {
            let got = iam
                .list_attached_role_policies()
                .role_name(&role)
                .send()
                .await;
            got.expect("ListAttachedRolePolicies")
                .attached_policies()
                .len()
        });
        assert!(attached > 0, "the IRSA role `{role}` has no policy");
    }
    let documents = block_on(async {
        let scope = aws_sdk_iam::types::PolicyScopeType::Local;
        let listed = iam.list_policies().scope(scope).send().await;
        let mut docs = Vec::new();
        for p in listed.expect("ListPolicies").policies() {
            let (arn, version) = (
                p.arn().unwrap_or_default(),
                p.default_version_id().unwrap_or_default(),
            );
            let got = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await;
            let text = got
                .expect("GetPolicyVersion")
                .policy_version
                .and_then(|v| v.document);
            docs.push((arn.to_string(), decode_policy(&text.unwrap_or_default())));
        }
        docs
    });
    assert!(documents.len() >= 5, "{documents:?}");
    for (arn, text) in documents {
        let doc: Value = serde_json::from_str(&text).expect("a JSON document");
        for s in doc["Statement"].as_array().expect("statements") {
            let everything = list(&s["Action"]).iter().any(|a| a == "*")
                && list(&s["Resource"]).iter().any(|r| r == "*");
            assert!(!everything, "`{arn}` allows `*` on `*`: {s}");
        }
    }
}
