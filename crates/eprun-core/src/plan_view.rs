//! The plan as people read it, in the manner of `terraform plan`.

use crate::plan::{Action, Change, FieldChange, Inside, Plan};
use crate::style::{bold, dim, green, red, yellow};
use serde_json::Value;

fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s == "(known after apply)" => dim(s),
        other => other.to_string(),
    }
}

fn symbol(action: Action) -> String {
    match action {
        Action::Create => green("+"),
        Action::Update => yellow("~"),
        Action::Replace => red("-/+"),
        Action::Delete => red("-"),
        Action::Noop => " ".into(),
    }
}

fn change_text(c: &Change) -> String {
    let mut out = String::new();
    let mut head = format!("  {} {}", symbol(c.action), bold(&c.address.to_string()));
    if let Some(from) = &c.moved_from {
        head.push_str(&format!("  {}", yellow(&format!("(moved from {from})"))));
    }
    if c.action == Action::Replace {
        let forced: Vec<String> = c
            .fields
            .iter()
            .filter(|f| f.forces_replacement)
            .map(|f| format!("`{}`", f.name))
            .collect();
        head.push_str(&format!(
            "  (replace: {} cannot change in place)",
            forced.join(", ")
        ));
    }
    if let Some(r) = &c.reason {
        head.push_str(&format!("  {}", dim(&format!("# {r}"))));
    }
    out.push_str(&head);
    out.push('\n');
    out.push_str(&field_lines(c.action, &c.fields, "      "));
    match &c.inside {
        Some(Inside::Known { objects }) if !objects.is_empty() => {
            out.push_str(&format!("      {}\n", dim("inside:")));
            for o in objects {
                out.push_str(&format!("        {} {}\n", symbol(o.action), o.object));
                out.push_str(&field_lines(o.action, &o.fields, "            "));
            }
        }
        Some(Inside::Known { .. }) => {
            out.push_str(&format!("      {}\n", dim("inside: (no object changes)")));
        }
        Some(Inside::Unknown { why }) => {
            out.push_str(&format!("      inside: {}\n", yellow(&format!("({why})"))));
        }
        None => {}
    }
    out
}

/// The lines of `fields` changed by `action`, each indented by `indent`.
fn field_lines(action: Action, fields: &[FieldChange], indent: &str) -> String {
    let mut out = String::new();
    let width = fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in fields {
        let line = match (action, &f.before, &f.after) {
            (Action::Create, _, Some(after)) => {
                format!("{indent}{:width$} = {}", f.name, show(after))
            }
            (_, before, Some(after)) => format!(
                "{indent}{:width$}: {} → {}{}{}",
                f.name,
                before.as_ref().map(show).unwrap_or_else(|| dim("(unset)")),
                show(after),
                if f.forces_replacement {
                    red("  # forces replacement")
                } else {
                    String::new()
                },
                match &f.conflict {
                    Some(owners) => red(&format!(
                        "  # conflict: also owned by {owners} (apply needs --force-conflicts)"
                    )),
                    None => String::new(),
                }
            ),
            (Action::Update, Some(before), None) => format!(
                "{indent}{:width$}: {} → {}",
                f.name,
                show(before),
                dim("(removed)")
            ),
            _ => continue,
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `, N moved` for a summary line, or nothing when nothing moves.
pub fn moved_clause(moved: usize) -> String {
    match moved {
        0 => String::new(),
        n => format!(", {n} moved"),
    }
}

/// Renders a whole plan.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.refreshed {
        out.push_str(&dim("note: the state is empty, so nothing was refreshed and no AWS call was made; every declared resource is new.\n"));
        out.push('\n');
    }
    for c in plan
        .changes
        .iter()
        .filter(|c| !c.is_change() && c.reason.is_some())
    {
        out.push_str(&format!(
            "  = {}  {}\n",
            bold(&c.address.to_string()),
            dim(&format!("# {}", c.reason.as_deref().unwrap_or_default()))
        ));
    }
    if !plan.has_changes() {
        out.push_str(&format!(
            "No changes. Stack `{}` matches its script.\n",
            plan.stack
        ));
        return out;
    }
    out.push_str(&format!(
        "Stack `{}`: eprun will perform these actions:\n\n",
        plan.stack
    ));
    for c in plan.changes.iter().filter(|c| c.is_change()) {
        out.push_str(&change_text(c));
        out.push('\n');
    }
    let s = plan.summary;
    out.push_str(&format!(
        "{} {} to create, {} to update, {} to replace, {} to delete{}.\n",
        bold("Plan:"),
        s.create,
        s.update,
        s.replace,
        s.delete,
        moved_clause(s.moved)
    ));
    if !plan.outputs.is_empty() {
        out.push_str("\nOutputs:\n");
        for (k, v) in &plan.outputs {
            out.push_str(&format!("  {k} = {}\n", show(v)));
        }
    }
    out
}
