//! `aws::iam::role`: an IAM role under the stack's path, with its managed policies.
//!
//! Read with one paginated ListRoles (PathPrefix `/eprun/<stack>/`), then ListRoleTags and
//! ListAttachedRolePolicies for each role found (ListRoles does not return tags).

use super::{decode_policy, iam_tags, pairs, stack_path};
use crate::context::Context;
use crate::ec2::{list_prop, props, str_prop};
use crate::eks::{int_prop, json_text, owner};
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use crate::{Aws, CloudError, CloudErrorKind};
use async_trait::async_trait;
use aws_sdk_iam::types::Role as IamRole;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// An IAM role.
pub struct Role;

const SCHEMA: &[Field] = &[
    Field::required("name", Kind::Str, "the role name, unique in the account"),
    Field::required(
        "assume_role_policy",
        Kind::Json,
        "the trust policy: who may assume the role",
    )
    .updatable(),
    Field::optional("description", Kind::Str, "what the role is for"),
    Field::optional(
        "managed_policy_arns",
        Kind::StrSet,
        "the managed policies attached to the role (exactly these)",
    ),
    Field::optional(
        "max_session_duration",
        Kind::Int,
        "the longest session, in seconds (3600 to 43200)",
    )
    .default("3600"),
    TAGS,
];

/// How long a new trust policy may wait for IAM to see a principal made just before (an OIDC provider).
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Checks a role name: 1 to 64 of letters, digits and `+=,.@_-`.
fn check_name(name: &str) -> Result<(), String> {
    if token::is_unknown(&json!(name)) {
        return Ok(());
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "property `name`: `{name}` is not a valid role name (1 to 64 letters, digits and `+=,.@_-`)"
        ))
    }
}

/// The attributes of a role.
fn attrs(role: &IamRole) -> Props {
    props([
        ("id", json!(role.role_name())),
        ("arn", json!(role.arn())),
        ("name", json!(role.role_name())),
    ])
}

/// The ARNs of the managed policies attached to a role.
async fn attached(iam: &aws_sdk_iam::Client, name: &str) -> Result<Vec<String>, CloudError> {
    let mut out = Vec::new();
    let mut pages = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::from_sdk("ListAttachedRolePolicies", name, e))?;
        out.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(String::from)),
        );
    }
    Ok(out)
}

/// Reads one role listed under the stack's path; `None` when its tags say it is another stack's.
async fn observe(
    iam: &aws_sdk_iam::Client,
    stack: &str,
    role: &IamRole,
) -> Result<Option<Observed>, CloudError> {
    let name = role.role_name();
    let mut all = Vec::new();
    let mut pages = iam.list_role_tags().role_name(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::from_sdk("ListRoleTags", name, e))?;
        all.extend(pairs(page.tags()));
    }
    let Some((address, user_tags)) = owner(stack, all).split() else {
        return Ok(None);
    };
    let policies = attached(iam, name).await?;
    Ok(Some(Observed {
        address,
        id: name.to_string(),
        natural_key: Some(name.to_string()),
        props: props([
            ("name", json!(name)),
            (
                "assume_role_policy",
                json!(
                    role.assume_role_policy_document()
                        .map(decode_policy)
                        .unwrap_or_default()
                ),
            ),
            ("description", json!(role.description().unwrap_or_default())),
            ("managed_policy_arns", json!(policies)),
            (
                "max_session_duration",
                json!(role.max_session_duration().unwrap_or(3600)),
            ),
            ("tags", user_tags),
        ]),
        attrs: attrs(role),
    }))
}

