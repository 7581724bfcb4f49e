//! Disaster recovery across a DR pair (a primary and its DR environment): the DR copy of a
//! stack's state, the rotation controls that keep each region in or out of DNS, and the safety
//! rules every change to them obeys, whether a runbook, `eprun eval` or the REPL makes it:
//! never both regions out of rotation, never drain a region into one whose readiness fails
//! (unless forced with a reason, which the journal keeps), and a region is put back only when its
//! own readiness passes.

use crate::aws::CloudError;
use crate::aws::verbs::cloudwatch::{self, RotationControl};
use crate::dr_copy::DrCopy;
use crate::environment::{Environment, EnvironmentError, Role};
use crate::runbook;
use crate::session::Session;
use crate::state_store::StateError;
use crate::value::to_json;
use serde_json::{Value, json};

/// What stops a DR call.
#[derive(Debug, thiserror::Error)]
pub enum DrError {
    /// An environment file of the pair could not be read.
    #[error(transparent)]
    Environment(#[from] EnvironmentError),
    /// A state or DR copy could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// An AWS call failed.
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The current environment has no connection.
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    /// An environment names no DR peer.
    #[error(
        "environment `{env}` is in no DR pair: its file names no peer (`[peers] dr = \"...\"` in a primary's, `primary = \"...\"` in a DR region's)"
    )]
    NoPeer {
        /// The environment.
        env: String,
    },
    /// A name outside the pair.
    #[error("`{name}` is not in the DR pair of `{primary}` and `{dr}`")]
    NotInPair {
        /// The name given.
        name: String,
        /// The pair's primary.
        primary: String,
        /// The pair's DR environment.
        dr: String,
    },
    /// No DR copy where the peer keeps its state.
    #[error(
        "no DR copy of stack `{stack}` at `{location}`\nhint: every apply of `{stack}` writes it there (its environment names `peers.dr`); apply `{stack}` once"
    )]
    NoCopy {
        /// The stack copied.
        stack: String,
        /// Where the copy was looked for.
        location: String,
    },
    /// A stack publishes no rotation control.
    #[error(
        "stack `{stack}` publishes no `rotation` output: its DNS failover has no rotation control\nhint: set `rotation_region` in its `[dns]` table and apply it"
    )]
    NoControl {
        /// The stack.
        stack: String,
    },
    /// The readiness checks could not run.
    #[error("the readiness of `{env}` could not be checked: {message}")]
    Readiness {
        /// The environment checked.
        env: String,
        /// Why.
        message: String,
    },
    /// A safety rule refuses the change; nothing was changed.
    #[error("refused: {rule}; nothing was changed\nhint: {hint}")]
    Refused {
        /// The rule and how it would break.
        rule: String,
        /// What to do instead.
        hint: String,
    },
    /// The change was made but the control does not read back as asked.
    #[error("{env} should be {want} rotation now, but its alarm `{alarm}` reads {state}")]
    NotApplied {
        /// The environment changed.
        env: String,
        /// `in` or `out of`.
        want: &'static str,
        /// The alarm.
        alarm: String,
        /// Its state as read.
        state: String,
    },
}

/// The two environments of a DR pair.
pub struct Pair {
    /// The primary.
    pub primary: Environment,
    /// The DR environment.
    pub dr: Environment,
}

impl Pair {
    /// The pair `env` belongs to, from the peers its file names.
    pub fn of(session: &Session, env: Environment) -> Result<Pair, DrError> {
        let peer = |key: &str| {
            let name = env.peers.get(key).ok_or_else(|| DrError::NoPeer {
                env: env.name.clone(),
            })?;
            Ok::<_, DrError>(session.load_environment(name)?)
        };
        Ok(match env.role {
            Role::Dr => Pair {
                primary: peer("primary")?,
                dr: env,
            },
            Role::Primary => Pair {
                dr: peer("dr")?,
                primary: env,
            },
        })
    }

    /// The pair of the current environment.
    pub fn current(session: &Session) -> Result<Pair, DrError> {
        let env = session.environment()?;
        Pair::of(session, env)
    }

    /// The environment called `name`, and the other one.
    fn split(&self, name: &str) -> Result<(&Environment, &Environment), DrError> {
        match name {
            n if n == self.primary.name => Ok((&self.primary, &self.dr)),
            n if n == self.dr.name => Ok((&self.dr, &self.primary)),
            _ => Err(DrError::NotInPair {
                name: name.into(),
                primary: self.primary.name.clone(),
                dr: self.dr.name.clone(),
            }),
        }
    }
}

/// The DR copy of `stack`'s state, read where its DR peer keeps its own state.
pub fn copy_of(session: &Session, stack: &Environment) -> Result<(DrCopy, String), DrError> {
    let peer = stack.peers.get("dr").ok_or_else(|| DrError::NoPeer {
        env: stack.name.clone(),
    })?;
    let store = session.store(&session.load_environment(peer)?);
    let name = DrCopy::name(&stack.name);
    let location = store.beside(&name);
    match session.runtime.block_on(store.get_beside(&name))? {
        Some(text) => Ok((DrCopy::decode(&location, &text)?, location)),
        None => Err(DrError::NoCopy {
            stack: stack.name.clone(),
            location,
        }),
    }
}

