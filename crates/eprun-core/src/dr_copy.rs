//! The DR copy: a stack's state and outputs, written beside its DR peer's state on every apply,
//! so that the DR region can read everything it needs about the primary while the primary's
//! region is down.

use crate::state::State;
use crate::state_store::{StateError, decode, encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

const FORMAT: &str = "eprun-dr-copy";

/// A stack's state as its last apply left it, with when the copy was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrCopy {
    /// Always `eprun-dr-copy`.
    pub format: String,
    /// The stack (environment) copied.
    pub stack: String,
    /// The state's serial when it was copied.
    pub serial: u64,
    /// RFC 3339 time of the copy.
    pub written_at: String,
    /// The stack's outputs.
    pub outputs: BTreeMap<String, Value>,
    /// The whole state file (checksummed), to restore the stack's state from if its region is lost.
    pub state: String,
}

impl DrCopy {
    /// The copy's name beside the peer's state: `dr-copy/<stack>.json`.
    pub fn name(stack: &str) -> String {
        format!("dr-copy/{stack}.json")
    }

    /// A copy of `state`, written now.
    pub fn of(state: &State) -> Self {
        Self {
            format: FORMAT.into(),
            stack: state.stack.clone(),
            serial: state.serial,
            written_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            outputs: state.outputs.clone(),
            state: encode(state),
        }
    }

    /// The copy as written.
    pub fn encode(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a copy found at `location`, checking its format and the state it carries.
    pub fn decode(location: &str, text: &str) -> Result<Self, StateError> {
        let corrupt = |reason: String| StateError::Corrupt {
            path: location.into(),
            reason,
        };
        let copy: DrCopy =
            serde_json::from_str(text).map_err(|e| corrupt(format!("not a DR copy: {e}")))?;
        if copy.format != FORMAT {
            return Err(corrupt(format!(
                "format is `{}`, not `{FORMAT}`",
                copy.format
            )));
        }
        let state = decode(location, &copy.state)?;
        if state.serial != copy.serial || state.stack != copy.stack {
            return Err(corrupt("its state does not match its header".into()));
        }
        Ok(copy)
    }

    /// Seconds since the copy was written (0 when its time cannot be read).
    pub fn age_seconds(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.written_at)
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_reads_back_and_refuses_tampering() {
        let mut state = State::new("prod/us-east-1");
        state.serial = 7;
        state
            .outputs
            .insert("zone_id".into(), serde_json::json!("Z1"));
        let copy = DrCopy::of(&state);
        let back = DrCopy::decode("mem", &copy.encode()).expect("reads back");
        assert_eq!(
            (back.serial, back.outputs["zone_id"].clone()),
            (7, serde_json::json!("Z1"))
        );
        assert!(back.age_seconds() < 5);
        let mut forged = copy.clone();
        forged.serial = 8;
        let err = DrCopy::decode("mem", &forged.encode())
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match"), "{err}");
    }
}
