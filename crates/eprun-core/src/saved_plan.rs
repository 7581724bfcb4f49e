//! Saved plans: the file `eprun plan --out` writes and `eprun apply PLAN` applies, with what the
//! plan was made against (the state's serial and lineage, a digest of every input) so that a
//! stale plan is refused instead of applied.

use crate::address::Address;
use crate::digest::sha256;
use crate::plan::{Change, Plan};
use crate::state::State;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// What the `format` field of a saved plan says.
pub const FORMAT: &str = "eprun-plan";
/// The current version of the saved-plan format.
pub const FORMAT_VERSION: u32 = 1;
/// How many differences a stale-plan message lists before it counts the rest.
const LISTED: usize = 10;

/// A saved plan that cannot be read, written or applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// The file system failed.
    #[error("cannot {action} saved plan `{path}`: {source}")]
    Io {
        /// What eprun was doing.
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file says it is a saved plan but cannot be read as one.
    #[error("`{path}` is not a saved plan this eprun can read: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--env` names another environment than the plan was made for.
    #[error(
        "saved plan `{path}` is for environment `{planned}`, not `{given}`\nhint: leave out `--env`: a saved plan names its environment"
    )]
    OtherEnvironment {
        /// The file.
        path: String,
        /// The plan's environment.
        planned: String,
        /// The one `--env` named.
        given: String,
    },
    /// Something the plan was made against has changed.
    #[error(
        "saved plan `{path}` is stale: {why}\nhint: plan again and review the new plan: `{replan}`"
    )]
    Stale {
        /// The file.
        path: String,
        /// What changed (boxed: it is the large variant).
        why: Box<Staleness>,
        /// The command that makes a fresh plan in its place.
        replan: String,
    },
}

/// Why a saved plan no longer holds.
#[derive(Debug, thiserror::Error)]
pub enum Staleness {
    /// The state was written (or replaced) since the plan was made.
    #[error(
        "the state of stack `{stack}` changed since it was planned (planned against {planned}, now {now})"
    )]
    State {
        /// The stack.
        stack: String,
        /// The state the plan was made against.
        planned: StateRef,
        /// The state now.
        now: StateRef,
    },
    /// A script, module, environment file or policy differs from the one planned with.
    #[error("its inputs changed since it was planned: {}", listed(changes))]
    Inputs {
        /// Each file that differs.
        changes: Vec<InputChange>,
    },
    /// A fresh refresh and plan give other changes than the saved ones.
    #[error(
        "a refresh shows that the cloud moved under it: {}",
        listed(differences)
    )]
    Cloud {
        /// How each resource's change differs.
        differences: Vec<String>,
    },
}

/// The first [`LISTED`] items joined with `; `, and how many more there are.
fn listed<T: fmt::Display>(items: &[T]) -> String {
    let mut out: Vec<String> = items.iter().take(LISTED).map(T::to_string).collect();
    if items.len() > LISTED {
        out.push(format!("and {} more", items.len() - LISTED));
    }
    out.join("; ")
}

/// The state a plan was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRef {
    /// Its serial (0: there was no state yet).
    pub serial: u64,
    /// Its lineage (none when there was no state yet).
    pub lineage: Option<String>,
}

impl StateRef {
    /// The serial and lineage of `state`; a state never saved has no lineage yet.
    pub fn of(state: &State) -> Self {
        Self {
            serial: state.serial,
            lineage: (state.serial > 0).then(|| state.lineage.clone()),
        }
    }
}

impl fmt::Display for StateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lineage {
            Some(lineage) => write!(f, "serial {} of lineage `{lineage}`", self.serial),
            None => f.write_str("no state"),
        }
    }
}

/// The digest of every file a plan was made from: the script, its modules, the environment
/// files it read and the policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// One digest over all the files (names and contents).
    pub digest: String,
    /// Each file's digest, by its name relative to the project root.
    pub files: BTreeMap<String, String>,
}

impl Inputs {
    /// The digests of `texts`, given as (name, contents).
    pub fn of(texts: impl IntoIterator<Item = (String, String)>) -> Self {
        let files: BTreeMap<String, String> = texts
            .into_iter()
            .map(|(name, text)| (name, sha256(&text)))
            .collect();
        let listing: String = files
            .iter()
            .map(|(name, digest)| format!("{name}\0{digest}\n"))
            .collect();
        Self {
            digest: sha256(&listing),
            files,
        }
    }

