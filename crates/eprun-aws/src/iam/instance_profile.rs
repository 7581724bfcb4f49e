//! `aws::iam::instance_profile`: an IAM instance profile and the one role it passes to EC2
//! instances (e.g. the profile of Karpenter's nodes).
//!
//! Found by name (its natural key): one GetInstanceProfile, which answers its tags and role, for
//! each name the stack declares or recorded. IAM cannot list profiles by tag, and
//! ListInstanceProfiles answers no tags.

use super::{IamTags, check_name, check_path, iam_tags, once_visible, pairs};
use crate::Result;
use crate::adapter::{Attr, Change, Description, Identity, New, by_name, found, resource};
use crate::invalid::Invalid;
use crate::props::str_prop;
use crate::resource::{DeclaredProps, Props, ReadHints, gone_ok};
use crate::schema::TAGS;
use crate::verbs::empty_answer;
use crate::{Aws, sdk};
use async_trait::async_trait;
use aws_sdk_iam::types::InstanceProfile as IamProfile;
use serde_json::json;

resource! {
    /// An instance profile.
    pub struct InstanceProfile: INSTANCE_PROFILE = "iam.instance_profile",
        "An IAM instance profile: the role EC2 instances it is given act as.";
    reads ProfileItem;
    terraform "aws_iam_instance_profile";
    props ProfileProps {
        name: String = required(Str, "the instance profile name, unique in the account"),
        path: Option<String> =
            optional(Str, "the IAM path the profile lives under (`/…/`)").default("\"/\"").force_new(),
        role: Option<String> =
            optional(Str, "the name of the role it passes to instances (a profile holds one)"),
    } + TAGS
}

/// A profile as read, and the name of its role (a new profile's is the one just added).
pub struct ProfileItem {
    profile: IamProfile,
    role: Option<String>,
}

impl From<IamProfile> for ProfileItem {
    fn from(profile: IamProfile) -> Self {
        let role = profile.roles().first().map(|r| r.role_name().to_string());
        ProfileItem { profile, role }
    }
}

/// GetInstanceProfile.
async fn get(aws: &Aws, name: &str) -> Result<IamProfile> {
    let call = aws.iam().get_instance_profile().instance_profile_name(name);
    let out = call.send().await.map_err(sdk("GetInstanceProfile", name))?;
    let profile = out.instance_profile;
    profile.ok_or_else(|| empty_answer("GetInstanceProfile", name, "instance profile"))
}

/// Adds `role` to the profile, once IAM sees the role (it may be new).
async fn add_role(aws: &Aws, name: &str, role: &str) -> Result<()> {
    let call = aws.iam().add_role_to_instance_profile();
    let call = call.instance_profile_name(name).role_name(role);
    once_visible(|| {
        let call = call.clone();
        async move {
            let r = call.send().await;
            r.map_err(sdk("AddRoleToInstanceProfile", name))
        }
    })
    .await
    .map(drop)
}

/// Removes `role` from the profile; a role already gone from it is what was asked.
async fn remove_role(aws: &Aws, name: &str, role: &str) -> Result<()> {
    let call = aws.iam().remove_role_from_instance_profile();
    let call = call.instance_profile_name(name).role_name(role);
    let r = call.send().await.map(drop);
    gone_ok(r.map_err(sdk("RemoveRoleFromInstanceProfile", name)))
}

