//! `moved(from, to)`: re-addresses a recorded resource after a rename or a move into a module.

use super::fail;
use super::stack::origin;
use crate::address::Address;
use crate::declaration::Move;
use crate::handle::Handle;
use crate::session::Session;
use rhai::{Engine, EvalAltResult, FuncRegistration, NativeCallContext};

/// The doc comment both forms of `moved` share.
const DOC: [&str; 6] = [
    "/// Re-addresses a resource the state records at `from` to the address `to` declared now",
    "/// (after a rename, or a move into a module), without touching it: the plan shows",
    "/// `moved from <from>`, never a delete and a create. `to` is an address string or the",
    "/// handle of the new declaration. Keep it in the script after the apply, like history:",
    "/// a `moved` whose `from` is no longer recorded does nothing. Refused: `to` not declared,",
    "/// `from` still declared, both recorded, other types.",
];

pub(super) fn register(engine: &mut Engine, session: &Session) {
    let s = session.clone();
    FuncRegistration::new("moved")
        .with_comments(DOC)
        .with_params_info(["from: &str", "to: &str", "()"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext, from: &str, to: &str| -> Result<(), Box<EvalAltResult>> {
                let to = to
                    .parse()
                    .map_err(|e| fail(format!("`moved`: {e}"), ctx.call_position()))?;
                record(&ctx, &s, from, to)
            },
        );
    let s = session.clone();
    FuncRegistration::new("moved")
        .with_comments(DOC)
        .with_params_info(["from: &str", "to: Handle", "()"])
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext,
                  from: &str,
                  to: Handle|
                  -> Result<(), Box<EvalAltResult>> {
                record(&ctx, &s, from, to.address)
            },
        );
}

/// Adds the move to the stack's declarations; what needs every declaration (is `to` declared?)
/// is checked when the stack is planned.
fn record(
    ctx: &NativeCallContext,
    session: &Session,
    from: &str,
    to: Address,
) -> Result<(), Box<EvalAltResult>> {
    let pos = ctx.call_position();
    let from: Address = from
        .parse()
        .map_err(|e| fail(format!("`moved`: {e}"), pos))?;
    let mut decls = session.declarations();
    if decls.environment.is_none() {
        return Err(fail("call `stack(\"<environment>\")` before `moved`", pos));
    }
    let m = Move {
        from,
        to,
        origin: origin(ctx),
    };
    crate::moved::add(&mut decls, m).map_err(|e| fail(e.to_string(), pos))
}
