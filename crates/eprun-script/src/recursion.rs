//! Runaway recursion, named: which script function calls itself without end, and where.
//!
//! Rhai reports a stack overflow at the outermost call only. The script's own AST says the rest:
//! from the function that call names, the call graph leads to the call that closes a cycle.

use rhai::{AST, ASTNode, EvalAltResult, Expr, Position, Stmt};
use std::collections::{BTreeMap, BTreeSet};

/// A position as a comparable (line, column) pair.
fn at(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

/// Every call in `ast` to one of its own functions: (caller, callee, where); the caller is `None`
/// for a call at the top level.
fn calls(ast: &AST) -> Vec<(Option<String>, String, Position)> {
    let bodies: Vec<(String, (usize, usize), (usize, usize))> = ast
        .iter_fn_def()
        .map(|f| {
            (
                f.name.to_string(),
                at(f.body.start_position()),
                at(f.body.end_position()),
            )
        })
        .collect();
    let names: BTreeSet<&str> = bodies.iter().map(|(n, ..)| n.as_str()).collect();
    let mut out = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, pos)),
            _ => None,
        };
        if let Some((call, pos)) = call {
            if !call.is_qualified() && names.contains(call.name.as_str()) {
                let caller = bodies
                    .iter()
                    .find(|(_, start, end)| (*start..=*end).contains(&at(*pos)))
                    .map(|(n, ..)| n.clone());
                out.push((caller, call.name.to_string(), *pos));
            }
        }
        true
    });
    out
}

/// The function and the call, reached from the top-level call at `top`, that close a cycle.
fn runaway(ast: &AST, top: Position) -> Option<(String, Position)> {
    let mut graph: BTreeMap<String, Vec<(String, Position)>> = BTreeMap::new();
    let mut start = None;
    for (caller, callee, pos) in calls(ast) {
        match caller {
            Some(c) => graph.entry(c).or_default().push((callee, pos)),
            None if pos.line() == top.line() => start = start.or(Some(callee)),
            None => {}
        }
    }
    let mut path = vec![start?];
    let mut seen = BTreeSet::new();
    close_cycle(&graph, &mut path, &mut seen)
}

/// Depth-first from the last function of `path`, to the first call back into `path`.
fn close_cycle(
    graph: &BTreeMap<String, Vec<(String, Position)>>,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<(String, Position)> {
    let current = path.last()?.clone();
    if !seen.insert(current.clone()) {
        return None;
    }
    for (callee, pos) in graph.get(&current).into_iter().flatten() {
        if path.contains(callee) {
            return Some((current.clone(), *pos));
        }
        path.push(callee.clone());
        if let Some(found) = close_cycle(graph, path, seen) {
            return Some(found);
        }
        path.pop();
    }
    None
}

/// A stack overflow from `ast`, reported inside the function that recurses, at its recursive call;
/// any other error unchanged.
pub fn trace(err: Box<EvalAltResult>, ast: &AST) -> Box<EvalAltResult> {
    let EvalAltResult::ErrorStackOverflow(at) = *err else {
        return err;
    };
    match runaway(ast, at) {
        Some((name, call)) => Box::new(EvalAltResult::ErrorInFunctionCall(
            name,
            ast.source().unwrap_or_default().to_string(),
            Box::new(EvalAltResult::ErrorStackOverflow(call)),
            at,
        )),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` into a stack overflow and returns where the trace points: the function, the
    /// error inside it and the position of the call into it.
    fn overflow(script: &str) -> (String, Box<EvalAltResult>, Position) {
        let mut engine = rhai::Engine::new();
        engine.set_max_call_levels(16);
        let ast = engine.compile(script).expect("the script compiles");
        let err = engine.run_ast(&ast).expect_err("the script overflows");
        let err = trace(err, &ast);
        let EvalAltResult::ErrorInFunctionCall(name, _, inner, at) = *err else {
            panic!("not traced: {err:?}");
        };
        (name, inner, at)
    }

    #[test]
    fn a_function_that_calls_itself_is_named_at_its_recursive_call() {
        let (name, inner, at) =
            overflow("fn down(n) {\n    down(n + 1)\n}\n\nlet x = 1;\ndown(0);\n");
        assert_eq!(name, "down");
        assert_eq!((at.line(), at.position()), (Some(6), Some(1)));
        assert_eq!(inner.position().line(), Some(2), "the recursive call");
    }

    #[test]
    fn mutual_recursion_names_the_function_that_closes_the_cycle() {
        let (name, inner, _) =
            overflow("fn ping(n) { pong(n) }\nfn pong(n) {\n  ping(n)\n}\nping(1);\n");
        assert_eq!(name, "pong");
        assert_eq!(inner.position().line(), Some(3));
    }
}
