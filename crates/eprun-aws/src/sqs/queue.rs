//! `aws::sqs::queue`: a standard SQS queue (e.g. the one Karpenter reads interruption events from).
//!
//! SQS cannot list queues by tag, so the stack finds its queues by name (their natural key): one
//! paginated ListQueues, then GetQueueAttributes and ListQueueTags (SQS reads tags one queue at a
//! time) for the names the stack declares or recorded only. FIFO queues are not supported.

use super::SqsTags;
use crate::Result;
use crate::adapter::{Attr, Changes, Description, Identity, New, by_name, found, resource};
use crate::all;
use crate::iam::{check_document, policy_text};
use crate::invalid::Invalid;
use crate::props::{check_range, str_prop};
use crate::resource::{DeclaredProps, Props, ReadHints};
use crate::schema::TAGS;
use crate::verbs::empty_answer;
use crate::{Aws, CloudError, CloudErrorKind, STACK_TAG, retry_while, sdk, tags, token};
use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName as Name;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

resource! {
    /// A standard queue.
    pub struct Queue: QUEUE = "sqs.queue",
        "A standard SQS queue, found by its name.";
    reads QueueItem;
    terraform "aws_sqs_queue";
    props QueueProps {
        name: String = required(Str, "the queue name, unique in the region (1 to 80 letters, digits, `-` and `_`)"),
        message_retention_seconds: Option<i64> =
            optional(Int, "how long a message is kept, in seconds (60 to 1209600)").default("345600"),
        visibility_timeout_seconds: Option<i64> =
            optional(Int, "how long a received message stays hidden from other readers, in seconds (0 to 43200)")
                .default("30"),
        sqs_managed_sse_enabled: Option<bool> =
            optional(Bool, "encrypt messages at rest with keys SQS owns").default("true"),
        policy: Option<Value> =
            optional(Json, "the queue's access policy (e.g. letting EventBridge send to it)"),
    } + TAGS
}

/// SQS's values when a prop is left out (the schema's defaults).
const RETENTION: i64 = 345_600;
const VISIBILITY: i64 = 30;

/// SQS keeps a deleted queue's name for 60 seconds; a create within them waits this long at most.
const NAME_REUSE_TIMEOUT: Duration = Duration::from_secs(90);

/// The error code of a create within 60 seconds of a delete of the same name.
const DELETED_RECENTLY: &str = "AWS.SimpleQueueService.QueueDeletedRecently";

/// A queue as read: its URL, attributes and tags.
pub struct QueueItem {
    url: String,
    attributes: HashMap<Name, String>,
    tags: Vec<(String, String)>,
}

impl QueueItem {
    /// The queue's name: the last part of its URL.
    fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or_default()
    }

    /// One attribute's text, if the queue has it.
    fn attribute(&self, name: Name) -> Option<&str> {
        self.attributes.get(&name).map(String::as_str)
    }

    /// One numeric attribute.
    fn number(&self, name: Name) -> Option<i64> {
        self.attribute(name)?.parse().ok()
    }
}

/// The queue attributes that `p` sets, for the props `wanted` names; a left-out prop is SQS's
/// default (so that removing a declared value restores it), and no policy is an empty one.
fn attributes(p: &QueueProps, wanted: impl Fn(&str) -> bool) -> HashMap<Name, String> {
    let retention = p.message_retention_seconds.unwrap_or(RETENTION);
    let visibility = p.visibility_timeout_seconds.unwrap_or(VISIBILITY);
    let sse = p.sqs_managed_sse_enabled.unwrap_or(true);
    let policy = p.policy.as_ref().map(policy_text).unwrap_or_default();
    let all = [
        (
            "message_retention_seconds",
            Name::MessageRetentionPeriod,
            retention.to_string(),
        ),
        (
            "visibility_timeout_seconds",
            Name::VisibilityTimeout,
            visibility.to_string(),
        ),
        (
            "sqs_managed_sse_enabled",
            Name::SqsManagedSseEnabled,
            sse.to_string(),
        ),
        ("policy", Name::Policy, policy),
    ];
    let set = all.into_iter().filter(|(prop, ..)| wanted(prop));
    set.map(|(_, name, value)| (name, value)).collect()
}

