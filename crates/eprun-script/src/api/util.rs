//! Helpers for scripts: CIDR arithmetic and JSON.

use super::fail;
use crate::value::{to_dynamic, to_json};
use ipnet::IpNet;
use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, INT, Position};

/// Why CIDR arithmetic cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Text that is not a CIDR block.
    #[error("`{0}` is not a CIDR block")]
    NotCidr(String),
    /// More bits than the address has.
    #[error("cannot add {newbits} bits to `{prefix}` (at most /{max})")]
    TooManyBits {
        /// The bits asked for.
        newbits: INT,
        /// The block.
        prefix: String,
        /// The longest prefix of its family.
        max: INT,
    },
    /// A prefix length that does not fit a byte.
    #[error("prefix too long")]
    PrefixTooLong,
    /// A prefix length the block cannot be split at.
    #[error(transparent)]
    PrefixLen(#[from] ipnet::PrefixLenError),
    /// A negative subnet number.
    #[error("subnet number {0} is negative")]
    Negative(INT),
    /// A subnet number past the last subnet.
    #[error("`{prefix}` has only {count} subnets of /{new_len}; {netnum} is out of range")]
    OutOfRange {
        /// The block.
        prefix: String,
        /// How many subnets it has.
        count: u128,
        /// Their prefix length.
        new_len: u8,
        /// The number asked for.
        netnum: INT,
    },
    /// A subnet number too large to count to.
    #[error("subnet number too large")]
    TooLarge,
    /// A subnet the split did not make.
    #[error("subnet {netnum} of `{prefix}` does not exist")]
    Missing {
        /// The number asked for.
        netnum: INT,
        /// The block.
        prefix: String,
    },
}

/// A CIDR block, or the error naming the text.
fn cidr(text: &str) -> Result<IpNet, CidrError> {
    text.parse().map_err(|_| CidrError::NotCidr(text.into()))
}

/// The `netnum`-th subnet of `prefix` with `newbits` more prefix bits (Terraform's `cidrsubnet`).
pub fn cidr_subnet(prefix: &str, newbits: INT, netnum: INT) -> Result<String, CidrError> {
    let net = cidr(prefix)?;
    let max = if matches!(net, IpNet::V4(_)) { 32 } else { 128 };
    let new_len = INT::from(net.prefix_len()) + newbits;
    if newbits < 0 || new_len > max {
        return Err(CidrError::TooManyBits {
            newbits,
            prefix: prefix.into(),
            max,
        });
    }
    let new_len = u8::try_from(new_len).map_err(|_| CidrError::PrefixTooLong)?;
    let subnets = net.subnets(new_len)?;
    let count = if newbits >= 64 {
        u128::MAX
    } else {
        1u128 << newbits
    };
    let n = u128::try_from(netnum).map_err(|_| CidrError::Negative(netnum))?;
    if n >= count {
        return Err(CidrError::OutOfRange {
            prefix: prefix.into(),
            count,
            new_len,
            netnum,
        });
    }
    subnets
        .into_iter()
        .nth(usize::try_from(n).map_err(|_| CidrError::TooLarge)?)
        .map(|s| s.to_string())
        .ok_or_else(|| CidrError::Missing {
            netnum,
            prefix: prefix.into(),
        })
}

/// Whether two blocks share any address (either contains the other's network address).
pub fn cidr_overlaps(a: &str, b: &str) -> Result<bool, CidrError> {
    let (x, y) = (cidr(a)?.trunc(), cidr(b)?.trunc());
    Ok(x.contains(&y.network()) || y.contains(&x.network()))
}

