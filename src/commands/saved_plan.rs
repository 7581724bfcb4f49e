//! `eprun apply PLAN`: applies exactly a plan saved by `plan --out`, without asking (it was
//! reviewed), and refuses it when it is stale: the state was written since, an input changed,
//! or a fresh refresh and plan give other changes.

use super::show;
use super::stack::{self, Mode};
use crate::cli::Global;
use crate::error::Result;
use crate::policy;
use crate::project::Project;
use crate::saved_plan::{Inputs, SavedPlan};
use std::path::Path;
use std::time::Instant;

/// `eprun apply PLAN` with the plan read from `path`.
pub async fn apply(path: &Path, saved: SavedPlan, g: &Global) -> Result<u8> {
    let started = Instant::now();
    let shown = path.display().to_string();
    saved.check_environment(&shown, g.env.as_deref())?;
    // The project that holds the plan file (else the current directory's) holds the script.
    let project = Project::of_script(path)?;
    let script = project.root().join(&saved.script);
    let g = Global {
        env: Some(saved.environment.clone()),
        ..g.clone()
    };
    let (evaluated, mut l) = stack::load(&script, &g, Mode::Apply, false).await?;
    let stale = |why| saved.stale(&shown, why);
    saved
        .check_inputs(&Inputs::of(evaluated.session.sources.all()))
        .map_err(stale)?;
    saved.check_state(&l.state).map_err(stale)?;
    let (planned, cx) = stack::make_plan(&l, Mode::Apply, true, started).await?;
    saved.check_changes(&planned.plan).map_err(stale)?;
    let verdicts = l.judge(&planned.plan)?;
    show::announce(&planned.plan, &verdicts, &g);
    policy::refuse_denied(&verdicts)?;
    eprintln!("Applying the saved plan `{shown}` as it was reviewed (no confirmation asked).");
    stack::execute(cx, &mut l, planned, &g, Mode::Apply, started).await
}
