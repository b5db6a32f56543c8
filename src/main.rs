use std::process::ExitCode;

use clap::Parser;

// See Cargo.toml: reusing freed memory spares the page faults of one mmap per large tensor.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A bug deep inside a dependency should still read as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
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
    match bnx::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<bnx::commands::Interrupted>() => {
            eprintln!("\n{err}");
            ExitCode::from(bnx::runtime::interrupt::INTERRUPTED_EXIT_CODE)
        }
        Err(err) => {
            // `{:#}`: the context, then each cause once, joined by ": ".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
