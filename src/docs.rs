//! `eprun docs`: the reference of every registered function, from its doc comment.

use crate::cli::Global;
use crate::engine;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::session::Session;
use serde_json::Value;

/// One documented function.
#[derive(Debug, Clone)]
pub struct FnDoc {
    /// Qualified name, e.g. `aws::ec2::vpc`.
    pub name: String,
    /// The signature as Rhai shows it.
    pub signature: String,
    /// The doc comment, without the `///` markers.
    pub doc: String,
}

/// The overloads of one function that share their documentation, shown once.
#[derive(Debug, Clone, PartialEq)]
pub struct FnGroup<'a> {
    /// Qualified name.
    pub name: &'a str,
    /// Each overload's signature.
    pub signatures: Vec<&'a str>,
    /// The documentation they share.
    pub doc: &'a str,
}

/// Groups functions (sorted as [`collect`] sorts them) by name and documentation, so that an
/// overloaded function is listed once with all its signatures.
pub fn group(docs: &[FnDoc]) -> Vec<FnGroup<'_>> {
    let mut out: Vec<FnGroup<'_>> = Vec::new();
    for d in docs {
        match out.last_mut() {
            Some(g) if g.name == d.name && g.doc == d.doc => g.signatures.push(&d.signature),
            _ => out.push(FnGroup {
                name: &d.name,
                signatures: vec![&d.signature],
                doc: &d.doc,
            }),
        }
    }
    out
}

/// Every eprun function with a doc comment (the standard library's own are left out).
pub fn collect(engine: &rhai::Engine) -> Result<Vec<FnDoc>> {
    let json = engine
        .gen_fn_metadata_to_json(false)
        .map_err(|e| Error::Script(format!("cannot read function metadata: {e}")))?;
    let meta: Value = serde_json::from_str(&json)
        .map_err(|e| Error::Script(format!("cannot read function metadata: {e}")))?;
    let mut out = Vec::new();
    walk(&meta, "", &mut out);
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.signature.cmp(&b.signature)));
    Ok(out)
}

fn walk(node: &Value, prefix: &str, out: &mut Vec<FnDoc>) {
    if let Some(fns) = node.get("functions").and_then(Value::as_array) {
        for f in fns {
            let comments: Vec<&str> = f
                .get("docComments")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if comments.is_empty() {
                continue;
            }
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            let signature = f.get("signature").and_then(Value::as_str).unwrap_or(name);
            let doc = comments
                .iter()
                .flat_map(|c| c.lines())
                .map(|l| {
                    l.trim_start()
                        .trim_start_matches("///")
                        .strip_prefix(' ')
                        .unwrap_or(l.trim_start().trim_start_matches("///"))
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.push(FnDoc {
                name: format!("{prefix}{name}"),
                signature: format!("{prefix}{signature}"),
                doc,
            });
        }
    }
    if let Some(mods) = node.get("modules").and_then(Value::as_object) {
        for (name, m) in mods {
            walk(m, &format!("{prefix}{name}::"), out);
        }
    }
}

/// An engine with every function a script may call, for reading metadata (outside any project
/// if need be): the stack and runbook API, and the policy scripts' `deny` and `warn`.
pub fn engine_for_docs() -> rhai::Engine {
    let project = Project::find(std::path::Path::new(".")).unwrap_or_else(|_| Project::at("."));
    let session = Session::new(project, None, tokio::runtime::Handle::current());
    let mut engine = engine::build(&session);
    crate::policy::register(&mut engine, &crate::policy::Verdicts::default());
    engine
}

/// Writes Rhai definition files (`*.d.rhai`: every module's functions with their doc comments)
/// into `dir`, for editors and language servers.
pub fn write_definitions(dir: &std::path::Path) -> Result<u8> {
    engine_for_docs()
        .definitions()
        .write_to_dir(dir)
        .map_err(|source| Error::Io {
            action: "write definitions into",
            path: dir.display().to_string(),
            source,
        })?;
    eprintln!("definitions written to {}", dir.display());
    Ok(0)
}

/// Prints the reference (Markdown, or JSON with `--json`).
pub fn print(g: &Global) -> Result<u8> {
    let docs = collect(&engine_for_docs())?;
    if g.json {
        let list: Vec<Value> = group(&docs)
            .iter()
            .map(|d| serde_json::json!({"name": d.name, "signatures": d.signatures, "doc": d.doc}))
            .collect();
        crate::style::print_json(&Value::Array(list));
        return Ok(0);
    }
    println!("# eprun script API\n");
    for d in group(&docs) {
        let signatures: Vec<String> = d.signatures.iter().map(|s| format!("`{s}`")).collect();
        println!("## {}\n\n{}\n", signatures.join(", "), d.doc);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, signature: &str, doc: &str) -> FnDoc {
        FnDoc {
            name: name.into(),
            signature: signature.into(),
            doc: doc.into(),
        }
    }

    #[test]
    fn overloads_with_one_doc_are_listed_once() {
        let docs = [
            doc("describe_vpcs", "describe_vpcs() -> Array", "The VPCs."),
            doc(
                "describe_vpcs",
                "describe_vpcs(filters: Map) -> Array",
                "The VPCs.",
            ),
            doc("drain", "drain(node: &str)", "Drains."),
            doc(
                "drain",
                "drain(node: &str, options: Map)",
                "Drains, with options.",
            ),
        ];
        let groups = group(&docs);
        assert_eq!(groups.len(), 3, "{groups:?}");
        assert_eq!(
            groups[0].signatures,
            [
                "describe_vpcs() -> Array",
                "describe_vpcs(filters: Map) -> Array"
            ]
        );
        assert_eq!(groups[0].doc, "The VPCs.");
        assert_eq!(groups[2].signatures, ["drain(node: &str, options: Map)"]);
    }
}
