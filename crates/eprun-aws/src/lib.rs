//! eprun's AWS provider: one shared SDK configuration, per-region clients, call counting, error
//! mapping, the resource types behind one adapter, and the verbs scripts call.

// The core's modules, at the paths this crate's files name them by.
#[cfg(test)]
use eprun_core::declaration;
use eprun_core::{
    address, cloud_error, cluster, context, interrupt, invalid, mutation, planner, resource,
    schema, tags, token,
};

pub mod adapter;
pub mod cloudwatch;
pub mod ec2;
pub mod eks;
pub mod events;
pub mod iam;
pub mod kms;
pub mod props;
pub mod route53;
pub mod s3;
pub mod secretsmanager;
pub mod sqs;
pub mod verbs;

pub use tags::{ADDRESS_TAG, Owner, STACK_TAG, Tags, owner, ownership_tags};

pub use crate::cloud_error::{CloudError, CloudErrorKind};

/// What an AWS call answers: its value, or (by default) a `CloudError`.
pub type Result<T, E = CloudError> = std::result::Result<T, E>;
use crate::cloud_error::innermost;
use crate::context::{Connection, Context};
use crate::resource::Resource;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Every AWS resource type, in the order `eprun docs` lists them.
pub static RESOURCES: &[&dyn Resource] = &[
    &ec2::vpc::VPC,
    &ec2::subnet::SUBNET,
    &ec2::internet_gateway::INTERNET_GATEWAY,
    &ec2::eip::EIP,
    &ec2::nat_gateway::NAT_GATEWAY,
    &ec2::route_table::ROUTE_TABLE,
    &ec2::route::ROUTE,
    &ec2::route_table_association::ROUTE_TABLE_ASSOCIATION,
    &ec2::security_group::SECURITY_GROUP,
    &ec2::vpc_endpoint::VPC_ENDPOINT,
    &ec2::flow_log::FLOW_LOG,
    &ec2::transit_gateway::TRANSIT_GATEWAY,
    &ec2::transit_gateway_vpc_attachment::TRANSIT_GATEWAY_VPC_ATTACHMENT,
    &ec2::transit_gateway_peering_attachment::TRANSIT_GATEWAY_PEERING_ATTACHMENT,
    &ec2::transit_gateway_peering_attachment_accepter::TRANSIT_GATEWAY_PEERING_ATTACHMENT_ACCEPTER,
    &ec2::transit_gateway_route::TRANSIT_GATEWAY_ROUTE,
    &s3::bucket::BUCKET,
    &kms::key::KEY,
    &iam::role::ROLE,
    &iam::policy::POLICY,
    &iam::role_policy_attachment::ROLE_POLICY_ATTACHMENT,
    &iam::instance_profile::INSTANCE_PROFILE,
    &iam::openid_connect_provider::OPENID_CONNECT_PROVIDER,
    &eks::cluster::CLUSTER,
    &eks::node_group::NODE_GROUP,
    &eks::addon::ADDON,
    &route53::zone::ZONE,
    &route53::health_check::HEALTH_CHECK,
    &route53::record::RECORD,
    &secretsmanager::secret::SECRET,
    &sqs::queue::QUEUE,
    &events::rule::RULE,
    &cloudwatch::metric_alarm::METRIC_ALARM,
];

/// The error of a failed SDK call.
pub fn from_sdk<E, R>(operation: &str, target: impl fmt::Display, err: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let (kind, message) = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let msg = e.message().unwrap_or("").to_string();
            // SQS says `AWS.SimpleQueueService.NonExistentQueue` (`QueueDoesNotExist` without
            // its query-compatible header).
            let not_found = code.contains("NotFound")
                || code.starts_with("NoSuch")
                || code.ends_with("NonExistentQueue")
                || code.ends_with("DoesNotExist");
            let text = if msg.is_empty() { code.clone() } else { format!("{code}: {msg}") };
            (if not_found { CloudErrorKind::NotFound } else { CloudErrorKind::Service(code) }, text)
        }
        SdkError::DispatchFailure(df) if df.is_io() || df.is_timeout() => (
            CloudErrorKind::Unreachable,
            format!("could not reach the AWS endpoint ({})", innermost(&err)),
        ),
        SdkError::TimeoutError(_) => (CloudErrorKind::Unreachable, "the request timed out".into()),
        _ if no_credentials(&err) => (
            CloudErrorKind::Credentials,
            "no AWS credentials found; set a profile (`AWS_PROFILE`), SSO, or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`".into(),
        ),
        _ => (CloudErrorKind::Service("Client".into()), innermost(&err)),
    };
    CloudError {
        operation: operation.into(),
        target: target.to_string(),
        address: None,
        message,
        kind,
    }
}

