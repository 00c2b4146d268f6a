//! The `serve` flags for the listener, shutdown and TLS. Each listener flag overrides the
//! `[server]` key of the same name in the configuration file.

use std::path::PathBuf;
use std::time::Duration;

use spillway_catalog::{parse_duration, ServerSettings};

#[derive(Debug, Default, clap::Args)]
pub struct ListenerArgs {
    /// After SIGTERM or Ctrl-C, how long running calls and streams may take to finish
    /// before streams end with a ServiceUnavailableException (`[server] shutdown_timeout`,
    /// default 30s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_timeout: Option<Duration>,
    /// Time a client has to send a request head; an idle keep-alive connection is closed
    /// after it too (`[server] header_timeout`, default 30s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub header_timeout: Option<Duration>,
    /// Time a client has to send a whole request body (`[server] body_timeout`, default 60s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub body_timeout: Option<Duration>,
    /// Open connections above this get a 503 and are closed (`[server] max_connections`,
    /// default 4096).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// How often usage rows and invocation-log records are written: the most a `kill -9`
    /// can lose (`[server] flush_interval`, default 1s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub flush_interval: Option<Duration>,
}

impl ListenerArgs {
    /// The configuration's `[server]` settings with the flags given on top.
    pub fn apply(&self, settings: &mut ServerSettings) -> anyhow::Result<()> {
        let Self { shutdown_timeout, header_timeout, body_timeout, max_connections, flush_interval } = *self;
        settings.shutdown_timeout = shutdown_timeout.unwrap_or(settings.shutdown_timeout);
        settings.header_timeout = header_timeout.unwrap_or(settings.header_timeout);
        settings.body_timeout = body_timeout.unwrap_or(settings.body_timeout);
        settings.max_connections = max_connections.unwrap_or(settings.max_connections);
        settings.flush_interval = flush_interval.unwrap_or(settings.flush_interval);
        settings.check().map_err(|(key, message)| {
            let flag = key.trim_start_matches("server.").replace('_', "-");
            anyhow::anyhow!("--{flag} (or {key}): {message}")
        })
    }
}

#[derive(Debug, Default, clap::Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a development certificate for localhost, 127.0.0.1 and ::1, made
    /// (once) under the data directory with a CA of its own; prints the AWS_CA_BUNDLE to use.
    #[arg(long)]
    pub tls_self_signed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        listener: ListenerArgs,
        #[command(flatten)]
        tls: TlsArgs,
    }

    #[test]
    fn flags_override_the_file_and_name_the_flag_on_error() {
        let cmd = Cmd::try_parse_from(["x", "--shutdown-timeout", "2s", "--max-connections", "10"]).unwrap();
        let mut settings = ServerSettings { body_timeout: Duration::from_secs(5), ..ServerSettings::default() };
        cmd.listener.apply(&mut settings).unwrap();
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(2));
        assert_eq!(settings.max_connections, 10);
        // Not given: the file's value stays.
        assert_eq!(settings.body_timeout, Duration::from_secs(5));

        let cmd = Cmd::try_parse_from(["x", "--header-timeout", "0s"]).unwrap();
        let err = cmd.listener.apply(&mut ServerSettings::default()).unwrap_err().to_string();
        assert_eq!(err, "--header-timeout (or server.header_timeout): must be above 0");
        let err = Cmd::try_parse_from(["x", "--body-timeout", "10"]).unwrap_err().to_string();
        assert!(err.contains("has no unit"), "{err}");
    }

    #[test]
    fn tls_flags_go_together() {
        assert!(Cmd::try_parse_from(["x", "--tls-cert", "c.pem"]).is_err());
        assert!(Cmd::try_parse_from(["x", "--tls-cert", "c", "--tls-key", "k", "--tls-self-signed"]).is_err());
        let cmd = Cmd::try_parse_from(["x", "--tls-cert", "c", "--tls-key", "k"]).unwrap();
        assert_eq!(cmd.tls.tls_cert, Some(PathBuf::from("c")));
        assert!(Cmd::try_parse_from(["x", "--tls-self-signed"]).unwrap().tls.tls_self_signed);
    }
}
