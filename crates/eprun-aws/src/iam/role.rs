//! `aws::iam::role`: an IAM role under the stack's path, with its managed policies.
//!
//! Read with one paginated ListRoles (PathPrefix `/eprun/<stack>/`), then ListRoleTags and
//! ListAttachedRolePolicies for each role found (ListRoles does not return tags).

use super::{
    IamTags, PROPAGATION_TIMEOUT, answered_without, attach, attached, check_document, check_name,
    decode_policy, detach, iam_tags, pairs, policy_text, stack_path, unseen_principal,
};
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, by_name, found, resource};
use crate::all;
use crate::invalid::Invalid;
use crate::props::int_prop;
use crate::props::str_prop;
use crate::resource::{DeclaredProps, Props, ReadHints, gone_ok};
use crate::schema::TAGS;
use crate::{Aws, STACK_TAG, retry_while, sdk, tags};
use async_trait::async_trait;
use aws_sdk_iam::types::{InstanceProfile, Role as IamRole, Tag};
use serde_json::{Value, json};
use std::collections::BTreeSet;

resource! {
    /// An IAM role.
    pub struct Role: ROLE = "iam.role",
        "An IAM role, created under the path `/eprun/<stack>/`.";
    reads RoleItem;
    terraform "aws_iam_role";
    props RoleProps {
        name: String = required(Str, "the role name, unique in the account"),
        assume_role_policy: Value =
            required(Json, "the trust policy: who may assume the role").updatable(),
        description: Option<String> = optional(Str, "what the role is for"),
        managed_policy_arns: Option<Vec<String>> =
            optional(StrSet, "the managed policies attached to the role (exactly these)"),
        max_session_duration: Option<i32> =
            optional(Int, "the longest session, in seconds (3600 to 43200)").default("3600"),
    } + TAGS
}

/// A role as read: the role, its tags and the ARNs of its managed policies.
pub struct RoleItem {
    role: IamRole,
    tags: Vec<(String, String)>,
    policies: Vec<String>,
}

/// Reads the tags and managed policies of a listed role.
async fn read(aws: &Aws, role: IamRole) -> Result<RoleItem> {
    let name = role.role_name();
    let tags: Vec<Tag> = all!(
        aws.iam().list_role_tags().role_name(name),
        "ListRoleTags",
        name
    )?;
    let policies = attached(aws, name).await?;
    let tags = pairs(&tags);
    Ok(RoleItem {
        role,
        tags,
        policies,
    })
}

/// Attaches and detaches managed policies so that exactly `want` are attached.
async fn sync_policies(aws: &Aws, name: &str, have: &[String], want: &[String]) -> Result<()> {
    let (have, want): (BTreeSet<_>, BTreeSet<_>) = (have.iter().collect(), want.iter().collect());
    for arn in want.difference(&have) {
        attach(aws, name, arn).await?;
    }
    for arn in have.difference(&want) {
        detach(aws, name, arn).await?;
    }
    Ok(())
}

