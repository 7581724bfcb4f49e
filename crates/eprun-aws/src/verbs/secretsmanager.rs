//! Secrets Manager verbs: a secret's metadata and its replication (promote a replica during a
//! failover, replicate again for the failback). Never a secret's value.

use super::{invalid, opt_str};
use crate::Result;
use crate::mutation::Mutations;
use crate::{CloudError, WaitState, wait_until};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{ReplicaRegionType, ReplicationStatusType, StatusType};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// A Secrets Manager error. An answer without an error code (moto answers an operation it does
/// not serve with a bare HTTP 500 page) says so, instead of "Unknown".
fn sdk_error<E>(
    operation: &str,
    target: &str,
    err: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> CloudError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let bare = match &err {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(se)
            if se.err().code().is_none() =>
        {
            Some(se.raw().status().as_u16())
        }
        _ => None,
    };
    let mut e = crate::from_sdk(operation, target, err);
    if let Some(status) = bare {
        e.message = format!(
            "the endpoint answered HTTP {status} without an error code: it does not seem to serve `{operation}` (emulators such as moto lack some Secrets Manager operations)"
        );
    }
    e
}

/// The ARN an answer names, or the one read before (emulators may echo the name instead).
fn arn<'a>(answered: Option<&'a str>, read: Option<&'a str>) -> Option<&'a str> {
    answered.filter(|a| a.starts_with("arn:")).or(read)
}

fn replication_map(r: &ReplicationStatusType) -> Value {
    json!({
        "region": opt_str(r.region()),
        "status": opt_str(r.status().map(|s| s.as_str())),
        "status_message": opt_str(r.status_message()),
        "kms_key_id": opt_str(r.kms_key_id()),
    })
}

/// DescribeSecret as a plain map. `primary_region` is the secret's primary (this region when the
/// answer names none: a secret that is not a replica); `is_replica` says whether the secret read
/// here is a replica of one in another region.
fn secret_map(out: &DescribeSecretOutput, region: &str) -> Value {
    let primary = out.primary_region().unwrap_or(region);
    json!({
        "name": opt_str(out.name()),
        "arn": opt_str(out.arn()),
        "description": opt_str(out.description()),
        "kms_key_id": opt_str(out.kms_key_id()),
        "region": region,
        "primary_region": primary,
        "is_replica": primary != region,
        "replication": out.replication_status().iter().map(replication_map).collect::<Vec<_>>(),
        "deleted": out.deleted_date().is_some(),
    })
}

async fn describe(sm: &aws_sdk_secretsmanager::Client, name: &str) -> Result<DescribeSecretOutput> {
    sm.describe_secret()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSecret", name, e))
}

/// The region a client talks to.
fn region_of(sm: &aws_sdk_secretsmanager::Client) -> String {
    sm.config()
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default()
}

/// DescribeSecret: `{name, arn, kms_key_id, region, primary_region, is_replica,
/// replication: [{region, status, status_message, kms_key_id}], …}`.
pub async fn describe_secret(sm: &aws_sdk_secretsmanager::Client, name: &str) -> Result<Value> {
    Ok(secret_map(&describe(sm, name).await?, &region_of(sm)))
}

/// StopReplicationToReplica, called in the replica's region: the replica becomes a standalone
/// secret (a failover promotes the DR region's copy). Refused before the call when the secret
/// read there is not a replica. Returns `{arn, dry_run}`.
pub async fn stop_replication_to_replica(
    sm: &aws_sdk_secretsmanager::Client,
    mutations: &Mutations,
    name: &str,
) -> Result<Value> {
    const OP: &str = "StopReplicationToReplica";
    let region = region_of(sm);
    let current = describe(sm, name).await?;
    let primary = current.primary_region().unwrap_or(&region);
    if primary == region {
        let replicas: Vec<String> = current
            .replication_status()
            .iter()
            .filter_map(|r| r.region().map(|r| format!("`{r}`")))
            .collect();
        let message = if replicas.is_empty() {
            format!(
                "the secret in `{region}` is not a replica: it is a standalone secret with no replicas (already promoted, or never replicated), so there is nothing to promote"
            )
        } else {
            format!(
                "the secret in `{region}` is not a replica: it is the primary, with replicas in {}; promote a replica in its own region, e.g. inside `in_env(<that region's environment>, || …)`",
                replicas.join(", ")
            )
        };
        return Err(invalid(OP, name, message));
    }
    let detail =
        format!("promote the {region} replica (primary in {primary}) to a standalone secret");
    let call = async {
        sm.stop_replication_to_replica()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| sdk_error(OP, name, e))
    };
    match mutations.perform(OP, name, &detail, call).await? {
        None => Ok(json!({"arn": opt_str(current.arn()), "dry_run": true})),
        Some(out) => Ok(json!({
            "arn": opt_str(arn(out.arn(), current.arn())),
            "dry_run": false,
        })),
    }
}