/// `dr_copy(name)`: the DR copy of stack `name` as a map, with its age and where it was read.
pub fn read_copy(session: &Session, name: &str) -> Result<Value, DrError> {
    let (copy, location) = copy_of(session, &session.load_environment(name)?)?;
    Ok(json!({
        "stack": copy.stack,
        "serial": copy.serial,
        "written_at": copy.written_at,
        "age_seconds": copy.age_seconds(),
        "outputs": copy.outputs,
        "location": location,
    }))
}

/// One region's place in DNS, as its rotation control says.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The environment.
    pub env: String,
    /// Its control.
    pub control: RotationControl,
    /// The alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub state: String,
    /// Why it is in that state.
    pub reason: Value,
    /// Since when.
    pub updated: Value,
}

impl Rotation {
    /// Whether Route 53 may send the region traffic.
    pub fn in_rotation(&self) -> bool {
        cloudwatch::in_rotation(&self.state)
    }

    /// As a script sees it.
    fn to_json(&self) -> Value {
        json!({
            "env": self.env,
            "in_rotation": self.in_rotation(),
            "state": self.state,
            "reason": self.reason,
            "updated": self.updated,
            "alarm": self.control.alarm,
            "region": self.control.region,
        })
    }
}

/// The rotation control a stack publishes (output `rotation`): the primary's read from its DR
/// copy, so that nothing in the primary's region is asked; the DR stack's from its own state.
fn control(session: &Session, pair: &Pair, env: &Environment) -> Result<RotationControl, DrError> {
    let outputs = if env.name == pair.primary.name {
        copy_of(session, env)?.0.outputs
    } else {
        let state = session.runtime.block_on(session.store(env).load())?;
        state.map(|s| s.outputs).unwrap_or_default()
    };
    let published = outputs.get("rotation").cloned().unwrap_or_default();
    serde_json::from_value(published).map_err(|_| DrError::NoControl {
        stack: env.name.clone(),
    })
}

/// Reads one region's rotation control (DescribeAlarms in the control's region).
fn read_one(session: &Session, pair: &Pair, env: &Environment) -> Result<Rotation, DrError> {
    let control = control(session, pair, env)?;
    let aws = session.aws()?;
    let cw = aws.in_region(&control.region).cloudwatch();
    let alarm = session
        .runtime
        .block_on(cloudwatch::describe_alarm(&cw, &control.alarm))?;
    let Some(alarm) = alarm else {
        return Err(DrError::NoControl {
            stack: env.name.clone(),
        });
    };
    Ok(Rotation {
        env: env.name.clone(),
        state: alarm["state"]
            .as_str()
            .unwrap_or("INSUFFICIENT_DATA")
            .into(),
        reason: alarm["reason"].clone(),
        updated: alarm["updated"].clone(),
        control,
    })
}

/// Both regions' rotation of the current environment's pair, primary first.
fn both(session: &Session) -> Result<(Rotation, Rotation), DrError> {
    let pair = Pair::current(session)?;
    let primary = read_one(session, &pair, &pair.primary)?;
    Ok((primary, read_one(session, &pair, &pair.dr)?))
}

/// Both regions' rotation, primary first.
pub fn state(session: &Session) -> Result<Value, DrError> {
    let (primary, dr) = both(session)?;
    Ok(json!([primary.to_json(), dr.to_json()]))
}

/// The invariant of the DR runbooks: at least one region is in rotation.
pub fn check(session: &Session) -> Result<Value, DrError> {
    let (primary, dr) = both(session)?;
    if !primary.in_rotation() && !dr.in_rotation() {
        return Err(DrError::Refused {
            rule: format!(
                "no region is in rotation: both `{}` and `{}` are out, so DNS answers with neither",
                primary.env, dr.env
            ),
            hint: format!(
                "put the healthier one back at once: `rotation::restore(\"{}\")`",
                dr.env
            ),
        });
    }
    Ok(json!([primary.to_json(), dr.to_json()]))
}

/// How a drain or restore was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Go on past failing readiness, for this reason (kept in the journal).
    pub force: Option<String>,
    /// Whether the primary's region answers; `false` keeps every readiness check away from it.
    pub primary_reachable: bool,
}

/// The readiness checks of `target` (stdlib `dr::readiness`), those that fail first.
fn readiness(engine: &rhai::Engine, target: &str, opts: &Options) -> Result<Vec<Value>, DrError> {
    let script = format!(
        "import \"dr\" as dr; dr::readiness({}, #{{ primary_reachable: {} }})",
        Value::from(target),
        opts.primary_reachable
    );
    let failed = |message: String| DrError::Readiness {
        env: target.into(),
        message,
    };
    let result = engine
        .eval::<rhai::Dynamic>(&script)
        .map_err(|e| failed(e.to_string()))?;
    let checks = to_json(&result).map_err(|e| failed(e.to_string()))?;
    Ok(checks.as_array().cloned().unwrap_or_default())
}

