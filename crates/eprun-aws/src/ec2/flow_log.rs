//! `aws::ec2::flow_log`: a flow log of a VPC, subnet or network interface.

use super::{pairs, props, stack_filter, str_prop, tag_spec, unsuccessful, untagged, update_tags};
use crate::context::Context;
use crate::resource::{
    CreateRequest, DeclaredProps, Observed, Props, ReadHints, Resource, gone_ok,
};
use crate::schema::{Field, Kind, TAGS};
use crate::{Aws, CloudError, WaitState, tags, wait_until};
use async_trait::async_trait;
use aws_sdk_ec2::types::{FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};
use serde_json::{Value, json};
use std::time::Duration;

/// A flow log delivering a VPC's (or subnet's, or interface's) traffic records to S3 or CloudWatch Logs.
pub struct FlowLog;

const SCHEMA: &[Field] = &[
    Field::required(
        "resource_id",
        Kind::Str,
        "the VPC (or subnet, or network interface) to log",
    ),
    Field::optional(
        "resource_type",
        Kind::Enum(&["VPC", "Subnet", "NetworkInterface"]),
        "what `resource_id` is",
    )
    .default("\"VPC\"")
    .force_new(),
    Field::optional(
        "traffic_type",
        Kind::Enum(&["ACCEPT", "REJECT", "ALL"]),
        "which traffic to record",
    )
    .default("\"ALL\"")
    .force_new(),
    Field::optional(
        "log_destination_type",
        Kind::Enum(&["s3", "cloud-watch-logs"]),
        "where records go",
    )
    .default("\"s3\"")
    .force_new(),
    Field::required(
        "log_destination",
        Kind::Str,
        "the ARN of the bucket (optionally with a prefix) or log group",
    ),
    Field::optional(
        "iam_role_arn",
        Kind::Str,
        "the role that delivers to CloudWatch Logs (required for it)",
    )
    .force_new(),
    Field::optional(
        "max_aggregation_interval",
        Kind::Int,
        "seconds per record window: 60 or 600",
    )
    .default("600")
    .force_new(),
    TAGS,
];

/// Flow logs are active as soon as they exist; this only waits for Describe to see them.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The resource type, from the id's prefix (DescribeFlowLogs does not say).
fn resource_type_of(resource_id: &str) -> &'static str {
    match resource_id.split('-').next() {
        Some("subnet") => "Subnet",
        Some("eni") => "NetworkInterface",
        _ => "VPC",
    }
}

/// A CloudWatch Logs destination needs a delivery role; intervals are 60 or 600 seconds.
fn check(props: &Props) -> Result<(), String> {
    if str_prop(props, "log_destination_type") == "cloud-watch-logs"
        && !props.contains_key("iam_role_arn")
    {
        return Err(
            "missing property `iam_role_arn`: delivery to `cloud-watch-logs` needs a role".into(),
        );
    }
    match props
        .get("max_aggregation_interval")
        .and_then(Value::as_i64)
    {
        Some(60 | 600) | None => Ok(()),
        Some(n) => Err(format!(
            "property `max_aggregation_interval`: `{n}` is not 60 or 600"
        )),
    }
}

impl FlowLog {
    fn observe(stack: &str, log: &aws_sdk_ec2::types::FlowLog) -> Option<Observed> {
        let (address, user_tags) = tags::split_owned(stack, pairs(log.tags()))?;
        let id = log.flow_log_id().unwrap_or_default().to_string();
        let resource_id = log.resource_id().unwrap_or_default();
        let mut p = props([
            ("resource_id", json!(resource_id)),
            ("resource_type", json!(resource_type_of(resource_id))),
            (
                "traffic_type",
                json!(log.traffic_type().map(|t| t.as_str()).unwrap_or("ALL")),
            ),
            (
                "log_destination_type",
                json!(
                    log.log_destination_type()
                        .map(|t| t.as_str())
                        .unwrap_or("s3")
                ),
            ),
            (
                "log_destination",
                json!(log.log_destination().unwrap_or_default()),
            ),
            (
                "max_aggregation_interval",
                json!(log.max_aggregation_interval().unwrap_or(600)),
            ),
            ("tags", user_tags),
        ]);
        if let Some(role) = log.deliver_logs_permission_arn() {
            p.insert("iam_role_arn".into(), json!(role));
        }
        Some(Observed {
            address: Some(address),
            id: id.clone(),
            natural_key: None,
            props: p,
            attrs: props([("id", json!(id))]),
        })
    }

    async fn describe(
        aws: &Aws,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::FlowLog>, CloudError> {
        let out = aws
            .ec2()
            .describe_flow_logs()
            .flow_log_ids(id)
            .send()
            .await
            .map_err(|e| crate::from_sdk("DescribeFlowLogs", id, e))?;
        Ok(out.flow_logs().first().cloned())
    }
}

#[async_trait]
impl Resource for FlowLog {
    fn kind(&self) -> &'static str {
        "ec2.flow_log"
    }

