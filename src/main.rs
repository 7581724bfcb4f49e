//! The `eprun` binary: parse the command line, run it, turn the result into an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = eprun::cli::Cli::parse();
    ExitCode::from(eprun::main(cli))
}
