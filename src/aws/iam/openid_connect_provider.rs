//! `aws::iam::openid_connect_provider`: an IAM OpenID Connect identity provider (for IRSA, the
//! provider of an EKS cluster's service-account tokens).
//!
//! Read with ListOpenIDConnectProviders and GetOpenIDConnectProvider for each (tags re-checked).
//! IAM keeps the URL without its scheme; it is reported with `https://`, as declared.

use super::{iam_tags, pairs};
use crate::aws::ec2::{list_prop, props, str_prop};
use crate::aws::eks::owner;
use crate::aws::{Aws, CloudError, CloudErrorKind};
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::token;
use async_trait::async_trait;
use serde_json::json;
use std::collections::BTreeSet;

/// An OpenID Connect identity provider.
pub struct OpenIdConnectProvider;

const SCHEMA: &[Field] = &[
    Field::required(
        "url",
        Kind::Str,
        "the issuer URL (`https://…`), e.g. an EKS cluster's `oidc_issuer`",
    ),
    Field::optional(
        "client_id_list",
        Kind::StrSet,
        "the audiences tokens may be issued for",
    )
    .default("[\"sts.amazonaws.com\"]"),
    Field::optional(
        "thumbprint_list",
        Kind::StrSet,
        "server certificate thumbprints (IAM finds them itself when left out)",
    ),
    TAGS,
];

/// The issuer without its scheme: what IRSA trust policies use as the prefix of condition keys.
pub fn issuer_of(url: &str) -> &str {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
}

/// The attributes of a provider.
fn attrs(arn: &str, url: &str) -> Props {
    props([
        ("id", json!(arn)),
        ("arn", json!(arn)),
        ("url", json!(url)),
        ("issuer", json!(issuer_of(url))),
    ])
}

/// Reads one provider; `None` when its tags say it is another stack's (or it is gone).
async fn observe(
    iam: &aws_sdk_iam::Client,
    stack: &str,
    arn: &str,
) -> Result<Option<Observed>, CloudError> {
    let out = match iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let e = CloudError::from_sdk("GetOpenIDConnectProvider", arn, e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let mut tags = pairs(out.tags());
    if tags.is_empty() {
        // Some emulators leave the tags out of GetOpenIDConnectProvider.
        let mut pages = iam
            .list_open_id_connect_provider_tags()
            .open_id_connect_provider_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| CloudError::from_sdk("ListOpenIDConnectProviderTags", arn, e))?;
            tags.extend(pairs(page.tags()));
        }
    }
    let Some((address, user_tags)) = owner(stack, tags).split() else {
        return Ok(None);
    };
    let url = format!("https://{}", issuer_of(out.url().unwrap_or_default()));
    Ok(Some(Observed {
        address,
        id: arn.to_string(),
        natural_key: Some(issuer_of(&url).to_string()),
        props: props([
            ("url", json!(url)),
            ("client_id_list", json!(out.client_id_list())),
            ("thumbprint_list", json!(out.thumbprint_list())),
            ("tags", user_tags),
        ]),
        attrs: attrs(arn, &url),
    }))
}

/// ListOpenIDConnectProviders, then GetOpenIDConnectProvider for each.
pub(crate) async fn read(
    iam: &aws_sdk_iam::Client,
    stack: &str,
) -> Result<Vec<Observed>, CloudError> {
    let list = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| CloudError::from_sdk("ListOpenIDConnectProviders", stack, e))?;
    let mut out = Vec::new();
    for arn in list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
    {
        out.extend(observe(iam, stack, arn).await?);
    }
    Ok(out)
}

/// CreateOpenIDConnectProvider with the ownership tags.
pub(crate) async fn create(
    iam: &aws_sdk_iam::Client,
    req: &CreateRequest<'_>,
) -> Result<Observed, CloudError> {
    let p = req.props;
    let url = str_prop(p, "url");
    let target = req.address.to_string();
    let clients = match p.get("client_id_list") {
        Some(_) => list_prop(p, "client_id_list"),
        None => vec!["sts.amazonaws.com".to_string()],
    };
    let thumbprints = list_prop(p, "thumbprint_list");
    let out = iam
        .create_open_id_connect_provider()
        .url(url)
        .set_client_id_list(Some(clients.clone()))
        .set_thumbprint_list((!thumbprints.is_empty()).then(|| thumbprints.clone()))
        .set_tags(Some(iam_tags(&req.tags)))
        .send()
        .await
        .map_err(|e| CloudError::from_sdk("CreateOpenIDConnectProvider", &target, e))?;
    let arn = out.open_id_connect_provider_arn().ok_or_else(|| {
        CloudError::new(
            "CreateOpenIDConnectProvider",
            &target,
            CloudErrorKind::Service("Empty".into()),
            "IAM answered without the new provider's ARN",
        )
    })?;
    // The thumbprints IAM found itself (when none were given) are read back by the next refresh.
    let url = format!("https://{}", issuer_of(url));
    Ok(Observed {
        address: Some(req.address.clone()),
        id: arn.to_string(),
        natural_key: Some(issuer_of(&url).to_string()),
        props: props([
            ("url", json!(url)),
            ("client_id_list", json!(clients)),
            ("thumbprint_list", json!(thumbprints)),
            (
                "tags",
                serde_json::Value::Object(
                    crate::aws::tags::user_tags(p)
                        .into_iter()
                        .map(|(k, v)| (k, json!(v)))
                        .collect(),
                ),
            ),
        ]),
        attrs: attrs(arn, &url),
    })
}

