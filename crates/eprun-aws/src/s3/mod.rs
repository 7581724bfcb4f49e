//! S3 resource types.

pub mod bucket;