/// A replica region: `"eu-west-1"` or `{region, kms_key_id}`.
pub fn parse_regions(name: &str, regions: &[Value]) -> Result<Vec<(String, Option<String>)>> {
    const OP: &str = "ReplicateSecretToRegions";
    if regions.is_empty() {
        return Err(invalid(
            OP,
            name,
            "name at least one region to replicate to",
        ));
    }
    regions
        .iter()
        .map(|r| match r {
            Value::String(s) if !s.is_empty() => Ok((s.clone(), None)),
            Value::Object(m) => {
                super::check_keys(OP, name, m, &["region", "kms_key_id"])?;
                let region = m
                    .get("region")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| invalid(OP, name, "a replica map needs a `region` string"))?;
                let key = match m.get("kms_key_id") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(k)) => Some(k.clone()),
                    Some(other) => {
                        return Err(invalid(
                            OP,
                            name,
                            format!("`kms_key_id` must be a string, not {other}"),
                        ));
                    }
                };
                Ok((region.to_string(), key))
            }
            other => Err(invalid(
                OP,
                name,
                format!("a region is a string or `#{{region, kms_key_id}}`, not {other}"),
            )),
        })
        .collect()
}

/// ReplicateSecretToRegions (failback: the primary gets its replicas back). A region that already
/// holds a standalone secret of that name (the replica promoted during the failover) is refused
/// by AWS unless `force_overwrite` is set, which replaces that secret with the primary's.
/// Regions already replicated are left out; a region whose replication failed is removed from
/// the replication and added again. Returns `{arn, replication, dry_run}`.
pub async fn replicate(
    sm: &aws_sdk_secretsmanager::Client,
    mutations: &Mutations,
    name: &str,
    regions: &[Value],
    force_overwrite: bool,
) -> Result<Value> {
    const OP: &str = "ReplicateSecretToRegions";
    let wanted = parse_regions(name, regions)?;
    let region = region_of(sm);
    let current = describe(sm, name).await?;
    if let Some(primary) = current.primary_region().filter(|p| *p != region) {
        return Err(invalid(
            OP,
            name,
            format!(
                "the secret in {region} is a replica of the one in {primary}; replicate from the primary region"
            ),
        ));
    }
    // A region whose replication failed (e.g. a secret of that name was there and
    // `force_overwrite` was not set) holds no replica: it is removed and added again.
    let failed: Vec<&str> = current
        .replication_status()
        .iter()
        .filter(|r| r.status() == Some(&StatusType::Failed))
        .filter_map(|r| r.region())
        .collect();
    let have: Vec<&str> = current
        .replication_status()
        .iter()
        .filter_map(|r| r.region())
        .filter(|r| !failed.contains(r))
        .collect();
    let add: Vec<(String, Option<String>)> = wanted
        .into_iter()
        .filter(|(r, _)| !have.contains(&r.as_str()))
        .collect();
    let retry: Vec<String> = add
        .iter()
        .filter(|(r, _)| failed.contains(&r.as_str()))
        .map(|(r, _)| r.clone())
        .collect();
    let as_result = |arn: Option<&str>, replication: &[ReplicationStatusType], dry_run: bool| {
        json!({
            "arn": opt_str(arn),
            "replication": replication.iter().map(replication_map).collect::<Vec<_>>(),
            "dry_run": dry_run,
        })
    };
    if add.is_empty() {
        return Ok(as_result(
            current.arn(),
            current.replication_status(),
            mutations.dry_run(),
        ));
    }
    let detail = format!(
        "replicate to {}{}",
        add.iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if force_overwrite {
            " (overwriting a secret of that name there)"
        } else {
            ""
        }
    );
    if !retry.is_empty() {
        const REMOVE: &str = "RemoveRegionsFromReplication";
        let detail = format!(
            "drop the failed replication to {} before replicating again",
            retry.join(", ")
        );
        let call = async {
            sm.remove_regions_from_replication()
                .secret_id(name)
                .set_remove_replica_regions(Some(retry.clone()))
                .send()
                .await
                .map_err(|e| sdk_error(REMOVE, name, e))
        };
        mutations.perform(REMOVE, name, &detail, call).await?;
    }
    let types: Vec<ReplicaRegionType> = add
        .iter()
        .map(|(r, k)| {
            ReplicaRegionType::builder()
                .region(r)
                .set_kms_key_id(k.clone())
                .build()
        })
        .collect();
    let call = async {
        sm.replicate_secret_to_regions()
            .secret_id(name)
            .set_add_replica_regions(Some(types))
            .force_overwrite_replica_secret(force_overwrite)
            .send()
            .await
            .map_err(|e| sdk_error(OP, name, e))
    };
    match mutations.perform(OP, name, &detail, call).await? {
        None => Ok(as_result(current.arn(), current.replication_status(), true)),
        Some(out) => Ok(as_result(
            arn(out.arn(), current.arn()),
            out.replication_status(),
            false,
        )),
    }
}

