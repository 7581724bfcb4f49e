//! `aws::ec2::flow_log`: a flow log of a VPC, subnet or network interface.

use super::prelude::*;
use super::unsuccessful;
use crate::Result;

resource! {
    /// A flow log delivering a VPC's (or subnet's, or interface's) traffic records to S3 or CloudWatch Logs.
    pub struct FlowLog: FLOW_LOG = "ec2.flow_log",
        "A flow log of a VPC, subnet or network interface, delivered to S3 or CloudWatch Logs.";
    reads Item, tagged by pairs;
    terraform "aws_flow_log";
    props FlowLogProps {
        resource_id: Option<String> =
            required(Str, "the VPC (or subnet, or network interface) to log"),
        resource_type: Option<String> =
            optional(Enum(&["VPC", "Subnet", "NetworkInterface"]), "what `resource_id` is")
                .default("\"VPC\"")
                .force_new(),
        traffic_type: Option<String> =
            optional(Enum(&["ACCEPT", "REJECT", "ALL"]), "which traffic to record")
                .default("\"ALL\"")
                .force_new(),
        log_destination_type: Option<String> =
            optional(Enum(&["s3", "cloud-watch-logs"]), "where records go")
                .default("\"s3\"")
                .force_new(),
        log_destination: Option<String> =
            required(Str, "the ARN of the bucket (optionally with a prefix) or log group"),
        iam_role_arn: Option<String> =
            optional(Str, "the role that delivers to CloudWatch Logs (required for it)")
                .force_new(),
        max_aggregation_interval: Option<i64> =
            optional(Int, "seconds per record window: 60 or 600").default("600").force_new(),
    } + TAGS
}

/// Flow logs are active as soon as they exist; this only waits for Describe to see them.
const VISIBLE: Wait = Wait("CreateFlowLogs", Duration::from_secs(60));

/// The resource type, from the id's prefix (DescribeFlowLogs does not say).
fn resource_type_of(resource_id: &str) -> &'static str {
    match resource_id.split('-').next() {
        Some("subnet") => "Subnet",
        Some("eni") => "NetworkInterface",
        _ => "VPC",
    }
}

/// A CloudWatch Logs destination needs a delivery role; intervals are 60 or 600 seconds.
fn check(props: &Props) -> Result<(), Invalid> {
    let role = props.contains_key("iam_role_arn");
    if str_prop(props, "log_destination_type") == "cloud-watch-logs" && !role {
        let why = "delivery to `cloud-watch-logs` needs a role";
        return Err(Invalid::missing("iam_role_arn", why));
    }
    let interval = props.get("max_aggregation_interval");
    match interval.and_then(Value::as_i64) {
        Some(60 | 600) | None => Ok(()),
        Some(n) => Err(Invalid::value(
            "max_aggregation_interval",
            format!("`{n}` is not 60 or 600"),
        )),
    }
}

type Item = aws_sdk_ec2::types::FlowLog;

describe_one!(describe_flow_logs, flow_log_ids);

#[async_trait]
impl Description for FlowLog {
    const ATTRIBUTES: &'static [Attr<Item>] = &[Attr::new("id", |_, l| json!(l.flow_log_id()))];
    const IDENTITY: Identity = Identity::Tags(&Ec2Tags);

    fn validate(&self, props: &Props, _: &dyn DeclaredProps) -> Result<(), Invalid> {
        check(props)
    }

    const FETCH: Option<Fetch<Item>> = fetch!(describe_flow_logs, set_flow_log_ids);

    async fn list(&self, aws: &Aws, stack: &str, _: &ReadHints) -> Result<Vec<Item>> {
        let f = stack_filter(stack);
        describe!(aws.describe_flow_logs().filter(f), stack)
    }

    async fn props(&self, _: &Aws, l: &Item) -> Result<Self::Props> {
        let resource_id = l.resource_id().unwrap_or_default();
        let destination_type = l.log_destination_type().map_or("s3", |t| t.as_str());
        Ok(FlowLogProps {
            resource_id: Some(resource_id.into()),
            resource_type: Some(resource_type_of(resource_id).into()),
            traffic_type: Some(l.traffic_type().map_or("ALL", |t| t.as_str()).into()),
            log_destination_type: Some(destination_type.into()),
            log_destination: Some(l.log_destination().unwrap_or_default().into()),
            iam_role_arn: l.deliver_logs_permission_arn().map(Into::into),
            max_aggregation_interval: Some(l.max_aggregation_interval().unwrap_or(600).into()),
        })
    }

