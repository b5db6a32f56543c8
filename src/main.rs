use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

// See Cargo.toml: reusing freed memory spares the page faults of one mmap per large tensor.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set by the panic hook: a panic anywhere, even on a thread whose result nobody reads, is a bug
/// and ends the process with [`bnx::INTERNAL_ERROR_EXIT_CODE`], never with success.
static PANICKED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
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
