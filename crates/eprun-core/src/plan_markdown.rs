//! The plan as a GitHub pull-request comment: a headline with the counts, the policy verdicts, a
//! table of the changes, and one collapsible `<details>` per changed resource with its fields.

use crate::plan::{Action, Change, FieldChange, Inside, Plan};
use crate::verdict::{Severity, Verdict};
use serde_json::Value;

/// GitHub refuses comments over 65,536 characters; the per-resource details stop before that.
const COMMENT_LIMIT: usize = 60_000;

/// Where a plan came from, for the comment's headline.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The stack script, relative to the project root.
    pub script: &'a str,
    /// The environment it was planned in.
    pub environment: &'a str,
}

fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace => "-/+",
        Action::Delete => "-",
        Action::Noop => " ",
    }
}

/// A value as it shows inside a code block.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s == "(known after apply)" => s.clone(),
        other => other.to_string(),
    }
}

/// Text for a Markdown table cell or list item: on one line, pipes escaped (GitHub reads `\|`
/// even in code).
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

/// Text inside HTML (a `<summary>`): the characters HTML gives meaning escaped.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The diff lines of `fields` changed by `action`, indented by `indent`.
fn field_lines(action: Action, fields: &[FieldChange], indent: &str, out: &mut String) {
    for f in fields {
        let forced = if f.forces_replacement {
            "  # forces replacement"
        } else {
            ""
        };
        match (action, &f.before, &f.after) {
            (Action::Create, _, Some(after)) => {
                out.push_str(&format!("+ {indent}{} = {}\n", f.name, show(after)));
            }
            (_, before, Some(after)) => {
                if let Some(before) = before {
                    out.push_str(&format!("- {indent}{} = {}\n", f.name, show(before)));
                }
                out.push_str(&format!("+ {indent}{} = {}{forced}\n", f.name, show(after)));
            }
            (_, Some(before), None) => {
                out.push_str(&format!(
                    "- {indent}{} = {}  # removed\n",
                    f.name,
                    show(before)
                ));
            }
            _ => {}
        }
    }
}

/// The body of one resource's `<details>`: a `diff` code block.
fn details_body(c: &Change) -> String {
    let mut lines = String::new();
    if let Some(from) = &c.moved_from {
        lines.push_str(&format!("# moved from {from}\n"));
    }
    if let Some(r) = &c.reason {
        lines.push_str(&format!("# {r}\n"));
    }
    if c.action == Action::Delete {
        lines.push_str(&format!("- {}\n", c.address));
    }
    field_lines(c.action, &c.fields, "", &mut lines);
    match &c.inside {
        Some(Inside::Known { objects }) => {
            for o in objects {
                lines.push_str(&format!("  inside: {} {}\n", symbol(o.action), o.object));
                field_lines(o.action, &o.fields, "    ", &mut lines);
            }
        }
        Some(Inside::Unknown { why }) => lines.push_str(&format!("  inside: ({why})\n")),
        None => {}
    }
    // A fence longer than any run of backticks in the values, so none can close it early.
    let longest = lines.split(|ch| ch != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}diff\n{lines}{fence}\n")
}

/// The headline's counts, e.g. `3 to create, 1 to update, 0 to replace, 0 to delete`.
fn counts(plan: &Plan) -> String {
    let s = plan.summary;
    format!(
        "{} to create, {} to update, {} to replace, {} to delete{}",
        s.create,
        s.update,
        s.replace,
        s.delete,
        crate::plan_view::moved_clause(s.moved)
    )
}

