//! `[vpc]`: the network of a region (stdlib/vpc.rhai).

use serde::{Deserialize, Serialize};

/// The network of a region (the seed's VPC module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcValues {
    /// The VPC's name, also the prefix of its resources' names.
    pub name: String,
    /// The VPC's CIDR block.
    pub cidr: ipnet::Ipv4Net,
    /// Keep the VPC from deletion (`protect: true`).
    #[serde(default)]
    pub protect: bool,
    /// The availability zones, one public and one private subnet in each.
    pub azs: Vec<String>,
    /// Public subnet blocks, one per AZ.
    pub public_subnets: Vec<ipnet::Ipv4Net>,
    /// Private subnet blocks, one per AZ.
    pub private_subnets: Vec<ipnet::Ipv4Net>,
    /// `per_az` (one NAT gateway per AZ), `single`, or `none`.
    #[serde(default = "default_nat")]
    pub nat_gateways: NatMode,
    /// Send VPC flow logs to an S3 bucket.
    #[serde(default = "yes")]
    pub flow_logs: bool,
    /// Interface endpoint services (`ecr.api`, `sts`, …).
    #[serde(default)]
    pub interface_endpoints: Vec<String>,
    /// Gateway endpoint services (`s3`).
    #[serde(default)]
    pub gateway_endpoints: Vec<String>,
}

/// How many NAT gateways a VPC gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatMode {
    /// One per availability zone, for AZ-independent egress.
    PerAz,
    /// One for the whole VPC.
    Single,
    /// No NAT gateway.
    None,
}

pub(super) fn default_nat() -> NatMode {
    NatMode::PerAz
}

fn yes() -> bool {
    true
}
