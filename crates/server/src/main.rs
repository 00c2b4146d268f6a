//! The `spillway` binary: parse the command line and hand over to the library.

use clap::Parser;

// mimalloc instead of glibc's malloc: a few hundred allocations a request, and the same
// build ran 16 % fewer instructions per Converse call with mimalloc (9 % with jemalloc)
// than with glibc's malloc (bench/README.md, issue 13).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = spillway_server::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("spillway: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(spillway_server::cli::run(cli));
    // Blocking work that shutdown cut off (a model decode whose stream ended) must not
    // keep the process alive: usage and logs are already flushed at this point.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spillway: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
