//! eprun: infrastructure as Rhai scripts — plan, apply and run AWS and Kubernetes from one host.

pub mod address;
pub mod api;
pub mod applier;
pub mod aws;
pub mod cli;
pub mod cloud_error;
pub mod cluster;
pub mod commands;
pub mod connections;
pub mod context;
pub mod declaration;
pub mod diagnostic;
pub mod discover;
pub mod docs;
pub mod engine;
pub mod environment;
pub mod error;
pub mod graph;
pub mod handle;
pub mod interrupt;
pub mod journal;
pub mod k8s;
pub mod mutation;
pub mod plan;
pub mod plan_view;
pub mod planner;
pub mod progress;
pub mod project;
pub mod providers;
pub mod raise;
pub mod recursion;
pub mod repl;
pub mod resource;
pub mod runbook;
pub mod schema;
pub mod script;
pub mod secret;
pub mod session;
pub mod state;
pub mod state_store;
pub mod style;
pub mod tags;
pub mod token;
pub mod value;
pub mod walk;

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
            let text = e.to_string();
            if text.starts_with("error") {
                eprintln!("{text}");
            } else {
                eprintln!("{} {text}", style::red("error:"));
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
