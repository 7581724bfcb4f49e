//! `aws::ec2::vpc_endpoint`: a Gateway or Interface VPC endpoint.

use super::{
    bool_prop, list_prop, pairs, props, stack_filter, str_prop, tag_spec, unsuccessful, untagged,
    update_tags,
};
use crate::context::Context;
use crate::resource::{CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, CloudErrorKind, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, VpcEndpointType};
use serde_json::{Value, json};
use std::time::Duration;

/// A VPC endpoint: a Gateway one joins route tables, an Interface one puts network interfaces in subnets.
pub struct VpcEndpoint;

const SCHEMA: &[Field] = &[
    Field::required("vpc_id", Kind::Str, "the VPC"),
    Field::required(
        "service_name",
        Kind::Str,
        "the service, e.g. `com.amazonaws.us-east-1.s3`",
    ),
    Field::optional(
        "vpc_endpoint_type",
        Kind::Enum(&["Interface", "Gateway"]),
        "the endpoint type",
    )
    .default("\"Gateway\"")
    .force_new(),
    Field::optional(
        "subnet_ids",
        Kind::StrSet,
        "Interface: the subnets to put network interfaces in",
    ),
    Field::optional(
        "security_group_ids",
        Kind::StrSet,
        "Interface: the security groups of its network interfaces",
    ),
    Field::optional(
        "route_table_ids",
        Kind::StrSet,
        "Gateway: the route tables that get a route to the service",
    ),
    Field::optional(
        "private_dns_enabled",
        Kind::Bool,
        "Interface: answer the service's public DNS name privately",
    )
    .default("false"),
    Field::optional(
        "policy",
        Kind::Json,
        "the endpoint policy; AWS allows full access when left out",
    ),
    TAGS,
];

/// Interface endpoints take a few minutes to become available and to go away.
const TIMEOUT: Duration = Duration::from_secs(900);

/// AWS spells endpoint states both `available` and `Available`.
fn state_of(ep: &aws_sdk_ec2::types::VpcEndpoint) -> String {
    ep.state()
        .map(|s| s.as_str().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The policy text to send: a JSON string prop as written, a map as JSON.
fn policy_text(props: &Props) -> Option<String> {
    match props.get("policy")? {
        Value::String(s) => Some(s.clone()),
        doc => Some(doc.to_string()),
    }
}

/// The (to add, to remove) ids that turn `current` into `desired` for a set prop.
fn set_changes(current: &Props, desired: &Props, key: &str) -> (Vec<String>, Vec<String>) {
    let (have, want) = (list_prop(current, key), list_prop(desired, key));
    let add = want
        .iter()
        .filter(|id| !have.contains(id))
        .cloned()
        .collect();
    let remove = have
        .iter()
        .filter(|id| !want.contains(id))
        .cloned()
        .collect();
    (add, remove)
}

/// Set props that mean nothing for an endpoint type; declaring them is a mistake AWS would reject.
fn foreign_props(endpoint_type: &str) -> &'static [&'static str] {
    if endpoint_type == "Interface" {
        &["route_table_ids"]
    } else {
        &["subnet_ids", "security_group_ids", "private_dns_enabled"]
    }
}

impl VpcEndpoint {
    fn observe(aws: &Aws, stack: &str, ep: &aws_sdk_ec2::types::VpcEndpoint) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(ep.tags()))?;
        let id = ep.vpc_endpoint_id().unwrap_or_default().to_string();
        let endpoint_type = ep
            .vpc_endpoint_type()
            .map(|t| t.as_str())
            .unwrap_or("Gateway");
        let mut p = props([
            ("vpc_id", json!(ep.vpc_id().unwrap_or_default())),
            ("service_name", json!(ep.service_name().unwrap_or_default())),
            ("vpc_endpoint_type", json!(endpoint_type)),
            ("tags", user_tags),
        ]);
        // Only what the type uses, so a declaration that leaves the other type's fields out diffs clean.
        if endpoint_type == "Interface" {
            p.insert("subnet_ids".into(), json!(ep.subnet_ids()));
            let groups: Vec<&str> = ep.groups().iter().filter_map(|g| g.group_id()).collect();
            p.insert("security_group_ids".into(), json!(groups));
            p.insert(
                "private_dns_enabled".into(),
                json!(ep.private_dns_enabled().unwrap_or(false)),
            );
        } else {
            p.insert("route_table_ids".into(), json!(ep.route_table_ids()));
        }
        if let Some(doc) = ep.policy_document() {
            p.insert(
                "policy".into(),
                serde_json::from_str(doc).unwrap_or_else(|_| json!(doc)),
            );
        }
        let arn = format!(
            "arn:aws:ec2:{}:{}:vpc-endpoint/{id}",
            aws.region(),
            ep.owner_id().unwrap_or_default()
        );
        let dns: Vec<&str> = ep
            .dns_entries()
            .iter()
            .filter_map(|d| d.dns_name())
            .collect();
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: p,
            attrs: props([
                ("id", json!(id)),
                ("arn", json!(arn)),
                ("dns_names", json!(dns)),
            ]),
        })
    }

    async fn describe(
        aws: &Aws,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::VpcEndpoint>, CloudError> {
        match aws
            .ec2()
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.vpc_endpoints().first().cloned()),
            Err(e) => match crate::from_sdk("DescribeVpcEndpoints", id, e) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn until_available(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        let Some(ep) = Self::describe(aws, id).await? else {
            return Ok(WaitState::Pending("not visible yet".into()));
        };
        let state = state_of(&ep);
        Ok(match state.as_str() {
            "available" => WaitState::Ready,
            "failed" | "rejected" | "expired" | "deleted" | "deleting" => {
                WaitState::Failed(format!(
                    "the endpoint ended in state `{state}`{}",
                    ep.failure_reason()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ))
            }
            _ => WaitState::Pending(state),
        })
    }

    async fn until_deleted(aws: &Aws, id: &str) -> Result<WaitState, CloudError> {
        Ok(match Self::describe(aws, id).await? {
            None => WaitState::Ready,
            Some(ep) if state_of(&ep) == "deleted" => WaitState::Ready,
            Some(ep) => WaitState::Pending(state_of(&ep)),
        })
    }
}

