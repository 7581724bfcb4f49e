//! Colours for terminal output, off with `--no-color`, `NO_COLOR` or a pipe.

use console::Style;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Decides once whether output is coloured.
pub fn init(no_color: bool) {
    let off = no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    ENABLED.store(!off && console::colors_enabled_stderr(), Ordering::Relaxed);
    console::set_colors_enabled(!off && console::colors_enabled());
    console::set_colors_enabled_stderr(!off && console::colors_enabled_stderr());
}

/// Whether colour is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Green, for creates.
pub fn green(s: &str) -> String {
    Style::new().green().apply_to(s).to_string()
}

/// Yellow, for updates.
pub fn yellow(s: &str) -> String {
    Style::new().yellow().apply_to(s).to_string()
}

/// Red, for deletes and errors.
pub fn red(s: &str) -> String {
    Style::new().red().apply_to(s).to_string()
}

/// Bold, for headings.
pub fn bold(s: &str) -> String {
    Style::new().bold().apply_to(s).to_string()
}

/// Dim, for notes.
pub fn dim(s: &str) -> String {
    Style::new().dim().apply_to(s).to_string()
}

/// Prints a JSON value to stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