/// Whether a call failed because no credentials could be loaded: a `CredentialsError` somewhere in
/// its source chain.
fn no_credentials(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The error of SDK call `operation` on `target`, for `.map_err(sdk("CreateVpc", id))`.
pub fn sdk<E, R>(
    operation: &'static str,
    target: impl fmt::Display,
) -> impl FnOnce(SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    move |err| from_sdk(operation, target, err)
}

/// Every item a paginated call answers, e.g.
/// `all!(iam.list_role_tags().role_name(n), "ListRoleTags", n)`; an error names `operation`
/// and `target`.
macro_rules! all {
    ($call:expr, $operation:expr, $target:expr) => {
        $call
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| $crate::from_sdk(&$operation, $target, e))
    };
}
pub(crate) use all;

/// Counts every request attempt sent to AWS, for `stats.api_calls`.
#[derive(Debug, Clone, Default)]
struct CallCounter(Arc<AtomicU64>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "eprun-call-counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Declares the per-region client cache and one accessor per service, all built the same way.
macro_rules! clients {
    ($($name:ident: $krate:ident $(=> $tweak:expr)?;)*) => {
        #[derive(Debug, Default)]
        struct Clients {
            $($name: Option<$krate::Client>,)*
        }

        impl Aws {
            $(
                #[doc = concat!("The `", stringify!($krate), "` client for this region.")]
                pub fn $name(&self) -> $krate::Client {
                    let region = Region::new(self.region.clone());
                    self.with_clients(|c, shared| {
                        let cfg = &shared.config;
                        c.$name
                            .get_or_insert_with(|| {
                                let mut builder = $krate::config::Builder::from(cfg).region(region).interceptor(shared.counter.clone());
                                for extra in &shared.interceptors {
                                    builder.push_interceptor(extra.clone());
                                }
                                $(let builder = ($tweak)(builder, cfg);)?
                                $krate::Client::from_conf(builder.build())
                            })
                            .clone()
                    })
                }
            )*
        }
    };
}

clients! {
    ec2: aws_sdk_ec2;
    // Emulators serve S3 on one host: path-style addressing whenever an endpoint is overridden.
    s3: aws_sdk_s3 => |b: aws_sdk_s3::config::Builder, cfg: &SdkConfig| b.force_path_style(cfg.endpoint_url().is_some());
    sts: aws_sdk_sts;
    eks: aws_sdk_eks;
    iam: aws_sdk_iam;
    kms: aws_sdk_kms;
    route53: aws_sdk_route53;
    secretsmanager: aws_sdk_secretsmanager;
    sqs: aws_sdk_sqs;
    eventbridge: aws_sdk_eventbridge;
    cloudwatch: aws_sdk_cloudwatch;
    servicequotas: aws_sdk_servicequotas;
    ecr: aws_sdk_ecr;
}

#[derive(Debug)]
struct Shared {
    config: SdkConfig,
    counter: CallCounter,
    /// Interceptors every client gets besides the counter (the mocks of unit tests).
    interceptors: Vec<SharedInterceptor>,
    clients: Mutex<HashMap<String, Clients>>,
}

/// A region-scoped view of the shared AWS connection; cheap to clone.
#[derive(Debug, Clone)]
pub struct Aws {
    region: String,
    shared: Arc<Shared>,
}

impl Aws {
    /// Loads the AWS CLI's configuration chain (profiles, SSO, env, `AWS_ENDPOINT_URL`) for a region.
    pub async fn load(region: &str) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .retry_config(RetryConfig::standard().with_max_attempts(8))
            .load()
            .await;
        Self {
            region: region.to_string(),
            shared: Arc::new(Shared {
                config,
                counter: CallCounter::default(),
                interceptors: Vec::new(),
                clients: Mutex::default(),
            }),
        }
    }

    /// A connection in `us-east-1` whose every call is answered by `rules` (`aws-smithy-mocks`).
    #[cfg(test)]
    pub(crate) fn mocked(rules: &[&aws_smithy_mocks::Rule]) -> Self {
        Self::mocked_in(aws_smithy_mocks::RuleMode::MatchAny, rules)
    }

    /// A connection in `us-east-1` whose calls are answered by `rules`, matched as `mode` says.
    #[cfg(test)]
    pub(crate) fn mocked_in(
        mode: aws_smithy_mocks::RuleMode,
        rules: &[&aws_smithy_mocks::Rule],
    ) -> Self {
        use aws_smithy_mocks::{MockResponseInterceptor, create_mock_http_client};
        let mut mock = MockResponseInterceptor::new().rule_mode(mode);
        for rule in rules {
            mock = mock.with_rule(rule);
        }
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("test", "test", None, None, "test"),
                ),
            )
            .http_client(create_mock_http_client())
            .build();
        Self {
            region: "us-east-1".into(),
            shared: Arc::new(Shared {
                config,
                counter: CallCounter::default(),
                interceptors: vec![SharedInterceptor::new(mock)],
                clients: Mutex::default(),
            }),
        }
    }

    /// The same connection, scoped to another region.
    pub fn in_region(&self, region: &str) -> Self {
        Self {
            region: region.to_string(),
            shared: self.shared.clone(),
        }
    }

    /// A context holding only this connection.
    pub fn context(&self) -> Context {
        Context::new().with(self.clone())
    }

    /// The AWS connection of a context.
    pub fn of(cx: &Context) -> Result<Aws> {
        let aws = cx.get::<Aws>(
            "AWS",
            "no AWS connection: the environment names a region to work in",
        )?;
        Ok(Aws::clone(&aws))
    }

    /// The region of this view.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint configured for `service` (`AWS_ENDPOINT_URL_<SERVICE>`, else
    /// `AWS_ENDPOINT_URL` or the profile's `endpoint_url`), as the SDK clients use it; `None` for
    /// the service's own endpoint. For what must name the endpoint itself, e.g. a presigned URL.
    pub fn endpoint_url(&self, service: &str) -> Option<String> {
        std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
            .ok()
            .filter(|e| !e.is_empty())
            .or_else(|| self.shared.config.endpoint_url().map(String::from))
    }

    /// The session's AWS credentials (for signing EKS tokens).
    pub async fn credentials(&self) -> Result<aws_credential_types::Credentials> {
        use aws_credential_types::provider::ProvideCredentials;
        let missing =
            |m: String| CloudError::new("load credentials", "AWS", CloudErrorKind::Credentials, m);
        let provider = self
            .shared
            .config
            .credentials_provider()
            .ok_or_else(|| missing("no AWS credentials provider is configured".into()))?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| missing(e.to_string()))
    }

    /// How many request attempts were sent so far.
    pub fn api_calls(&self) -> u64 {
        self.shared.counter.0.load(Ordering::Relaxed)
    }

    fn with_clients<T>(&self, pick: impl FnOnce(&mut Clients, &Shared) -> T) -> T {
        let mut map = self
            .shared
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(self.region.clone()).or_default();
        pick(entry, &self.shared)
    }
}