#[async_trait]
impl Resource for VpcEndpoint {
    fn kind(&self) -> &'static str {
        "ec2.vpc_endpoint"
    }

    fn doc(&self) -> &'static str {
        "A Gateway or Interface VPC endpoint. Attributes: `id`, `arn`, `dns_names`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["id", "arn", "dns_names"]
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        let endpoint_type = match str_prop(props, "vpc_endpoint_type") {
            "" => "Gateway",
            t => t,
        };
        match foreign_props(endpoint_type)
            .iter()
            .find(|k| props.contains_key(**k))
        {
            Some(k) => Err(format!(
                "property `{k}` does not apply to a `{endpoint_type}` endpoint"
            )),
            None => Ok(()),
        }
    }

    async fn read_all(
        &self,
        cx: &Context,
        stack: &str,
        _hints: &ReadHints,
    ) -> Result<Vec<Observed>, CloudError> {
        let aws = &Aws::of(cx)?;
        let mut pages = aws
            .ec2()
            .describe_vpc_endpoints()
            .filters(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("DescribeVpcEndpoints", stack, e))?;
            for ep in page.vpc_endpoints() {
                // Deleted endpoints stay listed for a while; they are not the stack's any more.
                if matches!(state_of(ep).as_str(), "deleted" | "deleting") {
                    continue;
                }
                out.extend(Self::observe(aws, stack, ep));
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let endpoint_type = match str_prop(p, "vpc_endpoint_type") {
            "" => "Gateway",
            t => t,
        };
        let interface = endpoint_type == "Interface";
        let nonempty = |key: &str| Some(list_prop(p, key)).filter(|ids| !ids.is_empty());
        let out = aws
            .ec2()
            .create_vpc_endpoint()
            .vpc_id(str_prop(p, "vpc_id"))
            .service_name(str_prop(p, "service_name"))
            .vpc_endpoint_type(VpcEndpointType::from(endpoint_type))
            .set_subnet_ids(nonempty("subnet_ids"))
            .set_security_group_ids(nonempty("security_group_ids"))
            .set_route_table_ids(nonempty("route_table_ids"))
            // AWS turns private DNS on by default; the schema's default is off, so always say which.
            .set_private_dns_enabled(
                interface.then(|| bool_prop(p, "private_dns_enabled").unwrap_or(false)),
            )
            .set_policy_document(policy_text(p))
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateVpcEndpoint", req.address, e))?;
        let id = out
            .vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .unwrap_or_default()
            .to_string();
        wait_until("CreateVpcEndpoint", &id, TIMEOUT, || {
            Self::until_available(aws, &id)
        })
        .await?;
        Self::describe(aws, &id)
            .await?
            .and_then(|ep| Self::observe(aws, req.stack, &ep))
            .ok_or_else(|| untagged("CreateVpcEndpoint", req.address, "VPC endpoint"))
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let mut call = aws.ec2().modify_vpc_endpoint().vpc_endpoint_id(&current.id);
        let mut modify = false;
        if has("route_table_ids") {
            let (add, remove) = set_changes(&current.props, desired, "route_table_ids");
            call = call
                .set_add_route_table_ids(Some(add))
                .set_remove_route_table_ids(Some(remove));
            modify = true;
        }
        if has("subnet_ids") {
            let (add, remove) = set_changes(&current.props, desired, "subnet_ids");
            call = call
                .set_add_subnet_ids(Some(add))
                .set_remove_subnet_ids(Some(remove));
            modify = true;
        }
        if has("security_group_ids") {
            let (add, remove) = set_changes(&current.props, desired, "security_group_ids");
            call = call
                .set_add_security_group_ids(Some(add))
                .set_remove_security_group_ids(Some(remove));
            modify = true;
        }
        if has("private_dns_enabled") {
            call = call
                .private_dns_enabled(bool_prop(desired, "private_dns_enabled").unwrap_or(false));
            modify = true;
        }
        if has("policy") {
            call = match policy_text(desired) {
                Some(doc) => call.policy_document(doc),
                None => call.reset_policy(true),
            };
            modify = true;
        }
        if modify {
            let out = call
                .send()
                .await
                .map_err(|e| crate::from_sdk("ModifyVpcEndpoint", &current.id, e))?;
            if out.r#return() == Some(false) {
                return Err(CloudError::new(
                    "ModifyVpcEndpoint",
                    &current.id,
                    CloudErrorKind::Service("Return".into()),
                    "AWS did not apply the change",
                ));
            }
        }
        if has("tags") {
            update_tags(aws, &current.id, &current.props, desired).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        // The batch call reports a per-endpoint failure in its answer, not as an error.
        let sent = aws
            .ec2()
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(&current.id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DeleteVpcEndpoints", &current.id, e))
            .and_then(|out| unsuccessful("DeleteVpcEndpoints", &current.id, out.unsuccessful()));
        match sent {
            Err(e) if e.is_not_found() => return Ok(()),
            other => other?,
        }
        wait_until("DeleteVpcEndpoints", &current.id, TIMEOUT, || {
            Self::until_deleted(aws, &current.id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    struct NoOthers;

    impl DeclaredProps for NoOthers {
        fn props_of(&self, _: &Address) -> Option<&Props> {
            None
        }
    }

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fields_of_the_other_type_are_refused() {
        let gw = obj(json!({"vpc_id": "v", "service_name": "s", "subnet_ids": ["subnet-1"]}));
        assert_eq!(
            VpcEndpoint.validate(&gw, &NoOthers).unwrap_err(),
            "property `subnet_ids` does not apply to a `Gateway` endpoint"
        );
        let iface = obj(
            json!({"vpc_id": "v", "service_name": "s", "vpc_endpoint_type": "Interface", "route_table_ids": ["rtb-1"]}),
        );
        assert!(
            VpcEndpoint
                .validate(&iface, &NoOthers)
                .unwrap_err()
                .contains("`route_table_ids`")
        );
        let ok = obj(
            json!({"vpc_id": "v", "service_name": "s", "vpc_endpoint_type": "Interface", "subnet_ids": ["subnet-1"]}),
        );
        assert!(VpcEndpoint.validate(&ok, &NoOthers).is_ok());
    }

    #[test]
    fn set_changes_add_and_remove() {
        let cur = obj(json!({"subnet_ids": ["a", "b"]}));
        let want = obj(json!({"subnet_ids": ["b", "c"]}));
        assert_eq!(
            set_changes(&cur, &want, "subnet_ids"),
            (vec!["c".to_string()], vec!["a".to_string()])
        );
    }

    #[test]
    fn policy_goes_out_as_text() {
        assert_eq!(
            policy_text(&obj(json!({"policy": {"Version": "2012-10-17"}}))).as_deref(),
            Some(r#"{"Version":"2012-10-17"}"#)
        );
        assert_eq!(
            policy_text(&obj(json!({"policy": "{}"}))).as_deref(),
            Some("{}")
        );
        assert_eq!(policy_text(&obj(json!({}))), None);
    }
}