    async fn create(&self, aws: &Aws, new: New<'_, Self::Props>) -> Result<Item> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let out = aws
            .ec2()
            .create_flow_logs()
            .set_resource_ids(p.resource_id.clone().map(|id| vec![id]))
            .resource_type(p.resource_type.as_deref().unwrap_or("VPC").into())
            .traffic_type(p.traffic_type.as_deref().unwrap_or("ALL").into())
            .log_destination_type(p.log_destination_type.as_deref().unwrap_or("s3").into())
            .set_log_destination(p.log_destination.clone())
            .set_deliver_logs_permission_arn(p.iam_role_arn.clone())
            .max_aggregation_interval(p.max_aggregation_interval.unwrap_or(600) as i32)
            .tag_specifications(tags_at_create(ResourceType::VpcFlowLog, tags))
            .send()
            .await
            .map_err(sdk("CreateFlowLogs", address))?;
        unsuccessful("CreateFlowLogs", &address.to_string(), out.unsuccessful())?;
        let id = out.flow_log_ids().first().cloned().unwrap_or_default();
        let visible = settle(aws, &id, VISIBLE, describe_one, visible);
        let log = visible.await?;
        log.ok_or_else(|| untagged("CreateFlowLogs", address, "flow log"))
    }

    async fn delete(&self, aws: &Aws, id: &str, _: &Self::Props) -> Result<()> {
        // Deletion is immediate; the batch call reports a missing flow log in its answer.
        let call = aws.ec2().delete_flow_logs().flow_log_ids(id);
        let out = call.send().await.map_err(sdk("DeleteFlowLogs", id))?;
        unsuccessful("DeleteFlowLogs", id, out.unsuccessful())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{obj, round_trip};
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_flow_logs::CreateFlowLogsOutput;
    use aws_sdk_ec2::operation::describe_flow_logs::DescribeFlowLogsOutput;
    use aws_sdk_ec2::types::{LogDestinationType, TrafficType};
    use aws_smithy_mocks::mock;

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
        assert!(
            check(&cw)
                .unwrap_err()
                .to_string()
                .contains("`iam_role_arn`")
        );
        cw.insert("iam_role_arn".into(), json!("arn:aws:iam::1:role/flow"));
        assert!(check(&cw).is_ok());
        cw.insert("max_aggregation_interval".into(), json!(300));
        assert_eq!(
            check(&cw).unwrap_err().to_string(),
            "property `max_aggregation_interval`: `300` is not 60 or 600"
        );
    }

    #[tokio::test]
    async fn a_created_flow_log_round_trip_as_declared() {
        let create = mock!(Client::create_flow_logs)
            .then_output(|| CreateFlowLogsOutput::builder().flow_log_ids("fl-1").build());
        let describe = mock!(Client::describe_flow_logs)
            .match_requests(|r| r.flow_log_ids() == ["fl-1"])
            .then_output(|| {
                DescribeFlowLogsOutput::builder()
                    .flow_logs(
                        Item::builder()
                            .flow_log_id("fl-1")
                            .resource_id("vpc-1")
                            .traffic_type(TrafficType::All)
                            .log_destination_type(LogDestinationType::S3)
                            .log_destination("arn:aws:s3:::flow-logs")
                            .max_aggregation_interval(600)
                            .build(),
                    )
                    .build()
            });
        let observed = round_trip(&FLOW_LOG, &Aws::mocked(&[&create, &describe]), "ec2.flow_log.main",
            json!({"resource_id": "vpc-1", "log_destination": "arn:aws:s3:::flow-logs", "tags": {"team": "platform"}}),
        )
        .await;
        assert_eq!(observed.id, "fl-1");
        assert_eq!(observed.attrs["id"], "fl-1");
    }
}
