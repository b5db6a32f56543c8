use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

// See Cargo.toml: reusing freed memory spares the page faults of one mmap per large tensor.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's option calls, from the C library that libmimalloc-sys builds and links. Declared
// here because the crate's `extended` bindings name no constant for the purge delay (and would
// add a dependency, cty, for two C types).
unsafe extern "C" {
    #[cfg(test)]
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_t` (v2 and v3 alike; the test below
/// checks that it still names the purge delay).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Never hand freed pages back to the kernel. By default mimalloc purges pages that stay free
/// for a second, and a training step frees and reallocates the same tensors every few
/// milliseconds: some of them came back as fresh pages the kernel zeroed again (about 30 page
/// faults a CNN step at batch 128, up to a tenth of its CPU time in `clear_page`). The process's
/// peak memory is unchanged (freed memory is reused, not added to). A user's
/// `MIMALLOC_PURGE_DELAY` still wins.
fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mimalloc's options may be set at any time, from any thread.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Set by the panic hook: a panic anywhere, even on a thread whose result nobody reads, is a bug
/// and ends the process with [`bnx::INTERNAL_ERROR_EXIT_CODE`], never with success.
static PANICKED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    keep_freed_pages();

    // A bug deep inside a dependency should still read as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        PANICKED.store(true, Ordering::SeqCst);
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error: {message} (this is a bug in bnx, please report it)");
    }));

    // Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set" on headless
    // machines when wgpu probes them, although bnx never opens a window.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: no other thread exists yet to read the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }

    // bnx builds every device from --backend; the one place Burn picks `Device::default()` itself
    // is loading Adam's state on resume (moved to the parameters' device at the next step). With
    // wgpu compiled in that default is a GPU context: make it the CPU instead.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: no other thread exists yet to read the environment concurrently.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }

    let cli = bnx::cli::Cli::parse();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The one test-only path into an internal error: the end-to-end tests prove with it
        // that their helpers reject a panic (tests/e2e/common.rs). No user sets a variable so named.
        if std::env::var_os("BNX_TEST_INTERNAL_ERROR").is_some() {
            panic!("BNX_TEST_INTERNAL_ERROR is set");
        }
        bnx::cli::run(cli)
    }));
    if PANICKED.load(Ordering::SeqCst) {
        // The hook has said what happened.
        return ExitCode::from(bnx::INTERNAL_ERROR_EXIT_CODE);
    }
    match result.expect("a panic sets PANICKED first") {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<bnx::commands::Interrupted>() => {
            eprintln!("\n{err}");
            ExitCode::from(bnx::runtime::interrupt::INTERRUPTED_EXIT_CODE)
        }
        Err(err) => {
            // `{:#}`: the context, then each cause once, joined by ": ".
            eprintln!("error: {err:#}");
            ExitCode::from(bnx::USER_ERROR_EXIT_CODE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Option 15 is the purge delay: mimalloc v3's default for it is 1000 ms, and no other
    /// option defaults to that. Then setting it takes.
    #[test]
    fn option_15_is_mimallocs_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reading and setting an option is safe at any time.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
        keep_freed_pages();
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, -1);
    }
}
