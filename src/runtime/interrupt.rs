//! Ctrl-C: the first SIGINT (or SIGTERM) asks training to stop between two steps, so that every
//! completed epoch stays on disk and the run can be resumed; a second one ends the process at
//! once, as a user pressing Ctrl-C twice expects.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The exit status of a process stopped by SIGINT, as shells report it (128 + 2).
pub const INTERRUPTED_EXIT_CODE: u8 = 130;

static REQUESTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing). Without this, Ctrl-C
/// kills the process as usual.
pub fn watch_for_interrupts() -> std::io::Result<()> {
    if REQUESTED.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it runs before `register` below sets the flag: only a signal
        // that arrives when the flag is already set exits.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(INTERRUPTED_EXIT_CODE),
            Arc::clone(&flag),
        )?;
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    // A concurrent second call lost the race; its handlers set its own flag, which is harmless.
    let _ = REQUESTED.set(flag);
    Ok(())
}

/// Whether Ctrl-C was pressed since the handlers were installed.
pub fn requested() -> bool {
    REQUESTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::Relaxed))
}
