//! `aws::iam::policy`: a customer managed IAM policy; a new document becomes its default version.
//!
//! IAM cannot list policies by tag, and ListPolicies answers neither tags nor documents, so the
//! stack finds its policies by name (their natural key; names are unique in an account whatever
//! the path): one paginated ListPolicies (scope `Local`), then GetPolicy (with its tags) and
//! GetPolicyVersion (the default document) for the names the stack declares or recorded only.

use super::{
    IamTags, check_document, check_name, check_path, decode_policy, iam_tags, pairs, policy_text,
};
use crate::Result;
use crate::adapter::{Attr, Change, Description, Identity, New, by_name, found, resource};
use crate::all;
use crate::invalid::Invalid;
use crate::props::str_prop;
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::verbs::empty_answer;
use crate::{Aws, CloudError, sdk};
use async_trait::async_trait;
use aws_sdk_iam::types::{Policy as IamPolicy, PolicyScopeType, PolicyVersion};
use serde_json::{Value, json};

resource! {
    /// A customer managed policy.
    pub struct Policy: POLICY = "iam.policy",
        "A customer managed IAM policy; a changed document becomes its new default version.";
    reads PolicyItem;
    terraform "aws_iam_policy";
    props PolicyProps {
        name: String = required(Str, "the policy name, unique in the account"),
        path: Option<String> =
            optional(Str, "the IAM path the policy lives under (`/…/`)").default("\"/\"").force_new(),
        description: Option<String> =
            optional(Str, "what the policy allows (IAM cannot change it later)").force_new(),
        policy: Value = required(Json, "the policy document").updatable(),
    } + TAGS
}

/// How many versions IAM keeps of one policy.
const MAX_VERSIONS: usize = 5;

/// A policy as read: the policy (with its tags) and its default version's document.
pub struct PolicyItem {
    policy: IamPolicy,
    document: String,
}

/// GetPolicy and GetPolicyVersion of its default version.
async fn read(aws: &Aws, arn: &str) -> Result<PolicyItem> {
    let iam = aws.iam();
    let out = iam.get_policy().policy_arn(arn).send().await;
    let policy = out.map_err(sdk("GetPolicy", arn))?.policy;
    let policy = policy.ok_or_else(|| empty_answer("GetPolicy", arn, "policy"))?;
    let version = policy.default_version_id();
    let version = version.ok_or_else(|| empty_answer("GetPolicy", arn, "default version"))?;
    let call = iam.get_policy_version().policy_arn(arn).version_id(version);
    let out = call.send().await.map_err(sdk("GetPolicyVersion", arn))?;
    let document = out.policy_version.and_then(|v| v.document);
    Ok(PolicyItem {
        document: decode_policy(&document.unwrap_or_default()),
        policy,
    })
}

/// Every version of a policy.
async fn versions(aws: &Aws, arn: &str) -> Result<Vec<PolicyVersion>> {
    all!(
        aws.iam().list_policy_versions().policy_arn(arn),
        "ListPolicyVersions",
        arn
    )
}

/// The number of a version id (`v7` is 7): IAM numbers versions in the order they were made.
fn number(version: &PolicyVersion) -> Option<u64> {
    version.version_id()?.strip_prefix('v')?.parse().ok()
}

/// The oldest version that is not the default: the one to give up when all five are taken.
fn oldest_spare(versions: &[PolicyVersion]) -> Option<&str> {
    let spare = versions.iter().filter(|v| !v.is_default_version());
    spare
        .min_by_key(|v| number(v).unwrap_or(u64::MAX))?
        .version_id()
}

async fn delete_version(aws: &Aws, arn: &str, version: &str) -> Result<()> {
    let call = aws.iam().delete_policy_version().policy_arn(arn);
    let r = call.version_id(version).send().await;
    r.map(drop).map_err(sdk("DeletePolicyVersion", arn))
}