/// One paginated ListRoles under `/eprun/<stack>/`, then tags and policies of each role.
pub(crate) async fn read(
    iam: &aws_sdk_iam::Client,
    stack: &str,
) -> Result<Vec<Observed>, CloudError> {
    let mut roles = Vec::new();
    let mut pages = iam
        .list_roles()
        .path_prefix(stack_path(stack))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::from_sdk("ListRoles", stack, e))?;
        // Re-checked: the path prefix is a prefix of strings, not of path segments.
        roles.extend(
            page.roles()
                .iter()
                .filter(|r| r.path() == stack_path(stack))
                .cloned(),
        );
    }
    let mut out = Vec::new();
    for role in roles {
        match observe(iam, stack, &role).await {
            Ok(o) => out.extend(o),
            // Listed a moment ago and deleted since.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether an error is IAM not seeing yet a principal made a moment ago.
fn is_propagation(e: &CloudError) -> bool {
    e.kind == CloudErrorKind::Service("MalformedPolicyDocument".into())
        && e.message.contains("Invalid principal")
}

/// Attaches and detaches managed policies so that exactly `want` are attached.
async fn sync_policies(
    iam: &aws_sdk_iam::Client,
    name: &str,
    have: &[String],
    want: &[String],
) -> Result<(), CloudError> {
    let have: BTreeSet<&String> = have.iter().collect();
    let want: BTreeSet<&String> = want.iter().collect();
    for arn in want.difference(&have) {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(*arn)
            .send()
            .await
            .map_err(|e| crate::from_sdk("AttachRolePolicy", format!("{name} ({arn})"), e))?;
    }
    for arn in have.difference(&want) {
        let r = iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(*arn)
            .send()
            .await
            .map(drop)
            .map_err(|e| crate::from_sdk("DetachRolePolicy", format!("{name} ({arn})"), e));
        crate::resource::gone_ok(r)?;
    }
    Ok(())
}

/// CreateRole under the stack's path with the ownership tags, then attaches its managed policies.
pub(crate) async fn create(
    iam: &aws_sdk_iam::Client,
    req: &CreateRequest<'_>,
) -> Result<Observed, CloudError> {
    let p = req.props;
    let name = str_prop(p, "name");
    let target = req.address.to_string();
    let tags = iam_tags("CreateRole", &target, &req.tags)?;
    let policy = json_text(p, "assume_role_policy").unwrap_or_default();
    let began = std::time::Instant::now();
    let mut delay = Duration::from_secs(1);
    let role = loop {
        let out = iam
            .create_role()
            .role_name(name)
            .path(stack_path(req.stack))
            .assume_role_policy_document(&policy)
            .set_description(
                p.get("description")
                    .and_then(Value::as_str)
                    .map(String::from),
            )
            .set_max_session_duration(int_prop(p, "max_session_duration").map(|v| v as i32))
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateRole", &target, e));
        match out {
            Ok(out) => break out.role().cloned(),
            // IAM does not see yet a principal made a moment ago (an OIDC provider): try again shortly.
            Err(e) if is_propagation(&e) && began.elapsed() < PROPAGATION_TIMEOUT => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    };
    let role = role.ok_or_else(|| {
        CloudError::new(
            "CreateRole",
            &target,
            CloudErrorKind::Service("Empty".into()),
            "IAM answered without the new role",
        )
    })?;
    let policies = list_prop(p, "managed_policy_arns");
    sync_policies(iam, name, &[], &policies).await?;
    Ok(Observed {
        address: Some(req.address.clone()),
        id: name.to_string(),
        natural_key: Some(name.to_string()),
        props: props([
            ("name", json!(name)),
            ("assume_role_policy", json!(policy)),
            ("description", json!(role.description().unwrap_or_default())),
            ("managed_policy_arns", json!(policies)),
            (
                "max_session_duration",
                json!(role.max_session_duration().unwrap_or(3600)),
            ),
            (
                "tags",
                Value::Object(
                    crate::tags::user_tags(p)
                        .into_iter()
                        .map(|(k, v)| (k, json!(v)))
                        .collect(),
                ),
            ),
        ]),
        attrs: attrs(&role),
    })
}

/// Changes the trust policy, description, session length, managed policies and tags.
pub(crate) async fn update(
    iam: &aws_sdk_iam::Client,
    current: &Observed,
    desired: &Props,
    changed: &[String],
) -> Result<Observed, CloudError> {
    let name = current.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("assume_role_policy") {
        let policy = json_text(desired, "assume_role_policy").unwrap_or_default();
        iam.update_assume_role_policy()
            .role_name(name)
            .policy_document(policy)
            .send()
            .await
            .map_err(|e| crate::from_sdk("UpdateAssumeRolePolicy", name, e))?;
    }
    if has("description") || has("max_session_duration") {
        let mut call = iam.update_role().role_name(name);
        if has("description") {
            call = call.description(str_prop(desired, "description"));
        }
        if has("max_session_duration") {
            call = call.max_session_duration(
                int_prop(desired, "max_session_duration").unwrap_or(3600) as i32,
            );
        }
        call.send()
            .await
            .map_err(|e| crate::from_sdk("UpdateRole", name, e))?;
    }
    if has("managed_policy_arns") {
        let have = list_prop(&current.props, "managed_policy_arns");
        sync_policies(iam, name, &have, &list_prop(desired, "managed_policy_arns")).await?;
    }
    if has("tags") {
        let (set, remove) = crate::tags::tag_changes(&current.props, desired);
        if !set.is_empty() {
            iam.tag_role()
                .role_name(name)
                .set_tags(Some(iam_tags("TagRole", name, &set)?))
                .send()
                .await
                .map_err(|e| crate::from_sdk("TagRole", name, e))?;
        }
        if !remove.is_empty() {
            iam.untag_role()
                .role_name(name)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(|e| crate::from_sdk("UntagRole", name, e))?;
        }
    }
    Ok(current.updated(desired, changed))
}

/// Detaches the managed policies, deletes inline policies and instance-profile memberships, then the role.
pub(crate) async fn delete(
    iam: &aws_sdk_iam::Client,
    current: &Observed,
) -> Result<(), CloudError> {
    let name = current.id.as_str();
    let gone = |r: Result<(), CloudError>| crate::resource::gone_ok(r);
    let policies = match attached(iam, name).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    sync_policies(iam, name, &policies, &[]).await?;
    let mut inline = Vec::new();
    let mut pages = iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::from_sdk("ListRolePolicies", name, e))?;
        inline.extend(page.policy_names().iter().cloned());
    }
    for policy in inline {
        gone(
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("DeleteRolePolicy", name, e)),
        )?;
    }
    let mut profiles = Vec::new();
    let mut pages = iam
        .list_instance_profiles_for_role()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::from_sdk("ListInstanceProfilesForRole", name, e))?;
        profiles.extend(
            page.instance_profiles()
                .iter()
                .map(|p| p.instance_profile_name().to_string()),
        );
    }
    for profile in profiles {
        gone(
            iam.remove_role_from_instance_profile()
                .instance_profile_name(&profile)
                .role_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|e| crate::from_sdk("RemoveRoleFromInstanceProfile", name, e)),
        )?;
    }
    gone(
        iam.delete_role()
            .role_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| crate::from_sdk("DeleteRole", name, e)),
    )
}