impl Connection for Aws {
    fn in_region(self: Arc<Self>, region: &str) -> Arc<dyn Connection> {
        Arc::new(Aws::in_region(&self, region))
    }
}

/// Polls `check` until it reports ready, with backoff, up to `timeout`.
pub async fn wait_until<F, Fut>(
    operation: &str,
    target: &str,
    timeout: std::time::Duration,
    mut check: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<WaitState>>,
{
    let start = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match check().await? {
            WaitState::Ready => return Ok(()),
            WaitState::Failed(why) => {
                return Err(CloudError::new(
                    operation,
                    target,
                    CloudErrorKind::Wait,
                    why,
                ));
            }
            WaitState::Pending(what) => {
                if start.elapsed() > timeout {
                    return Err(CloudError::new(
                        operation,
                        target,
                        CloudErrorKind::Wait,
                        format!("still {what} after {}s", timeout.as_secs()),
                    ));
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
}

/// Runs `call` again while it fails with an error that `passing` says goes away by itself (IAM
/// not seeing yet what was made a moment ago, an SQS queue name still reserved after a delete),
/// with backoff, for at most `timeout`; then its last answer, error or not.
pub async fn retry_while<T, F, Fut>(
    timeout: std::time::Duration,
    passing: impl Fn(&CloudError) -> bool,
    mut call: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let start = std::time::Instant::now();
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        match call().await {
            Err(e) if passing(&e) && start.elapsed() < timeout => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
            out => return out,
        }
    }
}

/// Where a resource is on its way to being usable (or gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitState {
    /// Done.
    Ready,
    /// Not yet; the text says what state it is in.
    Pending(String),
    /// It will never get there.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_without_credentials_is_a_credentials_error() {
        use aws_credential_types::provider::error::CredentialsError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let missing = CredentialsError::not_loaded("no provider found credentials");
        let err: SdkError<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError, ()> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(missing), None));
        let e = from_sdk("GetCallerIdentity", "AWS", err);
        assert_eq!(e.kind, CloudErrorKind::Credentials);
        assert!(
            e.message.starts_with("no AWS credentials found"),
            "{}",
            e.message
        );
    }

    /// Each type's sentence in `eprun docs`, with its attributes, in the order the docs list them.
    #[test]
    fn every_type_documents_its_attributes() {
        let docs: Vec<(&str, &str)> = RESOURCES.iter().map(|r| (r.kind(), r.doc())).collect();
        let expected: [(&str, &str); 33] = [
            (
                "ec2.vpc",
                "A VPC. Attributes: `id`, `arn`, `cidr_block`, `owner_id`.",
            ),
            (
                "ec2.subnet",
                "A subnet of a VPC in one availability zone. Attributes: `id`, `arn`, `cidr_block`, `availability_zone`, `vpc_id`.",
            ),
            (
                "ec2.internet_gateway",
                "An internet gateway, attached to `vpc_id` when set. Attributes: `id`, `arn`.",
            ),
            (
                "ec2.eip",
                "An Elastic IP address. Attributes: `id` (the allocation id), `public_ip`.",
            ),
            (
                "ec2.nat_gateway",
                "A NAT gateway in a subnet. Attributes: `id`, `public_ip`, `private_ip`.",
            ),
            (
                "ec2.route_table",
                "A route table of a VPC; routes and subnet associations are separate resources. Attributes: `id`.",
            ),
            (
                "ec2.route",
                "A route of a route table: a destination block and exactly one target. Attributes: `id` (`rtb-…|cidr`).",
            ),
            (
                "ec2.route_table_association",
                "Makes a subnet use a route table. Attributes: `id` (the association id).",
            ),
            (
                "ec2.security_group",
                "A security group with its `ingress` and `egress` rules. Attributes: `id`, `arn`.",
            ),
            (
                "ec2.vpc_endpoint",
                "A Gateway or Interface VPC endpoint. Attributes: `id`, `arn`, `dns_names`.",
            ),
            (
                "ec2.flow_log",
                "A flow log of a VPC, subnet or network interface, delivered to S3 or CloudWatch Logs. Attributes: `id`.",
            ),
            (
                "ec2.transit_gateway",
                "A transit gateway. Attributes: `id`, `arn`, `owner_id`, `association_default_route_table_id`, `propagation_default_route_table_id`.",
            ),
            (
                "ec2.transit_gateway_vpc_attachment",
                "A VPC attached to a transit gateway through its subnets. Attributes: `id`, `vpc_owner_id`.",
            ),
            (
                "ec2.transit_gateway_peering_attachment",
                "A transit gateway peering requested from this region; it stays `pendingAcceptance` until the peer accepts it \
                 (`aws::ec2::transit_gateway_peering_attachment_accepter` with `region:` = the peer's). Attributes: `id`, \
                 `transit_gateway_id`, `peer_transit_gateway_id`.",
            ),
            (
                "ec2.transit_gateway_peering_attachment_accepter",
                "Accepts a transit gateway peering attachment; declare it with `region:` = the peer's region. Deleting it \
                 rejects or deletes the attachment. Attributes: `id` (the attachment), `transit_gateway_id` (this side's), \
                 `peer_transit_gateway_id`, `peer_region`, `peer_account_id`.",
            ),
            (
                "ec2.transit_gateway_route",
                "A static route of a transit gateway route table, to an attachment or a blackhole; a new target replaces it. \
                 Attributes: `id` (`tgw-rtb-…|cidr`).",
            ),
            (
                "s3.bucket",
                "An S3 bucket with versioning, default encryption and public access blocked by default. Attributes: `id`, `arn`, `bucket`.",
            ),
            (
                "kms.key",
                "A symmetric KMS key with an alias, by which it is found; deleting it schedules its deletion. Attributes: `id` (the key id), `arn`, `alias`.",
            ),
            (
                "iam.role",
                "An IAM role, created under the path `/eprun/<stack>/`. Attributes: `id` (the name), `arn`, `name`.",
            ),
            (
                "iam.policy",
                "A customer managed IAM policy; a changed document becomes its new default version. Attributes: `id` (the ARN), `arn`, `name`, `policy_id`.",
            ),
            (
                "iam.role_policy_attachment",
                "Attaches a managed policy to a role. Attributes: `id` (`<role>|<policy_arn>`).",
            ),
            (
                "iam.instance_profile",
                "An IAM instance profile: the role EC2 instances it is given act as. Attributes: `id` (the name), `arn`, `unique_id`.",
            ),
            (
                "iam.openid_connect_provider",
                "An IAM OpenID Connect provider (IRSA). Attributes: `id` (the ARN), `arn`, `url`, `issuer` (the URL without `https://`, the prefix of IRSA condition keys).",
            ),
            (
                "eks.cluster",
                "An EKS cluster; found by name. Attributes: `id` (the name), `arn`, `endpoint`, `certificate_authority`, `oidc_issuer`, `oidc_issuer_host`, `version`, `security_group_id`.",
            ),
            (
                "eks.node_group",
                "An EKS managed node group; found by `<cluster>/<node group>`. Attributes: `id` (`cluster:name`), `arn`, `node_group_name`, `status`.",
            ),
            (
                "eks.addon",
                "An EKS add-on; found by `<cluster>/<add-on>`. Attributes: `id` (`cluster:addon`), `arn`, `addon_version`.",
            ),
            (
                "route53.zone",
                "A public Route 53 hosted zone. Attributes: `id` (= `zone_id`), `arn`, `name`, `name_servers`.",
            ),
            (
                "route53.health_check",
                "A Route 53 health check of an endpoint, checked from several regions. Attributes: `id`, `arn`.",
            ),
            (
                "route53.record",
                "A Route 53 record set: `records` with a `ttl`, or an `alias`; optionally latency-routed (`set_identifier`, `latency_routing_policy`) behind a `health_check_id`. Attributes: `id`, `fqdn`.",
            ),
            (
                "secretsmanager.secret",
                "A Secrets Manager secret: name, key, replicas and tags — never its value. Attributes: `id` (= `arn`), `arn`, `name`.",
            ),
            (
                "sqs.queue",
                "A standard SQS queue, found by its name. Attributes: `id` (the queue URL), `url`, `arn`, `name`.",
            ),
            (
                "events.rule",
                "An EventBridge rule on the default event bus, with the targets it sends matched events to. Attributes: `id` (the name), `arn`.",
            ),
            (
                "cloudwatch.metric_alarm",
                "A CloudWatch alarm on one metric, found by its name. Attributes: `id` (the name), `arn`, `name`.",
            ),
        ];
        assert_eq!(docs, expected);
    }
}