/// GetQueueAttributes (all of them) and ListQueueTags.
async fn read(aws: &Aws, url: &str) -> Result<QueueItem> {
    let sqs = aws.sqs();
    let call = sqs.get_queue_attributes().queue_url(url);
    let out = call.attribute_names(Name::All).send().await;
    let attributes = out.map_err(sdk("GetQueueAttributes", url))?.attributes;
    let out = sqs.list_queue_tags().queue_url(url).send().await;
    let tags = out.map_err(sdk("ListQueueTags", url))?.tags;
    Ok(QueueItem {
        url: url.to_string(),
        attributes: attributes.unwrap_or_default(),
        tags: tags.unwrap_or_default().into_iter().collect(),
    })
}

/// Checks a queue name: 1 to 80 letters, digits, `-` and `_`; a FIFO queue's `.fifo` is refused.
fn check_name(name: &str) -> Result<(), Invalid> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if token::is_unknown(&json!(name)) {
        Ok(())
    } else if name.ends_with(".fifo") {
        Err(Invalid::value(
            "name",
            format!("`{name}` names a FIFO queue, which `sqs.queue` does not support"),
        ))
    } else if !(1..=80).contains(&name.len()) || !name.chars().all(valid) {
        Err(Invalid::value(
            "name",
            format!("`{name}` is not a valid queue name (1 to 80 letters, digits, `-` and `_`)"),
        ))
    } else {
        Ok(())
    }
}