#[async_trait]
impl Resource for Role {
    fn kind(&self) -> &'static str {
        "iam.role"
    }

    fn doc(&self) -> &'static str {
        "An IAM role, created under the path `/eprun/<stack>/`. Attributes: `id` (the name), `arn`, `name`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "name"]
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let name = props.get("name")?;
        if token::is_unknown(name) {
            return None;
        }
        name.as_str().map(String::from)
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check_name(str_prop(props, "name"))?;
        if let Some(d) = int_prop(props, "max_session_duration") {
            if !(3600..=43200).contains(&d) {
                return Err(format!(
                    "property `max_session_duration`: {d} is not between 3600 and 43200 seconds"
                ));
            }
        }
        match props.get("assume_role_policy") {
            Some(Value::Object(doc)) if !doc.contains_key("Statement") => {
                Err("property `assume_role_policy`: a policy document needs a `Statement`".into())
            }
            Some(Value::Array(_)) => Err(
                "property `assume_role_policy` must be a policy document (a map), not an array"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        read(&aws.iam(), stack).await
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        create(&aws.iam(), req).await
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        update(&aws.iam(), current, desired, changed).await
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        delete(&aws.iam(), current).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::testing;
    use crate::{ADDRESS_TAG, STACK_TAG};
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
    async fn read_lists_by_path_and_reads_back_as_declared() {
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
        let iam = testing::client(&[&list, &tags, &policies]);
        let found = read(&iam, "prod/us-east-1").await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(tags.num_calls(), 1);
        let declared = json!({
            "name": "examplepay-prod-cluster",
            "assume_role_policy": serde_json::from_str::<Value>(TRUST).unwrap(),
            "managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"],
            "tags": {"Project": "examplepay"},
        });
        let diff = crate::planner::diff(&Role, declared.as_object().unwrap(), &found[0], &[]);
        assert!(diff.is_empty(), "{diff:?}");
    }

    #[test]
    fn names_and_durations_are_checked() {
        let others = crate::declaration::Declarations::default();
        let ok =
            json!({"name": "examplepay-prod-karpenter", "assume_role_policy": {"Statement": []}});
        assert!(Role.validate(ok.as_object().unwrap(), &others).is_ok());
        let bad = json!({"name": "has space", "assume_role_policy": {"Statement": []}});
        assert!(
            Role.validate(bad.as_object().unwrap(), &others)
                .unwrap_err()
                .contains("not a valid role name")
        );
        let bad = json!({"name": "x", "assume_role_policy": {"Statement": []}, "max_session_duration": 60});
        assert!(
            Role.validate(bad.as_object().unwrap(), &others)
                .unwrap_err()
                .contains("3600 and 43200")
        );
    }
}
