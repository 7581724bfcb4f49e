//! The line editor's helper: when input is complete, what Tab offers, and the signature hint.

use rhai::{Dynamic, Engine, LexError, ParseErrorType};
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The REPL's commands, for completion and "did you mean".
pub const COMMANDS: &[&str] = &[":help", ":env", ":quit", ":q"];

/// Rhai keywords offered next to names, so `wh` + Tab gives `while`.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "switch", "for", "in", "while", "loop", "do", "until",
    "break", "continue", "return", "throw", "try", "catch", "import", "as", "true", "false",
];

/// What the editor knows about the session; the REPL refreshes it after every input.
pub struct ReplHelper {
    /// Parses input to decide whether it is complete; syntax does not depend on registered functions.
    parser: Engine,
    /// Callable names (qualified for namespaced ones) and their signatures without the name: `(a: i64) -> String`.
    pub signatures: BTreeMap<String, Vec<String>>,
    /// The session's variables, the latest of shadowed ones.
    pub variables: BTreeMap<String, Dynamic>,
    /// The project's environment names, for `:env`.
    environments: Vec<String>,
}

impl ReplHelper {
    /// A helper that knows no names yet.
    pub fn new(environments: Vec<String>) -> Self {
        Self {
            parser: Engine::new_raw(),
            signatures: BTreeMap::new(),
            variables: BTreeMap::new(),
            environments,
        }
    }

    /// The completion start and candidates for the text before `pos`.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        if before.starts_with(':') {
            return self.command_candidates(before);
        }
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_name_char(*c) || *c == ':' || *c == '.')
            .last()
            .map_or(pos, |(i, _)| i);
        let word = &before[start..];
        if let Some((base, partial)) = word.rsplit_once('.') {
            let keys = self
                .keys_of(base)
                .into_iter()
                .filter(|k| k.starts_with(partial))
                .collect();
            return (pos - partial.len(), keys);
        }
        let names = self
            .signatures
            .keys()
            .map(String::as_str)
            .chain(self.variables.keys().map(String::as_str))
            .chain(KEYWORDS.iter().copied());
        (start, next_segments(word, names))
    }

    /// Completes command names, function names after `:help` and environment names after `:env`.
    fn command_candidates(&self, before: &str) -> (usize, Vec<String>) {
        let Some((command, arg)) = before.split_once(' ') else {
            return (
                0,
                COMMANDS
                    .iter()
                    .filter(|c| c.starts_with(before))
                    .map(|c| c.to_string())
                    .collect(),
            );
        };
        let arg = arg.trim_start();
        let start = before.len() - arg.len();
        match command {
            ":help" => (
                start,
                next_segments(arg, self.signatures.keys().map(String::as_str)),
            ),
            ":env" => (
                start,
                self.environments
                    .iter()
                    .filter(|e| e.starts_with(arg))
                    .cloned()
                    .collect(),
            ),
            _ => (start, Vec::new()),
        }
    }

    /// The keys (or handle attributes) of the value a dotted path such as `env.vpc` names.
    fn keys_of(&self, path: &str) -> Vec<String> {
        let mut parts = path.split('.');
        let Some(mut value) = parts.next().and_then(|v| self.variables.get(v)).cloned() else {
            return Vec::new();
        };
        for key in parts {
            let Some(next) = value.as_map_ref().ok().and_then(|m| m.get(key).cloned()) else {
                return Vec::new();
            };
            value = next;
        }
        if let Some(h) = value.clone().try_cast::<crate::handle::Handle>() {
            let mut keys: Vec<String> = ["address", "name"]
                .iter()
                .chain(h.attributes)
                .map(|a| a.to_string())
                .collect();
            keys.sort();
            return keys;
        }
        match value.as_map_ref() {
            // Keys that are not identifiers need `m["key"]`, which Tab after a dot cannot give.
            Ok(map) => map
                .keys()
                .map(|k| k.to_string())
                .filter(|k| is_identifier(k))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The signature of the function named just before the cursor (`name` or `name(`).
    pub fn signature_hint(&self, line: &str, pos: usize) -> Option<String> {
        if pos < line.len() || line.starts_with(':') {
            return None;
        }
        let (head, open) = match line.strip_suffix('(') {
            Some(head) => (head, true),
            None => (line, false),
        };
        let start = head
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_name_char(*c) || *c == ':')
            .last()?
            .0;
        // After a dot the name is a property or a method, not the function of that name.
        if head[..start].ends_with('.') {
            return None;
        }
        let signatures = self.signatures.get(&head[start..])?;
        let first = signatures.first()?;
        let shown = if open {
            first.strip_prefix('(').unwrap_or(first)
        } else {
            first.as_str()
        };
        Some(match signatures.len() {
            1 => shown.to_string(),
            n => format!("{shown}  (+{} more: :help {})", n - 1, &head[start..]),
        })
    }
}

