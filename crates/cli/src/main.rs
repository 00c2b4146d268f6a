//! The `spillway` binary: parse the command line and hand over to the server library
//! (`serve`) or to the clients of a running service (`usage`, `batch watch`) and the model
//! fetcher.

mod cli;
mod fetch_model;
mod report;
mod watch;

use clap::Parser;

// glibc's malloc, measured against mimalloc and jemalloc (bench/README.md, issue 13):
// mimalloc ran 16 % fewer instructions per call but took an open stream from 45 to
// 66–69 KiB of RSS (versions 3 and 2 of the crate alike), against issue 13's memory target.

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("spillway: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::run(cli));
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
