//! The S3 backend: the state object, its previous version, and a lock object that cannot get stuck.
//!
//! The lock is created with a conditional write (`If-None-Match: *`), so two runs
//! cannot both take it. It carries an expiry that the holder renews while it
//! works (a conditional overwrite on its own ETag); a lock whose holder died
//! expires and is taken over by the next run, and `eprun state unlock ID`
//! releases it at once.

use crate::aws::{Aws, CloudError};
use crate::environment::S3Backend;
use crate::state::State;
use crate::state_store::{LockGuard, LockInfo, StateError, StateStore, decode, encode};
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long a lock lives without renewal.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// State in an S3 object.
pub struct S3Store {
    bucket: String,
    key: String,
    region: String,
    aws: OnceCell<Aws>,
}

impl S3Store {
    /// The store an `[state]` table describes; `default_region` is the stack's.
    pub fn new(cfg: &S3Backend, default_region: &str) -> Self {
        Self {
            bucket: cfg.bucket.clone(),
            key: cfg.key.clone(),
            region: cfg
                .region
                .clone()
                .unwrap_or_else(|| default_region.to_string()),
            aws: OnceCell::new(),
        }
    }

    async fn client(&self) -> aws_sdk_s3::Client {
        self.aws.get_or_init(|| Aws::load(&self.region)).await.s3()
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn aws_err(&self, e: CloudError) -> StateError {
        StateError::Io {
            action: "use",
            path: self.location(),
            source: std::io::Error::other(e.to_string()),
        }
    }

    /// A failed S3 call (`operation` on `target`) as a state error.
    fn sdk_err<E, R>(
        &self,
        operation: &str,
        target: impl fmt::Display,
        e: SdkError<E, R>,
    ) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        self.aws_err(crate::aws::from_sdk(operation, target, e))
    }

    /// The object's text and ETag, or `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<(String, String)>, StateError> {
        let client = self.client().await;
        match client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let bytes = out.body.collect().await.map_err(|e| StateError::Io {
                    action: "read",
                    path: format!("s3://{}/{key}", self.bucket),
                    source: std::io::Error::other(e.to_string()),
                })?;
                Ok(Some((
                    String::from_utf8_lossy(&bytes.into_bytes()).into_owned(),
                    etag,
                )))
            }
            Err(e) => {
                let err =
                    crate::aws::from_sdk("GetObject", format!("s3://{}/{key}", self.bucket), e);
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(self.aws_err(err))
                }
            }
        }
    }

    fn new_lock(&self, operation: &str) -> LockInfo {
        let mut info = LockInfo::new(operation);
        info.expires = Some(expiry());
        info
    }

    fn locked(&self, info: LockInfo) -> StateError {
        StateError::locked(self.location(), info)
    }

    /// Writes the lock object: create-only when `if_match` is `None`, else overwrite that version only.
    async fn put_lock(
        &self,
        info: &LockInfo,
        if_match: Option<&str>,
    ) -> Result<Result<String, ()>, StateError> {
        let client = self.client().await;
        let body = serde_json::to_vec(info).unwrap_or_default();
        let req = client
            .put_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .body(ByteStream::from(body));
        let req = match if_match {
            Some(etag) => req.if_match(etag),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(out) => Ok(Ok(out.e_tag().unwrap_or_default().to_string())),
            Err(e) => {
                let err = crate::aws::from_sdk(
                    "PutObject",
                    format!("s3://{}/{}", self.bucket, self.lock_key()),
                    e,
                );
                match &err.kind {
                    crate::aws::CloudErrorKind::Service(code)
                        if code == "PreconditionFailed" || code == "ConditionalRequestConflict" =>
                    {
                        Ok(Err(()))
                    }
                    _ => Err(self.aws_err(err)),
                }
            }
        }
    }
}