#[async_trait]
impl Description for Role {
    const ATTRIBUTES: &'static [Attr<RoleItem>] = &[
        Attr::new("id", |_, r: &RoleItem| json!(r.role.role_name())).note("the name"),
        Attr::new("arn", |_, r| json!(r.role.arn())),
        Attr::new("name", |_, r| json!(r.role.role_name())),
    ];
    const IDENTITY: Identity = Identity::Named(&IamTags::Role, by_name);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_name("role", str_prop(props, "name"), 64)?;
        if let Some(d) = int_prop(props, "max_session_duration") {
            if !(3600..=43200).contains(&d) {
                return Err(Invalid::value(
                    "max_session_duration",
                    format!("{d} is not between 3600 and 43200 seconds"),
                ));
            }
        }
        check_document(props, "assume_role_policy")
    }

    fn tags(&self, r: &RoleItem) -> Vec<(String, String)> {
        r.tags.clone()
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<RoleItem>> {
        let call = aws.iam().list_roles().path_prefix(stack_path(stack));
        let roles: Vec<IamRole> = all!(call, "ListRoles", stack)?;
        let mut out = Vec::new();
        // Re-checked: the path prefix is a prefix of strings, not of path segments.
        for role in roles.into_iter().filter(|r| r.path() == stack_path(stack)) {
            // Not found: listed a moment ago and deleted since.
            out.extend(found(read(aws, role).await)?);
        }
        // A role made outside eprun (imported, or by Terraform) has another path: found by name.
        let listed = |name: &String| out.iter().any(|r: &RoleItem| r.role.role_name() == name);
        let elsewhere: Vec<String> = hints
            .natural_keys
            .iter()
            .filter(|n| !listed(n))
            .cloned()
            .collect();
        for name in elsewhere {
            let got = aws.iam().get_role().role_name(&name).send().await;
            let role = found(got.map_err(sdk("GetRole", &name)))?.and_then(|g| g.role);
            if let Some(role) = role {
                out.extend(found(read(aws, role).await)?);
            }
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, r: &RoleItem) -> Result<RoleProps> {
        let role = &r.role;
        let policy = role.assume_role_policy_document().map(decode_policy);
        Ok(RoleProps {
            name: role.role_name().to_string(),
            assume_role_policy: json!(policy.unwrap_or_default()),
            description: Some(role.description().unwrap_or_default().to_string()),
            managed_policy_arns: Some(r.policies.clone()),
            max_session_duration: Some(role.max_session_duration().unwrap_or(3600)),
        })
    }

    /// CreateRole under the stack's path with the ownership tags, then attaches its managed policies.
    async fn create(&self, aws: &Aws, new: New<'_, RoleProps>) -> Result<RoleItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let stack: String = tags::kept(tags, STACK_TAG).unwrap_or_default();
        let call = aws
            .iam()
            .create_role()
            .role_name(&p.name)
            .path(stack_path(&stack))
            .assume_role_policy_document(policy_text(&p.assume_role_policy))
            .set_description(p.description.clone())
            .set_max_session_duration(p.max_session_duration)
            .set_tags(Some(iam_tags(tags)));
        // IAM does not see yet a principal made a moment ago (an OIDC provider): try again shortly.
        let out = retry_while(PROPAGATION_TIMEOUT, unseen_principal, || {
            let call = call.clone();
            async move { call.send().await.map_err(sdk("CreateRole", address)) }
        })
        .await?;
        let role = out
            .role
            .ok_or_else(|| answered_without("CreateRole", address, "the new role"))?;
        let policies = p.managed_policy_arns.clone().unwrap_or_default();
        sync_policies(aws, &p.name, &[], &policies).await?;
        Ok(RoleItem {
            role,
            tags: tags.to_vec(),
            policies,
        })
    }

    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, RoleProps>,
    ) -> Result<Option<RoleItem>> {
        let (on, changed, current, desired) =
            (changes.on, changes.fields, changes.current, changes.desired);
        let (iam, name) = (aws.iam(), on.id.as_str());
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("assume_role_policy") {
            let call = iam.update_assume_role_policy().role_name(name);
            let call = call.policy_document(policy_text(&desired.assume_role_policy));
            call.send()
                .await
                .map_err(sdk("UpdateAssumeRolePolicy", name))?;
        }
        if has("description") || has("max_session_duration") {
            let description = desired.description.clone().unwrap_or_default();
            let duration = desired.max_session_duration.unwrap_or(3600);
            iam.update_role()
                .role_name(name)
                .set_description(has("description").then_some(description))
                .set_max_session_duration(has("max_session_duration").then_some(duration))
                .send()
                .await
                .map_err(sdk("UpdateRole", name))?;
        }
        if has("managed_policy_arns") {
            let have = current.managed_policy_arns.as_deref().unwrap_or_default();
            let want = desired.managed_policy_arns.as_deref().unwrap_or_default();
            sync_policies(aws, name, have, want).await?;
        }
        Ok(None)
    }

    /// Detaches the managed policies, deletes inline policies and instance-profile memberships, then the role.
    async fn delete(&self, aws: &Aws, name: &str, _current: &RoleProps) -> Result<()> {
        let iam = aws.iam();
        sync_policies(aws, name, &attached(aws, name).await?, &[]).await?;
        let call = iam.list_role_policies().role_name(name);
        let inline: Vec<String> = all!(call, "ListRolePolicies", name)?;
        for policy in inline {
            let call = iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(&policy);
            let r = call.send().await.map(drop);
            gone_ok(r.map_err(sdk("DeleteRolePolicy", name)))?;
        }
        let call = iam.list_instance_profiles_for_role().role_name(name);
        let profiles: Vec<InstanceProfile> = all!(call, "ListInstanceProfilesForRole", name)?;
        for profile in profiles {
            let call = iam.remove_role_from_instance_profile().role_name(name);
            let r = call
                .instance_profile_name(profile.instance_profile_name)
                .send()
                .await;
            gone_ok(
                r.map(drop)
                    .map_err(sdk("RemoveRoleFromInstanceProfile", name)),
            )?;
        }
        let r = iam.delete_role().role_name(name).send().await;
        r.map(drop).map_err(sdk("DeleteRole", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ADDRESS_TAG;
    use crate::adapter::testing::{read_all, round_trip};
    use crate::resource::Resource;
    use aws_sdk_iam::Client;
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_role_tags::ListRoleTagsOutput;
    use aws_sdk_iam::operation::list_roles::ListRolesOutput;
    use aws_sdk_iam::types::{AttachedPolicy, Tag};
    use aws_smithy_mocks::mock;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    fn role(name: &str, path: &str) -> IamRole {
        IamRole::builder()
            .role_name(name)
            .role_id("AROA1")
            .path(path)
            .arn(format!("arn:aws:iam::123456789012:role{path}{name}"))
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            // IAM answers with the document URL-encoded.
            .assume_role_policy_document(
                TRUST
                    .replace('{', "%7B")
                    .replace('}', "%7D")
                    .replace('"', "%22")
                    .replace(':', "%3A"),
            )
            .max_session_duration(3600)
            .build()
            .unwrap()
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag::builder().key(k).value(v).build().unwrap()
    }

    #[tokio::test]
    async fn read_lists_by_path_and_round_trip_as_declared() {
        let list = mock!(Client::list_roles)
            .match_requests(|r| r.path_prefix() == Some("/eprun/prod/us-east-1/"))
            .then_output(|| {
                ListRolesOutput::builder()
                    .roles(role("examplepay-prod-cluster", "/eprun/prod/us-east-1/"))
                    // A prefix match of another stack's path (`prod/us-east-1-b`) is not ours.
                    .roles(role("other", "/eprun/prod/us-east-1-b/"))
                    .build()
                    .unwrap()
            });
        let tags = mock!(Client::list_role_tags).then_output(|| {
            ListRoleTagsOutput::builder()
                .tags(tag(STACK_TAG, "prod/us-east-1"))
                .tags(tag(ADDRESS_TAG, "iam.role.examplepay-prod-cluster"))
                .tags(tag("Project", "examplepay"))
                .build()
                .unwrap()
        });
        let policies = mock!(Client::list_attached_role_policies).then_output(|| {
            ListAttachedRolePoliciesOutput::builder()
                .attached_policies(
                    AttachedPolicy::builder()
                        .policy_arn("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
                        .build(),
                )
                .build()
        });
        let aws = Aws::mocked(&[&list, &tags, &policies]);
        let found = read_all(&ROLE, &aws, "prod/us-east-1", &ReadHints::default()).await;
        assert_eq!(found.len(), 1);
        assert_eq!(tags.num_calls(), 1);
        let declared = json!({
            "name": "examplepay-prod-cluster",
            "assume_role_policy": serde_json::from_str::<Value>(TRUST).unwrap(),
            "managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"],
            "tags": {"Project": "examplepay"},
        });
        let diff = crate::planner::diff(&ROLE, declared.as_object().unwrap(), &found[0], &[]);
        assert!(diff.is_empty(), "{diff:?}");
    }

    #[test]
    fn names_and_durations_are_checked() {
        let others = crate::declaration::Declarations::default();
        let ok =
            json!({"name": "examplepay-prod-karpenter", "assume_role_policy": {"Statement": []}});
        assert!(ROLE.validate(ok.as_object().unwrap(), &others).is_ok());
        let bad = json!({"name": "has space", "assume_role_policy": {"Statement": []}});
        assert!(
            ROLE.validate(bad.as_object().unwrap(), &others)
                .unwrap_err()
                .to_string()
                .contains("not a valid role name")
        );
        let bad = json!({"name": "x", "assume_role_policy": {"Statement": []}, "max_session_duration": 60});
        assert!(
            ROLE.validate(bad.as_object().unwrap(), &others)
                .unwrap_err()
                .to_string()
                .contains("3600 and 43200")
        );
    }

    #[tokio::test]
    async fn a_created_role_round_trip_as_declared() {
        let create = mock!(Client::create_role)
            .match_requests(|r| r.path() == Some("/eprun/test/"))
            .then_compute_output(|r| {
                aws_sdk_iam::operation::create_role::CreateRoleOutput::builder()
                    .role(role(r.role_name().unwrap_or_default(), "/eprun/test/"))
                    .build()
            });
        let attach = mock!(Client::attach_role_policy).then_output(|| {
            aws_sdk_iam::operation::attach_role_policy::AttachRolePolicyOutput::builder().build()
        });
        let observed = round_trip(
            &ROLE,
            &Aws::mocked(&[&create, &attach]),
            "iam.role.cluster",
            json!({
                "name": "examplepay-prod-cluster",
                "assume_role_policy": serde_json::from_str::<Value>(TRUST).unwrap(),
                "managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"],
                "tags": {"Project": "examplepay"},
            }),
        )
        .await;
        assert_eq!(observed.id, "examplepay-prod-cluster");
        assert_eq!(
            observed.attrs["arn"],
            "arn:aws:iam::123456789012:role/eprun/test/examplepay-prod-cluster"
        );
        assert_eq!(attach.num_calls(), 1);
    }
}