/// Makes `document` the default version, giving up the oldest other version first when IAM's
/// five are taken (the default one is never deleted, so a rollback is one version away).
async fn new_version(aws: &Aws, arn: &str, document: &str) -> Result<()> {
    let versions = versions(aws, arn).await?;
    if versions.len() >= MAX_VERSIONS
        && let Some(oldest) = oldest_spare(&versions)
    {
        delete_version(aws, arn, oldest).await?;
    }
    let call = aws.iam().create_policy_version().policy_arn(arn);
    let call = call.policy_document(document).set_as_default(true);
    call.send()
        .await
        .map(drop)
        .map_err(sdk("CreatePolicyVersion", arn))
}

/// The error of a policy IAM will not delete while it is attached: it names the policy and what
/// holds it, and says to detach it.
async fn still_attached(aws: &Aws, arn: &str, cause: CloudError) -> CloudError {
    let holders = aws.iam().list_entities_for_policy().policy_arn(arn);
    let holders = holders.send().await.ok();
    let names = holders.iter().flat_map(|h| {
        let roles = h.policy_roles().iter().filter_map(|r| r.role_name());
        let users = h.policy_users().iter().filter_map(|u| u.user_name());
        let groups = h.policy_groups().iter().filter_map(|g| g.group_name());
        let roles = roles.map(|n| format!("role `{n}`"));
        let users = users.map(|n| format!("user `{n}`"));
        roles
            .chain(users)
            .chain(groups.map(|n| format!("group `{n}`")))
    });
    let names: Vec<String> = names.collect();
    let by = match names.is_empty() {
        true => String::new(),
        false => format!(" to {}", names.join(", ")),
    };
    CloudError {
        message: format!(
            "policy `{arn}` is still attached{by}: detach it first (remove the \
             `iam.role_policy_attachment` or the `managed_policy_arns` entry that attaches it) \
             ({})",
            cause.message
        ),
        ..cause
    }
}

