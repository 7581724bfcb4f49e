//! The command line (clap): commands, flags and their help.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// eprun: infrastructure as Rhai scripts — plan, apply and run AWS and Kubernetes.
#[derive(Debug, Parser)]
#[command(
    name = "eprun",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// A script to run: a stack is planned, shown, confirmed and applied; anything else is evaluated.
    pub file: Option<PathBuf>,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Use this environment instead of the one the script names (e.g. `local/us-east-1`).
    #[arg(long, global = true, value_name = "NAME")]
    pub env: Option<String>,
    /// Machine-readable output on stdout; human text goes to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// The most AWS operations in flight at once.
    #[arg(long, global = true, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// plan: exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long, global = true)]
    pub detailed_exitcode: bool,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No colours (also `NO_COLOR`).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// plan/apply: a policy script to judge the plan with, besides the project's `policy/*.rhai`
    /// (repeatable).
    #[arg(long = "policy", global = true, value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// plan/apply: take over Kubernetes fields that another field manager owns (server-side
    /// apply's force), instead of refusing the change.
    #[arg(long, global = true)]
    pub force_conflicts: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would do; changes nothing.
    Plan {
        /// The stack script.
        file: PathBuf,
        /// Rebuild a lost state from the ownership tags and show what was found.
        #[arg(long)]
        discover: bool,
        /// Plan against the project's local state (`.eprun/state/`) instead of the backend the
        /// environment names (the team's S3 state): on a fresh machine that state is empty, so
        /// the plan needs no credentials and makes no AWS call. Writes nothing.
        #[arg(long, conflicts_with = "discover")]
        local_state: bool,
        /// Save the plan to this file; `eprun apply PLAN` then applies exactly it.
        #[arg(long, value_name = "PLAN")]
        out: Option<PathBuf>,
        /// How to print the plan (`--json` prints the JSON document).
        #[arg(long, value_enum, default_value_t = Format::Text, conflicts_with = "json")]
        format: Format,
    },
    /// Plan, confirm and apply a stack; or apply exactly a plan saved by `plan --out`, without
    /// asking (refused when it is stale).
    Apply {
        /// The stack script, or a saved plan (recognised by its content).
        file: PathBuf,
        /// Apply without asking for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Print a plan saved by `plan --out`.
    Show {
        /// The saved plan.
        plan: PathBuf,
        /// How to print it (`--json` prints the saved file's document).
        #[arg(long, value_enum, default_value_t = Format::Text, conflicts_with = "json")]
        format: Format,
    },
    /// Delete everything the stack owns (protected resources refuse).
    Destroy {
        /// The stack script.
        file: PathBuf,
        /// Destroy without asking for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// An interactive session with the eprun API.
    Repl,
    /// Evaluate one expression and print its result as JSON; one that mutates leaves a journal.
    Eval {
        /// The expression, e.g. `cidr_subnet("10.10.0.0/16", 4, 2)`.
        expr: String,
        /// Make every read, show every mutating call and skip it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compile every script and resolve its imports, without network.
    Check {
        /// Scripts or folders (default: `scripts/`, `stdlib/` and `policy/` of the project).
        paths: Vec<PathBuf>,
    },
    /// Record one existing resource (made by hand or by another tool) as a declared address,
    /// without changing it; the next plan shows what differs.
    Import {
        /// The stack script.
        file: PathBuf,
        /// The declared address, e.g. `ec2.vpc.examplepay-prod`.
        address: String,
        /// The cloud's id of the resource, e.g. `vpc-0abc…` (a name for IAM roles, buckets, clusters).
        id: String,
    },
    /// Adopt what another tool built: match its resources to the declarations and record them.
    Migrate {
        /// Where the resources come from.
        #[command(subcommand)]
        from: MigrateFrom,
    },
    /// Read or repair a stack's state.
    State {
        /// What to do.
        #[command(subcommand)]
        action: StateAction,
    },
    /// The stack's outputs (JSON with `--json`).
    Outputs {
        /// The stack script.
        file: PathBuf,
    },
    /// The stack's Kubernetes objects as a YAML stream (for GitOps and review).
    Render {
        /// The stack script.
        file: PathBuf,
        /// Fill in known values from the project's local state instead of the backend the
        /// environment names (the team's S3 state): no credentials needed.
        #[arg(long)]
        local_state: bool,
    },
    /// Run a runbook: its steps in order, with a journal.
    Run {
        /// The runbook script.
        file: PathBuf,
        /// Make every read, show every mutating call and skip it.
        #[arg(long)]
        dry_run: bool,
        /// Continue the run with this id: skip the steps its journal shows done.
        #[arg(long, value_name = "RUN_ID")]
        resume: Option<String>,
        /// A parameter of the runbook, `name=value` (repeatable).
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        /// Answer yes to every `confirm` (needed without a TTY).
        #[arg(long)]
        yes: bool,
        /// Go on past the DR safety rules that readiness fails, for this reason (journaled).
        #[arg(long, value_name = "REASON")]
        force: Option<String>,
    },
    /// Runbook journals.
    Runs {
        /// What to show.
        #[command(subcommand)]
        action: RunsAction,
    },
    /// The reference of every registered function, from its doc comment.
    Docs {
        /// Write Rhai definition files (`*.d.rhai`, for editors) into DIR instead.
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
    },
    /// Shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `eprun migrate …`.
#[derive(Debug, Subcommand)]
pub enum MigrateFrom {
    /// A Terraform state (format version 4): every `aws_*` instance is matched to a declaration by
    /// its identity and recorded; nothing is created, changed or deleted.
    Terraform {
        /// The stack script.
        file: PathBuf,
        /// The state: a file (`terraform state pull > tf.json`) or `s3://bucket/key` of the S3 backend.
        state: String,
    },
}

/// How a plan is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For a terminal, like `terraform plan`.
    Text,
    /// A summary for a GitHub pull-request comment: a headline with the counts, a table, and a
    /// collapsible section per changed resource.
    Markdown,
}

/// `eprun runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Every run, newest first.
    List,
    /// One run's journal.
    Show {
        /// The run's id.
        id: String,
    },
}

/// `eprun state …`.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Every resource in the state.
    List,
    /// One resource's record.
    Show {
        /// Its address.
        address: String,
    },
    /// Forget a resource (it is not deleted).
    Rm {
        /// Its address.
        address: String,
    },
    /// Re-address a resource without touching it (after renaming its declaration or moving it
    /// into a module); the next apply updates its ownership tag to the new address.
    Mv {
        /// The address it is recorded at.
        from: String,
        /// The address it is declared at now.
        to: String,
    },
    /// Release a lock whose holder is gone.
    Unlock {
        /// The lock's id, as the lock message shows it.
        lock_id: String,
    },
    /// Print the raw state document.
    Pull,
}
