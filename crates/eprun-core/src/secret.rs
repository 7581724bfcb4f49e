//! Secret values: a type that never shows its value (`<redacted>` in output, journals, logs and
//! errors), and a process-wide list of the values seen so that text about to be written can be
//! scrubbed of them as a second line of defence.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::{Arc, Mutex};

/// How a secret shows everywhere: Display, Debug, JSON, Rhai `to_string` and `to_debug`.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are not scrubbed from text (they would garble unrelated words).
const SCRUB_MIN_LEN: usize = 4;

/// Every secret value this process has held, for [`scrub`].
static SEEN: Mutex<Vec<Arc<SecretString>>> = Mutex::new(Vec::new());

/// A secret value. Cloning shares the value; nothing but [`Secret::expose`] reveals it.
#[derive(Clone)]
pub struct Secret(Arc<SecretString>);

impl Secret {
    /// Wraps a value, remembering it so that [`scrub`] can remove it from text.
    pub fn new(value: impl Into<String>) -> Self {
        let inner = Arc::new(SecretString::from(value.into()));
        SEEN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(inner.clone());
        Self(inner)
    }

    /// The value, for the one call that needs it (e.g. `PutSecretValue`). Never print it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// The value's length in characters.
    pub fn len(&self) -> usize {
        self.expose().chars().count()
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <String as serde::Deserialize>::deserialize(d)?;
        Ok(Secret::new(value))
    }
}

/// Reads a secret from text that may end with one newline (what `echo` and a here-doc add):
/// the newline (`\n` or `\r\n`) is dropped, anything else is kept as it is.
pub fn from_piped(mut text: String) -> Secret {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Secret::new(text)
}

/// `text` with every secret value this process has held replaced by `<redacted>`.
pub fn scrub(text: &str) -> String {
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_string();
    for s in seen.iter() {
        let v = s.expose_secret();
        if v.chars().count() >= SCRUB_MIN_LEN && out.contains(v) {
            out = out.replace(v, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_is_redacted() {
        let s = Secret::new("hunter2-correct-horse");
        assert_eq!(s.to_string(), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{s:#?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
        assert_eq!(
            serde_json::to_string(&vec![s.clone()]).unwrap(),
            "[\"<redacted>\"]"
        );
        assert_eq!(s.expose(), "hunter2-correct-horse");
    }

    #[test]
    fn scrub_removes_values_seen() {
        let _s = Secret::new("p4ss-w0rd-xyz");
        assert_eq!(
            scrub("PutSecretValue failed: bad value p4ss-w0rd-xyz!"),
            "PutSecretValue failed: bad value <redacted>!"
        );
        let _short = Secret::new("ab");
        assert_eq!(scrub("abc"), "abc");
    }

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(from_piped("v\n".into()).expose(), "v");
        assert_eq!(from_piped("v\r\n".into()).expose(), "v");
        assert_eq!(from_piped("v\n\n".into()).expose(), "v\n");
        assert_eq!(from_piped("v ".into()).expose(), "v ");
    }
}