/// Whether `input` can be run as it is: it parses, or its error is not that it ends too early.
pub fn is_complete(parser: &Engine, input: &str) -> bool {
    if input.trim_start().starts_with(':') {
        return true;
    }
    let Err(err) = parser.compile(input) else {
        return true;
    };
    let (kind, pos) = (err.0.as_ref(), err.1);
    match kind {
        ParseErrorType::UnexpectedEOF => false,
        // Back-tick and raw strings may span lines; a quoted string only continues after a trailing `\`.
        ParseErrorType::BadInput(LexError::UnterminatedString) => {
            let Some(at) = offset_of(input, pos) else {
                return true;
            };
            let rest = &input[at..];
            let continues = rest.starts_with(['`', '#'])
                || input[..at].ends_with('r')
                || (rest.starts_with('"') && input.trim_end_matches(['\r', '\n']).ends_with('\\'));
            !continues
        }
        // Doc comments typed so far wait for the function they document.
        ParseErrorType::WrongDocComment => !input
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with("///")),
        // An error placed after the last character (a missing `}`, `)`, `;` …) means "type more".
        _ => match (pos.line(), pos.position()) {
            (Some(line), Some(column)) => {
                let content = input.trim_end();
                let last_line = content.lines().count().max(1);
                let last_column = content.lines().last().map_or(0, |l| l.chars().count());
                (line, column) <= (last_line, last_column)
            }
            _ => true,
        },
    }
}

/// The byte offset of a parse position (1-based line and character column).
fn offset_of(input: &str, pos: rhai::Position) -> Option<usize> {
    let (line, column) = (pos.line()?, pos.position()?);
    let start: usize = input
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let (i, _) = input.get(start..)?.char_indices().nth(column - 1)?;
    Some(start + i)
}

