//! `aws::cloudwatch::metric_alarm`: a CloudWatch alarm on one metric (e.g. the "region in
//! rotation" control a Route 53 `CLOUDWATCH_METRIC` health check follows).
//!
//! CloudWatch cannot list alarms by tag, so the stack finds its alarms by name (their natural
//! key): one DescribeAlarms for the names the stack declares or recorded, then
//! ListTagsForResource for each. The alarm's state (OK, ALARM) is not a prop: it is the metric's,
//! or a runbook's (`aws::cloudwatch::set_alarm_state`), and plans never touch it.

use super::{CloudWatchTags, cw_tags};
use crate::adapter::{Attr, Changes, Description, Identity, New, by_name, resource};
use crate::invalid::Invalid;
use crate::props::{check_range, str_prop};
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::{Aws, CloudError, sdk};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm as CwAlarm, Statistic};
use serde_json::json;
use std::collections::BTreeMap;

/// The statistics an alarm may apply to its metric.
const STATISTICS: &[&str] = &["Average", "Maximum", "Minimum", "SampleCount", "Sum"];

/// How an alarm compares the statistic with its threshold.
const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

resource! {
    /// A metric alarm.
    pub struct MetricAlarm: METRIC_ALARM = "cloudwatch.metric_alarm",
        "A CloudWatch alarm on one metric, found by its name.";
    reads AlarmItem;
    terraform "aws_cloudwatch_metric_alarm";
    props AlarmProps {
        name: String = required(Str, "the alarm name, unique in the region (1 to 255 characters)"),
        description: Option<String> = optional(Str, "what the alarm means").default("\"\""),
        namespace: String = required(Str, "the metric's namespace, e.g. `ExamplePay/DR`").updatable(),
        metric_name: String = required(Str, "the metric's name").updatable(),
        dimensions: Option<BTreeMap<String, String>> =
            optional(Tags, "the metric's dimensions, name to value").default("{}"),
        statistic: String = required(Enum(STATISTICS), "the statistic compared with the threshold").updatable(),
        period: i64 = required(Int, "seconds over which the statistic is taken (10, 30, or a multiple of 60)").updatable(),
        evaluation_periods: Option<i64> =
            optional(Int, "how many periods are compared with the threshold").default("1"),
        threshold: i64 = required(Int, "the value the statistic is compared with").updatable(),
        comparison_operator: String = required(Enum(COMPARISONS), "how the statistic is compared with the threshold").updatable(),
        treat_missing_data: Option<String> =
            optional(Enum(&["missing", "ignore", "breaching", "notBreaching"]),
                "what periods without data count as (`ignore` keeps the state the alarm is in)")
                .default("\"missing\""),
        actions_enabled: Option<bool> =
            optional(Bool, "whether the alarm's actions run").default("true"),
    } + TAGS
}

/// An alarm as read, with its tags.
pub struct AlarmItem {
    alarm: CwAlarm,
    tags: Vec<(String, String)>,
}

/// DescribeAlarms takes at most this many names.
const NAMES_PER_CALL: usize = 100;

/// The alarms of these names that exist, with their tags.
async fn read(aws: &Aws, names: Vec<String>) -> Result<Vec<AlarmItem>, CloudError> {
    let mut out = Vec::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let target = chunk.join(",");
        let call = aws.cloudwatch().describe_alarms();
        let call = call.set_alarm_names(Some(chunk.to_vec())).max_records(100);
        let page = call.send().await.map_err(sdk("DescribeAlarms", &target))?;
        for alarm in page.metric_alarms.unwrap_or_default() {
            let arn = alarm.alarm_arn().unwrap_or_default().to_string();
            let call = aws.cloudwatch().list_tags_for_resource().resource_arn(&arn);
            let tags = call
                .send()
                .await
                .map_err(sdk("ListTagsForResource", &arn))?;
            let pair = |t: &aws_sdk_cloudwatch::types::Tag| {
                Some((t.key()?.to_string(), t.value()?.to_string()))
            };
            let tags = tags.tags().iter().filter_map(pair).collect();
            out.push(AlarmItem { alarm, tags });
        }
    }
    Ok(out)
}

