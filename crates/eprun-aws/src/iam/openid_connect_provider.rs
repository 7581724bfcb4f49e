//! `aws::iam::openid_connect_provider`: an IAM OpenID Connect identity provider (for IRSA, the
//! provider of an EKS cluster's service-account tokens).
//!
//! Read with ListOpenIDConnectProviders and GetOpenIDConnectProvider for each (tags re-checked).
//! IAM keeps the URL without its scheme; it is reported with `https://`, as declared.

use super::{IamTags, answered_without, iam_tags, pairs};
use crate::Result;
use crate::adapter::{Attr, Change, Description, Identity, New, found, resource};
use crate::all;
use crate::invalid::Invalid;
use crate::props::{list_prop, str_prop};
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::token;
use crate::{Aws, sdk};
use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde_json::json;
use std::collections::BTreeSet;

resource! {
    /// An OpenID Connect identity provider.
    pub struct OpenIdConnectProvider: OPENID_CONNECT_PROVIDER = "iam.openid_connect_provider",
        "An IAM OpenID Connect provider (IRSA).";
    reads ProviderItem;
    terraform "aws_iam_openid_connect_provider";
    props ProviderProps {
        url: String =
            required(Str, "the issuer URL (`https://…`), e.g. an EKS cluster's `oidc_issuer`"),
        client_id_list: Option<Vec<String>> =
            optional(StrSet, "the audiences tokens may be issued for")
                .default("[\"sts.amazonaws.com\"]"),
        thumbprint_list: Option<Vec<String>> =
            optional(StrSet, "server certificate thumbprints (IAM finds them itself when left out)"),
    } + TAGS
}

/// The audience when none is declared.
const DEFAULT_CLIENT: &str = "sts.amazonaws.com";

/// A provider as read: its ARN, issuer, audiences, thumbprints and tags.
pub struct ProviderItem {
    arn: String,
    issuer: String,
    clients: Vec<String>,
    thumbprints: Vec<String>,
    tags: Vec<(String, String)>,
}

/// The issuer without its scheme: what IRSA trust policies use as the prefix of condition keys.
pub fn issuer_of(url: &str) -> &str {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
}

/// GetOpenIDConnectProvider, with the tags that some emulators leave out of it listed apart.
async fn read(aws: &Aws, arn: &str) -> Result<ProviderItem> {
    let iam = aws.iam();
    let get = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn);
    let out = get
        .send()
        .await
        .map_err(sdk("GetOpenIDConnectProvider", arn))?;
    let mut tags = pairs(out.tags());
    if tags.is_empty() {
        let call = iam
            .list_open_id_connect_provider_tags()
            .open_id_connect_provider_arn(arn);
        let listed: Vec<Tag> = all!(call, "ListOpenIDConnectProviderTags", arn)?;
        tags = pairs(&listed);
    }
    Ok(ProviderItem {
        arn: arn.to_string(),
        issuer: issuer_of(out.url().unwrap_or_default()).to_string(),
        clients: out.client_id_list().to_vec(),
        thumbprints: out.thumbprint_list().to_vec(),
        tags,
    })
}

