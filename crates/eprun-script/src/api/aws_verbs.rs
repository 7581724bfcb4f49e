//! Imperative AWS verbs for runbooks and the REPL: `aws::sts::caller_identity()`,
//! `aws::eks::update_nodegroup_scaling(..)`, `aws::route53::update_health_check(..)`, … Plain maps
//! and arrays in and out; they act on the current environment's connection (the innermost
//! `in_env`, else the stack's, else `--env`), so they take no region.
//!
//! The logic lives in `crate::aws::verbs`; this file only converts values and registers the
//! functions into the same `aws::<service>` sub-modules as the resource declarations (another
//! file adds its own functions the same way: take `&mut Services`, fill
//! `services.entry("<service>").or_default()`, and be called from `super::register` before the
//! sub-modules are installed).

use super::{Services, fail};
use crate::aws::verbs::{self, interruptible};
use crate::aws::{Aws, CloudError};
use crate::session::Session;
use crate::value::{to_dynamic, to_json};
use rhai::{
    Dynamic, EvalAltResult, FuncRegistration, INT, ImmutableString, Module, NativeCallContext,
    Position,
};
use serde_json::{Map, Value};
use std::future::Future;

type RhaiResult = Result<Dynamic, Box<EvalAltResult>>;

/// Registers every verb into its service's module.
pub(super) fn register(services: &mut Services, session: &Session) {
    sts(services.entry("sts").or_default(), session);
    ec2(services.entry("ec2").or_default(), session);
    eks(services.entry("eks").or_default(), session);
    route53(services.entry("route53").or_default(), session);
    secretsmanager(services.entry("secretsmanager").or_default(), session);
    cloudwatch(services.entry("cloudwatch").or_default(), session);
    ecr(services.entry("ecr").or_default(), session);
    iam(services.entry("iam").or_default(), session);
    servicequotas(services.entry("servicequotas").or_default(), session);
}

/// A read whose answer may be "there is none": `()` then.
fn or_unit(found: Result<Option<Value>, CloudError>) -> Result<Value, CloudError> {
    found.map(Option::unwrap_or_default)
}

/// Registers `name(a, b)`, a read (`what`, as the interruption names it) of what `verb` returns
/// for the connection and the two strings.
fn read_two<F, Fut>(
    m: &mut Module,
    session: &Session,
    name: &str,
    comments: &[&str],
    params: [&str; 3],
    what: &'static str,
    verb: F,
) where
    F: Fn(Aws, ImmutableString, ImmutableString) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, CloudError>>,
{
    let s = session.clone();
    FuncRegistration::new(name)
        .with_comments(comments)
        .with_params_info(params)
        .set_into_module(
            m,
            move |ctx: NativeCallContext, a: ImmutableString, b: ImmutableString| -> RhaiResult {
                read(&s, ctx.call_position(), what, |aws| verb(aws, a, b))
            },
        );
}

fn cloudwatch(m: &mut Module, session: &Session) {
    read_str(
        m,
        session,
        "describe_alarm",
        &[
            "/// A CloudWatch alarm of the current region by name (DescribeAlarms): `#{name, arn, state,",
            "/// reason, updated, namespace, metric_name, dimensions}`, or `()` when there is none.",
            "/// Rotation alarms are flipped only through `rotation::drain`/`rotation::restore`.",
        ],
        ["name: &str", "Map"],
        "DescribeAlarms",
        |aws, name| async move {
            or_unit(verbs::cloudwatch::describe_alarm(&aws.cloudwatch(), &name).await)
        },
    );
}

fn ecr(m: &mut Module, session: &Session) {
    read_two(
        m,
        session,
        "describe_image",
        &[
            "/// The image `repository:tag` in the current region's registry (DescribeImages):",
            "/// `#{repository, tag, digest, pushed}`, or `()` when the repository or tag is not there.",
        ],
        ["repository: &str", "tag: &str", "Map"],
        "DescribeImages",
        |aws, repo, tag| async move {
            or_unit(verbs::ecr::describe_image(&aws.ecr(), &repo, &tag).await)
        },
    );
}

fn iam(m: &mut Module, session: &Session) {
    read_str(
        m,
        session,
        "get_role",
        &[
            "/// An IAM role by name (GetRole): `#{name, arn, path}`, or `()` when there is none.",
            "/// IAM answers from us-east-1 whatever the environment's region.",
        ],
        ["name: &str", "Map"],
        "GetRole",
        |aws, name| async move { or_unit(verbs::iam::get_role(&aws.iam(), &name).await) },
    );
}