/// Names in `names` that start with `word`, cut after the next `::` so a namespace is offered once.
fn next_segments<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names
        .filter(|n| n.starts_with(word))
        .map(|n| match n[word.len()..].find("::") {
            Some(i) => n[..word.len() + i + 2].to_string(),
            None => n.to_string(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether a character may be part of a Rhai name.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a text is a plain Rhai identifier.
pub fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(is_name_char)
}

/// A signature shown after the cursor; Right-arrow must not insert it.
pub struct SignatureHint(String);

impl Hint for SignatureHint {
    fn display(&self) -> &str {
        &self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Completer for ReplHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Hinter for ReplHelper {
    type Hint = SignatureHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<SignatureHint> {
        self.signature_hint(line, pos).map(SignatureHint)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(crate::style::dim(hint))
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(&self.parser, ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_input_asks_for_more() {
        let e = Engine::new_raw();
        for s in [
            "fn f() {",
            "let x = #{ a: 1,",
            "`abc",
            "let s = `abc",
            "\"abc\\",
            "f(1,",
            "1 +",
            "fn f(a) {\n a + 1",
            "x = `a ${b",
            "r#\"ab",
            "/// Doubles.\n",
        ] {
            assert!(!is_complete(&e, s), "{s:?} should be incomplete");
        }
        for s in [
            "",
            "1 + 2",
            "let x = 1;",
            "1 2",
            ")",
            "\"abc",
            ":help",
            "fn f(a) {\n a + 1\n}",
            "`a\nb`",
            "/// Doc.\nlet x = 1;",
        ] {
            assert!(is_complete(&e, s), "{s:?} should be complete");
        }
    }

    /// A helper with a few of the real API's names and an `env` like `--env` binds.
    fn helper() -> ReplHelper {
        let mut h = ReplHelper::new(vec!["local/us-east-1".into(), "prod/us-east-1".into()]);
        for (name, sig) in [
            ("aws::ec2::vpc", "(name: &str, props: Map) -> Handle"),
            (
                "aws::ec2::vpc_endpoint",
                "(name: &str, props: Map) -> Handle",
            ),
            ("aws::s3::bucket", "(name: &str, props: Map) -> Handle"),
            ("aws::region", "() -> String"),
            (
                "cidr_subnet",
                "(prefix: &str, newbits: i64, netnum: i64) -> String",
            ),
            ("print", "(value: bool) -> ImmutableString"),
            ("print", "(string: string) -> ImmutableString"),
        ] {
            h.signatures
                .entry(name.into())
                .or_default()
                .push(sig.into());
        }
        let env = serde_json::json!({"region": "us-east-1", "role": "primary", "vpc": {"cidr": "10.0.0.0/16", "azs": []}, "tags": {"cost-center": "x"}});
        h.variables
            .insert("env".into(), crate::value::to_dynamic(&env));
        h.variables.insert("count".into(), Dynamic::from(1_i64));
        h
    }

    /// The candidates for a line with the cursor at its end.
    fn complete(line: &str) -> (usize, Vec<String>) {
        helper().candidates(line, line.len())
    }

    #[test]
    fn completes_namespaces_one_level_at_a_time() {
        assert_eq!(complete("aws::ec"), (0, vec!["aws::ec2::".to_string()]));
        assert_eq!(
            complete("x = aws::"),
            (
                4,
                vec![
                    "aws::ec2::".into(),
                    "aws::region".into(),
                    "aws::s3::".into()
                ]
            )
        );
        assert_eq!(
            complete("aws::ec2::vp").1,
            ["aws::ec2::vpc", "aws::ec2::vpc_endpoint"]
        );
    }

    #[test]
    fn completes_functions_variables_and_keywords() {
        assert_eq!(complete("cidr_s(co").1, ["const", "continue", "count"]);
        assert_eq!(
            complete("let y = cid"),
            (8, vec!["cidr_subnet".to_string()])
        );
    }

    #[test]
    fn completes_map_keys_after_a_dot() {
        assert_eq!(
            complete("env."),
            (
                4,
                vec!["region".into(), "role".into(), "tags".into(), "vpc".into()]
            )
        );
        assert_eq!(complete("f(env.vpc.c"), (10, vec!["cidr".to_string()]));
        assert!(
            complete("env.tags.").1.is_empty(),
            "`cost-center` needs indexing, not a dot"
        );
        assert!(complete("count.").1.is_empty());
        assert!(complete("nothing.").1.is_empty());
    }

    #[test]
    fn completes_commands_and_their_arguments() {
        assert_eq!(complete(":h"), (0, vec![":help".to_string()]));
        assert_eq!(complete(":help cidr"), (6, vec!["cidr_subnet".to_string()]));
        assert_eq!(complete(":help aws::e").1, ["aws::ec2::"]);
        assert_eq!(complete(":env pr"), (5, vec!["prod/us-east-1".to_string()]));
    }

    #[test]
    fn hints_the_signature_of_the_function_just_typed() {
        let h = helper();
        let hint = |line: &str| h.signature_hint(line, line.len());
        assert_eq!(
            hint("aws::ec2::vpc(").as_deref(),
            Some("name: &str, props: Map) -> Handle")
        );
        assert_eq!(
            hint("let n = cidr_subnet").as_deref(),
            Some("(prefix: &str, newbits: i64, netnum: i64) -> String")
        );
        assert_eq!(
            hint("print(").as_deref(),
            Some("value: bool) -> ImmutableString  (+1 more: :help print)")
        );
        assert_eq!(hint("cidr_sub"), None);
        assert_eq!(hint("env.print("), None);
        assert_eq!(
            h.signature_hint("aws::region()", 12),
            None,
            "only at the end of the line"
        );
    }
}
