//! A patient but not infinitely patient test client.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a client waits for one reply unless told otherwise.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A line-oriented client over a real TCP connection, with timeouts on every operation.
pub struct Client {
    stream: TcpStream,
    /// Bytes read but not yet returned as a line.
    pending: Vec<u8>,
}

impl Client {
    /// Connect, with [`REPLY_TIMEOUT`] on reads and writes.
    pub fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT)
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Client {
            stream,
            pending: Vec::new(),
        })
    }

    /// Send text as it is (add the `\n` yourself).
    pub fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.send_bytes(text.as_bytes())
    }

    /// Send raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream
            .write_all(bytes)
            .context("the server stopped taking our bytes")
    }

    /// Read one line (without `\n`), waiting at most the read timeout.
    pub fn read_line(&mut self) -> anyhow::Result<String> {
        self.read_line_within(REPLY_TIMEOUT)
    }

    /// Read one line, waiting at most `timeout` in all.
    pub fn read_line_within(&mut self, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                return Ok(line);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoReplyInTime(timeout).into());
            }
            self.stream.set_read_timeout(Some(left))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("the server hung up instead of replying"),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(err) if is_timeout(&err) => return Err(NoReplyInTime(timeout).into()),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err).context("reading a reply"),
            }
        }
    }

    /// Read one line and check it is exactly `expected`.
    pub fn expect_line(&mut self, expected: &str) -> anyhow::Result<()> {
        let got = self
            .read_line()
            .with_context(|| format!("waiting for {expected:?}"))?;
        if got != expected {
            bail!("expected {expected:?}, got {got:?}");
        }
        Ok(())
    }

    /// Send `line` plus `\n` and check the echo.
    pub fn round_trip(&mut self, line: &str) -> anyhow::Result<()> {
        self.send(&format!("{line}\n"))?;
        self.expect_line(line)
    }

    /// Wait until the server closes the connection (read returns end of file or a reset).
    pub fn expect_hang_up(&mut self) -> anyhow::Result<()> {
        self.stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::ConnectionReset => return Ok(()),
                Err(err) if is_timeout(&err) => {
                    bail!("the server kept the line open for {REPLY_TIMEOUT:?}; it should hang up")
                }
                Err(err) => return Err(err).context("waiting for the server to hang up"),
            }
        }
    }

    /// Hang up abruptly: the kernel sends a reset (RST) instead of a polite close (FIN).
    pub fn reset(self) -> anyhow::Result<()> {
        let socket = socket2::SockRef::from(&self.stream);
        socket.set_linger(Some(Duration::ZERO))?;
        drop(self);
        Ok(())
    }

    /// The underlying stream, for checks that need to misbehave in their own way.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// A caller waited `.0` for a reply line and none came: the server is alive (it neither hung
/// up nor reset) but busy with someone else. A type, not just words, so that
/// [`kept_waiting`] can tell this failure from a crash.
#[derive(Debug)]
pub struct NoReplyInTime(pub Duration);

impl std::fmt::Display for NoReplyInTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no complete reply line within {:?}", self.0)
    }
}

impl std::error::Error for NoReplyInTime {}

/// Whether a check failed only because a caller was kept waiting: no reply in time, or a
/// connect or write that timed out. That is how a step that serves too few callers at once
/// fails (its lesson). A server that crashed or hung up fails differently: connection
/// refused, reset, or end of file.
pub fn kept_waiting(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<NoReplyInTime>()
            || cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(is_timeout)
    })
}

/// A read or write timeout shows up as `WouldBlock` on Unix and `TimedOut` on Windows.
pub(crate) fn is_timeout(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_timeouts_count_as_kept_waiting() {
        let waited = anyhow::Error::from(NoReplyInTime(REPLY_TIMEOUT)).context("caller 7");
        assert!(kept_waiting(&waited));
        let connect = anyhow::Error::from(std::io::Error::from(ErrorKind::TimedOut))
            .context("cannot connect");
        assert!(kept_waiting(&connect));
        let refused = anyhow::Error::from(std::io::Error::from(ErrorKind::ConnectionRefused))
            .context("cannot connect");
        assert!(!kept_waiting(&refused));
        assert!(!kept_waiting(&anyhow::anyhow!(
            "the server hung up instead of replying"
        )));
    }
}