fn servicequotas(m: &mut Module, session: &Session) {
    read_two(
        m,
        session,
        "get_service_quota",
        &[
            "/// A quota of the account in the current region (GetServiceQuota), e.g.",
            "/// `get_service_quota(\"ec2\", \"L-1216C47A\")` for the vCPUs of on-demand standard",
            "/// instances: `#{service, code, name, value}`.",
        ],
        ["service: &str", "code: &str", "Map"],
        "GetServiceQuota",
        |aws, service, code| async move {
            verbs::servicequotas::get_service_quota(&aws.servicequotas(), &service, &code).await
        },
    );
}

/// Runs a read on the current environment's connection; Ctrl-C stops it.
fn read<F, Fut>(session: &Session, pos: Position, what: &str, verb: F) -> RhaiResult
where
    F: FnOnce(Aws) -> Fut,
    Fut: Future<Output = Result<Value, CloudError>>,
{
    let aws = session.aws().map_err(|e| fail(e, pos))?;
    let value = session
        .runtime
        .block_on(interruptible(what, "the current environment", verb(aws)))
        .map_err(|e| fail(e.to_string(), pos))?;
    Ok(to_dynamic(&value))
}

/// Registers `name(<string>)`, a read (`what`, as the interruption names it) of what `verb`
/// returns for the connection and the string.
fn read_str<F, Fut>(
    m: &mut Module,
    session: &Session,
    name: &str,
    comments: &[&str],
    params: [&str; 2],
    what: &'static str,
    verb: F,
) where
    F: Fn(Aws, ImmutableString) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, CloudError>>,
{
    let s = session.clone();
    FuncRegistration::new(name)
        .with_comments(comments)
        .with_params_info(params)
        .set_into_module(
            m,
            move |ctx: NativeCallContext, arg: ImmutableString| -> RhaiResult {
                read(&s, ctx.call_position(), what, |aws| verb(aws, arg))
            },
        );
}

/// Runs a verb that mutates (through `session.mutations`, which the verb is handed); it runs to
/// its end once started, so the journal records what was done.
fn mutate<F, Fut>(session: &Session, pos: Position, verb: F) -> RhaiResult
where
    F: FnOnce(Aws, std::sync::Arc<crate::mutation::Mutations>) -> Fut,
    Fut: Future<Output = Result<Value, CloudError>>,
{
    let aws = session.aws().map_err(|e| fail(e, pos))?;
    let value = session
        .runtime
        .block_on(verb(aws, session.mutations.clone()))
        .map_err(|e| fail(e.to_string(), pos))?;
    Ok(to_dynamic(&value))
}

/// A map argument as JSON.
fn options(
    map: rhai::Map,
    what: &str,
    pos: Position,
) -> Result<Map<String, Value>, Box<EvalAltResult>> {
    match to_json(&Dynamic::from_map(map)) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(fail(format!("{what} must be a map"), pos)),
        Err(e) => Err(fail(format!("{what}: {e}"), pos)),
    }
}

/// An array argument as JSON.
fn items(array: rhai::Array, what: &str, pos: Position) -> Result<Vec<Value>, Box<EvalAltResult>> {
    match to_json(&Dynamic::from_array(array)) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(_) => Err(fail(format!("{what} must be an array"), pos)),
        Err(e) => Err(fail(format!("{what}: {e}"), pos)),
    }
}

/// A timeout argument.
fn seconds(
    op: &str,
    target: &str,
    secs: INT,
    pos: Position,
) -> Result<std::time::Duration, Box<EvalAltResult>> {
    verbs::timeout(op, target, secs).map_err(|e| fail(e.to_string(), pos))
}

fn sts(m: &mut Module, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("caller_identity")
        .with_comments([
            "/// Who the session is (STS GetCallerIdentity): `#{account, arn, user_id}`.",
        ])
        .with_params_info(["Map"])
        .set_into_module(m, move |ctx: NativeCallContext| -> RhaiResult {
            read(
                &s,
                ctx.call_position(),
                "GetCallerIdentity",
                |aws| async move { verbs::sts::caller_identity(&aws.sts()).await },
            )
        });
}

