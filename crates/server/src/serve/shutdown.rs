//! What SIGTERM and Ctrl-C do. The first one drains ([`drain`]); a second one, while that
//! runs, exits at once with 128 + the signal's number, as a shell reports a process
//! killed by it.

use std::time::Duration;

use super::listener::Connections;
use super::Lifecycle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Terminate,
    Interrupt,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            Self::Terminate => 128 + 15,
            Self::Interrupt => 128 + 2,
        }
    }
}

/// The signals, listened to from the start so one sent early is not lost (and no longer
/// kills the process outright).
#[cfg(unix)]
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Terminate,
            _ = self.int.recv() => Signal::Interrupt,
        }
    }
}

#[cfg(not(unix))]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self)
    }

    pub async fn recv(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}

/// How a drain ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every call and stream finished within the deadline.
    InTime,
    /// Open streams were ended with an exception frame (calls answered 503) at the
    /// deadline, and their connections closed within the grace that followed.
    StreamsEnded,
    /// These connections were still open after the grace too, and were closed.
    Closed { left: usize },
}

/// Stop reading new requests; give running calls and streams `deadline` to finish; then
/// end open streams with an exception frame and give their connections `grace` to
/// deliver it (a client that does not read would hold it forever); then close the rest.
/// The accept loop must have stopped: no connection is added after this starts.
pub async fn drain(connections: &Connections, lifecycle: &Lifecycle, deadline: Duration, grace: Duration) -> Drained {
    connections.tasks.close();
    connections.drain.cancel();
    if tokio::time::timeout(deadline, connections.tasks.wait()).await.is_ok() {
        return Drained::InTime;
    }
    tracing::warn!(
        open = connections.tasks.len(),
        ?deadline,
        "shutdown deadline passed: ending open streams with ServiceUnavailableException"
    );
    lifecycle.end_streams();
    if tokio::time::timeout(grace, connections.tasks.wait()).await.is_ok() {
        return Drained::StreamsEnded;
    }
    let left = connections.tasks.len();
    connections.force.cancel();
    connections.tasks.wait().await;
    Drained::Closed { left }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);
    const SHORT: Duration = Duration::from_millis(10);

    #[tokio::test]
    async fn calls_that_finish_before_the_deadline_are_waited_for() {
        let (connections, lifecycle) = (Connections::default(), Lifecycle::default());
        // An idle connection closes when told to drain.
        let told = connections.drain.clone();
        connections.tasks.spawn(async move { told.cancelled().await });
        // A call that finishes on its own.
        connections.tasks.spawn(tokio::time::sleep(SHORT));
        assert_eq!(drain(&connections, &lifecycle, LONG, LONG).await, Drained::InTime);
        assert!(!connections.force.is_cancelled());
    }

    #[tokio::test]
    async fn streams_still_open_at_the_deadline_are_ended() {
        let (connections, lifecycle) = (Connections::default(), Lifecycle::default());
        let l = lifecycle.clone();
        connections.tasks.spawn(async move { l.streams_ended().await });
        assert_eq!(drain(&connections, &lifecycle, SHORT, LONG).await, Drained::StreamsEnded);
        assert!(!connections.force.is_cancelled());
    }

    #[tokio::test]
    async fn connections_that_outlive_the_grace_are_closed() {
        let (connections, lifecycle) = (Connections::default(), Lifecycle::default());
        // A client that reads nothing: only closing the connection ends it.
        let force = connections.force.clone();
        connections.tasks.spawn(async move { force.cancelled().await });
        let l = lifecycle.clone();
        connections.tasks.spawn(async move { l.streams_ended().await });
        assert_eq!(drain(&connections, &lifecycle, SHORT, SHORT).await, Drained::Closed { left: 1 });
        assert!(connections.tasks.is_empty());
    }

    #[test]
    fn a_second_signal_exits_as_the_shell_would_report_it() {
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Interrupt.exit_code(), 130);
    }
}
