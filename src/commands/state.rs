//! `eprun state list|show|rm|mv|unlock|pull`.

use super::exit;
use crate::cli::{Global, StateAction};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::style::print_json;
use crate::{state_store, stores};

/// Runs a state subcommand on the stack named by `--env`.
pub async fn run(action: StateAction, g: &Global) -> Result<u8> {
    let Some(name) = &g.env else {
        return Err(Error::usage(
            "name the stack with `--env`, e.g. `eprun state list --env prod/us-east-1`",
        ));
    };
    let project = Project::find(std::path::Path::new("."))?;
    let env = Environment::load(&project, name)?;
    let store = stores::open(&project, &env);
    match action {
        StateAction::Unlock { lock_id } => {
            store.unlock(&lock_id).await?;
            eprintln!("released lock `{lock_id}` on `{}`", store.location());
            return Ok(exit::OK);
        }
        StateAction::Pull => {
            let state = store.load().await?;
            print!(
                "{}",
                state.map(|s| state_store::encode(&s)).unwrap_or_default()
            );
            return Ok(exit::OK);
        }
        _ => {}
    }
    // The commands that write take the lock before reading, so no other run writes in between.
    let writes = match &action {
        StateAction::Rm { .. } => Some("state rm"),
        StateAction::Mv { .. } => Some("state mv"),
        _ => None,
    };
    let _lock = match writes {
        Some(operation) => Some(store.lock(operation).await?),
        None => None,
    };
    let mut state = match store.load().await? {
        Some(state) => state,
        // A move out of nothing is refused like any move from an unrecorded address.
        None if matches!(action, StateAction::Mv { .. }) => crate::state::State::new(name),
        None => {
            eprintln!("stack `{name}` has no state yet");
            return Ok(exit::OK);
        }
    };
    match action {
        StateAction::List => {
            if g.json {
                let list: Vec<_> = state
                    .resources
                    .iter()
                    .map(|(a, r)| serde_json::json!({"address": a, "id": r.id, "status": r.status}))
                    .collect();
                print_json(&serde_json::Value::Array(list));
            } else {
                for (a, r) in &state.resources {
                    let pending = if r.status == crate::state::Status::Pending {
                        "  (pending)"
                    } else {
                        ""
                    };
                    println!("{a}  {}{pending}", r.id);
                }
            }
        }
        StateAction::Show { address } => {
            let addr = address.parse().map_err(Error::usage)?;
            let Some(r) = state.resources.get(&addr) else {
                return Err(Error::usage(format!(
                    "`{address}` is not in the state of `{name}`"
                )));
            };
            print_json(&serde_json::to_value(r).unwrap_or_default());
        }
        StateAction::Rm { address } => {
            let addr = address.parse().map_err(Error::usage)?;
            if state.resources.remove(&addr).is_none() {
                return Err(Error::usage(format!(
                    "`{address}` is not in the state of `{name}`"
                )));
            }
            store.save(&mut state).await?;
            eprintln!(
                "forgot `{address}` (it still exists in AWS, with its tags; `plan` will find it again)"
            );
        }
        StateAction::Mv { from, to } => {
            let from = from.parse().map_err(Error::usage)?;
            let to = to.parse().map_err(Error::usage)?;
            crate::moved::rename(&mut state, &from, &to)?;
            store.save(&mut state).await?;
            eprintln!(
                "moved `{from}` to `{to}` in `{}` (serial {}); nothing in AWS was touched, and the next apply updates its ownership tag",
                store.location(),
                state.serial
            );
        }
        StateAction::Unlock { .. } | StateAction::Pull => {}
    }
    Ok(exit::OK)
}
