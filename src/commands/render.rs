//! `eprun render FILE`: the stack's Kubernetes objects as a YAML stream.

use crate::cli::Global;
use crate::commands::exit;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::script;
use crate::session::Session;
use crate::token;
use crate::token::display;
use serde_json::Value;
use std::path::Path;

/// Prints every declared `k8s.*` object, with tokens the state already knows filled in: the
/// environment's state, or the project's local one with `local_state`.
pub async fn render(file: &Path, g: &Global, local_state: bool) -> Result<u8> {
    let mut session = Session::new(
        Project::of_script(file)?,
        g.env.clone(),
        tokio::runtime::Handle::current(),
    );
    session.local_state = local_state;
    let evaluated = script::evaluate_in(session, file).await?;
    let decls = &evaluated.declarations;
    let Some(env) = decls.environment.clone() else {
        return Err(Error::usage(format!(
            "`{}` declares no stack",
            file.display()
        )));
    };
    let has_tokens = decls
        .resources
        .iter()
        .any(|d| !token::refs(&Value::Object(d.props.clone())).is_empty());
    let state = if has_tokens {
        let store = evaluated.session.store(&env);
        store.load().await.map_err(|e| {
            Error::usage(format!(
                "{e}\nhint: `eprun render {} --local-state` fills in values from the local state instead",
                file.display()
            ))
        })?
    } else {
        None
    };
    let lookup = |r: &token::TokenRef| {
        state
            .as_ref()?
            .resources
            .get(&r.address)?
            .attrs
            .get(&r.attribute)
            .cloned()
    };
    let mut out = String::new();
    for d in decls
        .resources
        .iter()
        .filter(|d| d.address.kind().starts_with("k8s."))
    {
        let resolved = display(&token::resolve(&Value::Object(d.props.clone()), &lookup));
        let yaml = serde_saphyr::to_string(&resolved)
            .map_err(|e| Error::usage(format!("cannot render `{}`: {e}", d.address)))?;
        out.push_str(&format!("---\n# {}\n{yaml}", d.address));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(exit::OK)
}
