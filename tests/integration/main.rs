//! Integration tests: the real `eprun` binary on the real scripts, against the AWS emulator
//! (moto, started on a free port by each test that needs it). Run them with `tools/test`.

mod kube_support;
mod region_proxy;
mod support;

mod adhoc;
mod apply_failures;
mod aws_verbs;
mod bad_input;
mod ci_workflow;
mod cli;
mod controller_aws;
mod controller_permissions;
mod crash_safety;
mod discover;
mod dr_outage;
mod dr_readiness;
mod dr_runbooks;
mod dr_safety;
mod dr_support;
mod eks_connect;
mod field_ownership;
mod helm_releases;
mod k8s_addons;
mod k8s_apply_order;
mod k8s_objects;
mod k8s_verbs;
mod migration;
mod moved;
mod offline_plan;
mod ops_runbooks;
mod policy;
mod regions;
mod runbook_runtime;
mod s3_state;
mod saved_plans;
mod state_file;
mod vpc_stack;
