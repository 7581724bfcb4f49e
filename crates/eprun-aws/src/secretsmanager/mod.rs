//! Secrets Manager resource types.
//!
//! eprun manages secrets' metadata only: names, encryption keys, replicas, tags. It never sends,
//! reads or stores a secret's value; values are put out of band (`aws::secretsmanager::put`, the
//! console) and read in-cluster by External Secrets.

pub mod secret;
