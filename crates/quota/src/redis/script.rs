//! One Lua script, called by its SHA1 (`EVALSHA`: the body travels once, at load), and
//! loaded again when Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
//!
//! The request path builds the `EVALSHA` command itself rather than through
//! `redis::ScriptInvocation`, which copies every key and argument into vectors of its own
//! before copying them again into the command: numbers go straight in as integers and
//! bucket keys from one reused buffer.

use redis::aio::ConnectionManager;
use redis::{Cmd, ErrorKind, RedisResult, ServerErrorKind, Value};

use super::PRELUDE;

#[derive(Debug)]
pub(crate) struct Lua {
    sha: String,
    code: String,
}

impl Lua {
    /// A script of the shared prelude followed by `body`.
    pub fn with_prelude(body: &str) -> Self {
        Self::new(format!("{PRELUDE}\n{body}"))
    }

    pub fn new(code: String) -> Self {
        let sha = redis::Script::new(&code).get_hash().to_owned();
        Self { sha, code }
    }

    /// `EVALSHA <sha> <numkeys>`: keys and arguments follow.
    pub fn cmd(&self, keys: usize) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha).arg(keys);
        cmd
    }

    /// Runs `cmd` (from [`Lua::cmd`]); on `NOSCRIPT`, loads the script and runs it again.
    pub async fn run(&self, cmd: &Cmd, conn: &mut ConnectionManager) -> RedisResult<Value> {
        match cmd.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let _: String = redis::cmd("SCRIPT").arg("LOAD").arg(&self.code).query_async(conn).await?;
                cmd.query_async(conn).await
            }
            other => other,
        }
    }
}