#[async_trait]
impl Description for Queue {
    const ATTRIBUTES: &'static [Attr<QueueItem>] = &[
        Attr::new("id", |_, q: &QueueItem| json!(q.url)).note("the queue URL"),
        Attr::new("url", |_, q| json!(q.url)),
        Attr::new("arn", |_, q| json!(q.attribute(Name::QueueArn))),
        Attr::new("name", |_, q| json!(q.name())),
    ];
    const IDENTITY: Identity = Identity::Named(&SqsTags, by_name);

    fn validate(&self, props: &Props, _others: &dyn DeclaredProps) -> Result<(), Invalid> {
        check_name(str_prop(props, "name"))?;
        check_range(
            props,
            "message_retention_seconds",
            60..=1_209_600,
            "seconds",
        )?;
        check_range(props, "visibility_timeout_seconds", 0..=43_200, "seconds")?;
        check_document(props, "policy")
    }

    fn tags(&self, q: &QueueItem) -> Vec<(String, String)> {
        q.tags.clone()
    }

    async fn list(&self, aws: &Aws, stack: &str, hints: &ReadHints) -> Result<Vec<QueueItem>> {
        if hints.natural_keys.is_empty() {
            return Ok(Vec::new());
        }
        // SQS pages its answer only when asked for a page size.
        let call = aws.sqs().list_queues().max_results(1000);
        let urls: Vec<String> = all!(call, "ListQueues", stack)?;
        let mut out = Vec::new();
        for url in urls {
            let name = url.rsplit('/').next().unwrap_or_default();
            if hints.natural_keys.contains(name) {
                // Not found: listed a moment ago and deleted since.
                out.extend(found(read(aws, &url).await)?);
            }
        }
        Ok(out)
    }

    async fn props(&self, _aws: &Aws, q: &QueueItem) -> Result<QueueProps> {
        let policy = q.attribute(Name::Policy).filter(|p| !p.is_empty());
        Ok(QueueProps {
            name: q.name().to_string(),
            message_retention_seconds: q.number(Name::MessageRetentionPeriod),
            visibility_timeout_seconds: q.number(Name::VisibilityTimeout),
            sqs_managed_sse_enabled: q.attribute(Name::SqsManagedSseEnabled).map(|s| s == "true"),
            policy: policy.map(|p| json!(p)),
        })
    }

    /// CreateQueue with the attributes and the ownership tags, waiting out the 60 seconds SQS
    /// keeps the name of a queue deleted just before (a replacement, a destroy and apply).
    async fn create(&self, aws: &Aws, new: New<'_, QueueProps>) -> Result<QueueItem> {
        let (address, p, tags) = (new.address, new.props, new.tags);
        let attributes = attributes(p, |prop| prop != "policy" || p.policy.is_some());
        let call = aws
            .sqs()
            .create_queue()
            .queue_name(&p.name)
            .set_attributes(Some(attributes))
            .set_tags(Some(tags.iter().cloned().collect()));
        let told = AtomicBool::new(false);
        let deleted_recently = |e: &CloudError| {
            let waiting = e.is(DELETED_RECENTLY);
            if waiting && !told.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "{address}: SQS keeps the name `{}` for 60 s after its queue is deleted; waiting to create it again",
                    p.name
                );
            }
            waiting
        };
        let out = retry_while(NAME_REUSE_TIMEOUT, deleted_recently, || {
            let call = call.clone();
            async move { call.send().await.map_err(sdk("CreateQueue", address)) }
        })
        .await?;
        let target = address.to_string();
        let url = out.queue_url;
        let url = url.ok_or_else(|| empty_answer("CreateQueue", &target, "queue URL"))?;
        let queue = read(aws, &url).await?;
        // CreateQueue answers with a queue of the same name and attributes that exists already.
        let stack: String = tags::kept(tags, STACK_TAG).unwrap_or_default();
        match tags::kept::<String>(&queue.tags, STACK_TAG) {
            Some(owner) if owner != stack => Err(CloudError::new(
                "CreateQueue",
                address,
                CloudErrorKind::Service("QueueAlreadyExists".into()),
                format!(
                    "a queue named `{}` already exists in stack `{owner}`",
                    p.name
                ),
            )),
            _ => Ok(queue),
        }
    }

    /// One SetQueueAttributes for every changed prop.
    async fn update_fields(
        &self,
        aws: &Aws,
        changes: Changes<'_, QueueProps>,
    ) -> Result<Option<QueueItem>> {
        let (on, changed) = (changes.on, changes.fields);
        let attributes = attributes(changes.desired, |prop| changed.iter().any(|c| c == prop));
        if !attributes.is_empty() {
            let call = aws.sqs().set_queue_attributes().queue_url(&on.id);
            let call = call.set_attributes(Some(attributes));
            call.send()
                .await
                .map_err(sdk("SetQueueAttributes", &on.id))?;
        }
        Ok(None)
    }

    /// DeleteQueue. Not waited for: SQS finishes within 60 seconds, and keeps the name that long
    /// whatever a wait here would see; a create of the same name waits instead.
    async fn delete(&self, aws: &Aws, url: &str, _current: &QueueProps) -> Result<()> {
        let r = aws.sqs().delete_queue().queue_url(url).send().await;
        r.map(drop).map_err(sdk("DeleteQueue", url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::testing::{NoOthers, round_trip};
    use crate::address::Address;
    use crate::resource::{Observed, Resource};
    use crate::{ADDRESS_TAG, STACK_TAG};
    use aws_sdk_sqs::Client;
    use aws_sdk_sqs::error::ErrorMetadata;
    use aws_sdk_sqs::operation::create_queue::{CreateQueueError, CreateQueueOutput};
    use aws_sdk_sqs::operation::get_queue_attributes::{
        GetQueueAttributesError, GetQueueAttributesOutput,
    };
    use aws_sdk_sqs::operation::list_queue_tags::ListQueueTagsOutput;
    use aws_sdk_sqs::operation::list_queues::ListQueuesOutput;
    use aws_sdk_sqs::operation::set_queue_attributes::SetQueueAttributesOutput;
    use aws_sdk_sqs::types::error::{QueueDeletedRecently, QueueDoesNotExist};
    use aws_smithy_mocks::mock;

    const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/karpenter-interruptions";
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"*"}]}"#;

    fn attributes_output(retention: &'static str) -> GetQueueAttributesOutput {
        GetQueueAttributesOutput::builder()
            .attributes(
                Name::QueueArn,
                "arn:aws:sqs:us-east-1:123456789012:karpenter-interruptions",
            )
            .attributes(Name::MessageRetentionPeriod, retention)
            .attributes(Name::VisibilityTimeout, "30")
            .attributes(Name::SqsManagedSseEnabled, "true")
            .attributes(Name::Policy, POLICY)
            .build()
    }

    fn tags_output(stack: &'static str) -> aws_smithy_mocks::Rule {
        mock!(Client::list_queue_tags).then_output(move || {
            ListQueueTagsOutput::builder()
                .tags(STACK_TAG, stack)
                .tags(ADDRESS_TAG, "sqs.queue.interruptions")
                .tags("team", "platform")
                .build()
        })
    }

    fn declared() -> Value {
        json!({
            "name": "karpenter-interruptions",
            "message_retention_seconds": 300,
            "policy": serde_json::from_str::<Value>(POLICY).unwrap(),
            "tags": {"team": "platform"},
        })
    }

    fn not_found() -> GetQueueAttributesError {
        let code = "AWS.SimpleQueueService.NonExistentQueue";
        let meta = ErrorMetadata::builder().code(code).build();
        GetQueueAttributesError::QueueDoesNotExist(QueueDoesNotExist::builder().meta(meta).build())
    }

    /// Creates the declared queue for the stack `test`.
    async fn create_declared(aws: &Aws) -> Result<QueueItem> {
        let address: Address = "sqs.queue.interruptions".parse().unwrap();
        let p: QueueProps = serde_json::from_value(declared()).unwrap();
        let ours = [(STACK_TAG.to_string(), "test".to_string())];
        let new = New {
            address: &address,
            props: &p,
            tags: &ours,
        };
        Queue.create(aws, new).await
    }

    #[test]
    fn names_and_ranges_are_checked() {
        let check = |v: Value| QUEUE.validate(v.as_object().unwrap(), &NoOthers);
        assert!(check(declared()).is_ok());
        let e = check(json!({"name": "events.fifo"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("FIFO queue"), "{e}");
        let e = check(json!({"name": "has space"})).unwrap_err().to_string();
        assert!(e.contains("not a valid queue name"), "{e}");
        let e = check(json!({"name": "q", "message_retention_seconds": 30}))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "property `message_retention_seconds`: 30 is not between 60 and 1209600 seconds"
        );
    }

    /// Three queues: ours (expected), one expected but gone by the time it is read, and one
    /// the stack does not expect (never read).
    #[tokio::test]
    async fn read_reads_the_expected_names_only() {
        let list = mock!(Client::list_queues).then_output(|| {
            ListQueuesOutput::builder()
                .queue_urls(URL)
                .queue_urls("https://sqs.us-east-1.amazonaws.com/123456789012/gone")
                .queue_urls("https://sqs.us-east-1.amazonaws.com/123456789012/other")
                .build()
        });
        let get = mock!(Client::get_queue_attributes)
            .match_requests(|r| r.queue_url() == Some(URL))
            .then_output(|| attributes_output("300"));
        let gone = mock!(Client::get_queue_attributes).then_error(not_found);
        let tags = tags_output("s");
        let aws = Aws::mocked(&[&list, &get, &gone, &tags]);
        let hints = ReadHints {
            natural_keys: ["karpenter-interruptions".into(), "gone".into()].into(),
            ..Default::default()
        };
        let found = QUEUE.read_all(&aws.context(), "s", &hints).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((get.num_calls(), gone.num_calls()), (1, 1));
        assert_eq!(
            found[0].natural_key.as_deref(),
            Some("karpenter-interruptions")
        );
        let declared = declared();
        let diff = crate::planner::diff(&QUEUE, declared.as_object().unwrap(), &found[0], &[]);
        assert!(diff.is_empty(), "{diff:?}");
    }

    #[tokio::test]
    async fn a_created_queue_round_trip_as_declared() {
        let create = mock!(Client::create_queue)
            .match_requests(|r| {
                let a = r.attributes().cloned().unwrap_or_default();
                a.get(&Name::MessageRetentionPeriod).map(String::as_str) == Some("300")
                    && a.get(&Name::VisibilityTimeout).map(String::as_str) == Some("30")
                    && a.get(&Name::SqsManagedSseEnabled).map(String::as_str) == Some("true")
                    && r.tags().is_some_and(|t| t.contains_key(STACK_TAG))
            })
            .then_output(|| CreateQueueOutput::builder().queue_url(URL).build());
        let get = mock!(Client::get_queue_attributes).then_output(|| attributes_output("300"));
        let tags = tags_output("test");
        let observed = round_trip(
            &QUEUE,
            &Aws::mocked(&[&create, &get, &tags]),
            "sqs.queue.interruptions",
            declared(),
        )
        .await;
        assert_eq!(observed.id, URL);
        assert_eq!(
            observed.attrs["arn"],
            json!("arn:aws:sqs:us-east-1:123456789012:karpenter-interruptions")
        );
        assert_eq!(observed.attrs["name"], json!("karpenter-interruptions"));
    }

    #[tokio::test]
    async fn a_create_just_after_a_delete_waits_for_the_name() {
        // The first attempt finds the name still kept; the next one (a second later) creates the queue.
        let create = mock!(Client::create_queue)
            .sequence()
            .error(|| {
                let meta = ErrorMetadata::builder().code(DELETED_RECENTLY).build();
                let e = QueueDeletedRecently::builder().meta(meta).build();
                CreateQueueError::QueueDeletedRecently(e)
            })
            .output(|| CreateQueueOutput::builder().queue_url(URL).build())
            .build();
        let get = mock!(Client::get_queue_attributes).then_output(|| attributes_output("300"));
        let tags = tags_output("test");
        let aws = Aws::mocked(&[&create, &get, &tags]);
        let queue = create_declared(&aws).await.unwrap();
        assert_eq!(queue.url, URL);
        assert_eq!(create.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_same_named_queue_of_another_stack_is_not_taken() {
        let create = mock!(Client::create_queue)
            .then_output(|| CreateQueueOutput::builder().queue_url(URL).build());
        let get = mock!(Client::get_queue_attributes).then_output(|| attributes_output("300"));
        let tags = tags_output("other");
        let aws = Aws::mocked(&[&create, &get, &tags]);
        let e = create_declared(&aws).await.err().unwrap();
        assert!(e.message.contains("already exists in stack `other`"), "{e}");
    }

    #[tokio::test]
    async fn changed_props_are_one_set_queue_attributes() {
        let set = mock!(Client::set_queue_attributes)
            .match_requests(|r| {
                let a = r.attributes().cloned().unwrap_or_default();
                // A retention no longer declared goes back to SQS's default.
                a.len() == 2
                    && a.get(&Name::MessageRetentionPeriod).map(String::as_str) == Some("345600")
                    && a.get(&Name::VisibilityTimeout).map(String::as_str) == Some("60")
            })
            .then_output(|| SetQueueAttributesOutput::builder().build());
        let aws = Aws::mocked(&[&set]);
        let current: QueueProps = serde_json::from_value(declared()).unwrap();
        let desired: QueueProps = serde_json::from_value(
            json!({"name": "karpenter-interruptions", "visibility_timeout_seconds": 60}),
        )
        .unwrap();
        let on = Observed {
            id: URL.into(),
            ..Observed::default()
        };
        let changed = [
            "message_retention_seconds".into(),
            "visibility_timeout_seconds".into(),
        ];
        let changes = Changes {
            on: &on,
            fields: &changed,
            current: &current,
            desired: &desired,
        };
        Queue.update_fields(&aws, changes).await.unwrap();
        assert_eq!(set.num_calls(), 1);
    }
}
