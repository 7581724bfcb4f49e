//! Secret values in scripts: the `Secret` type (prints as `<redacted>` everywhere) and
//! `aws::secretsmanager::put(name)`, which sets a secret's value read from stdin or a hidden
//! prompt, so the value is never in a script, an argument, the output or a journal.

use super::{Services, fail};
use crate::aws::{CloudError, CloudErrorKind};
use crate::secret::{REDACTED, Secret};
use crate::session::Session;
use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, NativeCallContext, Position};
use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicBool, Ordering};

type RhaiResult = Result<Dynamic, Box<EvalAltResult>>;

/// Whether a `put` already read stdin to its end (a pipe holds one value).
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// Registers the `Secret` type and `aws::secretsmanager::put`.
pub(super) fn register(engine: &mut Engine, services: &mut Services, session: &Session) {
    engine.register_type_with_name::<Secret>("Secret");
    FuncRegistration::new("to_string")
        .with_comments(["/// A secret as text: always `<redacted>`."])
        .with_params_info(["secret: Secret", "String"])
        .register_into_engine(engine, |_: &mut Secret| REDACTED.to_string());
    FuncRegistration::new("to_debug")
        .with_comments(["/// A secret as debug text: always `<redacted>`."])
        .with_params_info(["secret: Secret", "String"])
        .register_into_engine(engine, |_: &mut Secret| REDACTED.to_string());
    FuncRegistration::new("len")
        .with_comments([
            "/// The length of a secret's value, in characters (the value stays hidden).",
        ])
        .with_params_info(["secret: Secret", "INT"])
        .register_into_engine(engine, |s: &mut Secret| s.len() as rhai::INT);
    FuncRegistration::new("is_empty")
        .with_comments(["/// Whether a secret's value is empty."])
        .with_params_info(["secret: Secret", "bool"])
        .register_into_engine(engine, |s: &mut Secret| s.is_empty());

    let module = services.entry("secretsmanager").or_default();
    let s = session.clone();
    FuncRegistration::new("put")
        .with_comments([
            "/// Sets the value of secret `name` in the current environment's region (Secrets",
            "/// Manager PutSecretValue; mutating: skipped in a dry run). The value is read from",
            "/// stdin when it is not a terminal (one trailing newline dropped:",
            "/// `vault read … | eprun run rotate.rhai`), else from a hidden prompt. It never",
            "/// appears in output, journals or errors. Returns `#{ name, version_id }`.",
        ])
        .with_params_info(["name: &str", "Map"])
        .set_into_module(
            module,
            move |ctx: NativeCallContext, name: &str| -> RhaiResult {
                let pos = ctx.call_position();
                put(&s, pos, name, None)
            },
        );
    let s = session.clone();
    FuncRegistration::new("put")
        .with_comments([
            "/// Sets the value of secret `name` in the current environment's region to a `Secret`",
            "/// value the script already holds (PutSecretValue; skipped in a dry run).",
            "/// Returns `#{ name, version_id }`.",
        ])
        .with_params_info(["name: &str", "value: Secret", "Map"])
        .set_into_module(
            module,
            move |ctx: NativeCallContext, name: &str, value: Secret| -> RhaiResult {
                let pos = ctx.call_position();
                put(&s, pos, name, Some(value))
            },
        );
}

fn put(session: &Session, pos: Position, name: &str, value: Option<Secret>) -> RhaiResult {
    if name.trim().is_empty() {
        return Err(fail("`put` needs the secret's name", pos));
    }
    let aws = session.aws().map_err(|e| fail(e, pos))?;
    let dry_run = session.mutations.dry_run();
    // A dry run makes no call, so it asks for no value either.
    let value = match (value, dry_run) {
        (Some(v), _) => Some(v),
        (None, true) => None,
        (None, false) => Some(read_value(name).map_err(|e| fail(e, pos))?),
    };
    if value.as_ref().is_some_and(Secret::is_empty) {
        return Err(fail(
            format!("the value for secret `{name}` is empty; nothing was changed"),
            pos,
        ));
    }
    let client = aws.secretsmanager();
    let target = name.to_string();
    let detail = format!("new value in {}", aws.region());
    let call = async {
        let Some(value) = value.as_ref() else {
            return Err(CloudError::new(
                "PutSecretValue",
                &target,
                CloudErrorKind::Service("Client".into()),
                "no value to put",
            ));
        };
        client
            .put_secret_value()
            .secret_id(&target)
            .secret_string(value.expose())
            .send()
            .await
            .map_err(|e| {
                let mut err = crate::aws::from_sdk("PutSecretValue", &target, e);
                err.message = crate::secret::scrub(&err.message);
                err
            })
    };
    let done = session
        .runtime
        .block_on(
            session
                .mutations
                .perform("PutSecretValue", name, &detail, call),
        )
        .map_err(|e| fail(crate::secret::scrub(&e.to_string()), pos))?;
    let mut out = rhai::Map::new();
    out.insert("name".into(), name.into());
    let version = done
        .as_ref()
        .and_then(|o| o.version_id())
        .map(|v| Dynamic::from(v.to_string()))
        .unwrap_or(Dynamic::UNIT);
    out.insert("version_id".into(), version);
    out.insert("dry_run".into(), Dynamic::from(dry_run));
    Ok(Dynamic::from_map(out))
}

/// Why a secret's value cannot be read; each names the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretInputError {
    /// A second `put` reading stdin.
    #[error(
        "the value for secret `{0}` would come from stdin, which an earlier `put` already read"
    )]
    StdinTaken(String),
    /// Stdin could not be read.
    #[error("cannot read the value for secret `{name}` from stdin: {source}")]
    Stdin {
        /// The secret.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nothing on stdin.
    #[error("no value for secret `{0}` on stdin (pipe it in, or run on a terminal to be asked)")]
    EmptyStdin(String),
    /// Neither stdin nor stderr to ask on.
    #[error("no terminal to ask for secret `{0}` on (stderr is not one): pipe the value on stdin")]
    NoTerminal(String),
    /// The prompt could not be written.
    #[error(transparent)]
    Prompt(std::io::Error),
    /// The terminal could not be read.
    #[error("cannot read the value for secret `{name}`: {source}")]
    Terminal {
        /// The secret.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The value: all of stdin when it is not a terminal, else a hidden prompt on the terminal.
fn read_value(name: &str) -> Result<Secret, SecretInputError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
            return Err(SecretInputError::StdinTaken(name.into()));
        }
        let mut text = String::new();
        stdin
            .lock()
            .read_to_string(&mut text)
            .map_err(|source| SecretInputError::Stdin {
                name: name.into(),
                source,
            })?;
        if text.is_empty() {
            return Err(SecretInputError::EmptyStdin(name.into()));
        }
        return Ok(crate::secret::from_piped(text));
    }
    let term = console::Term::stderr();
    if !term.is_term() {
        return Err(SecretInputError::NoTerminal(name.into()));
    }
    term.write_str(&format!("    value for secret `{name}` (hidden): "))
        .map_err(SecretInputError::Prompt)?;
    let line = term
        .read_secure_line()
        .map_err(|source| SecretInputError::Terminal {
            name: name.into(),
            source,
        })?;
    Ok(Secret::new(line))
}
