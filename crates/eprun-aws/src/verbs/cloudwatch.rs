//! CloudWatch verbs: read an alarm, and flip a rotation control (the alarm a Route 53
//! `CLOUDWATCH_METRIC` check follows, and the metric behind it) — how a failover moves traffic
//! with calls to the DR region only.

use super::opt_str;
use crate::adapter::found;
use crate::mutation::Mutations;
use crate::{CloudError, sdk};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StateValue};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An alarm by name as a plain map (`#{name, arn, state, reason, updated, namespace, metric_name,
/// dimensions}`), or `None` when there is none.
pub async fn describe_alarm(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> Result<Option<Value>, CloudError> {
    let call = cw.describe_alarms().alarm_names(name);
    let out = found(call.send().await.map_err(sdk("DescribeAlarms", name)))?;
    let alarm = out.and_then(|o| o.metric_alarms.unwrap_or_default().into_iter().next());
    Ok(alarm.map(|a| {
        let dimensions: BTreeMap<&str, &str> = (a.dimensions().iter())
            .filter_map(|d| Some((d.name()?, d.value()?)))
            .collect();
        json!({
            "name": opt_str(a.alarm_name()),
            "arn": opt_str(a.alarm_arn()),
            "state": opt_str(a.state_value().map(|s| s.as_str())),
            "reason": opt_str(a.state_reason()),
            "updated": super::opt_date(a.state_updated_timestamp()),
            "namespace": opt_str(a.namespace()),
            "metric_name": opt_str(a.metric_name()),
            "dimensions": dimensions,
        })
    }))
}

/// A region's rotation control, as its stack publishes it (`dns_failover` module, output
/// `rotation`): the alarm its Route 53 check follows, in the DR region, and the metric behind it.
#[derive(Debug, Clone, Deserialize)]
pub struct RotationControl {
    /// The alarm's name.
    pub alarm: String,
    /// The region the alarm and metric live in.
    pub region: String,
    /// The metric's namespace.
    pub namespace: String,
    /// The metric's name.
    pub metric_name: String,
    /// The metric's dimensions.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

/// Whether a rotation alarm's state keeps its region in rotation: only `ALARM` takes it out (a
/// new alarm has `INSUFFICIENT_DATA`, which its health check reads as healthy).
pub fn in_rotation(state: &str) -> bool {
    state != StateValue::Alarm.as_str()
}

/// Puts a region in rotation or takes it out: PutMetricData (1 out, 0 in) so the alarm's own
/// evaluation agrees, then SetAlarmState so Route 53 sees it at once instead of after a period.
/// Both go to the control's region only.
pub async fn set_rotation(
    cw: &aws_sdk_cloudwatch::Client,
    mutations: &Mutations,
    control: &RotationControl,
    in_rotation: bool,
    reason: &str,
) -> Result<(), CloudError> {
    let dimensions = (control.dimensions.iter())
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    let datum = MetricDatum::builder()
        .metric_name(&control.metric_name)
        .set_dimensions(Some(dimensions))
        .value(if in_rotation { 0.0 } else { 1.0 })
        .unit(StandardUnit::Count)
        .build();
    let metric = format!("{}/{}", control.namespace, control.metric_name);
    let put = cw
        .put_metric_data()
        .namespace(&control.namespace)
        .metric_data(datum);
    let detail = format!("{} = {}", control.metric_name, u8::from(!in_rotation));
    let call = async { put.send().await.map_err(sdk("PutMetricData", &metric)) };
    mutations
        .perform("PutMetricData", &metric, &detail, call)
        .await?;
    let state = if in_rotation {
        StateValue::Ok
    } else {
        StateValue::Alarm
    };
    let set = cw
        .set_alarm_state()
        .alarm_name(&control.alarm)
        .state_value(state.clone())
        .state_reason(reason);
    let call = async {
        set.send()
            .await
            .map_err(sdk("SetAlarmState", &control.alarm))
    };
    let detail = format!("{} ({reason})", state.as_str());
    mutations
        .perform("SetAlarmState", &control.alarm, &detail, call)
        .await?;
    Ok(())
}