#[async_trait]
impl Description for Policy {
    const ATTRIBUTES: &'static [Attr<PolicyItem>] = &[
        Attr::new("id", |_, p: &PolicyItem| json!(p.policy.arn())).note("the ARN"),
        Attr::new("arn", |_, p| json!(p.policy.arn())),
        Attr::new("name", |_, p| json!(p.policy.policy_name())),
        Attr::new("policy_id", |_, p| json!(p.policy.policy_id())),
    ];
    const IDENTITY: Identity = Identity::Named(&IamTags::Policy, by_name);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_name("policy", str_prop(props, "name"), 128)?;
        check_path(props)?;
        check_document(props, "policy")
    }

    fn tags(&self, p: &PolicyItem) -> Vec<(String, String)> {
        pairs(p.policy.tags())
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<PolicyItem>> {
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        let call = aws.iam().list_policies().scope(PolicyScopeType::Local);
        let policies: Vec<IamPolicy> = all!(call, "ListPolicies", stack)?;
        let expected = |p: &&IamPolicy| {
            p.policy_name()
                .is_some_and(|n| hints.natural_keys.contains(n))
        };
        let mut out = Vec::new();
        for arn in policies.iter().filter(expected).filter_map(|p| p.arn()) {
            // Not found: listed a moment ago and deleted since.
            out.extend(found(read(aws, arn).await)?);
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, p: &PolicyItem) -> Result<PolicyProps> {
        let policy = &p.policy;
        Ok(PolicyProps {
            name: policy.policy_name().unwrap_or_default().to_string(),
            path: Some(policy.path().unwrap_or("/").to_string()),
            description: Some(policy.description().unwrap_or_default().to_string()),
            policy: json!(p.document),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, PolicyProps>) -> Result<PolicyItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let document = policy_text(&p.policy);
        let out = aws
            .iam()
            .create_policy()
            .policy_name(&p.name)
            .set_path(p.path.clone())
            .policy_document(&document)
            .set_description(p.description.clone())
            .set_tags(Some(iam_tags(tags)))
            .send()
            .await
            .map_err(sdk("CreatePolicy", address))?;
        let target = address.to_string();
        let mut policy = out
            .policy
            .ok_or_else(|| empty_answer("CreatePolicy", &target, "policy"))?;
        // CreatePolicy's answer leaves the description out.
        policy.description = p.description.clone();
        Ok(PolicyItem { policy, document })
    }

    async fn update(&self, aws: &Aws, change: Change<'_, PolicyProps>) -> Result<()> {
        match change.field {
            "policy" => new_version(aws, change.id, &policy_text(&change.desired.policy)).await,
            _ => Ok(()),
        }
    }

    /// Deletes the versions that are not the default, then the policy (IAM refuses otherwise).
    async fn delete(&self, aws: &Aws, arn: &str, _current: &PolicyProps) -> Result<()> {
        for version in versions(aws, arn).await? {
            if let (false, Some(id)) = (version.is_default_version(), version.version_id()) {
                delete_version(aws, arn, id).await?;
            }
        }
        let r = aws.iam().delete_policy().policy_arn(arn).send().await;
        match r.map_err(sdk("DeletePolicy", arn)) {
            Err(e) if e.is("DeleteConflict") => Err(still_attached(aws, arn, e).await),
            r => r.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, read_all, round_trip};
    use crate::resource::{Observed, Resource};
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_iam::Client;
    use aws_sdk_iam::error::ErrorMetadata;
    use aws_sdk_iam::operation::create_policy::CreatePolicyOutput;
    use aws_sdk_iam::operation::create_policy_version::CreatePolicyVersionOutput;
    use aws_sdk_iam::operation::delete_policy::{DeletePolicyError, DeletePolicyOutput};
    use aws_sdk_iam::operation::delete_policy_version::DeletePolicyVersionOutput;
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
    use aws_sdk_iam::operation::list_policies::ListPoliciesOutput;
    use aws_sdk_iam::operation::list_policy_versions::ListPolicyVersionsOutput;
    use aws_sdk_iam::types::error::DeleteConflictException;
    use aws_sdk_iam::types::{PolicyRole, Tag};
    use aws_smithy_mocks::mock;
    use std::sync::{Arc, Mutex};

    const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"*"}]}"#;
    const ARN: &str = "arn:aws:iam::123456789012:policy/karpenter";

    fn policy(name: &str) -> IamPolicy {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
        IamPolicy::builder()
            .policy_name(name)
            .policy_id("ANPA1")
            .arn(format!("arn:aws:iam::123456789012:policy/{name}"))
            .path("/")
            .default_version_id("v2")
            .description("Karpenter's controller")
            .tags(tag(STACK_TAG, "s"))
            .tags(tag(ADDRESS_TAG, "iam.policy.karpenter"))
            .tags(tag("team", "platform"))
            .build()
    }

    fn version(id: &str, default: bool) -> PolicyVersion {
        PolicyVersion::builder()
            .version_id(id)
            .is_default_version(default)
            .build()
    }

    fn versions_output(ids: &[(&'static str, bool)]) -> aws_smithy_mocks::Rule {
        let ids = ids.to_vec();
        mock!(Client::list_policy_versions).then_output(move || {
            let all = ids.iter().map(|(id, d)| version(id, *d));
            ListPolicyVersionsOutput::builder()
                .set_versions(Some(all.collect()))
                .build()
        })
    }

    fn declared() -> Value {
        json!({
            "name": "karpenter",
            "description": "Karpenter's controller",
            "policy": serde_json::from_str::<Value>(DOC).unwrap(),
            "tags": {"team": "platform"},
        })
    }

    /// The calls a test's mocks saw, in order.
    #[derive(Clone, Default)]
    struct Calls(Arc<Mutex<Vec<String>>>);

    impl Calls {
        fn note(&self, call: String) {
            self.0.lock().unwrap().push(call);
        }

        fn seen(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn the_oldest_version_that_is_not_the_default_goes_first() {
        let all = [
            version("v10", false),
            version("v7", true),
            version("v9", false),
            version("v8", false),
            version("v11", false),
        ];
        // v7 is older but the default; v8 < v9 < v10 by number, not as text.
        assert_eq!(oldest_spare(&all), Some("v8"));
        assert_eq!(oldest_spare(&[version("v1", true)]), None);
    }

    /// Changes the declared policy's document to `document` through `aws` (mocked).
    async fn update_document(aws: &Aws, document: Value) {
        let have: PolicyProps = serde_json::from_value(declared()).unwrap();
        let mut want: PolicyProps = serde_json::from_value(declared()).unwrap();
        want.policy = document;
        let change = Change {
            id: ARN,
            field: "policy",
            current: &have,
            desired: &want,
        };
        Policy.update(aws, change).await.unwrap();
    }

    #[tokio::test]
    async fn a_new_document_replaces_the_oldest_spare_version_when_five_are_kept() {
        let calls = Calls::default();
        let list = versions_output(&[
            ("v3", false),
            ("v4", false),
            ("v5", true),
            ("v6", false),
            ("v7", false),
        ]);
        let seen = calls.clone();
        let delete = mock!(Client::delete_policy_version)
            .match_requests(|r| r.version_id() == Some("v3"))
            .then_compute_output(move |r| {
                seen.note(format!("delete {}", r.version_id().unwrap_or_default()));
                DeletePolicyVersionOutput::builder().build()
            });
        let seen = calls.clone();
        let create = mock!(Client::create_policy_version)
            .match_requests(|r| r.set_as_default() == Some(true))
            .then_compute_output(move |r| {
                seen.note(format!(
                    "create {}",
                    r.policy_document().unwrap_or_default()
                ));
                CreatePolicyVersionOutput::builder().build()
            });
        let aws = Aws::mocked(&[&list, &delete, &create]);
        let document = json!({"Version": "2012-10-17", "Statement": []});
        update_document(&aws, document).await;
        assert_eq!(
            calls.seen(),
            [
                "delete v3",
                r#"create {"Version":"2012-10-17","Statement":[]}"#
            ]
        );
    }

    #[tokio::test]
    async fn fewer_than_five_versions_keep_them_all() {
        let list = versions_output(&[("v1", false), ("v2", true)]);
        let create = mock!(Client::create_policy_version)
            .then_output(|| CreatePolicyVersionOutput::builder().build());
        let aws = Aws::mocked(&[&list, &create]);
        update_document(&aws, declared()["policy"].clone()).await;
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn delete_removes_the_spare_versions_and_names_what_still_holds_it() {
        let list = versions_output(&[("v1", false), ("v2", true)]);
        let delete_version = mock!(Client::delete_policy_version)
            .match_requests(|r| r.version_id() == Some("v1"))
            .then_output(|| DeletePolicyVersionOutput::builder().build());
        let delete =
            mock!(Client::delete_policy).then_output(|| DeletePolicyOutput::builder().build());
        let aws = Aws::mocked(&[&list, &delete_version, &delete]);
        let p: PolicyProps = serde_json::from_value(declared()).unwrap();
        Policy.delete(&aws, ARN, &p).await.unwrap();
        assert_eq!((delete_version.num_calls(), delete.num_calls()), (1, 1));

        let list = versions_output(&[("v2", true)]);
        let conflict = mock!(Client::delete_policy).then_error(|| {
            let meta = ErrorMetadata::builder().code("DeleteConflict").build();
            let e = DeleteConflictException::builder()
                .message("attached")
                .meta(meta);
            DeletePolicyError::DeleteConflictException(e.build())
        });
        let holders = mock!(Client::list_entities_for_policy).then_output(|| {
            let role = PolicyRole::builder()
                .role_name("karpenter-controller")
                .build();
            ListEntitiesForPolicyOutput::builder()
                .policy_roles(role)
                .build()
        });
        let aws = Aws::mocked(&[&list, &conflict, &holders]);
        let e = Policy.delete(&aws, ARN, &p).await.unwrap_err();
        assert!(e.is("DeleteConflict"), "{e}");
        assert!(
            e.message.contains(&format!(
                "policy `{ARN}` is still attached to role `karpenter-controller`: detach it first"
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn read_finds_expected_names_and_decodes_the_default_document() {
        let list = mock!(Client::list_policies)
            .match_requests(|r| r.scope() == Some(&PolicyScopeType::Local))
            .then_output(|| {
                ListPoliciesOutput::builder()
                    .policies(policy("karpenter"))
                    .policies(policy("someone-elses"))
                    .build()
            });
        let get = mock!(Client::get_policy).then_output(|| {
            GetPolicyOutput::builder()
                .policy(policy("karpenter"))
                .build()
        });
        let get_version = mock!(Client::get_policy_version)
            .match_requests(|r| r.version_id() == Some("v2"))
            .then_output(|| {
                // IAM answers with the document URL-encoded.
                let encoded = DOC
                    .replace('{', "%7B")
                    .replace('}', "%7D")
                    .replace('"', "%22")
                    .replace(':', "%3A");
                let v = PolicyVersion::builder().document(encoded).build();
                GetPolicyVersionOutput::builder().policy_version(v).build()
            });
        let aws = Aws::mocked(&[&list, &get, &get_version]);
        let hints = ReadHints {
            natural_keys: ["karpenter".to_string()].into(),
            ..Default::default()
        };
        let found = POLICY.read_all(&aws.context(), "s", &hints).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(get.num_calls(), 1, "only the expected name is read");
        assert_eq!(found[0].natural_key.as_deref(), Some("karpenter"));
        let declared = declared();
        let diff = crate::planner::diff(&POLICY, declared.as_object().unwrap(), &found[0], &[]);
        assert!(diff.is_empty(), "{diff:?}");
        let none = read_all(&POLICY, &aws, "s", &ReadHints::default()).await;
        assert_eq!((none, list.num_calls()), (Vec::<Observed>::new(), 1));
    }

    #[test]
    fn names_paths_and_documents_are_checked() {
        let check = |v: Value| POLICY.validate(v.as_object().unwrap(), &NoOthers);
        assert!(check(declared()).is_ok());
        let bad = json!({"name": "has space", "policy": {"Statement": []}});
        assert!(
            check(bad)
                .unwrap_err()
                .to_string()
                .contains("not a valid policy name")
        );
        let bad = json!({"name": "p", "path": "eprun", "policy": {"Statement": []}});
        assert!(
            check(bad)
                .unwrap_err()
                .to_string()
                .contains("must start and end with `/`")
        );
        let bad = json!({"name": "p", "policy": {"Version": "2012-10-17"}});
        assert!(
            check(bad)
                .unwrap_err()
                .to_string()
                .contains("needs a `Statement`")
        );
    }

    #[tokio::test]
    async fn a_created_policy_round_trip_as_declared() {
        let create = mock!(Client::create_policy)
            .match_requests(|r| r.tags().iter().any(|t| t.key() == STACK_TAG))
            .then_compute_output(|r| {
                let mut p = policy(r.policy_name().unwrap_or_default());
                p.description = None;
                p.tags = None;
                CreatePolicyOutput::builder().policy(p).build()
            });
        let observed = round_trip(
            &POLICY,
            &Aws::mocked(&[&create]),
            "iam.policy.karpenter",
            declared(),
        )
        .await;
        assert_eq!(observed.id, "arn:aws:iam::123456789012:policy/karpenter");
        assert_eq!(observed.attrs["policy_id"], json!("ANPA1"));
        assert_eq!(observed.natural_key.as_deref(), Some("karpenter"));
    }
}
