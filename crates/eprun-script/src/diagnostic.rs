//! Script errors for people: file:line:column, the source line with a caret, the call chain, a hint.

use crate::engine;
use crate::session::Sources;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use rhai::{EvalAltResult, ParseErrorType, Position};

/// Where a script error happened and how it got there.
#[derive(Debug, Clone)]
pub struct Located {
    /// What went wrong.
    pub message: String,
    /// The source it happened in.
    pub source: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// Calls that led there, innermost first: (description, source, line, column).
    pub chain: Vec<(String, String, usize, usize)>,
    /// A suggestion, if one exists.
    pub hint: Option<String>,
    /// Whether Ctrl-C stopped the script (Rhai's `ErrorTerminated`) rather than an error.
    pub interrupted: bool,
}

/// Unwraps Rhai's nested call and module errors into one located error.
pub fn locate(err: &EvalAltResult, top: &str, known_functions: &[String]) -> Located {
    let mut source = top.to_string();
    let mut chain = Vec::new();
    let mut e = err;
    loop {
        match e {
            EvalAltResult::ErrorInFunctionCall(name, fn_source, inner, pos) => {
                push_frame(&mut chain, format!("in `{name}`"), &source, *pos);
                if !fn_source.is_empty() {
                    source = fn_source.clone();
                }
                e = inner;
            }
            EvalAltResult::ErrorInModule(name, inner, pos) => {
                push_frame(&mut chain, format!("in module `{name}`"), &source, *pos);
                if !name.is_empty() {
                    source = name.clone();
                }
                e = inner;
            }
            _ => break,
        }
    }
    chain.reverse();
    let pos = e.position();
    let (message, hint) = match (e, chain.first()) {
        (EvalAltResult::ErrorStackOverflow(_), Some((function, ..))) => (
            format!(
                "calls nested deeper than {} levels: {} calls itself without end",
                engine::MAX_CALL_LEVELS,
                function.trim_start_matches("in ")
            ),
            Some("this is the call that recurses; does it have a case that stops?".into()),
        ),
        _ => describe(e, known_functions),
    };
    Located {
        message,
        source,
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(0),
        chain,
        hint,
        interrupted: matches!(e, EvalAltResult::ErrorTerminated(..)),
    }
}

fn push_frame(
    chain: &mut Vec<(String, String, usize, usize)>,
    what: String,
    source: &str,
    pos: Position,
) {
    if let Some(line) = pos.line() {
        chain.push((what, source.to_string(), line, pos.position().unwrap_or(1)));
    }
}

/// The message and hint for the innermost error.
fn describe(e: &EvalAltResult, known_functions: &[String]) -> (String, Option<String>) {
    match e {
        EvalAltResult::ErrorRuntime(msg, _) => {
            let text = msg.to_string();
            match text.split_once("; did you mean ") {
                Some((m, s)) => (
                    m.to_string(),
                    Some(format!("did you mean {}", s.trim_end_matches('?'))),
                ),
                None => (text, None),
            }
        }
        EvalAltResult::ErrorParsing(ParseErrorType::UnexpectedEOF, _) => (
            "syntax error: the script ends too early".into(),
            Some("a bracket, brace or string is not closed".into()),
        ),
        EvalAltResult::ErrorParsing(p, _) => (format!("syntax error: {p}"), None),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            let name = sig.split(" (").next().unwrap_or(sig).trim();
            let refs: Vec<&str> = known_functions.iter().map(String::as_str).collect();
            let hint = crate::schema::suggest(name, &refs).map(|s| format!("did you mean `{s}`?"));
            (
                format!("unknown function `{sig}`"),
                hint.or(Some("`eprun docs` lists every function".into())),
            )
        }
        EvalAltResult::ErrorVariableNotFound(name, _) => {
            (format!("unknown variable `{name}`"), None)
        }
        EvalAltResult::ErrorModuleNotFound(path, _) => {
            let mods = engine::stdlib_modules();
            let refs: Vec<&str> = mods.iter().map(String::as_str).collect();
            let hint = crate::schema::suggest(path, &refs)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("stdlib modules: {}", mods.join(", ")));
            (format!("module `{path}` not found"), Some(hint))
        }
        EvalAltResult::ErrorTooManyOperations(_) => (
            format!(
                "the script was stopped after {} operations",
                engine::MAX_OPERATIONS
            ),
            Some("is there a loop that never ends?".into()),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            format!(
                "calls nested deeper than {} levels",
                engine::MAX_CALL_LEVELS
            ),
            Some("is there a function that calls itself without end?".into()),
        ),
        EvalAltResult::ErrorTerminated(_, _) => ("interrupted by Ctrl-C".into(), None),
        other => {
            let text = other.to_string();
            let text = match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => text[..i].to_string(),
                _ => text,
            };
            (text, None)
        }
    }
}