    fn doc(&self) -> &'static str {
        "A flow log of a VPC, subnet or network interface, delivered to S3 or CloudWatch Logs. Attributes: `id`."
    }

    fn schema(&self) -> &'static [Field] {
        SCHEMA
    }

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), String> {
        check(props)
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
            .describe_flow_logs()
            .filter(stack_filter(stack))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::from_sdk("DescribeFlowLogs", stack, e))?;
            out.extend(
                page.flow_logs()
                    .iter()
                    .filter_map(|l| Self::observe(stack, l)),
            );
        }
        Ok(out)
    }

    async fn create(&self, cx: &Context, req: &CreateRequest<'_>) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        let p = req.props;
        let or = |key: &str, default: &'static str| match str_prop(p, key) {
            "" => default.to_string(),
            v => v.to_string(),
        };
        let role = str_prop(p, "iam_role_arn");
        let out = aws
            .ec2()
            .create_flow_logs()
            .resource_ids(str_prop(p, "resource_id"))
            .resource_type(FlowLogsResourceType::from(
                or("resource_type", "VPC").as_str(),
            ))
            .traffic_type(TrafficType::from(or("traffic_type", "ALL").as_str()))
            .log_destination_type(LogDestinationType::from(
                or("log_destination_type", "s3").as_str(),
            ))
            .log_destination(str_prop(p, "log_destination"))
            .set_deliver_logs_permission_arn((!role.is_empty()).then(|| role.to_string()))
            .max_aggregation_interval(
                p.get("max_aggregation_interval")
                    .and_then(Value::as_i64)
                    .unwrap_or(600) as i32,
            )
            .tag_specifications(tag_spec(ResourceType::VpcFlowLog, req))
            .send()
            .await
            .map_err(|e| crate::from_sdk("CreateFlowLogs", req.address, e))?;
        unsuccessful(
            "CreateFlowLogs",
            &req.address.to_string(),
            out.unsuccessful(),
        )?;
        let id = out.flow_log_ids().first().cloned().unwrap_or_default();
        let visible = || async {
            Ok(match Self::describe(aws, &id).await? {
                Some(_) => WaitState::Ready,
                None => WaitState::Pending("not visible yet".into()),
            })
        };
        wait_until("CreateFlowLogs", &id, VISIBLE_TIMEOUT, visible).await?;
        Self::describe(aws, &id)
            .await?
            .and_then(|l| Self::observe(req.stack, &l))
            .ok_or_else(|| untagged("CreateFlowLogs", req.address, "flow log"))
    }

    async fn update(
        &self,
        cx: &Context,
        current: &Observed,
        desired: &Props,
        changed: &[String],
    ) -> Result<Observed, CloudError> {
        let aws = &Aws::of(cx)?;
        if changed.iter().any(|f| f == "tags") {
            update_tags(aws, &current.id, &current.props, desired).await?;
        }
        Ok(current.updated(desired, changed))
    }

    async fn delete(&self, cx: &Context, current: &Observed) -> Result<(), CloudError> {
        let aws = &Aws::of(cx)?;
        // Deletion is immediate; the batch call reports a missing flow log in its answer.
        gone_ok(
            aws.ec2()
                .delete_flow_logs()
                .flow_log_ids(&current.id)
                .send()
                .await
                .map_err(|e| crate::from_sdk("DeleteFlowLogs", &current.id, e))
                .and_then(|out| unsuccessful("DeleteFlowLogs", &current.id, out.unsuccessful())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Props {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn resource_type_comes_from_the_id() {
        assert_eq!(resource_type_of("vpc-0abc"), "VPC");
        assert_eq!(resource_type_of("subnet-0abc"), "Subnet");
        assert_eq!(resource_type_of("eni-0abc"), "NetworkInterface");
    }

    #[test]
    fn cloudwatch_needs_a_role_and_intervals_are_fixed() {
        let base = json!({"resource_id": "vpc-1", "log_destination": "arn:aws:logs:us-east-1:1:log-group:x"});
        let mut cw = obj(base);
        cw.insert("log_destination_type".into(), json!("cloud-watch-logs"));
        assert!(check(&cw).unwrap_err().contains("`iam_role_arn`"));
        cw.insert("iam_role_arn".into(), json!("arn:aws:iam::1:role/flow"));
        assert!(check(&cw).is_ok());
        cw.insert("max_aggregation_interval".into(), json!(300));
        assert_eq!(
            check(&cw).unwrap_err(),
            "property `max_aggregation_interval`: `300` is not 60 or 600"
        );
    }
}
