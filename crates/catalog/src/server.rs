//! `[server]`: how the listener treats connections and how the process stops.
//!
//! ```toml
//! [server]
//! shutdown_timeout = "30s"   # SIGTERM: running calls and streams get this long to finish
//! header_timeout = "30s"     # a request head must arrive within this (idle keep-alive too)
//! body_timeout = "60s"       # the whole request body must arrive within this
//! max_connections = 4096     # connections above this get a 503 and are closed
//! flush_interval = "1s"      # usage rows and invocation logs reach disk this often
//! ```
//!
//! Durations are written with a unit (`ms`, `s`, `m`, `h`); `spillway serve` flags of the
//! same names override them.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    #[serde(default = "defaults::shutdown_timeout", deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    #[serde(default = "defaults::header_timeout", deserialize_with = "duration")]
    pub header_timeout: Duration,
    #[serde(default = "defaults::body_timeout", deserialize_with = "duration")]
    pub body_timeout: Duration,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    #[serde(default = "defaults::flush_interval", deserialize_with = "duration")]
    pub flush_interval: Duration,
}

mod defaults {
    use std::time::Duration;

    pub fn shutdown_timeout() -> Duration {
        Duration::from_secs(30)
    }
    // hyper's own default; nginx uses 60 s for heads and 75 s for idle keep-alive.
    pub fn header_timeout() -> Duration {
        Duration::from_secs(30)
    }
    // A whole InvokeModel body (up to 25 MB) at 500 kB/s.
    pub fn body_timeout() -> Duration {
        Duration::from_secs(60)
    }
    // Below the usual `ulimit -n` of servers, above any sane count of SDK connections.
    pub fn max_connections() -> usize {
        4096
    }
    // What `kill -9` can lose at most; writes cost one store transaction per interval.
    pub fn flush_interval() -> Duration {
        Duration::from_secs(1)
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            shutdown_timeout: defaults::shutdown_timeout(),
            header_timeout: defaults::header_timeout(),
            body_timeout: defaults::body_timeout(),
            max_connections: defaults::max_connections(),
            flush_interval: defaults::flush_interval(),
        }
    }
}

impl ServerSettings {
    /// The key of the first value that cannot work (a zero timeout closes every
    /// connection at once; a zero limit serves nobody).
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let zero = Duration::ZERO;
        if self.header_timeout == zero {
            return Err(("server.header_timeout", "must be above 0"));
        }
        if self.body_timeout == zero {
            return Err(("server.body_timeout", "must be above 0"));
        }
        if self.flush_interval == zero {
            return Err(("server.flush_interval", "must be above 0"));
        }
        if self.max_connections == 0 {
            return Err(("server.max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

/// `"250ms"`, `"30s"`, `"1.5s"`, `"2m"`, `"1h"`: a number and a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "" => return Err(format!("`{text}` has no unit (write e.g. `30s` or `500ms`)")),
        other => return Err(format!("`{other}` is not a unit of time (use ms, s, m or h)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration (write e.g. `30s`)"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("`{text}` is out of range"))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 2m "), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("30 days").unwrap_err().contains("`days`"));
        assert!(parse_duration("s").unwrap_err().contains("not a duration"));
        assert!(parse_duration("1.2.3s").is_err());
    }

    fn load(server: &str) -> Result<ServerSettings, String> {
        let text = format!(
            "default_region = \"r\"\ndefault_backend = \"s\"\n[backends.s]\nkind = \"sim\"\n[regions.r]\n{server}"
        );
        crate::from_toml(&text).map(|c| c.server).map_err(|e| e.to_string())
    }

    #[test]
    fn the_section_is_optional_and_errors_name_the_key() {
        assert_eq!(load(""), Ok(ServerSettings::default()));
        let s = load("[server]\nshutdown_timeout = \"2s\"\nmax_connections = 10").unwrap();
        assert_eq!((s.shutdown_timeout, s.max_connections), (Duration::from_secs(2), 10));
        assert_eq!(s.flush_interval, ServerSettings::default().flush_interval);
        let err = load("[server]\nflush_interval = \"5\"").unwrap_err();
        assert!(err.starts_with("server.flush_interval: ") && err.contains("no unit"), "{err}");
        assert_eq!(load("[server]\nbody_timeout = \"0ms\"").unwrap_err(), "server.body_timeout: must be above 0");
        assert!(load("[server]\nidle_timeout = \"5s\"").unwrap_err().contains("idle_timeout"));
    }

    #[test]
    fn zero_values_are_refused_by_key() {
        assert_eq!(ServerSettings::default().check(), Ok(()));
        let s = ServerSettings { header_timeout: Duration::ZERO, ..ServerSettings::default() };
        assert_eq!(s.check().unwrap_err().0, "server.header_timeout");
        let s = ServerSettings { max_connections: 0, ..ServerSettings::default() };
        assert_eq!(s.check().unwrap_err().0, "server.max_connections");
        // A zero shutdown timeout is allowed: streams end at once.
        let s = ServerSettings { shutdown_timeout: Duration::ZERO, ..ServerSettings::default() };
        assert_eq!(s.check(), Ok(()));
    }
}