/// The names of the functions registered in `engine` (without modules), for "did you mean".
pub fn function_names(engine: &rhai::Engine) -> Vec<String> {
    engine
        .gen_fn_signatures(false)
        .into_iter()
        .filter_map(|s| s.split('(').next().map(|n| n.trim().to_string()))
        .collect()
}

/// The source an error's line is quoted from, when its line and text are known.
fn quoted(loc: &Located, sources: &Sources) -> Option<String> {
    (loc.line > 0).then(|| sources.get(&loc.source)).flatten()
}

/// Whether [`render`] opens the error with its own `error:` line: always for a log, and for
/// any audience when it cannot quote the source line.
pub fn headed(loc: &Located, sources: &Sources, audience: Audience) -> bool {
    audience == Audience::Log || quoted(loc, sources).is_none()
}

/// Where a rendered error goes, which decides whether it opens with a `file:line:column` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A terminal or a log: one `error: file:line:column: message` line (for editors and grep)
    /// above the quoted source.
    Log,
    /// The REPL: the quoted source only, since its box already names the input and the message.
    Repl,
}

/// Renders a located error with the source line and a caret (plain text when `color` is off).
pub fn render(loc: &Located, sources: &Sources, color: bool, audience: Audience) -> String {
    let mut out = String::new();
    match quoted(loc, sources) {
        Some(text) => {
            let offset = byte_offset(&text, loc.line, loc.column);
            let len = word_len(&text[offset..]);
            let mut diag = MietteDiagnostic::new(loc.message.clone())
                .with_label(LabeledSpan::at(offset..offset + len, "here"));
            if let Some(h) = &loc.hint {
                diag = diag.with_help(h.clone());
            }
            let report = miette::Report::new(diag).with_source_code(
                NamedSource::new(loc.source.clone(), text.clone()).with_language("rust"),
            );
            let theme = if color {
                GraphicalTheme::unicode()
            } else {
                GraphicalTheme::unicode_nocolor()
            };
            if audience == Audience::Log {
                out.push_str(&format!(
                    "error: {}:{}:{}: {}\n",
                    loc.source, loc.line, loc.column, loc.message
                ));
            }
            let _ = GraphicalReportHandler::new_themed(theme)
                .with_context_lines(1)
                .render_report(&mut out, report.as_ref());
        }
        None => {
            out.push_str(&format!("error: {}: {}\n", loc.source, loc.message));
            if let Some(h) = &loc.hint {
                out.push_str(&format!("  help: {h}\n"));
            }
        }
    }
    for (what, src, line, col) in &loc.chain {
        out.push_str(&format!("  {what}, called at {src}:{line}:{col}\n"));
    }
    out
}

fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let line_text = text[start.min(text.len())..]
        .split('\n')
        .next()
        .unwrap_or_default();
    let col = line_text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(line_text.len());
    (start + col).min(text.len())
}

fn word_len(rest: &str) -> usize {
    let n: usize = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .map(char::len_utf8)
        .sum();
    if n > 0 {
        n
    } else {
        rest.chars().next().map(char::len_utf8).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_lines_and_columns() {
        let t = "let a = 1;\nlet bb = foo(2);\n";
        assert_eq!(
            &t[byte_offset(t, 2, 10)
                ..byte_offset(t, 2, 10) + word_len(&t[byte_offset(t, 2, 10)..])],
            "foo"
        );
    }

    #[test]
    fn nested_calls_unwrap_to_the_innermost_position() {
        let inner = EvalAltResult::ErrorRuntime("unknown property `x`".into(), Position::new(3, 5));
        let outer = EvalAltResult::ErrorInFunctionCall(
            "network".into(),
            "stdlib/vpc.rhai".into(),
            Box::new(inner),
            Position::new(7, 11),
        );
        let loc = locate(&outer, "scripts/a.rhai", &[]);
        assert_eq!(
            (loc.source.as_str(), loc.line, loc.column),
            ("stdlib/vpc.rhai", 3, 5)
        );
        assert_eq!(
            loc.chain[0],
            (
                "in `network`".to_string(),
                "scripts/a.rhai".to_string(),
                7,
                11
            )
        );
    }
}
