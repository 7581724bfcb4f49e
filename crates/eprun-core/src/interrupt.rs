//! Ctrl-C: a process-wide flag that scripts, the applier and the REPL check between steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Routes SIGINT to the flag; a second Ctrl-C while the first is pending exits at once with 130.
pub fn install() {
    let f = flag().clone();
    // The conditional shutdown must be registered first so it sees the flag before it is set.
    let _ = signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGINT,
        130,
        f.clone(),
    );
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, f);
}

/// Whether Ctrl-C was pressed since the last `reset`.
pub fn requested() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Forgets an earlier Ctrl-C (the REPL does this before each input).
pub fn reset() {
    flag().store(false, Ordering::SeqCst);
}
