//! `wait`: polling an object until a condition holds, with backoff, a deadline and Ctrl-C.
//!
//! The conditions here are the named ones (a status condition that must be `"True"`, or
//! `"deleted"`); a script's own closure is evaluated by the caller through [`poll`].

use super::VerbError;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The first pause between two polls.
pub const FIRST_DELAY: Duration = Duration::from_millis(200);
/// The longest pause between two polls.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// How often a pause looks at Ctrl-C.
const SLICE: Duration = Duration::from_millis(50);

/// A named condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The object is gone.
    Deleted,
    /// `status.conditions[type == T].status == "True"` (e.g. `Available`, `Ready`, `Healthy`),
    /// reported for the object's latest generation.
    Status(String),
}

impl Condition {
    /// `"deleted"`, or a status condition type.
    pub fn parse(text: &str) -> Result<Condition, VerbError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("deleted") {
            return Ok(Condition::Deleted);
        }
        if t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            return Err(VerbError::Usage(format!(
                "`{text}` is not a condition: give a status condition type (`\"Available\"`, `\"Ready\"`, `\"Healthy\"`), `\"deleted\"`, or a closure `|obj| …` returning a bool"
            )));
        }
        Ok(Condition::Status(t.to_string()))
    }

    /// How messages name it.
    pub fn describe(&self) -> String {
        match self {
            Condition::Deleted => "deletion".into(),
            Condition::Status(t) => format!("condition `{t}` to be True"),
        }
    }
}

/// Whether a condition holds, and what was seen (for the message when it never does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// It holds.
    pub met: bool,
    /// What the object looked like, in a few words.
    pub seen: String,
}

/// Evaluates a named condition on the object as fetched (`None`: absent).
pub fn evaluate(condition: &Condition, object: Option<&Value>) -> Verdict {
    match (condition, object) {
        (Condition::Deleted, None) => Verdict {
            met: true,
            seen: "gone".into(),
        },
        (Condition::Deleted, Some(obj)) => {
            let meta = &obj["metadata"];
            let seen = match meta["deletionTimestamp"].as_str() {
                Some(since) => {
                    let finalizers: Vec<&str> = meta["finalizers"]
                        .as_array()
                        .map(|f| f.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    if finalizers.is_empty() {
                        format!("being deleted since {since}")
                    } else {
                        format!(
                            "being deleted since {since}, held by finalizers {}",
                            finalizers.join(", ")
                        )
                    }
                }
                None => "still there, not being deleted".into(),
            };
            Verdict { met: false, seen }
        }
        (Condition::Status(_), None) => Verdict {
            met: false,
            seen: "the object does not exist".into(),
        },
        (Condition::Status(wanted), Some(obj)) => status_condition(wanted, obj),
    }
}

fn status_condition(wanted: &str, obj: &Value) -> Verdict {
    let conditions = obj["status"]["conditions"].as_array();
    let stale = match (
        obj["status"]["observedGeneration"].as_i64(),
        obj["metadata"]["generation"].as_i64(),
    ) {
        (Some(observed), Some(generation)) if observed < generation => Some((observed, generation)),
        _ => None,
    };
    let found = conditions.and_then(|cs| cs.iter().find(|c| c["type"].as_str() == Some(wanted)));
    let met = found.is_some_and(|c| c["status"].as_str() == Some("True")) && stale.is_none();
    let mut seen = match conditions {
        Some(cs) if !cs.is_empty() => {
            let parts: Vec<String> = cs
                .iter()
                .map(|c| {
                    let mut s = format!(
                        "{}={}",
                        c["type"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?")
                    );
                    let reason = c["reason"].as_str().unwrap_or_default();
                    let message = c["message"].as_str().unwrap_or_default();
                    match (reason.is_empty(), message.is_empty()) {
                        (false, false) => s.push_str(&format!(" ({reason}: {message})")),
                        (false, true) => s.push_str(&format!(" ({reason})")),
                        (true, false) => s.push_str(&format!(" ({message})")),
                        (true, true) => {}
                    }
                    s
                })
                .collect();
            format!("conditions {}", parts.join(", "))
        }
        _ => "no status conditions yet".into(),
    };
    if found.is_none() && conditions.is_some_and(|cs| !cs.is_empty()) {
        seen.push_str(&format!(" (no `{wanted}` among them)"));
    }
    if let Some((observed, generation)) = stale {
        seen.push_str(&format!(
            "; the controller has not caught up (status.observedGeneration {observed} < metadata.generation {generation})"
        ));
    }
    Verdict { met, seen }
}

/// Pauses between polls: 200 ms, doubling up to 2 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The next pause.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        d
    }
}

/// Why polling stopped without a result.
#[derive(Debug)]
pub enum PollError<E> {
    /// An attempt failed.
    Failed(E),
    /// The deadline passed.
    TimedOut,
    /// Ctrl-C.
    Interrupted,
}

/// Calls `attempt` until it returns `Some`, pausing with [`Backoff`] between calls, for at most
/// `timeout` (one attempt is always made), and stopping at Ctrl-C. Blocks the calling thread:
/// for Rhai's synchronous native functions, whose closures must run on their own thread.
pub fn poll<T, E>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>, E>,
) -> Result<T, PollError<E>> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::default();
    loop {
        if crate::interrupt::requested() {
            return Err(PollError::Interrupted);
        }
        if let Some(v) = attempt().map_err(PollError::Failed)? {
            return Ok(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(PollError::TimedOut);
        }
        let stop = now + backoff.next_delay().min(deadline - now);
        while Instant::now() < stop {
            if crate::interrupt::requested() {
                return Err(PollError::Interrupted);
            }
            std::thread::sleep(SLICE.min(stop.saturating_duration_since(Instant::now())));
        }
    }
}