pub(crate) fn register(engine: &mut Engine) {
    FuncRegistration::new("cidr_subnet")
        .with_comments(["/// The `netnum`-th subnet of `prefix` with `newbits` more bits, like Terraform's `cidrsubnet`."])
        .with_params_info(["prefix: &str", "newbits: INT", "netnum: INT", "String"])
        .register_into_engine(engine, |p: &str, b: INT, n: INT| -> Result<String, Box<EvalAltResult>> {
            cidr_subnet(p, b, n).map_err(|e| fail(e, Position::NONE))
        });
    FuncRegistration::new("cidr_contains")
        .with_comments(["/// Whether `outer` contains the block or address `inner`."])
        .with_params_info(["outer: &str", "inner: &str", "bool"])
        .register_into_engine(
            engine,
            |outer: &str, inner: &str| -> Result<bool, Box<EvalAltResult>> {
                let o = cidr(outer).map_err(|e| fail(e, Position::NONE))?;
                let i = cidr(inner).map_err(|e| fail(e, Position::NONE))?;
                Ok(o.contains(&i))
            },
        );
    FuncRegistration::new("cidr_overlaps")
        .with_comments(["/// Whether blocks `a` and `b` share any address (e.g. two VPCs that cannot be routed to each other)."])
        .with_params_info(["a: &str", "b: &str", "bool"])
        .register_into_engine(engine, |a: &str, b: &str| -> Result<bool, Box<EvalAltResult>> {
            cidr_overlaps(a, b).map_err(|e| fail(e, Position::NONE))
        });
    FuncRegistration::new("to_json")
        .with_comments([
            "/// A value as compact JSON text (tokens stay inside and are resolved at apply).",
        ])
        .with_params_info(["value: Dynamic", "String"])
        .register_into_engine(engine, |v: Dynamic| -> Result<String, Box<EvalAltResult>> {
            let json = to_json(&v).map_err(|e| fail(e, Position::NONE))?;
            Ok(json.to_string())
        });
    FuncRegistration::new("from_json")
        .with_comments(["/// Parses JSON text into a map, array or plain value."])
        .with_params_info(["text: &str", "Dynamic"])
        .register_into_engine(engine, |t: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let v: serde_json::Value = serde_json::from_str(t)
                .map_err(|e| fail(format!("invalid JSON: {e}"), Position::NONE))?;
            Ok(to_dynamic(&v))
        });
    FuncRegistration::new("now_utc")
        .with_comments(["/// The current time as RFC 3339 UTC text (`2026-11-26T02:10:00Z`); such times sort as text."])
        .with_params_info(["String"])
        .register_into_engine(engine, || {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
    FuncRegistration::new("sleep")
        .with_comments(["/// Waits `seconds` (for polling in runbooks); Ctrl-C ends the wait."])
        .with_params_info(["seconds: INT", "()"])
        .register_into_engine(engine, |seconds: INT| -> Result<(), Box<EvalAltResult>> {
            let until =
                std::time::Instant::now() + std::time::Duration::from_secs(seconds.max(0) as u64);
            while std::time::Instant::now() < until {
                if crate::interrupt::requested() {
                    return Err(Box::new(EvalAltResult::ErrorTerminated(
                        "interrupted by Ctrl-C".into(),
                        Position::NONE,
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Ok(())
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_subnet_matches_terraform() {
        assert_eq!(cidr_subnet("10.10.0.0/16", 4, 0).unwrap(), "10.10.0.0/20");
        assert_eq!(cidr_subnet("10.10.0.0/16", 4, 2).unwrap(), "10.10.32.0/20");
        assert_eq!(cidr_subnet("10.10.0.0/16", 2, 3).unwrap(), "10.10.192.0/18");
        assert!(cidr_subnet("10.10.0.0/16", 2, 4).is_err());
        assert!(cidr_subnet("10.10.0.0/16", 20, 0).is_err());
    }

    #[test]
    fn cidr_overlaps_in_either_direction() {
        assert!(!cidr_overlaps("10.10.0.0/16", "10.20.0.0/16").unwrap());
        assert!(cidr_overlaps("10.10.0.0/16", "10.10.64.0/18").unwrap());
        assert!(cidr_overlaps("10.10.64.0/18", "10.0.0.0/8").unwrap());
        assert!(cidr_overlaps("10.10.0.0/16", "10.10.0.0/16").unwrap());
        assert!(!cidr_overlaps("10.10.0.0/17", "10.10.128.0/17").unwrap());
        assert!(cidr_overlaps("10.10.0.0/16", "bad").is_err());
    }
}