/// Polls DescribeSecret until every replica is `InSync` (an error when one failed); returns the
/// secret as `describe_secret` does.
pub async fn wait_replicated(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    timeout: Duration,
) -> Result<Value> {
    wait_until("wait for replication", name, timeout, || async move {
        let s = describe(sm, name).await?;
        for r in s.replication_status() {
            let region = r.region().unwrap_or("?");
            match r.status() {
                Some(StatusType::InSync) => {}
                Some(StatusType::Failed) => {
                    return Ok(WaitState::Failed(format!(
                        "replication to {region} failed: {}",
                        r.status_message().unwrap_or("no reason given")
                    )));
                }
                Some(s) => {
                    return Ok(WaitState::Pending(format!(
                        "replica in {region} is {}",
                        s.as_str()
                    )));
                }
                None => {
                    return Ok(WaitState::Pending(format!(
                        "replica in {region} has no status yet"
                    )));
                }
            }
        }
        Ok(WaitState::Ready)
    })
    .await?;
    describe_secret(sm, name).await
}

/// The options `replicate` takes besides the regions.
pub fn replicate_options(name: &str, given: &Map<String, Value>) -> Result<bool> {
    const OP: &str = "ReplicateSecretToRegions";
    super::check_keys(OP, name, given, &["force_overwrite"])?;
    Ok(super::opt(OP, name, given, "force_overwrite")?.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::replicate_secret_to_regions::ReplicateSecretToRegionsOutput;
    use aws_sdk_secretsmanager::operation::stop_replication_to_replica::StopReplicationToReplicaOutput;
    use aws_smithy_mocks::{Rule, mock};

    const ARN: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:examplepay/local/payments-db-AbCdEf";

    fn client(region: &str, rules: &[&Rule]) -> Client {
        crate::Aws::mocked(rules).in_region(region).secretsmanager()
    }

    fn replica_status(region: &str, status: StatusType) -> ReplicationStatusType {
        ReplicationStatusType::builder()
            .region(region)
            .status(status)
            .status_message("Replication succeeded")
            .build()
    }

    /// Promotes the replica of `examplepay/local/payments-db` in `region`, calls answered by `rules`.
    async fn promote(region: &str, rules: &[&Rule], mutations: &Mutations) -> Result<Value> {
        let sm = client(region, rules);
        stop_replication_to_replica(&sm, mutations, "examplepay/local/payments-db").await
    }

    fn described(primary: Option<&'static str>) -> Rule {
        mock!(Client::describe_secret).then_output(move || {
            DescribeSecretOutput::builder()
                .name("examplepay/local/payments-db")
                .arn(ARN)
                .kms_key_id("alias/aws/secretsmanager")
                .set_primary_region(primary.map(String::from))
                .replication_status(replica_status("eu-west-1", StatusType::InSync))
                .build()
        })
    }

    #[tokio::test]
    async fn describe_says_where_the_primary_is() {
        let d = described(Some("us-east-1"));
        let out = describe_secret(&client("eu-west-1", &[&d]), "examplepay/local/payments-db")
            .await
            .unwrap();
        assert_eq!(out["primary_region"], "us-east-1");
        assert_eq!(out["is_replica"], true);
        assert_eq!(out["replication"][0]["region"], "eu-west-1");
        assert_eq!(out["replication"][0]["status"], "InSync");
        let d = described(None);
        let out = describe_secret(&client("us-east-1", &[&d]), "examplepay/local/payments-db")
            .await
            .unwrap();
        assert_eq!(
            (&out["primary_region"], &out["is_replica"]),
            (&json!("us-east-1"), &json!(false))
        );
    }

    #[tokio::test]
    async fn promoting_is_done_in_the_replica_region_only() {
        let d = described(Some("us-east-1"));
        let stop = mock!(Client::stop_replication_to_replica)
            .then_output(|| StopReplicationToReplicaOutput::builder().arn(ARN).build());
        let out = promote("eu-west-1", &[&d, &stop], &Mutations::default())
            .await
            .unwrap();
        assert_eq!(out["arn"], ARN);
        assert_eq!(stop.num_calls(), 1);

        let e = promote("us-east-1", &[&d, &stop], &Mutations::default())
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("is not a replica: it is the primary, with replicas in `eu-west-1`"),
            "{e}"
        );
        assert_eq!(stop.num_calls(), 1, "refused before the call");

        let dry = Mutations::default();
        dry.set_dry_run(true);
        let out = promote("eu-west-1", &[&d, &stop], &dry).await.unwrap();
        assert_eq!(out["dry_run"], true);
        assert_eq!(stop.num_calls(), 1);
    }

    #[tokio::test]
    async fn replicate_adds_only_missing_regions() {
        let d = described(None);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let rep = mock!(Client::replicate_secret_to_regions).then_compute_output(move |r| {
            let regions: Vec<String> = r
                .add_replica_regions()
                .iter()
                .filter_map(|x| x.region().map(String::from))
                .collect();
            record
                .lock()
                .unwrap()
                .push((regions, r.force_overwrite_replica_secret()));
            ReplicateSecretToRegionsOutput::builder()
                .arn(ARN)
                .replication_status(replica_status("eu-west-1", StatusType::InSync))
                .replication_status(replica_status("us-west-2", StatusType::InProgress))
                .build()
        });
        let sm = client("us-east-1", &[&d, &rep]);
        let out = replicate(
            &sm,
            &Mutations::default(),
            "examplepay/local/payments-db",
            &[json!("eu-west-1"), json!({"region": "us-west-2"})],
            true,
        )
        .await
        .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(vec!["us-west-2".to_string()], Some(true))]
        );
        assert_eq!(out["replication"][1]["status"], "InProgress");
        let out = replicate(
            &sm,
            &Mutations::default(),
            "examplepay/local/payments-db",
            &[json!("eu-west-1")],
            false,
        )
        .await
        .unwrap();
        assert_eq!(rep.num_calls(), 1, "eu-west-1 is already a replica");
        assert_eq!(out["replication"][0]["region"], "eu-west-1");
    }

    #[test]
    fn regions_are_strings_or_maps() {
        assert!(parse_regions("s", &[]).is_err());
        assert!(
            parse_regions("s", &[json!(3)])
                .unwrap_err()
                .to_string()
                .contains("is a string or")
        );
        assert!(
            parse_regions("s", &[json!({"regoin": "x"})])
                .unwrap_err()
                .to_string()
                .contains("did you mean `region`")
        );
        assert_eq!(
            parse_regions(
                "s",
                &[json!({"region": "eu-west-1", "kms_key_id": "alias/k"})]
            )
            .unwrap(),
            vec![("eu-west-1".to_string(), Some("alias/k".to_string()))]
        );
    }
}