/// The failing checks of `checks`, as one line each.
fn failures(checks: &[Value]) -> Vec<String> {
    let failing = checks.iter().filter(|c| c["status"] == "fail");
    failing
        .map(|c| {
            format!(
                "`{}`: {}",
                c["check"].as_str().unwrap_or("?"),
                c["detail"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Refuses a change into a region whose readiness fails, unless forced; a forced change is
/// said on stderr and kept in the journal.
fn require_ready(
    session: &Session,
    engine: &rhai::Engine,
    target: &str,
    opts: &Options,
    rule: &str,
) -> Result<Vec<Value>, DrError> {
    let checks = readiness(engine, target, opts)?;
    let failing = failures(&checks);
    if failing.is_empty() {
        return Ok(checks);
    }
    let forced = opts
        .force
        .clone()
        .or_else(|| runbook::current(session).and_then(|r| r.settings().force.clone()));
    match forced {
        Some(reason) => {
            let line = format!(
                "forced past failing readiness of `{target}` ({}): {reason}",
                failing.join("; ")
            );
            match runbook::current(session) {
                Some(run) => run.log(&format!("warning: {line}")),
                None => eprintln!("warning: {line}"),
            }
            Ok(checks)
        }
        None => Err(DrError::Refused {
            rule: format!(
                "{rule}: the readiness of `{target}` fails: {}",
                failing.join("; ")
            ),
            hint: format!(
                "fix what fails (`eprun run scripts/runbooks/dr-readiness.rhai --env {target}` checks again), or go on anyway with a reason the journal keeps: `--force \"why\"` on `eprun run`, `#{{ force: \"why\" }}` in a script"
            ),
        }),
    }
}

/// Flips `env`'s control (`before`, as just read), then reads it back (not in a dry run).
fn flip(
    session: &Session,
    pair: &Pair,
    env: &Environment,
    before: Rotation,
    in_rotation: bool,
    reason: &str,
) -> Result<Rotation, DrError> {
    let aws = session.aws()?;
    let cw = aws.in_region(&before.control.region).cloudwatch();
    let mutations = session.mutations.clone();
    session.runtime.block_on(cloudwatch::set_rotation(
        &cw,
        &mutations,
        &before.control,
        in_rotation,
        reason,
    ))?;
    if session.mutations.dry_run() {
        return Ok(before);
    }
    let after = read_one(session, pair, env)?;
    if after.in_rotation() != in_rotation {
        return Err(DrError::NotApplied {
            env: env.name.clone(),
            want: if in_rotation { "in" } else { "out of" },
            alarm: after.control.alarm,
            state: after.state,
        });
    }
    Ok(after)
}

/// Who asked, for the alarm's state reason.
fn asked_by(session: &Session, verb: &str) -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let run = runbook::current(session)
        .map(|r| format!(" in run {}", r.id()))
        .unwrap_or_default();
    format!("eprun rotation::{verb} by {user}{run}")
}

/// Takes `target` out of rotation: DNS sends its traffic to the other region. Refused when the
/// other region is out too, or when its readiness fails (unless forced).
pub fn drain(
    session: &Session,
    engine: &rhai::Engine,
    target: &str,
    opts: &Options,
) -> Result<Value, DrError> {
    change(session, engine, target, opts, false)
}

/// Puts `target` back in rotation. Refused when its readiness fails (unless forced).
pub fn restore(
    session: &Session,
    engine: &rhai::Engine,
    target: &str,
    opts: &Options,
) -> Result<Value, DrError> {
    change(session, engine, target, opts, true)
}

/// Puts `target` in rotation (`into`) or takes it out, after the rules: the region that takes
/// the traffic (the other one for a drain, `target` for a restore) must be ready, and a drain
/// must leave the other region in rotation. Nothing is called when `target` is already so.
fn change(
    session: &Session,
    engine: &rhai::Engine,
    target: &str,
    opts: &Options,
    into: bool,
) -> Result<Value, DrError> {
    let pair = Pair::current(session)?;
    let (env, other) = pair.split(target)?;
    let (here, there) = (
        read_one(session, &pair, env)?,
        read_one(session, &pair, other)?,
    );
    if here.in_rotation() == into {
        return Ok(
            json!({"env": target, "changed": false, "rotation": [here.to_json(), there.to_json()]}),
        );
    }
    if !into && !there.in_rotation() {
        return Err(DrError::Refused {
            rule: format!(
                "never both regions out of rotation: `{}` is out already (alarm `{}` is {})",
                other.name, there.control.alarm, there.state
            ),
            hint: format!(
                "put `{}` back first (`rotation::restore(\"{}\")`, or the failback runbook)",
                other.name, other.name
            ),
        });
    }
    let (ready, rule, verb) = match into {
        true => (
            target,
            "a region goes back in rotation only when it is ready",
            "restore",
        ),
        false => (
            other.name.as_str(),
            "never move traffic to a region that is not ready",
            "drain",
        ),
    };
    let checks = require_ready(session, engine, ready, opts, rule)?;
    let after = flip(session, &pair, env, here, into, &asked_by(session, verb))?;
    Ok(json!({
        "env": target,
        "changed": true,
        "rotation": [after.to_json(), there.to_json()],
        "readiness": checks,
    }))
}
