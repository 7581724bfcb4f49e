//! `[transit_gateway]`: the region's Transit Gateway hub and the peer it routes to (stdlib/transit_gateway.rhai).

use serde::{Deserialize, Serialize};

/// The Transit Gateway of a region (the seed's `modules/transit-gateway`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitGatewayValues {
    /// The transit gateway's name, also the prefix of its attachment's, peering's and routes' names.
    pub name: String,
    /// The private ASN of its Amazon side; the two peered gateways need different ones.
    #[serde(default = "default_asn")]
    pub amazon_side_asn: u32,
    /// The other region's VPC block: the private subnets reach it through the transit gateway.
    /// The DR side checks it against the primary's published `vpc_cidr`.
    pub peer_cidr: ipnet::Ipv4Net,
    /// Keep the transit gateway from deletion (`protect: true`).
    #[serde(default)]
    pub protect: bool,
}

fn default_asn() -> u32 {
    64512
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_refuses_unknown_keys() {
        let v: TransitGatewayValues =
            toml::from_str("name = \"hub\"\npeer_cidr = \"10.20.0.0/16\"").unwrap();
        assert_eq!(v.amazon_side_asn, 64512);
        assert!(!v.protect);
        let e = toml::from_str::<TransitGatewayValues>(
            "name = \"hub\"\npeer_cidr = \"10.20.0.0/16\"\nasn = 1",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `asn`"), "{e}");
        assert!(
            toml::from_str::<TransitGatewayValues>("name = \"hub\"\npeer_cidr = \"10.20.0.0/33\"")
                .is_err()
        );
    }
}