    /// How these inputs differ from `planned`, file by file.
    pub fn changes_since(&self, planned: &Inputs) -> Vec<InputChange> {
        let names: BTreeSet<&String> = planned.files.keys().chain(self.files.keys()).collect();
        names
            .into_iter()
            .filter_map(
                |name| match (planned.files.get(name), self.files.get(name)) {
                    (Some(a), Some(b)) if a != b => Some(InputChange::Changed(name.clone())),
                    (Some(_), None) => Some(InputChange::Gone(name.clone())),
                    (None, Some(_)) => Some(InputChange::New(name.clone())),
                    _ => None,
                },
            )
            .collect()
    }
}

/// How one input differs from the one planned with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputChange {
    /// Its contents changed.
    Changed(String),
    /// It is read now but was not then.
    New(String),
    /// It was read then but is not now.
    Gone(String),
}

impl fmt::Display for InputChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputChange::Changed(name) => write!(f, "`{name}` changed"),
            InputChange::New(name) => write!(f, "`{name}` is new"),
            InputChange::Gone(name) => write!(f, "`{name}` is no longer read"),
        }
    }
}

/// A plan saved for review and a later `eprun apply PLAN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always [`FORMAT`]: how eprun recognises a saved plan by its content.
    pub format: String,
    /// The format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The eprun that wrote it.
    pub eprun_version: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// The stack's name.
    pub stack: String,
    /// The environment it was planned in (what `--env` gave, else what the script names).
    pub environment: String,
    /// The stack script, relative to the project root.
    pub script: String,
    /// The state it was planned against.
    pub state: StateRef,
    /// What it was planned from.
    pub inputs: Inputs,
    /// The changes, as `eprun plan --json` shows them.
    #[serde(serialize_with = "plan_document")]
    pub plan: Plan,
    /// What the policies said about it.
    #[serde(default)]
    pub verdicts: Vec<Verdict>,
}

/// Writes a plan as the `eprun plan --json` document.
fn plan_document<S: Serializer>(plan: &Plan, s: S) -> Result<S::Ok, S::Error> {
    plan.to_json().serialize(s)
}