#[async_trait]
impl Description for InstanceProfile {
    const ATTRIBUTES: &'static [Attr<ProfileItem>] = &[
        Attr::new("id", |_, p: &ProfileItem| {
            json!(p.profile.instance_profile_name())
        })
        .note("the name"),
        Attr::new("arn", |_, p| json!(p.profile.arn())),
        Attr::new("unique_id", |_, p| json!(p.profile.instance_profile_id())),
    ];
    const IDENTITY: Identity = Identity::Named(&IamTags::InstanceProfile, by_name);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_name("instance profile", str_prop(props, "name"), 128)?;
        check_path(props)
    }

    fn tags(&self, p: &ProfileItem) -> Vec<(String, String)> {
        pairs(p.profile.tags())
    }

    async fn list(&self, aws: &Aws, _stack: &str, hints: &ReadHints) -> Result<Vec<ProfileItem>> {
        let mut out = Vec::new();
        for name in &hints.natural_keys {
            out.extend(found(get(aws, name).await)?.map(ProfileItem::from));
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, p: &ProfileItem) -> Result<ProfileProps> {
        Ok(ProfileProps {
            name: p.profile.instance_profile_name().to_string(),
            path: Some(p.profile.path().to_string()),
            role: p.role.clone(),
        })
    }

    /// CreateInstanceProfile with the ownership tags, then AddRoleToInstanceProfile.
    async fn create(&self, aws: &Aws, new: New<'_, ProfileProps>) -> Result<ProfileItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let out = aws
            .iam()
            .create_instance_profile()
            .instance_profile_name(&p.name)
            .set_path(p.path.clone())
            .set_tags(Some(iam_tags(tags)))
            .send()
            .await
            .map_err(sdk("CreateInstanceProfile", address))?;
        let what = "instance profile";
        let profile = out
            .instance_profile
            .ok_or_else(|| empty_answer("CreateInstanceProfile", &address.to_string(), what))?;
        if let Some(role) = &p.role {
            add_role(aws, &p.name, role).await?;
        }
        Ok(ProfileItem {
            profile,
            role: p.role.clone(),
        })
    }

    /// Another role is the old one removed and the new one added: a profile holds one role.
    async fn update(&self, aws: &Aws, change: Change<'_, ProfileProps>) -> Result<()> {
        let name = change.id;
        if change.field != "role" {
            return Ok(());
        }
        if let Some(old) = &change.current.role {
            remove_role(aws, name, old).await?;
        }
        if let Some(new) = &change.desired.role {
            add_role(aws, name, new).await?;
        }
        Ok(())
    }

    /// Removes the roles it holds now (IAM refuses to delete it otherwise), then the profile.
    async fn delete(&self, aws: &Aws, name: &str, _current: &ProfileProps) -> Result<()> {
        let Some(profile) = found(get(aws, name).await)? else {
            return Ok(());
        };
        for role in profile.roles() {
            remove_role(aws, name, role.role_name()).await?;
        }
        let call = aws
            .iam()
            .delete_instance_profile()
            .instance_profile_name(name);
        let r = call.send().await.map(drop);
        r.map_err(sdk("DeleteInstanceProfile", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{read_all, round_trip};
    use crate::resource::Observed;
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_iam::Client;
    use aws_sdk_iam::operation::add_role_to_instance_profile::AddRoleToInstanceProfileOutput;
    use aws_sdk_iam::operation::create_instance_profile::CreateInstanceProfileOutput;
    use aws_sdk_iam::operation::delete_instance_profile::DeleteInstanceProfileOutput;
    use aws_sdk_iam::operation::get_instance_profile::GetInstanceProfileOutput;
    use aws_sdk_iam::operation::remove_role_from_instance_profile::RemoveRoleFromInstanceProfileOutput;
    use aws_sdk_iam::types::{Role as IamRole, Tag};
    use aws_smithy_mocks::mock;
    use serde_json::Value;

    /// What GetInstanceProfile answers for `profile`.
    fn got(profile: IamProfile) -> GetInstanceProfileOutput {
        GetInstanceProfileOutput::builder()
            .instance_profile(profile)
            .build()
    }

    fn profile(name: &str, role: Option<&str>) -> IamProfile {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
        let role = role.map(|r| {
            IamRole::builder()
                .role_name(r)
                .role_id("AROA1")
                .path("/")
                .arn(format!("arn:aws:iam::123456789012:role/{r}"))
                .create_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
        IamProfile::builder()
            .instance_profile_name(name)
            .instance_profile_id("AIPA1")
            .path("/")
            .arn(format!("arn:aws:iam::123456789012:instance-profile/{name}"))
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .set_roles(Some(role.into_iter().collect()))
            .tags(tag(STACK_TAG, "s"))
            .tags(tag(ADDRESS_TAG, "iam.instance_profile.nodes"))
            .build()
            .unwrap()
    }

    fn props(role: Option<&str>) -> ProfileProps {
        let p = json!({"name": "karpenter-nodes", "role": role});
        serde_json::from_value(p).unwrap()
    }

    #[tokio::test]
    async fn read_gets_each_expected_name_and_reports_its_role() {
        let get = mock!(Client::get_instance_profile)
            .match_requests(|r| r.instance_profile_name() == Some("karpenter-nodes"))
            .then_output(|| got(profile("karpenter-nodes", Some("karpenter-node"))));
        let aws = Aws::mocked(&[&get]);
        let hints = ReadHints {
            natural_keys: ["karpenter-nodes".to_string()].into(),
            ..Default::default()
        };
        let found = read_all(&INSTANCE_PROFILE, &aws, "s", &hints).await;
        assert_eq!(found.len(), 1);
        let declared = json!({"name": "karpenter-nodes", "role": "karpenter-node", "tags": {}});
        let diff = crate::planner::diff(
            &INSTANCE_PROFILE,
            declared.as_object().unwrap(),
            &found[0],
            &[],
        );
        assert!(diff.is_empty(), "{diff:?}");
        let none = read_all(&INSTANCE_PROFILE, &aws, "s", &ReadHints::default()).await;
        assert_eq!((none, get.num_calls()), (Vec::<Observed>::new(), 1));
    }

    #[tokio::test]
    async fn another_role_is_the_old_one_removed_and_the_new_one_added() {
        let remove = mock!(Client::remove_role_from_instance_profile)
            .match_requests(|r| r.role_name() == Some("old"))
            .then_output(|| RemoveRoleFromInstanceProfileOutput::builder().build());
        let add = mock!(Client::add_role_to_instance_profile)
            .match_requests(|r| r.role_name() == Some("new"))
            .then_output(|| AddRoleToInstanceProfileOutput::builder().build());
        let aws = Aws::mocked(&[&remove, &add]);
        let (none, old, new) = (props(None), props(Some("old")), props(Some("new")));
        let change = |current| Change {
            id: "karpenter-nodes",
            field: "role",
            current,
            desired: &new,
        };
        InstanceProfile.update(&aws, change(&old)).await.unwrap();
        assert_eq!((remove.num_calls(), add.num_calls()), (1, 1));
        InstanceProfile.update(&aws, change(&none)).await.unwrap();
        assert_eq!((remove.num_calls(), add.num_calls()), (1, 2));
    }

    #[tokio::test]
    async fn delete_removes_the_role_it_holds_first() {
        let get = mock!(Client::get_instance_profile)
            .then_output(|| got(profile("karpenter-nodes", Some("added-by-hand"))));
        let remove = mock!(Client::remove_role_from_instance_profile)
            .match_requests(|r| r.role_name() == Some("added-by-hand"))
            .then_output(|| RemoveRoleFromInstanceProfileOutput::builder().build());
        let delete = mock!(Client::delete_instance_profile)
            .then_output(|| DeleteInstanceProfileOutput::builder().build());
        let aws = Aws::mocked(&[&get, &remove, &delete]);
        InstanceProfile
            .delete(&aws, "karpenter-nodes", &props(Some("karpenter-node")))
            .await
            .unwrap();
        assert_eq!((remove.num_calls(), delete.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_created_profile_round_trip_as_declared() {
        let create = mock!(Client::create_instance_profile)
            .match_requests(|r| r.tags().iter().any(|t| t.key() == STACK_TAG))
            .then_compute_output(|r| {
                let p = profile(r.instance_profile_name().unwrap_or_default(), None);
                CreateInstanceProfileOutput::builder()
                    .instance_profile(p)
                    .build()
            });
        let add = mock!(Client::add_role_to_instance_profile)
            .match_requests(|r| r.role_name() == Some("karpenter-node"))
            .then_output(|| AddRoleToInstanceProfileOutput::builder().build());
        let aws = Aws::mocked(&[&create, &add]);
        let declared: Value = json!({"name": "karpenter-nodes", "role": "karpenter-node", "tags": {"team": "platform"}});
        let observed = round_trip(
            &INSTANCE_PROFILE,
            &aws,
            "iam.instance_profile.nodes",
            declared,
        )
        .await;
        assert_eq!(add.num_calls(), 1);
        assert_eq!(observed.id, "karpenter-nodes");
        assert_eq!(observed.attrs["unique_id"], json!("AIPA1"));
    }
}
