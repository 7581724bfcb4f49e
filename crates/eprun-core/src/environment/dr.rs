//! `[dr]`: what the DR runbooks measure a failover against.

use serde::{Deserialize, Serialize};

/// The recovery objectives of a DR pair, in the DR environment's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrValues {
    /// The recovery time objective, in minutes: how long a failover may take from its start until
    /// traffic has moved and the DR region runs the primary's capacity (`eprun runs show`).
    pub rto_minutes: u32,
    /// How old the DR copy of the primary's state may be, in minutes, when the primary cannot be
    /// asked for its serial (`dr-readiness` with the primary unreachable).
    #[serde(default = "default_copy_age")]
    pub max_copy_age_minutes: u32,
}

fn default_copy_age() -> u32 {
    24 * 60
}
