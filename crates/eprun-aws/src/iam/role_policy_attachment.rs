//! `aws::iam::role_policy_attachment`: a managed policy attached to a role (untaggable, found by
//! role and policy).
//!
//! Read with one paginated ListAttachedRolePolicies per role that the stack's natural keys name;
//! a role that is gone has nothing attached. A role that declares `managed_policy_arns` owns the
//! whole list: attach the same role's other policies there, not with this type.

use super::{attach, attached, detach};
use crate::Result;
use crate::adapter::{Attr, Description, Identity, New, found, known, resource};
use crate::invalid::Invalid;
use crate::props::str_prop;
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::{Aws, token};
use async_trait::async_trait;
use serde_json::json;
use std::collections::BTreeSet;

resource! {
    /// A managed policy attached to a role.
    pub struct RolePolicyAttachment: ROLE_POLICY_ATTACHMENT = "iam.role_policy_attachment",
        "Attaches a managed policy to a role.";
    reads Item;
    terraform "aws_iam_role_policy_attachment";
    props AttachmentProps {
        role: String = required(Str, "the name of the role"),
        policy_arn: String = required(Str, "the ARN of the managed policy to attach"),
    }
}

/// An attachment: the role's name and the policy's ARN.
type Item = (String, String);

/// `<role>|<policy_arn>`: role names cannot hold a `|`, so the first one splits the two.
fn id_of((role, arn): &Item) -> String {
    format!("{role}|{arn}")
}

/// The key of declared props, once the role and the policy are known.
fn key(props: &Props) -> Option<String> {
    let [role, arn] = known(props, ["role", "policy_arn"])?;
    Some(id_of(&(role.into(), arn.into())))
}