impl SavedPlan {
    /// A saved plan of `plan`, made from `script` in `environment` against `state`.
    pub fn new(
        plan: &Plan,
        script: &str,
        environment: &str,
        state: &State,
        inputs: Inputs,
        verdicts: Vec<Verdict>,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            eprun_version: env!("CARGO_PKG_VERSION").into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            stack: plan.stack.clone(),
            environment: environment.into(),
            script: script.into(),
            state: StateRef::of(state),
            inputs,
            plan: plan.clone(),
            verdicts,
        }
    }

    /// The file's text: pretty JSON, scrubbed of every secret value this process has held
    /// (plans hold none; this is the second line of defence).
    pub fn to_text(&self) -> String {
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        crate::secret::scrub(&text)
    }

    /// Writes the plan to `path` atomically (a temporary file, then a rename).
    pub fn write(&self, path: &Path) -> Result<(), SavedPlanError> {
        let io = |action: &'static str| {
            let path = path.display().to_string();
            move |source| SavedPlanError::Io {
                action,
                path,
                source,
            }
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp.{}", std::process::id()));
        std::fs::write(&tmp, self.to_text()).map_err(io("write"))?;
        std::fs::rename(&tmp, path).map_err(io("write"))
    }

    /// The saved plan in the file at `path`, or `None` when the file is not one (a script);
    /// recognised by its content, whatever its name.
    pub fn read(path: &Path) -> Result<Option<Self>, SavedPlanError> {
        // An unreadable file is left to the script reader, which names the problem.
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&path.display().to_string(), &text),
            Err(_) => Ok(None),
        }
    }

    /// Parses a file's text (`path` is for messages): `None` when it is not a saved plan.
    pub fn parse(path: &str, text: &str) -> Result<Option<Self>, SavedPlanError> {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return Ok(None);
        };
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Ok(None);
        }
        let invalid = |reason: String| SavedPlanError::Invalid {
            path: path.into(),
            reason,
        };
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v <= u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(invalid(format!(
                    "it was written by a newer eprun (format version {v})"
                )));
            }
            None => return Err(invalid("it has no format `version`".into())),
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    }

    /// Refuses an `--env` other than the plan's own environment.
    pub fn check_environment(&self, path: &str, given: Option<&str>) -> Result<(), SavedPlanError> {
        match given {
            Some(given) if given != self.environment => Err(SavedPlanError::OtherEnvironment {
                path: path.into(),
                planned: self.environment.clone(),
                given: given.into(),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses inputs that differ from those planned with.
    pub fn check_inputs(&self, now: &Inputs) -> Result<(), Staleness> {
        if now.digest == self.inputs.digest {
            return Ok(());
        }
        Err(Staleness::Inputs {
            changes: now.changes_since(&self.inputs),
        })
    }

    /// Refuses a state other than the one planned against.
    pub fn check_state(&self, state: &State) -> Result<(), Staleness> {
        let now = StateRef::of(state);
        if now == self.state {
            return Ok(());
        }
        Err(Staleness::State {
            stack: self.stack.clone(),
            planned: self.state.clone(),
            now,
        })
    }

    /// Refuses a fresh plan whose changes differ from the saved ones.
    pub fn check_changes(&self, fresh: &Plan) -> Result<(), Staleness> {
        let differences = differences(&self.plan.changes, &fresh.changes);
        if differences.is_empty() {
            return Ok(());
        }
        Err(Staleness::Cloud { differences })
    }

    /// The error for this plan, saved at `path`, having gone stale.
    pub fn stale(&self, path: &str, why: Staleness) -> SavedPlanError {
        SavedPlanError::Stale {
            path: path.into(),
            why: Box::new(why),
            replan: format!(
                "eprun plan {} --env {} --out {path}",
                self.script, self.environment
            ),
        }
    }
}

/// How the changes of a fresh plan differ from the planned ones, one line per resource.
fn differences(planned: &[Change], fresh: &[Change]) -> Vec<String> {
    let index = |changes: &'_ [Change]| -> BTreeMap<Address, Change> {
        changes
            .iter()
            .filter(|c| c.action != crate::plan::Action::Noop)
            .map(|c| (c.address.clone(), c.clone()))
            .collect()
    };
    let (planned, fresh) = (index(planned), index(fresh));
    let addresses: BTreeSet<&Address> = planned.keys().chain(fresh.keys()).collect();
    addresses
        .into_iter()
        .filter_map(|a| match (planned.get(a), fresh.get(a)) {
            (Some(p), None) => Some(format!("`{a}`: planned `{}`, now no change", p.action)),
            (None, Some(f)) => Some(format!(
                "`{a}`: now `{}`, which the plan does not have",
                f.action
            )),
            (Some(p), Some(f)) if p.action != f.action => {
                Some(format!("`{a}`: planned `{}`, now `{}`", p.action, f.action))
            }
            (Some(p), Some(f)) if p != f => Some(format!(
                "`{a}`: `{}` of other values ({})",
                p.action,
                differing_parts(p, f)
            )),
            _ => None,
        })
        .collect()
}

/// What differs between two changes of one resource with the same action.
fn differing_parts(planned: &Change, fresh: &Change) -> String {
    let fields = |c: &Change| -> BTreeMap<String, String> {
        c.fields
            .iter()
            .map(|f| (f.name.clone(), serde_json::to_string(f).unwrap_or_default()))
            .collect()
    };
    let (p, f) = (fields(planned), fields(fresh));
    let names: BTreeSet<&String> = p.keys().chain(f.keys()).collect();
    let mut parts: Vec<String> = names
        .into_iter()
        .filter(|n| p.get(*n) != f.get(*n))
        .map(|n| format!("`{n}`"))
        .collect();
    if planned.inside != fresh.inside {
        parts.push("what changes inside it".into());
    }
    if parts.is_empty() {
        parts.push("its reason".into());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, FieldChange};
    use crate::testing::plan;
    use serde_json::{Value, json};

    fn change(address: &str, action: Action, after: Value) -> Change {
        let field = FieldChange {
            name: "cidr_block".into(),
            before: Some(Value::Null),
            after: Some(after),
            forces_replacement: false,
            conflict: None,
        };
        crate::testing::change(address, action, vec![field])
    }

    fn saved(changes: Vec<Change>, state: &State) -> SavedPlan {
        let inputs = Inputs::of([("scripts/a.rhai".to_string(), "stack(\"x\");".to_string())]);
        SavedPlan::new(
            &plan(changes),
            "scripts/a.rhai",
            "local/us-east-1",
            state,
            inputs,
            vec![],
        )
    }

    #[test]
    fn the_file_round_trips_and_holds_the_plan_json_document() {
        let mut state = State::new("local/us-east-1");
        state.serial = 4;
        let s = saved(
            vec![
                change("ec2.vpc.main", Action::Update, json!("10.0.0.0/16")),
                change("ec2.vpc.same", Action::Noop, json!("10.1.0.0/16")),
            ],
            &state,
        );
        let text = s.to_text();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["format"], "eprun-plan");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["state"], json!({"serial": 4, "lineage": state.lineage}));
        assert_eq!(
            doc["plan"],
            s.plan.to_json(),
            "the plan as `plan --json` shows it"
        );
        assert_eq!(
            doc["plan"]["changes"].as_array().unwrap().len(),
            1,
            "no noops"
        );
        let back = SavedPlan::parse("p", &text).unwrap().unwrap();
        assert_eq!(back.plan.changes, s.plan.changes[..1], "null `before` kept");
        assert!(back.check_changes(&s.plan).is_ok());
        assert!(back.check_state(&state).is_ok());
    }

    #[test]
    fn a_file_is_recognised_by_its_content() {
        assert!(SavedPlan::parse("a.rhai", "let x = 1;").unwrap().is_none());
        assert!(SavedPlan::parse("a.json", "{\"a\": 1}").unwrap().is_none());
        let newer = SavedPlan::parse("p", "{\"format\": \"eprun-plan\", \"version\": 99}")
            .unwrap_err()
            .to_string();
        assert!(newer.contains("newer eprun"), "{newer}");
    }

    #[test]
    fn the_digest_covers_names_and_contents() {
        let a = Inputs::of([("a".to_string(), "1".to_string())]);
        let renamed = Inputs::of([("b".to_string(), "1".to_string())]);
        let edited = Inputs::of([("a".to_string(), "2".to_string())]);
        assert_ne!(a.digest, renamed.digest);
        assert_ne!(a.digest, edited.digest);
        assert_eq!(a, Inputs::of([("a".to_string(), "1".to_string())]));
        assert_eq!(edited.changes_since(&a), [InputChange::Changed("a".into())]);
        assert_eq!(
            renamed.changes_since(&a),
            [InputChange::Gone("a".into()), InputChange::New("b".into())]
        );
    }

    #[test]
    fn stale_inputs_name_the_files_and_the_command_to_plan_again() {
        let s = saved(vec![], &State::new("local/us-east-1"));
        let now = Inputs::of([("scripts/a.rhai".to_string(), "changed".to_string())]);
        let why = s.check_inputs(&now).unwrap_err();
        let err = s.stale("plan.json", why).to_string();
        assert!(err.contains("`scripts/a.rhai` changed"), "{err}");
        assert!(
            err.contains(
                "hint: plan again and review the new plan: `eprun plan scripts/a.rhai --env local/us-east-1 --out plan.json`"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_state_written_since_is_refused() {
        let empty = State::new("local/us-east-1");
        let s = saved(vec![], &empty);
        assert_eq!(s.state.lineage, None, "an unsaved state has no lineage yet");
        let mut written = empty.clone();
        written.serial = 1;
        let err = s.check_state(&written).unwrap_err().to_string();
        assert!(
            err.contains("planned against no state, now serial 1"),
            "{err}"
        );
        let mut other = State::new("local/us-east-1");
        other.serial = 0;
        assert!(s.check_state(&other).is_ok(), "still no state");
    }

    #[test]
    fn other_changes_after_a_refresh_are_named_per_resource() {
        let s = saved(
            vec![
                change("ec2.vpc.a", Action::Update, json!("10.0.0.0/16")),
                change("ec2.vpc.b", Action::Update, json!("10.1.0.0/16")),
                change("ec2.vpc.c", Action::Update, json!("10.2.0.0/16")),
            ],
            &State::new("s"),
        );
        let fresh = plan(vec![
            change("ec2.vpc.a", Action::Update, json!("10.0.0.0/16")),
            change("ec2.vpc.b", Action::Replace, json!("10.1.0.0/16")),
            change("ec2.vpc.c", Action::Update, json!("10.9.0.0/16")),
            change("ec2.vpc.d", Action::Create, json!("10.3.0.0/16")),
        ]);
        let err = s.check_changes(&fresh).unwrap_err().to_string();
        assert!(
            err.contains("`ec2.vpc.b`: planned `update`, now `replace`"),
            "{err}"
        );
        assert!(
            err.contains("`ec2.vpc.c`: `update` of other values (`cidr_block`)"),
            "{err}"
        );
        assert!(
            err.contains("`ec2.vpc.d`: now `create`, which the plan does not have"),
            "{err}"
        );
        assert!(!err.contains("ec2.vpc.a"), "{err}");
    }

    #[test]
    fn no_secret_value_reaches_the_file() {
        let secret = crate::secret::Secret::new("pa55-w0rd-in-a-plan");
        let s = saved(
            vec![change("ec2.vpc.a", Action::Update, json!(secret.expose()))],
            &State::new("s"),
        );
        let text = s.to_text();
        assert!(!text.contains(secret.expose()), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
