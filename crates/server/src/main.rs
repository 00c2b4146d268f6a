//! The `spillway` binary: parse the command line and hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = spillway_server::cli::Cli::parse();
    match spillway_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spillway: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
