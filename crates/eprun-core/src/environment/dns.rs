//! `[dns]`: latency-based DNS with a health check per region (stdlib/dns_failover.rhai).

use serde::{Deserialize, Serialize};

/// The DNS failover of a region (the seed's `modules/dns-failover`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsValues {
    /// The public hosted zone. Only the primary names it (and owns it); the DR side finds it
    /// through the primary's `zone_id` output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Keep the hosted zone from deletion (primary only).
    #[serde(default)]
    pub protect_zone: bool,
    /// Delete every record in the zone when deleting it (emulators only; never in prod).
    #[serde(default)]
    pub force_destroy: bool,
    /// The latency-routed name clients use, e.g. `api.examplepay.com`.
    pub record: String,
    /// This region's ingress host name: what the health check probes and the record answers.
    pub ingress: String,
    /// The ingress load balancer's hosted zone id: the record becomes an alias instead of a CNAME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_zone_id: Option<String>,
    /// TTL of the CNAME record, in seconds (an alias has none).
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// The path the health check requests over HTTPS.
    #[serde(default = "default_path")]
    pub health_check_path: String,
    /// Seconds between checks: 10 or 30.
    #[serde(default = "default_interval")]
    pub health_check_interval: u32,
    /// Consecutive failures before the region is unhealthy.
    #[serde(default = "default_threshold")]
    pub failure_threshold: u32,
    /// The regions that check (at least three).
    #[serde(default = "default_regions")]
    pub health_check_regions: Vec<String>,
    /// The region whose CloudWatch holds both regions' rotation alarms (the DR region), so a
    /// failover moves traffic with calls to that region only. Unset: no rotation control, the
    /// record follows its HTTPS check alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_region: Option<String>,
}

fn default_ttl() -> u32 {
    60
}

fn default_path() -> String {
    "/healthz".into()
}

fn default_interval() -> u32 {
    10
}

fn default_threshold() -> u32 {
    3
}

fn default_regions() -> Vec<String> {
    ["us-east-1", "eu-west-1", "us-west-2"]
        .map(String::from)
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_s_health_check() {
        let v: DnsValues = toml::from_str(
            "record = \"api.examplepay.com\"\ningress = \"ingress.us-east-1.examplepay.com\"",
        )
        .unwrap();
        assert_eq!(
            (v.health_check_interval, v.failure_threshold, v.ttl),
            (10, 3, 60)
        );
        assert_eq!(v.health_check_path, "/healthz");
        assert_eq!(v.health_check_regions.len(), 3);
        assert_eq!(v.zone, None);
        let json = serde_json::to_value(&v).unwrap();
        assert!(json.get("zone").is_none(), "absent, so scripts see `()`");
    }
}
