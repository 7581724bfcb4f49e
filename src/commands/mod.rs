//! Command dispatch: each command is a function from its arguments to an exit code.

mod adopt;
mod check;
mod eval;
mod render;
pub mod run;
mod runs;
mod saved_plan;
mod show;
mod stack;
mod state;

use crate::cli::{Cli, Command, MigrateFrom};
use crate::error::{Error, Result};
use crate::saved_plan::SavedPlan;
use std::io::IsTerminal;

/// Exit codes.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// `--detailed-exitcode`: the plan has changes.
    pub const CHANGES: u8 = 2;
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<u8> {
    let g = cli.global.clone();
    match cli.command {
        Some(Command::Plan {
            file,
            discover,
            local_state,
            out,
            format,
        }) => {
            let opts = stack::PlanOptions {
                discover,
                local_state,
                out,
                format,
            };
            stack::plan(&file, &g, opts).await
        }
        Some(Command::Apply { file, yes }) => match SavedPlan::read(&file)? {
            Some(saved) => saved_plan::apply(&file, saved, &g).await,
            None => stack::apply(&file, &g, yes).await,
        },
        Some(Command::Show { plan, format }) => show::show(&plan, &g, format),
        Some(Command::Destroy { file, yes }) => stack::destroy(&file, &g, yes).await,
        Some(Command::Outputs { file }) => stack::outputs(&file, &g).await,
        Some(Command::Eval { expr, dry_run }) => eval::eval(&expr, dry_run, &g).await,
        Some(Command::Check { paths }) => check::check(&paths).await,
        Some(Command::State { action }) => state::run(action, &g).await,
        Some(Command::Import { file, address, id }) => {
            adopt::import(&file, &address, &id, &g).await
        }
        Some(Command::Migrate {
            from: MigrateFrom::Terraform { file, state },
        }) => adopt::terraform(&file, &state, &g).await,
        Some(Command::Repl) => crate::repl::run(&g).await,
        Some(Command::Render { file, local_state }) => render::render(&file, &g, local_state).await,
        Some(Command::Run {
            file,
            dry_run,
            resume,
            params,
            yes,
            force,
        }) => {
            run::run(
                &file,
                &g,
                run::Options {
                    dry_run,
                    resume,
                    params,
                    yes,
                    force,
                },
            )
            .await
        }
        Some(Command::Runs { action }) => runs::run(action, &g).await,
        Some(Command::Docs { definitions: None }) => crate::docs::print(&g),
        Some(Command::Docs {
            definitions: Some(dir),
        }) => crate::docs::write_definitions(&dir),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "eprun", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script).map_err(|source| {
                Error::Io {
                    action: "write",
                    path: "stdout".into(),
                    source,
                }
            })?;
            Ok(exit::OK)
        }
        None => match cli.file {
            Some(file) => stack::run_file(&file, &g, cli.yes).await,
            None => Err(Error::usage(
                "give a script to run, or a command; see `eprun --help`",
            )),
        },
    }
}

/// Asks for confirmation on a terminal; without one, `--yes` is required.
pub fn confirm(question: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(format!(
            "{question} — no terminal to ask on; pass `--yes` to confirm"
        )));
    }
    eprint!("{question} Only `yes` is accepted: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| Error::Io {
            action: "read",
            path: "stdin".into(),
            source,
        })?;
    Ok(answer.trim() == "yes")
}