#[async_trait]
impl Description for OpenIdConnectProvider {
    const ATTRIBUTES: &'static [Attr<ProviderItem>] = &[
        Attr::new("id", |_, p: &ProviderItem| json!(p.arn)).note("the ARN"),
        Attr::new("arn", |_, p| json!(p.arn)),
        Attr::new("url", |_, p| json!(format!("https://{}", p.issuer))),
        Attr::new("issuer", |_, p: &ProviderItem| json!(p.issuer))
            .note("the URL without `https://`, the prefix of IRSA condition keys"),
    ];
    const IDENTITY: Identity = Identity::Named(&IamTags::OpenIdConnectProvider, |p| {
        let url = p.get("url").filter(|u| !token::is_unknown(u))?;
        url.as_str().map(|u| issuer_of(u).to_string())
    });

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        let url = str_prop(props, "url");
        if !token::is_unknown(&json!(url)) && !url.starts_with("https://") {
            return Err(Invalid::value(
                "url",
                format!("`{url}` must start with `https://`"),
            ));
        }
        if let Some(bad) = list_prop(props, "thumbprint_list")
            .iter()
            .find(|t| t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(Invalid::value(
                "thumbprint_list",
                format!("`{bad}` is not a SHA-1 thumbprint (40 hex digits)"),
            ));
        }
        Ok(())
    }

    fn tags(&self, p: &ProviderItem) -> Vec<(String, String)> {
        p.tags.clone()
    }

    async fn list(&self, aws: &Aws, stack: &str, _hints: &ReadHints) -> Result<Vec<ProviderItem>> {
        let list = aws.iam().list_open_id_connect_providers().send().await;
        let list = list.map_err(sdk("ListOpenIDConnectProviders", stack))?;
        let mut out = Vec::new();
        for arn in list
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
        {
            out.extend(found(read(aws, arn).await)?);
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, p: &ProviderItem) -> Result<ProviderProps> {
        Ok(ProviderProps {
            url: format!("https://{}", p.issuer),
            client_id_list: Some(p.clients.clone()),
            thumbprint_list: Some(p.thumbprints.clone()),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, ProviderProps>) -> Result<ProviderItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let clients = p.client_id_list.clone();
        let clients = clients.unwrap_or_else(|| vec![DEFAULT_CLIENT.into()]);
        let thumbprints = p.thumbprint_list.clone().unwrap_or_default();
        let out = aws
            .iam()
            .create_open_id_connect_provider()
            .url(&p.url)
            .set_client_id_list(Some(clients.clone()))
            .set_thumbprint_list((!thumbprints.is_empty()).then(|| thumbprints.clone()))
            .set_tags(Some(iam_tags(tags)))
            .send()
            .await
            .map_err(sdk("CreateOpenIDConnectProvider", address))?;
        let arn = out.open_id_connect_provider_arn.ok_or_else(|| {
            let what = "the new provider's ARN";
            answered_without("CreateOpenIDConnectProvider", address, what)
        })?;
        // The thumbprints IAM found itself (when none were given) are read back by the next refresh.
        Ok(ProviderItem {
            arn,
            issuer: issuer_of(&p.url).to_string(),
            clients,
            thumbprints,
            tags: tags.to_vec(),
        })
    }

    /// Adds and removes audiences, or replaces the thumbprints.
    async fn update(&self, aws: &Aws, change: Change<'_, ProviderProps>) -> Result<()> {
        let (arn, field, current, desired) =
            (change.id, change.field, change.current, change.desired);
        let iam = aws.iam();
        if field == "thumbprint_list" {
            let call = iam.update_open_id_connect_provider_thumbprint();
            let call =
                call.set_thumbprint_list(Some(desired.thumbprint_list.clone().unwrap_or_default()));
            let r = call.open_id_connect_provider_arn(arn).send().await;
            r.map_err(sdk("UpdateOpenIDConnectProviderThumbprint", arn))?;
        } else if field == "client_id_list" {
            let have: BTreeSet<String> = current.client_id_list.iter().flatten().cloned().collect();
            let want: BTreeSet<String> = match &desired.client_id_list {
                Some(ids) => ids.iter().cloned().collect(),
                None => BTreeSet::from([DEFAULT_CLIENT.to_string()]),
            };
            for id in want.difference(&have) {
                let call = iam
                    .add_client_id_to_open_id_connect_provider()
                    .client_id(id);
                let r = call.open_id_connect_provider_arn(arn).send().await;
                r.map_err(sdk("AddClientIDToOpenIDConnectProvider", arn))?;
            }
            for id in have.difference(&want) {
                let call = iam
                    .remove_client_id_from_open_id_connect_provider()
                    .client_id(id);
                let r = call.open_id_connect_provider_arn(arn).send().await;
                r.map_err(sdk("RemoveClientIDFromOpenIDConnectProvider", arn))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, aws: &Aws, arn: &str, _: &ProviderProps) -> Result<()> {
        let call = aws.iam().delete_open_id_connect_provider();
        let r = call.open_id_connect_provider_arn(arn).send().await;
        r.map(drop).map_err(sdk("DeleteOpenIDConnectProvider", arn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{read_all, round_trip};
    use crate::resource::Resource;
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_iam::Client;
    use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput;
    use aws_sdk_iam::operation::list_open_id_connect_providers::ListOpenIdConnectProvidersOutput;
    use aws_sdk_iam::types::{OpenIdConnectProviderListEntry, Tag};
    use aws_smithy_mocks::mock;

    const ISSUER: &str = "oidc.eks.us-east-1.amazonaws.com/id/ABC";

    #[test]
    fn the_issuer_is_the_url_without_its_scheme() {
        assert_eq!(
            issuer_of("https://oidc.eks.us-east-1.amazonaws.com/id/ABC"),
            ISSUER
        );
        assert_eq!(issuer_of(ISSUER), ISSUER);
        let p = json!({"url": format!("https://{ISSUER}")});
        assert_eq!(
            OPENID_CONNECT_PROVIDER
                .natural_key(p.as_object().unwrap())
                .as_deref(),
            Some(ISSUER)
        );
    }

    #[tokio::test]
    async fn read_keeps_our_providers_and_reports_the_url_with_its_scheme() {
        let list = mock!(Client::list_open_id_connect_providers).then_output(|| {
            let e = |a: &str| OpenIdConnectProviderListEntry::builder().arn(a).build();
            ListOpenIdConnectProvidersOutput::builder()
                .open_id_connect_provider_list(e("arn:ours"))
                .open_id_connect_provider_list(e("arn:theirs"))
                .build()
        });
        let get = mock!(Client::get_open_id_connect_provider).then_compute_output(|r| {
            let stack = if r.open_id_connect_provider_arn() == Some("arn:ours") {
                "s"
            } else {
                "other"
            };
            let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
            GetOpenIdConnectProviderOutput::builder()
                .url(ISSUER)
                .client_id_list("sts.amazonaws.com")
                .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
                .tags(tag(STACK_TAG, stack))
                .tags(tag(ADDRESS_TAG, "iam.openid_connect_provider.eks"))
                .build()
        });
        let aws = Aws::mocked(&[&list, &get]);
        let found = read_all(&OPENID_CONNECT_PROVIDER, &aws, "s", &ReadHints::default()).await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].attrs["issuer"], json!(ISSUER));
        let declared = json!({"url": format!("https://{ISSUER}"), "tags": {}});
        assert!(
            crate::planner::diff(
                &OPENID_CONNECT_PROVIDER,
                declared.as_object().unwrap(),
                &found[0],
                &[]
            )
            .is_empty()
        );
    }

    #[tokio::test]
    async fn a_created_provider_round_trip_as_declared() {
        let create = mock!(Client::create_open_id_connect_provider)
            .match_requests(|r| r.client_id_list() == ["sts.amazonaws.com"] && r.thumbprint_list().is_empty())
            .then_output(|| {
                aws_sdk_iam::operation::create_open_id_connect_provider::CreateOpenIdConnectProviderOutput::builder()
                    .open_id_connect_provider_arn("arn:aws:iam::123456789012:oidc-provider/x")
                    .build()
            });
        let observed = round_trip(
            &OPENID_CONNECT_PROVIDER,
            &Aws::mocked(&[&create]),
            "iam.openid_connect_provider.eks",
            json!({"url": format!("https://{ISSUER}"), "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "arn:aws:iam::123456789012:oidc-provider/x");
        assert_eq!(observed.natural_key.as_deref(), Some(ISSUER));
        assert_eq!(observed.attrs["issuer"], json!(ISSUER));
        assert_eq!(observed.attrs["url"], json!(format!("https://{ISSUER}")));
    }
}
