//! `spillway serve`'s listener and process lifecycle: an accept loop of its own on
//! hyper-util (connection limit, head and body timeouts, TLS), and a shutdown that
//! drains within a deadline, ends what is left with Bedrock-shaped errors, stops the
//! background tasks and flushes usage and invocation logs before the process exits 0.

pub mod args;
mod listener;
mod protocol;
mod request;
mod shutdown;
mod tasks;
pub mod tls;

use std::time::Duration;

use spillway_catalog::ServerSettings;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use request::shutting_down_error;
pub use shutdown::Signals;
pub use tasks::Lifecycle;

use crate::app::{build_app, AppState, Shutdown};
use listener::Server;
use request::Requests;
use shutdown::Drained;

/// After the deadline, connections get this long to deliver the frame that ends their
/// stream before they are closed.
const STREAM_END_GRACE: Duration = Duration::from_secs(2);

/// Serves until a signal, then shuts down (see the module docs).
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    settings: &ServerSettings,
    mut signals: Signals,
    state: AppState,
    flush: Shutdown,
) {
    let lifecycle = state.lifecycle.clone();
    let requests = Requests { app: build_app(state), body_timeout: settings.body_timeout, lifecycle };
    let server = Server::new(requests, settings, tls);
    // Dropping the accept loop closes the listening socket: new connections are refused.
    let signal = tokio::select! {
        never = server.accept_loop(listener) => match never {},
        signal = signals.recv() => signal,
    };
    tracing::info!(
        signal = signal.name(),
        open_connections = server.connections.tasks.len(),
        deadline = ?settings.shutdown_timeout,
        "shutting down: no new connections; running calls and streams may finish within the deadline"
    );
    let second = tokio::spawn(async move {
        let signal = signals.recv().await;
        tracing::error!(
            signal = signal.name(),
            "second signal: exiting now, without waiting for running calls or flushing usage and invocation logs"
        );
        std::process::exit(signal.exit_code());
    });
    let lifecycle = &server.requests().lifecycle;
    match shutdown::drain(&server.connections, lifecycle, settings.shutdown_timeout, STREAM_END_GRACE).await {
        Drained::InTime => tracing::info!("every call finished"),
        Drained::StreamsEnded => tracing::warn!("open streams were ended at the shutdown deadline"),
        Drained::Closed { left } => {
            tracing::warn!(connections = left, "connections still open after the shutdown deadline were closed");
        }
    }
    flush.run().await;
    second.abort();
}
