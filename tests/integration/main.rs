//! Integration tests: the real `eprun` binary on the real scripts, against the AWS emulator
//! (moto, started on a free port by each test that needs it). Run them with `tools/test`.

mod kube_support;
mod support;

mod bad_input;
mod cli;
mod crash_safety;
mod discover;
mod kube_emulator;
mod offline_plan;
mod regions;
mod s3_state;
mod state_file;
mod vpc_stack;