/// PutMetricAlarm with every setting of `p` (it creates the alarm, or replaces its settings).
async fn put(
    aws: &Aws,
    target: &str,
    p: &AlarmProps,
    tags: Option<&[(String, String)]>,
) -> Result<(), CloudError> {
    let dimension =
        |(name, value): (&String, &String)| Dimension::builder().name(name).value(value).build();
    let dimensions = p.dimensions.iter().flatten().map(dimension).collect();
    let call = aws
        .cloudwatch()
        .put_metric_alarm()
        .alarm_name(&p.name)
        .set_alarm_description(p.description.clone().filter(|d| !d.is_empty()))
        .namespace(&p.namespace)
        .metric_name(&p.metric_name)
        .set_dimensions(Some(dimensions))
        .statistic(Statistic::from(p.statistic.as_str()))
        .period(i32::try_from(p.period).unwrap_or(i32::MAX))
        .evaluation_periods(
            p.evaluation_periods
                .map_or(1, |e| i32::try_from(e).unwrap_or(1)),
        )
        .threshold(p.threshold as f64)
        .comparison_operator(ComparisonOperator::from(p.comparison_operator.as_str()))
        .treat_missing_data(p.treat_missing_data.as_deref().unwrap_or("missing"))
        .actions_enabled(p.actions_enabled.unwrap_or(true))
        .set_tags(tags.map(cw_tags));
    call.send().await.map_err(sdk("PutMetricAlarm", target))?;
    Ok(())
}

