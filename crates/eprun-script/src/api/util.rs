//! Helpers for scripts: CIDR arithmetic and JSON.

use super::fail;
use crate::value::{to_dynamic, to_json};
use ipnet::IpNet;
use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, INT, Position};

/// The `netnum`-th subnet of `prefix` with `newbits` more prefix bits (Terraform's `cidrsubnet`).
pub fn cidr_subnet(prefix: &str, newbits: INT, netnum: INT) -> Result<String, String> {
    let net: IpNet = prefix
        .parse()
        .map_err(|_| format!("`{prefix}` is not a CIDR block"))?;
    let max = if matches!(net, IpNet::V4(_)) { 32 } else { 128 };
    let new_len = INT::from(net.prefix_len()) + newbits;
    if newbits < 0 || new_len > max {
        return Err(format!(
            "cannot add {newbits} bits to `{prefix}` (at most /{max})"
        ));
    }
    let new_len = u8::try_from(new_len).map_err(|_| "prefix too long".to_string())?;
    let subnets = net.subnets(new_len).map_err(|e| e.to_string())?;
    let count = if newbits >= 64 {
        u128::MAX
    } else {
        1u128 << newbits
    };
    let n = u128::try_from(netnum).map_err(|_| format!("subnet number {netnum} is negative"))?;
    if n >= count {
        return Err(format!(
            "`{prefix}` has only {count} subnets of /{new_len}; {netnum} is out of range"
        ));
    }
    subnets
        .into_iter()
        .nth(usize::try_from(n).map_err(|_| "subnet number too large".to_string())?)
        .map(|s| s.to_string())
        .ok_or_else(|| format!("subnet {netnum} of `{prefix}` does not exist"))
}

/// Whether two blocks share any address (either contains the other's network address).
pub fn cidr_overlaps(a: &str, b: &str) -> Result<bool, String> {
    let x: IpNet = a
        .parse()
        .map_err(|_| format!("`{a}` is not a CIDR block"))?;
    let y: IpNet = b
        .parse()
        .map_err(|_| format!("`{b}` is not a CIDR block"))?;
    let (x, y) = (x.trunc(), y.trunc());
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
                let o: IpNet = outer
                    .parse()
                    .map_err(|_| fail(format!("`{outer}` is not a CIDR block"), Position::NONE))?;
                let i: IpNet = inner
                    .parse()
                    .map_err(|_| fail(format!("`{inner}` is not a CIDR block"), Position::NONE))?;
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
