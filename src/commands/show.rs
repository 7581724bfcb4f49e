//! `eprun show PLAN`, and how plans are printed: text for a terminal, the JSON document, or
//! Markdown for a pull-request comment.

use super::exit;
use crate::cli::{Format, Global};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::plan_markdown::{self, Origin};
use crate::saved_plan::SavedPlan;
use crate::style::print_json;
use crate::verdict::{self, Verdict};
use std::path::Path;

/// Prints a plan and its policy verdicts on stdout, as `format` (or JSON with `--json`).
pub(super) fn present(
    plan: &Plan,
    verdicts: &[Verdict],
    g: &Global,
    format: Format,
    origin: Origin<'_>,
) {
    if g.json {
        let mut doc = plan.to_json();
        if let Some(fields) = doc.as_object_mut() {
            let verdicts = serde_json::to_value(verdicts).unwrap_or_default();
            fields.insert("verdicts".into(), verdicts);
        }
        print_json(&doc);
        return;
    }
    match format {
        Format::Markdown => print!("{}", plan_markdown::render(plan, verdicts, origin)),
        Format::Text => print!(
            "{}{}",
            crate::plan_view::render(plan),
            verdict::render(verdicts)
        ),
    }
}

/// Prints the plan an apply is about to carry out: on stdout, or on stderr when stdout is for
/// `--json`'s result.
pub(super) fn announce(plan: &Plan, verdicts: &[Verdict], g: &Global) {
    let text = format!(
        "{}{}",
        crate::plan_view::render(plan),
        verdict::render(verdicts)
    );
    if g.json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

/// `eprun show PLAN`.
pub fn show(path: &Path, g: &Global, format: Format) -> Result<u8> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: shown.clone(),
        source,
    })?;
    let Some(saved) = SavedPlan::parse(&shown, &text)? else {
        return Err(Error::usage(format!(
            "`{shown}` is not a saved plan\nhint: `eprun plan FILE --out PLAN` saves one"
        )));
    };
    if g.json {
        print_json(&serde_json::to_value(&saved).unwrap_or_default());
        return Ok(exit::OK);
    }
    if format == Format::Text {
        println!(
            "Saved plan `{shown}`: `{}` in environment `{}`, against {}, made {} by eprun {}.\n",
            saved.script, saved.environment, saved.state, saved.created_at, saved.eprun_version
        );
    }
    let origin = Origin {
        script: &saved.script,
        environment: &saved.environment,
    };
    present(&saved.plan, &saved.verdicts, g, format, origin);
    Ok(exit::OK)
}
