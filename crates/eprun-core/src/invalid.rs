//! Why a declaration's props are refused before anything is sent: what `Resource::validate` answers.

/// Why a resource type refuses a declaration's props; the message names the prop in backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A prop's value is not one the type takes: `property `cidr_block`: …`.
    #[error("property `{prop}`: {why}")]
    Value {
        /// The prop.
        prop: String,
        /// What is wrong with its value, and what would do.
        why: String,
    },
    /// A prop in a form the type does not take, or where it does not apply:
    /// `property `policy` must be a map, not an array`.
    #[error("property `{prop}` {why}")]
    Form {
        /// The prop.
        prop: String,
        /// What it must be, or why it does not apply.
        why: String,
    },
    /// A prop the declaration needs is not set.
    #[error("missing property `{prop}`: {why}")]
    Missing {
        /// The prop.
        prop: String,
        /// Why it is needed here.
        why: String,
    },
    /// A number outside the range the service takes.
    #[error("property `{prop}`: {value} is not between {min} and {max}{unit}")]
    Range {
        /// The prop.
        prop: String,
        /// The value declared.
        value: i64,
        /// The least the service takes.
        min: i64,
        /// The most the service takes.
        max: i64,
        /// What it counts, after a space (` days`), or nothing.
        unit: String,
    },
    /// One part of a list prop (a rule, a target) that is wrong: `in `ingress` rule 2: …`.
    #[error("in `{prop}`{part}: {why}")]
    Part {
        /// The prop.
        prop: String,
        /// Which part, after a space (` rule 2`), or nothing when the parts together are wrong.
        part: String,
        /// What is wrong.
        why: String,
    },
    /// Props that do not go together, or a change the service cannot make.
    #[error("{0}")]
    Combination(String),
}

impl Invalid {
    /// `property `{prop}`: {why}`.
    pub fn value(prop: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Value {
            prop: prop.into(),
            why: why.into(),
        }
    }

    /// `property `{prop}` {why}`.
    pub fn form(prop: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Form {
            prop: prop.into(),
            why: why.into(),
        }
    }

    /// `missing property `{prop}`: {why}`.
    pub fn missing(prop: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Missing {
            prop: prop.into(),
            why: why.into(),
        }
    }

    /// `property `{prop}`: {value} is not between {min} and {max}`, then ` {unit}` when given.
    pub fn range(prop: &str, value: i64, range: std::ops::RangeInclusive<i64>, unit: &str) -> Self {
        Self::Range {
            prop: prop.into(),
            value,
            min: *range.start(),
            max: *range.end(),
            unit: if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            },
        }
    }
}