fn ec2(m: &mut Module, session: &Session) {
    let comments = [
        "/// The VPCs of the current region (EC2 DescribeVpcs), filtered by a map of EC2 filter",
        "/// names to a value or an array of values: `#{\"tag:Name\": \"examplepay-prod\"}`,",
        "/// `#{\"cidr\": \"10.10.0.0/16\"}`, `#{}` for all.",
        "///",
        "/// Returns `[#{vpc_id, cidr_block, state, is_default, name, tags}]`.",
    ];
    let s = session.clone();
    FuncRegistration::new("describe_vpcs")
        .with_comments(comments)
        .with_params_info(["filters: Map", "Array"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext, filters: rhai::Map| -> RhaiResult {
                let pos = ctx.call_position();
                let filters = options(filters, "the filters", pos)?;
                read(&s, pos, "DescribeVpcs", |aws| async move {
                    verbs::ec2::describe_vpcs(&aws.ec2(), &filters).await
                })
            },
        );
    let s = session.clone();
    FuncRegistration::new("describe_vpcs")
        .with_comments(comments)
        .with_params_info(["Array"])
        .set_into_module(m, move |ctx: NativeCallContext| -> RhaiResult {
            read(&s, ctx.call_position(), "DescribeVpcs", |aws| async move {
                verbs::ec2::describe_vpcs(&aws.ec2(), &Map::new()).await
            })
        });
    read_str(
        m,
        session,
        "describe_instance_type",
        &[
            "/// What one instance type holds (DescribeInstanceTypes): `#{type, vcpus, memory_mib}`.",
        ],
        ["name: &str", "Map"],
        "DescribeInstanceTypes",
        |aws, name| async move { verbs::ec2::describe_instance_type(&aws.ec2(), &name).await },
    );
}

fn eks(m: &mut Module, session: &Session) {
    read_str(
        m,
        session,
        "describe_cluster",
        &[
            "/// An EKS cluster (DescribeCluster):",
            "/// `#{name, arn, status, version, endpoint, platform_version}`.",
        ],
        ["name: &str", "Map"],
        "DescribeCluster",
        |aws, name| async move { verbs::eks::describe_cluster(&aws.eks(), &name).await },
    );

    read_str(
        m,
        session,
        "list_nodegroups",
        &["/// The names of a cluster's managed node groups (ListNodegroups)."],
        ["cluster: &str", "Array"],
        "ListNodegroups",
        |aws, cluster| async move { verbs::eks::list_nodegroups(&aws.eks(), &cluster).await },
    );

    let s = session.clone();
    FuncRegistration::new("describe_nodegroup")
        .with_comments([
            "/// A managed node group (DescribeNodegroup): `#{name, cluster, arn, status, min_size,",
            "/// max_size, desired_size, instance_types, capacity_type, version, health_issues}`.",
        ])
        .with_params_info(["cluster: &str", "nodegroup: &str", "Map"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext, cluster: ImmutableString, nodegroup: ImmutableString| -> RhaiResult {
                read(&s, ctx.call_position(), "DescribeNodegroup", |aws| async move {
                    verbs::eks::describe_nodegroup(&aws.eks(), &cluster, &nodegroup).await
                })
            },
        );

    let s = session.clone();
    FuncRegistration::new("update_nodegroup_scaling")
        .with_comments([
            "/// Changes a node group's sizes (UpdateNodegroupConfig; mutating: skipped in a dry run).",
            "/// `sizes` holds any of `min_size`, `max_size`, `desired_size`; the others keep their",
            "/// current values (and are not sent). min ≤ desired ≤ max is checked before the call.",
            "/// Sizes already in place make no call. Follow with `wait_nodegroup_active`.",
            "///",
            "/// Returns `#{update_id, status, cluster, nodegroup, min_size, max_size, desired_size,",
            "/// changed, dry_run}` (the sizes after the update; `update_id` is () in a dry run).",
        ])
        .with_params_info(["cluster: &str", "nodegroup: &str", "sizes: Map", "Map"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext,
                  cluster: ImmutableString,
                  nodegroup: ImmutableString,
                  sizes: rhai::Map|
                  -> RhaiResult {
                let pos = ctx.call_position();
                let sizes = options(sizes, "the sizes", pos)?;
                mutate(&s, pos, |aws, mutations| async move {
                    verbs::eks::update_nodegroup_scaling(&aws.eks(), &mutations, &cluster, &nodegroup, &sizes)
                        .await
                })
            },
        );

    let s = session.clone();
    FuncRegistration::new("wait_nodegroup_active")
        .with_comments([
            "/// Waits until a node group is ACTIVE (polling DescribeNodegroup with backoff) and",
            "/// returns it as `describe_nodegroup` does. An error when it ends CREATE_FAILED,",
            "/// DEGRADED (with its health issues) or DELETING, or after `timeout_secs`; Ctrl-C stops it.",
        ])
        .with_params_info(["cluster: &str", "nodegroup: &str", "timeout_secs: INT", "Map"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext,
                  cluster: ImmutableString,
                  nodegroup: ImmutableString,
                  timeout_secs: INT|
                  -> RhaiResult {
                let pos = ctx.call_position();
                let timeout = seconds("wait for ACTIVE", &format!("{cluster}/{nodegroup}"), timeout_secs, pos)?;
                read(&s, pos, "DescribeNodegroup", |aws| async move {
                    verbs::eks::wait_nodegroup_active(&aws.eks(), &cluster, &nodegroup, timeout).await
                })
            },
        );
}

fn route53(m: &mut Module, session: &Session) {
    const SHAPE: &str = "/// `#{id, name, address, type, fqdn, ip_address, port, resource_path, inverted, disabled,\n/// failure_threshold, request_interval, regions, version, caller_reference, tags}`";
    let s = session.clone();
    FuncRegistration::new("list_health_checks")
        .with_comments([
            "/// Every Route 53 health check with its tags (ListHealthChecks, ListTagsForResources):",
            SHAPE,
            "/// — `name` and `address` come from the `Name` and `eprun:address` tags, so",
            "/// `list_health_checks().filter(|c| c.name == \"ingress-us-east-1\")` finds one.",
        ])
        .with_params_info(["Array"])
        .set_into_module(m, move |ctx: NativeCallContext| -> RhaiResult {
            read(&s, ctx.call_position(), "ListHealthChecks", |aws| async move {
                verbs::route53::list_health_checks(&aws.route53()).await
            })
        });

    read_str(
        m,
        session,
        "get_health_check",
        &[
            "/// One health check by id (GetHealthCheck), with its tags:",
            SHAPE,
        ],
        ["id: &str", "Map"],
        "GetHealthCheck",
        |aws, id| async move { verbs::route53::get_health_check(&aws.route53(), &id).await },
    );

    let s = session.clone();
    FuncRegistration::new("update_health_check")
        .with_comments([
            "/// Changes a health check (UpdateHealthCheck; mutating: skipped in a dry run):",
            "/// `changes` holds any of `inverted`, `disabled`, `failure_threshold` (1–10).",
            "/// `inverted: true` is how a DR runbook drains a region. The update names the version",
            "/// just read; if someone changed the check in between it is read and tried again.",
            "/// Settings already in place make no call. Returns the updated health check (in a dry",
            "/// run, the check as it is), shaped as `get_health_check`'s.",
        ])
        .with_params_info(["id: &str", "changes: Map", "Map"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext, id: ImmutableString, changes: rhai::Map| -> RhaiResult {
                let pos = ctx.call_position();
                let changes = options(changes, "the changes", pos)?;
                mutate(&s, pos, |aws, mutations| async move {
                    verbs::route53::update_health_check(&aws.route53(), &mutations, &id, &changes).await
                })
            },
        );

    read_str(
        m,
        session,
        "health_check_status",
        &[
            "/// What Route 53's checkers report now (GetHealthCheckStatus): `#{id, healthy,",
            "/// checkers_healthy, inverted, disabled, observations: [#{region, ip_address, status,",
            "/// checked_time}]}`. `checkers_healthy`: more than 18 % of the checkers report success;",
            "/// `healthy`: the status Route 53 routes on (inverted flips it, disabled counts as",
            "/// healthy). Both are false while no checker has reported.",
        ],
        ["id: &str", "Map"],
        "GetHealthCheckStatus",
        |aws, id| async move { verbs::route53::health_check_status(&aws.route53(), &id).await },
    );
}

fn secretsmanager(m: &mut Module, session: &Session) {
    read_str(
        m,
        session,
        "describe_secret",
        &[
            "/// A secret's metadata in the current region (DescribeSecret) — never its value:",
            "/// `#{name, arn, description, kms_key_id, region, primary_region, is_replica, deleted,",
            "/// replication: [#{region, status, status_message, kms_key_id}]}`.",
        ],
        ["name: &str", "Map"],
        "DescribeSecret",
        |aws, name| async move {
            verbs::secretsmanager::describe_secret(&aws.secretsmanager(), &name).await
        },
    );

    let s = session.clone();
    FuncRegistration::new("stop_replication_to_replica")
        .with_comments([
            "/// Promotes this region's replica of a secret to a standalone secret",
            "/// (StopReplicationToReplica; mutating: skipped in a dry run). Call it in the",
            "/// replica's region (`in_env(<DR environment>, || …)`) during a failover; it is",
            "/// refused before the call when the secret here is not a replica. Returns `#{arn, dry_run}`.",
        ])
        .with_params_info(["name: &str", "Map"])
        .set_into_module(m, move |ctx: NativeCallContext, name: ImmutableString| -> RhaiResult {
            mutate(&s, ctx.call_position(), |aws, mutations| async move {
                verbs::secretsmanager::stop_replication_to_replica(&aws.secretsmanager(), &mutations, &name)
                    .await
            })
        });

    let replicate_doc = [
        "/// Replicates a secret from its primary (current) region to `regions` (strings, or",
        "/// `#{region, kms_key_id}`) with ReplicateSecretToRegions (mutating: skipped in a dry run);",
        "/// regions already replicated are left out. For a failback, where the DR region holds",
        "/// the promoted standalone copy, pass `#{force_overwrite: true}`: that copy is replaced",
        "/// by the primary's (changes made to it meanwhile are lost). Returns",
        "/// `#{arn, replication: [#{region, status, status_message}], dry_run}`; wait with",
        "/// `wait_replicated`.",
    ];
    let s = session.clone();
    FuncRegistration::new("replicate")
        .with_comments(replicate_doc)
        .with_params_info(["name: &str", "regions: Array", "Map"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext,
                  name: ImmutableString,
                  regions: rhai::Array|
                  -> RhaiResult {
                replicate(&s, ctx.call_position(), name, regions, None)
            },
        );
    let s = session.clone();
    FuncRegistration::new("replicate")
        .with_comments(replicate_doc)
        .with_params_info(["name: &str", "regions: Array", "options: Map", "Map"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext,
                  name: ImmutableString,
                  regions: rhai::Array,
                  opts: rhai::Map|
                  -> RhaiResult {
                replicate(&s, ctx.call_position(), name, regions, Some(opts))
            },
        );

    let s = session.clone();
    FuncRegistration::new("wait_replicated")
        .with_comments([
            "/// Waits until every replica of a secret is `InSync` (polling DescribeSecret) and",
            "/// returns it as `describe_secret` does; an error when a replication failed or after",
            "/// `timeout_secs`. Ctrl-C stops it.",
        ])
        .with_params_info(["name: &str", "timeout_secs: INT", "Map"])
        .set_into_module(
            m,
            move |ctx: NativeCallContext, name: ImmutableString, timeout_secs: INT| -> RhaiResult {
                let pos = ctx.call_position();
                let timeout = seconds("wait for replication", &name, timeout_secs, pos)?;
                read(&s, pos, "DescribeSecret", |aws| async move {
                    verbs::secretsmanager::wait_replicated(&aws.secretsmanager(), &name, timeout)
                        .await
                })
            },
        );
}

/// `secretsmanager::replicate(name, regions[, options])`: the arguments checked, then the call.
fn replicate(
    session: &Session,
    pos: Position,
    name: ImmutableString,
    regions: rhai::Array,
    opts: Option<rhai::Map>,
) -> RhaiResult {
    let regions = items(regions, "the regions", pos)?;
    let force = match opts {
        Some(opts) => {
            let opts = options(opts, "the options", pos)?;
            verbs::secretsmanager::replicate_options(&name, &opts)
                .map_err(|e| fail(e.to_string(), pos))?
        }
        None => false,
    };
    mutate(session, pos, |aws, mutations| async move {
        verbs::secretsmanager::replicate(&aws.secretsmanager(), &mutations, &name, &regions, force)
            .await
    })
}