#[async_trait]
impl Description for RolePolicyAttachment {
    const ATTRIBUTES: &'static [Attr<Item>] =
        &[Attr::new("id", |_, item: &Item| json!(id_of(item))).note("`<role>|<policy_arn>`")];
    const IDENTITY: Identity = Identity::NaturalKey(key);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        let arn = str_prop(props, "policy_arn");
        match token::is_unknown(&json!(arn)) || arn.starts_with("arn:") {
            true => Ok(()),
            false => Err(Invalid::value(
                "policy_arn",
                format!(
                    "`{arn}` is not an ARN (`arn:aws:iam::…:policy/…`; an \
                 `iam.policy` handle's `arn`)"
                ),
            )),
        }
    }

    async fn list(&self, aws: &Aws, _: &str, hints: &ReadHints) -> Result<Vec<Item>> {
        let keys = &hints.natural_keys;
        let roles: BTreeSet<&str> = keys
            .iter()
            .filter_map(|k| Some(k.split_once('|')?.0))
            .collect();
        let mut out = Vec::new();
        for role in roles {
            let arns = found(attached(aws, role).await)?.unwrap_or_default();
            let items = arns.into_iter().map(|arn| (role.to_string(), arn));
            out.extend(items.filter(|item| keys.contains(&id_of(item))));
        }
        Ok(out)
    }

    async fn props(&self, _: &Aws, (role, arn): &Item) -> Result<AttachmentProps> {
        Ok(AttachmentProps {
            role: role.clone(),
            policy_arn: arn.clone(),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, AttachmentProps>) -> Result<Item> {
        let p = new.props;
        attach(aws, &p.role, &p.policy_arn).await?;
        Ok((p.role.clone(), p.policy_arn.clone()))
    }

    async fn delete(&self, aws: &Aws, _: &str, current: &AttachmentProps) -> Result<()> {
        detach(aws, &current.role, &current.policy_arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, obj, read_all, round_trip};
    use crate::resource::Resource;
    use aws_sdk_iam::Client;
    use aws_sdk_iam::error::ErrorMetadata;
    use aws_sdk_iam::operation::attach_role_policy::AttachRolePolicyOutput;
    use aws_sdk_iam::operation::list_attached_role_policies::{
        ListAttachedRolePoliciesError, ListAttachedRolePoliciesOutput,
    };
    use aws_sdk_iam::types::AttachedPolicy;
    use aws_sdk_iam::types::error::NoSuchEntityException;
    use aws_smithy_mocks::mock;

    const ARN: &str = "arn:aws:iam::123456789012:policy/karpenter";

    #[test]
    fn the_natural_key_waits_for_the_role_and_the_policy() {
        let p = obj(json!({"role": "karpenter", "policy_arn": ARN}));
        assert_eq!(
            ROLE_POLICY_ATTACHMENT.natural_key(&p).as_deref(),
            Some("karpenter|arn:aws:iam::123456789012:policy/karpenter")
        );
        let policy = token::marker(&"iam.policy.karpenter".parse().unwrap(), "arn");
        let p = obj(json!({"role": "karpenter", "policy_arn": policy}));
        assert_eq!(ROLE_POLICY_ATTACHMENT.natural_key(&p), None);
        let role = token::marker(&"iam.role.karpenter".parse().unwrap(), "name");
        let p = obj(json!({"role": role, "policy_arn": ARN}));
        assert_eq!(ROLE_POLICY_ATTACHMENT.natural_key(&p), None);
    }

    #[test]
    fn a_policy_name_is_not_an_arn() {
        let p = obj(json!({"role": "r", "policy_arn": "karpenter"}));
        let e = ROLE_POLICY_ATTACHMENT
            .validate(&p, &NoOthers)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not an ARN"), "{e}");
        let p = obj(json!({"role": "r", "policy_arn": ARN}));
        assert!(ROLE_POLICY_ATTACHMENT.validate(&p, &NoOthers).is_ok());
    }

    /// Two keys name the role `karpenter` (listed once) and one a role that is gone; of what
    /// is attached, only the expected attachments are reported.
    #[tokio::test]
    async fn read_lists_each_named_role_once_and_keeps_the_expected_attachments() {
        let list = mock!(Client::list_attached_role_policies)
            .match_requests(|r| r.role_name() == Some("karpenter"))
            .then_output(|| {
                let p = |arn: &str| AttachedPolicy::builder().policy_arn(arn).build();
                ListAttachedRolePoliciesOutput::builder()
                    .attached_policies(p(ARN))
                    .attached_policies(p("arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"))
                    .attached_policies(p("arn:aws:iam::aws:policy/SomeoneElses"))
                    .build()
            });
        let gone = mock!(Client::list_attached_role_policies)
            .match_requests(|r| r.role_name() == Some("gone"))
            .then_error(|| {
                let meta = ErrorMetadata::builder().code("NoSuchEntity").build();
                let e = NoSuchEntityException::builder().meta(meta).build();
                ListAttachedRolePoliciesError::NoSuchEntityException(e)
            });
        let aws = Aws::mocked(&[&list, &gone]);
        let hints = ReadHints {
            natural_keys: [
                format!("karpenter|{ARN}"),
                "karpenter|arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess".into(),
                format!("gone|{ARN}"),
            ]
            .into(),
            ..Default::default()
        };
        let found = read_all(&ROLE_POLICY_ATTACHMENT, &aws, "s", &hints).await;
        let mut keys: Vec<_> = found.iter().filter_map(|o| o.natural_key.clone()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "karpenter|arn:aws:iam::123456789012:policy/karpenter",
                "karpenter|arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"
            ]
        );
        assert_eq!((list.num_calls(), gone.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_created_attachment_round_trip_as_declared() {
        let attach = mock!(Client::attach_role_policy)
            .match_requests(|r| r.role_name() == Some("karpenter") && r.policy_arn() == Some(ARN))
            .then_output(|| AttachRolePolicyOutput::builder().build());
        let observed = round_trip(
            &ROLE_POLICY_ATTACHMENT,
            &Aws::mocked(&[&attach]),
            "iam.role_policy_attachment.karpenter",
            json!({"role": "karpenter", "policy_arn": ARN}),
        )
        .await;
        assert_eq!(observed.id, format!("karpenter|{ARN}"));
        assert_eq!(observed.natural_key, Some(observed.id.clone()));
        assert_eq!(attach.num_calls(), 1);
    }
}