fn expiry() -> String {
    let at = Utc::now() + chrono::Duration::from_std(LOCK_TTL).unwrap_or_default();
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn expired(info: &LockInfo) -> bool {
    info.expires
        .as_deref()
        .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
        .is_some_and(|e| e < Utc::now())
}

#[async_trait]
impl StateStore for S3Store {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn load(&self) -> Result<Option<State>, StateError> {
        match self.get(&self.key).await? {
            Some((text, _)) => decode(&self.location(), &text).map(Some),
            None => Ok(None),
        }
    }

    async fn save(&self, state: &mut State) -> Result<(), StateError> {
        let client = self.client().await;
        if let Some((text, _)) = self.get(&self.key).await? {
            let current = decode(&self.location(), &text)?;
            if current.lineage != state.lineage || current.serial > state.serial {
                return Err(StateError::Mismatch {
                    path: self.location(),
                    reason: format!(
                        "was written by another run (lineage `{}`, serial {}); refusing to overwrite it",
                        current.lineage, current.serial
                    ),
                });
            }
            client
                .put_object()
                .bucket(&self.bucket)
                .key(format!("{}.backup", self.key))
                .body(ByteStream::from(text.into_bytes()))
                .send()
                .await
                .map_err(|e| self.sdk_err("PutObject", format!("{}.backup", self.location()), e))?;
        }
        state.serial += 1;
        client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(encode(state).into_bytes()))
            .send()
            .await
            .map_err(|e| self.sdk_err("PutObject", self.location(), e))?;
        Ok(())
    }

    fn beside(&self, name: &str) -> String {
        format!("s3://{}/{name}", self.bucket)
    }

    async fn get_beside(&self, name: &str) -> Result<Option<String>, StateError> {
        Ok(self.get(name).await?.map(|(text, _)| text))
    }

    async fn put_beside(&self, name: &str, text: &str) -> Result<(), StateError> {
        let call = self
            .client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(name);
        let call = call.content_type("application/json");
        call.body(ByteStream::from(text.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| self.sdk_err("PutObject", self.beside(name), e))?;
        Ok(())
    }

    async fn lock(&self, operation: &str) -> Result<LockGuard, StateError> {
        let info = self.new_lock(operation);
        let etag = match self.put_lock(&info, None).await? {
            Ok(etag) => etag,
            Err(()) => {
                let Some((text, held_etag)) = self.get(&self.lock_key()).await? else {
                    // Released between our write and our read: one more try decides.
                    return match self.put_lock(&info, None).await? {
                        Ok(etag) => Ok(self.guard(info, etag).await),
                        Err(()) => Err(self.locked(LockInfo::new("unknown"))),
                    };
                };
                let held: LockInfo =
                    serde_json::from_str(&text).unwrap_or_else(|_| LockInfo::new("unknown"));
                if !expired(&held) {
                    return Err(self.locked(held));
                }
                // The holder stopped renewing: take the lock over, but only that exact version of it.
                match self.put_lock(&info, Some(&held_etag)).await? {
                    Ok(etag) => {
                        tracing::warn!(
                            "took over the expired lock `{}` of {} (pid {})",
                            held.id,
                            held.owner,
                            held.pid
                        );
                        etag
                    }
                    Err(()) => return Err(self.locked(held)),
                }
            }
        };
        Ok(self.guard(info, etag).await)
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let Some((text, etag)) = self.get(&self.lock_key()).await? else {
            return Err(StateError::NoSuchLock {
                path: self.location(),
                id: id.into(),
                detail: ": the state is not locked".into(),
            });
        };
        let held: LockInfo =
            serde_json::from_str(&text).unwrap_or_else(|_| LockInfo::new("unknown"));
        if held.id != id {
            return Err(StateError::NoSuchLock {
                path: self.location(),
                id: id.into(),
                detail: format!(": the lock there is `{}`", held.id),
            });
        }
        let client = self.client().await;
        client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .if_match(etag)
            .send()
            .await
            .map_err(|e| self.sdk_err("DeleteObject", format!("{}.lock", self.location()), e))?;
        Ok(())
    }
}

impl S3Store {
    /// Starts renewing the lock and returns the guard that stops renewal and deletes it.
    async fn guard(&self, mut info: LockInfo, etag: String) -> LockGuard {
        let client = self.client().await;
        let (bucket, key) = (self.bucket.clone(), self.lock_key());
        let current = std::sync::Arc::new(tokio::sync::Mutex::new(etag));
        let renew_etag = current.clone();
        let renew_client = client.clone();
        let (rb, rk) = (bucket.clone(), key.clone());
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_TTL / 3).await;
                info.expires = Some(expiry());
                let mut etag = renew_etag.lock().await;
                let body = serde_json::to_vec(&info).unwrap_or_default();
                match renew_client
                    .put_object()
                    .bucket(&rb)
                    .key(&rk)
                    .if_match(etag.as_str())
                    .body(ByteStream::from(body))
                    .send()
                    .await
                {
                    Ok(out) => *etag = out.e_tag().unwrap_or_default().to_string(),
                    Err(e) => {
                        tracing::warn!(
                            "could not renew the state lock: {}",
                            crate::aws::from_sdk("PutObject", &rk, e)
                        );
                        return;
                    }
                }
            }
        });
        let handle = tokio::runtime::Handle::current();
        LockGuard::new(move || {
            renewal.abort();
            // Deleting needs the runtime; where it cannot block here, the lock simply expires.
            if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                tokio::task::block_in_place(|| {
                    handle.block_on(async {
                        let etag = current.lock().await.clone();
                        let _ = client
                            .delete_object()
                            .bucket(&bucket)
                            .key(&key)
                            .if_match(etag)
                            .send()
                            .await;
                    })
                });
            }
        })
    }
}