/// Renders a plan and its verdicts as Markdown for a pull-request comment.
pub fn render(plan: &Plan, verdicts: &[Verdict], origin: Origin<'_>) -> String {
    let mut out = format!(
        "### eprun plan: `{}`\n\n`{}` in environment `{}`",
        cell(&plan.stack),
        cell(origin.script),
        cell(origin.environment)
    );
    if !plan.refreshed {
        out.push_str(" (empty state: nothing was refreshed)");
    }
    out.push_str("\n\n");
    let changes: Vec<&Change> = plan.changes.iter().filter(|c| c.is_change()).collect();
    if changes.is_empty() {
        out.push_str("**No changes.** The stack matches its script.\n");
    } else {
        out.push_str(&format!("**Plan: {}.**\n", counts(plan)));
    }
    if !verdicts.is_empty() {
        out.push_str("\n**Policy**\n\n");
        for v in verdicts {
            let label = match v.severity {
                Severity::Deny => "⛔ **deny**",
                Severity::Warn => "⚠️ **warn**",
            };
            out.push_str(&format!(
                "- {label}: {} (`{}`)\n",
                cell(&v.message),
                cell(&v.origin.to_string())
            ));
        }
    }
    if changes.is_empty() {
        return out;
    }
    out.push_str("\n| | resource | action |\n|---|---|---|\n");
    for c in &changes {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            symbol(c.action),
            cell(&c.address.to_string()),
            c.action
        ));
    }
    out.push('\n');
    for (i, c) in changes.iter().enumerate() {
        let details = format!(
            "<details><summary><code>{} {}</code> ({})</summary>\n\n{}\n</details>\n",
            symbol(c.action),
            html(&c.address.to_string()),
            c.action,
            details_body(c)
        );
        if out.len() + details.len() > COMMENT_LIMIT {
            out.push_str(&format!(
                "\n_{} more resources are left out to fit a comment: `eprun show PLAN` prints them all._\n",
                changes.len() - i
            ));
            break;
        }
        out.push_str(&details);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::Origin as Place;
    use crate::testing::{change, plan};
    use serde_json::json;

    fn field(name: &str, before: Option<Value>, after: Value) -> FieldChange {
        FieldChange {
            name: name.into(),
            before,
            after: Some(after),
            forces_replacement: false,
            conflict: None,
        }
    }

    const ORIGIN: Origin<'static> = Origin {
        script: "scripts/prod/us-east-1.rhai",
        environment: "local/us-east-1",
    };

    #[test]
    fn headline_table_and_one_details_per_change() {
        let p = plan(vec![
            change(
                "ec2.vpc.main",
                Action::Create,
                vec![field("cidr_block", None, json!("10.0.0.0/16"))],
            ),
            change(
                "ec2.subnet.a",
                Action::Update,
                vec![field("tags", Some(json!({"a": "1"})), json!({"a": "2"}))],
            ),
            change("ec2.subnet.same", Action::Noop, vec![]),
        ]);
        let verdicts = [Verdict {
            severity: Severity::Warn,
            message: "big | change".into(),
            origin: Place {
                source: "policy/size.rhai".into(),
                line: 4,
                column: 5,
            },
        }];
        let md = render(&p, &verdicts, ORIGIN);
        assert!(
            md.starts_with("### eprun plan: `local/us-east-1`\n"),
            "{md}"
        );
        assert!(
            md.contains("**Plan: 1 to create, 1 to update, 0 to replace, 0 to delete.**"),
            "{md}"
        );
        assert!(
            md.contains("- ⚠️ **warn**: big \\| change (`policy/size.rhai:4:5`)"),
            "{md}"
        );
        assert!(md.contains("| `+` | `ec2.vpc.main` | create |"), "{md}");
        assert_eq!(md.matches("<details>").count(), 2, "{md}");
        assert!(md.contains("+ cidr_block = \"10.0.0.0/16\""), "{md}");
        assert!(
            md.contains("- tags = {\"a\":\"1\"}\n+ tags = {\"a\":\"2\"}\n"),
            "{md}"
        );
        assert!(!md.contains("ec2.subnet.same"), "{md}");
    }

    #[test]
    fn no_changes_says_so() {
        let md = render(&plan(vec![]), &[], ORIGIN);
        assert!(md.contains("**No changes.**"), "{md}");
        assert!(!md.contains("<details>"), "{md}");
    }

    #[test]
    fn backticks_in_values_cannot_close_the_fence() {
        let p = plan(vec![change(
            "ec2.vpc.main",
            Action::Create,
            vec![field("name", None, json!("a ```` b"))],
        )]);
        let md = render(&p, &[], ORIGIN);
        assert!(md.contains("`````diff\n"), "{md}");
    }

    #[test]
    fn a_huge_plan_stays_under_the_comment_limit() {
        let big = "x".repeat(2_000);
        let changes = (0..100)
            .map(|i| {
                change(
                    &format!("ec2.vpc.v{i}"),
                    Action::Create,
                    vec![field("description", None, json!(big))],
                )
            })
            .collect();
        let md = render(&plan(changes), &[], ORIGIN);
        assert!(md.len() <= COMMENT_LIMIT, "{}", md.len());
        assert!(md.contains("more resources are left out"), "{md}");
    }
}