/// An async pause of `delay` that ends early (with an error) at Ctrl-C.
pub async fn pause(delay: Duration) -> Result<(), VerbError> {
    let stop = Instant::now() + delay;
    loop {
        if crate::interrupt::requested() {
            return Err(VerbError::Interrupted);
        }
        let left = stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        tokio::time::sleep(SLICE.min(left)).await;
    }
}

/// A whole number of seconds (or a fraction) as a duration; refuses negative and absurd values.
pub fn seconds(value: f64, what: &str) -> Result<Duration, VerbError> {
    if !value.is_finite() || !(0.0..=7.0 * 24.0 * 3600.0).contains(&value) {
        return Err(VerbError::Usage(format!(
            "{what} must be a number of seconds from 0 to 604800 (a week), not {value}"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, observed: i64, available: &str) -> Value {
        json!({
            "metadata": {"name": "web", "generation": generation},
            "status": {
                "observedGeneration": observed,
                "conditions": [
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                    {"type": "Available", "status": available, "reason": "MinimumReplicasUnavailable",
                     "message": "Deployment does not have minimum availability."}
                ]
            }
        })
    }

    #[test]
    fn conditions_parse() {
        assert_eq!(Condition::parse("deleted").unwrap(), Condition::Deleted);
        assert_eq!(Condition::parse("Deleted").unwrap(), Condition::Deleted);
        assert_eq!(
            Condition::parse("Available").unwrap(),
            Condition::Status("Available".into())
        );
        assert!(Condition::parse("").is_err());
        assert!(Condition::parse("ready replicas").is_err());
    }

    #[test]
    fn a_status_condition_must_be_true_for_the_latest_generation() {
        let available = Condition::Status("Available".into());
        assert!(evaluate(&available, Some(&deployment(2, 2, "True"))).met);
        let v = evaluate(&available, Some(&deployment(2, 2, "False")));
        assert!(!v.met);
        assert_eq!(
            v.seen,
            "conditions Progressing=True (NewReplicaSetAvailable), Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"
        );
        let stale = evaluate(&available, Some(&deployment(3, 2, "True")));
        assert!(!stale.met);
        assert!(
            stale
                .seen
                .contains("observedGeneration 2 < metadata.generation 3"),
            "{}",
            stale.seen
        );
        // Argo Rollouts once reported observedGeneration as a hash: no comparison then.
        let mut hashed = deployment(3, 0, "True");
        hashed["status"]["observedGeneration"] = json!("7d4b9c");
        assert!(evaluate(&available, Some(&hashed)).met);
    }

    #[test]
    fn a_missing_condition_or_object_is_not_met() {
        let ready = Condition::Status("Ready".into());
        let v = evaluate(&ready, Some(&deployment(1, 1, "True")));
        assert!(!v.met);
        assert!(v.seen.ends_with("(no `Ready` among them)"), "{}", v.seen);
        let v = evaluate(&ready, Some(&json!({"metadata": {"name": "n1"}})));
        assert_eq!(
            (v.met, v.seen.as_str()),
            (false, "no status conditions yet")
        );
        let v = evaluate(&ready, None);
        assert_eq!(
            (v.met, v.seen.as_str()),
            (false, "the object does not exist")
        );
    }

    #[test]
    fn deleted_means_gone() {
        assert!(evaluate(&Condition::Deleted, None).met);
        let v = evaluate(
            &Condition::Deleted,
            Some(&json!({"metadata": {"name": "x"}})),
        );
        assert_eq!(
            (v.met, v.seen.as_str()),
            (false, "still there, not being deleted")
        );
        let v = evaluate(
            &Condition::Deleted,
            Some(
                &json!({"metadata": {"name": "x", "deletionTimestamp": "2024-01-01T00:00:00Z",
                                      "finalizers": ["karpenter.sh/termination"]}}),
            ),
        );
        assert!(!v.met);
        assert!(v.seen.contains("karpenter.sh/termination"), "{}", v.seen);
    }

    #[test]
    fn backoff_doubles_up_to_two_seconds() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn poll_returns_the_first_result_and_times_out() {
        let mut n = 0;
        let got: Result<i32, PollError<String>> = poll(Duration::from_secs(5), || {
            n += 1;
            Ok((n == 2).then_some(n))
        });
        assert!(matches!(got, Ok(2)));
        let t0 = Instant::now();
        let never: Result<(), PollError<String>> = poll(Duration::from_millis(300), || Ok(None));
        assert!(matches!(never, Err(PollError::TimedOut)));
        assert!(t0.elapsed() < Duration::from_secs(2));
        let failed: Result<(), PollError<String>> =
            poll(Duration::from_secs(5), || Err("boom".into()));
        assert!(matches!(failed, Err(PollError::Failed(e)) if e == "boom"));
    }

    #[test]
    fn seconds_are_checked() {
        assert_eq!(
            seconds(1.5, "timeout").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(
            seconds(-1.0, "timeout")
                .unwrap_err()
                .to_string()
                .contains("timeout")
        );
        assert!(seconds(f64::NAN, "timeout").is_err());
    }
}