/// Adds and removes audiences, replaces thumbprints, and changes tags.
pub(crate) async fn update(
    iam: &aws_sdk_iam::Client,
    current: &Observed,
    desired: &Props,
    changed: &[String],
) -> Result<Observed, CloudError> {
    let arn = current.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("client_id_list") {
        let have: BTreeSet<String> = list_prop(&current.props, "client_id_list")
            .into_iter()
            .collect();
        let want: BTreeSet<String> = match desired.get("client_id_list") {
            Some(_) => list_prop(desired, "client_id_list").into_iter().collect(),
            None => BTreeSet::from(["sts.amazonaws.com".to_string()]),
        };
        for id in want.difference(&have) {
            iam.add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .map_err(|e| CloudError::from_sdk("AddClientIDToOpenIDConnectProvider", arn, e))?;
        }
        for id in have.difference(&want) {
            iam.remove_client_id_from_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .map_err(|e| {
                    CloudError::from_sdk("RemoveClientIDFromOpenIDConnectProvider", arn, e)
                })?;
        }
    }
    if has("thumbprint_list") {
        iam.update_open_id_connect_provider_thumbprint()
            .open_id_connect_provider_arn(arn)
            .set_thumbprint_list(Some(list_prop(desired, "thumbprint_list")))
            .send()
            .await
            .map_err(|e| CloudError::from_sdk("UpdateOpenIDConnectProviderThumbprint", arn, e))?;
    }
    if has("tags") {
        let (set, remove) = crate::aws::tags::tag_changes(&current.props, desired);
        if !set.is_empty() {
            iam.tag_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .set_tags(Some(iam_tags(&set)))
                .send()
                .await
                .map_err(|e| CloudError::from_sdk("TagOpenIDConnectProvider", arn, e))?;
        }
        if !remove.is_empty() {
            iam.untag_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(|e| CloudError::from_sdk("UntagOpenIDConnectProvider", arn, e))?;
        }
    }
    Ok(current.updated(desired, changed))
}

/// DeleteOpenIDConnectProvider.
pub(crate) async fn delete(
    iam: &aws_sdk_iam::Client,
    current: &Observed,
) -> Result<(), CloudError> {
    let arn = current.id.as_str();
    crate::resource::gone_ok(
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map(drop)
            .map_err(|e| CloudError::from_sdk("DeleteOpenIDConnectProvider", arn, e)),
    )
}

#[async_trait]
impl Resource for OpenIdConnectProvider {
    fn kind(&self) -> &'static str {
        "iam.openid_connect_provider"
    }

    fn doc(&self) -> &'static str {
        "An IAM OpenID Connect provider (IRSA). Attributes: `id` and `arn` (the ARN), `url`, `issuer` (the URL without `https://`, the prefix of IRSA condition keys)."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "url", "issuer"]
    }

    fn natural_key(&self, props: &Props) -> Option<String> {
        let url = props.get("url")?;
        if token::is_unknown(url) {
            return None;
        }
        url.as_str().map(|u| issuer_of(u).to_string())
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        let url = str_prop(props, "url");
        if !token::is_unknown(&json!(url)) && !url.starts_with("https://") {
            return Err(format!(
                "property `url`: `{url}` must start with `https://`"
            ));
        }
        if let Some(bad) = list_prop(props, "thumbprint_list")
            .iter()
            .find(|t| t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(format!(
                "property `thumbprint_list`: `{bad}` is not a SHA-1 thumbprint (40 hex digits)"
            ));
        }
        Ok(())
    }

    async fn read_all(
        &self,
        aws: &Aws,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        read(&aws.iam(), stack).await
    }

    async fn create(&self, aws: &Aws, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        create(&aws.iam(), req).await
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        update(&aws.iam(), current, desired, changed).await
    }

    async fn delete(&self, aws: &Aws, current: &Observed) -> Result<(), CloudError> {
        delete(&aws.iam(), current).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::iam::testing;
    use crate::aws::{ADDRESS_TAG, STACK_TAG};
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
            OpenIdConnectProvider
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
        let iam = testing::client(&[&list, &get]);
        let found = read(&iam, "s").await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].attrs["issuer"], json!(ISSUER));
        let declared = json!({"url": format!("https://{ISSUER}"), "tags": {}});
        assert!(
            crate::planner::diff(
                &OpenIdConnectProvider,
                declared.as_object().unwrap(),
                &found[0],
                &[]
            )
            .is_empty()
        );
    }
}
