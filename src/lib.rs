//! eprun: infrastructure as Rhai scripts — plan, apply and run AWS and Kubernetes from one host.

pub mod cli;
pub mod commands;
pub mod docs;
pub mod error;
pub mod repl;
pub mod script;

// The modules of the crates below, at the paths the commands name them by.
pub use eprun_aws as aws;
pub use eprun_core::{
    address, applier, cloud_error, context, declaration, digest, discover, dr_copy, environment,
    graph, interrupt, migration, moved, plan, plan_markdown, plan_view, planner, progress, project,
    resource, saved_plan, schema, secret, state, state_store, style, terraform_state, token,
    verdict,
};
pub use eprun_k8s as k8s;
pub use eprun_script::{
    api, connections, diagnostic, engine, handle, journal, policy, providers, recursion, runbook,
    session, stores, value,
};

/// Runs a parsed command line and returns the process exit code; errors go to stderr.
pub fn main(cli: cli::Cli) -> u8 {
    // Like other Unix tools, end quietly when the reader of stdout goes away (`eprun docs | head`).
    // SAFETY: setting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    style::init(cli.global.no_color);
    init_tracing(cli.global.verbose);
    interrupt::install();
    providers::install();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if e.headed() {
                eprintln!("{e}");
            } else {
                eprintln!("{} {e}", style::red("error:"));
            }
            e.exit_code()
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "eprun=warn",
        1 => "eprun=info",
        _ => "eprun=debug,aws_smithy_runtime=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("EPRUN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