#[async_trait]
impl Description for MetricAlarm {
    const ATTRIBUTES: &'static [Attr<AlarmItem>] = &[
        Attr::new("id", |_, a: &AlarmItem| json!(a.alarm.alarm_name())).note("the name"),
        Attr::new("arn", |_, a| json!(a.alarm.alarm_arn())),
        Attr::new("name", |_, a| json!(a.alarm.alarm_name())),
    ];
    const IDENTITY: Identity = Identity::Named(&CloudWatchTags, by_name);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        let name = str_prop(props, "name");
        if name.is_empty() || name.len() > 255 {
            let why = format!("`{name}` is not a valid alarm name (1 to 255 characters)");
            return Err(Invalid::value("name", why));
        }
        check_range(props, "period", 10..=86_400, "seconds")?;
        check_range(props, "evaluation_periods", 1..=100, "periods")?;
        match props.get("period").and_then(serde_json::Value::as_i64) {
            Some(p) if ![10, 30].contains(&p) && p % 60 != 0 => Err(Invalid::value(
                "period",
                format!("{p} is not 10, 30 or a multiple of 60 seconds"),
            )),
            _ => Ok(()),
        }
    }

    fn tags(&self, a: &AlarmItem) -> Vec<(String, String)> {
        a.tags.clone()
    }

    async fn list(
        &self,
        aws: &Aws,
        _stack: &str,
        hints: &ReadHints,
    ) -> Result<Vec<AlarmItem>, CloudError> {
        read(aws, hints.natural_keys.iter().cloned().collect()).await
    }

    async fn props(&self, _aws: &Aws, a: &AlarmItem) -> Result<AlarmProps, CloudError> {
        let alarm = &a.alarm;
        let dimension = |d: &Dimension| Some((d.name()?.to_string(), d.value()?.to_string()));
        Ok(AlarmProps {
            name: alarm.alarm_name().unwrap_or_default().to_string(),
            description: Some(alarm.alarm_description().unwrap_or_default().to_string()),
            namespace: alarm.namespace().unwrap_or_default().to_string(),
            metric_name: alarm.metric_name().unwrap_or_default().to_string(),
            dimensions: Some(alarm.dimensions().iter().filter_map(dimension).collect()),
            statistic: alarm
                .statistic()
                .map(|s| s.as_str())
                .unwrap_or_default()
                .into(),
            period: alarm.period().map_or(0, i64::from),
            evaluation_periods: alarm.evaluation_periods().map(i64::from),
            threshold: alarm.threshold().map_or(0, |t| t as i64),
            comparison_operator: (alarm.comparison_operator().map(|c| c.as_str()))
                .unwrap_or_default()
                .into(),
            treat_missing_data: Some(alarm.treat_missing_data().unwrap_or("missing").into()),
            actions_enabled: alarm.actions_enabled(),
        })
    }

    /// PutMetricAlarm with the ownership tags, then the alarm as CloudWatch has it.
    async fn create(&self, aws: &Aws, new: New<'_, AlarmProps>) -> Result<AlarmItem, CloudError> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        put(aws, &address.to_string(), p, Some(tags)).await?;
        let created = read(aws, vec![p.name.clone()]).await?.into_iter().next();
        created.ok_or_else(|| crate::verbs::empty_answer("DescribeAlarms", &p.name, "alarm"))
    }

    /// PutMetricAlarm again with every setting: it replaces the alarm's settings as a whole.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, AlarmProps>,
    ) -> Result<Option<AlarmItem>, CloudError> {
        put(aws, &changes.on.id, changes.desired, None).await?;
        Ok(None)
    }

    async fn delete(&self, aws: &Aws, name: &str, _current: &AlarmProps) -> Result<(), CloudError> {
        let call = aws.cloudwatch().delete_alarms().alarm_names(name);
        call.send()
            .await
            .map(drop)
            .map_err(sdk("DeleteAlarms", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, round_trip};
    use crate::resource::Resource;
    use aws_sdk_cloudwatch::Client;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmOutput;
    use aws_sdk_cloudwatch::types::{StateValue, Tag};
    use aws_smithy_mocks::mock;
    use serde_json::Value;

    const NAME: &str = "api-examplepay-com-us-east-1-in-rotation";

    fn declared() -> Value {
        json!({
            "name": NAME,
            "namespace": "eprun/Rotation",
            "metric_name": "OutOfRotation",
            "dimensions": {"Region": "us-east-1"},
            "statistic": "Maximum",
            "period": 60,
            "threshold": 1,
            "comparison_operator": "GreaterThanOrEqualToThreshold",
            "treat_missing_data": "ignore",
            "actions_enabled": false,
            "tags": {"team": "sre"},
        })
    }

    /// The alarm as CloudWatch answers it after the put.
    fn described() -> CwAlarm {
        CwAlarm::builder()
            .alarm_name(NAME)
            .alarm_arn(format!(
                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{NAME}"
            ))
            .namespace("eprun/Rotation")
            .metric_name("OutOfRotation")
            .dimensions(
                Dimension::builder()
                    .name("Region")
                    .value("us-east-1")
                    .build(),
            )
            .statistic(Statistic::Maximum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data("ignore")
            .actions_enabled(false)
            .state_value(StateValue::InsufficientData)
            .build()
    }

    #[tokio::test]
    async fn a_created_alarm_round_trips_as_declared() {
        let put = mock!(Client::put_metric_alarm)
            .match_requests(|r| {
                r.alarm_name() == Some(NAME)
                    && r.treat_missing_data() == Some("ignore")
                    && r.threshold() == Some(1.0)
                    && r.tags().iter().any(|t| t.key() == Some("team"))
            })
            .then_output(|| PutMetricAlarmOutput::builder().build());
        let describe = mock!(Client::describe_alarms).then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(described())
                .build()
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| {
            let tag = Tag::builder().key("team").value("sre").build();
            ListTagsForResourceOutput::builder().tags(tag).build()
        });
        let aws = Aws::mocked(&[&put, &describe, &tags]);
        let observed = round_trip(
            &METRIC_ALARM,
            &aws,
            "cloudwatch.metric_alarm.rotation",
            declared(),
        )
        .await;
        assert_eq!(observed.id, NAME);
        assert_eq!(put.num_calls(), 1);
    }

    #[test]
    fn refuses_a_period_cloudwatch_would() {
        let mut props = declared().as_object().cloned().unwrap_or_default();
        props.insert("period".into(), json!(45));
        let err = METRIC_ALARM
            .validate(&props, &NoOthers)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("45 is not 10, 30 or a multiple of 60"),
            "{err}"
        );
    }
}
