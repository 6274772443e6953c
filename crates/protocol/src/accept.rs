//! Picking up the next caller, and what to do when `accept` fails.
//!
//! Most `accept` errors concern one caller, and a server must survive them. One is special:
//! out of descriptors (`EMFILE`), every `accept` fails the same way until somebody hangs up,
//! so a loop that retried at once would spin at 100% CPU without serving anyone. Every step
//! sorts what `accept` returned with one [`Acceptor`], which says so once, in one wording,
//! and tells the loop to stop accepting for [`PAUSE`] while it serves the callers it has.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::cli::Log;

/// How long to stop accepting after running out of descriptors.
pub const PAUSE: Duration = Duration::from_millis(100);

/// What one `accept` gave, sorted into what the loop does next.
#[derive(Debug)]
pub enum Pickup<S> {
    /// A caller, and its address: serve it.
    Call(S, SocketAddr),
    /// Nobody else is waiting (a non-blocking listener said `WouldBlock`).
    NoneWaiting,
    /// One call was lost before pick-up (it hung up first, a signal, a network error): it has
    /// been logged; try the next one at once.
    Lost,
    /// Out of descriptors (already said): stop accepting for [`PAUSE`] and serve the callers
    /// you have, then try again. Retrying at once would spin.
    Pause,
}

/// Sorts `accept` results for one loop, and remembers whether it already said that the process
/// is out of descriptors (once per episode, not once per failed `accept`).
#[derive(Debug)]
pub struct Acceptor {
    name: &'static str,
    log: Log,
    told_out_of_descriptors: bool,
}

impl Acceptor {
    /// An acceptor for step `name`, logging lost calls through `log`.
    pub fn new(name: &'static str, log: Log) -> Self {
        Acceptor {
            name,
            log,
            told_out_of_descriptors: false,
        }
    }

    /// Sort what one `accept` returned. An `Err` means the listening socket itself is broken
    /// (see [`is_transient`]): no later `accept` can succeed, so the server should exit.
    pub fn sort<S>(&mut self, accepted: io::Result<(S, SocketAddr)>) -> io::Result<Pickup<S>> {
        match accepted {
            Ok((stream, peer)) => {
                self.told_out_of_descriptors = false;
                Ok(Pickup::Call(stream, peer))
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(Pickup::NoneWaiting),
            Err(err) if is_out_of_descriptors(&err) => {
                if !std::mem::replace(&mut self.told_out_of_descriptors, true) {
                    eprintln!(
                        "{}: out of descriptors ({err}); pausing new calls for {} ms at a time \
                         until callers hang up",
                        self.name,
                        PAUSE.as_millis()
                    );
                }
                Ok(Pickup::Pause)
            }
            Err(err) if is_transient(&err) => {
                self.log
                    .event(format_args!("a call was lost before pick-up: {err}"));
                Ok(Pickup::Lost)
            }
            Err(err) => Err(err),
        }
    }
}

/// Whether an `accept` error is the kind a server should log and survive: it concerns one
/// caller, or one bad moment, not the listening socket. A server that exits on these lets
/// one caller take everyone down.
///
/// - The caller hung up before we picked up (`ECONNABORTED`, a reset), a signal interrupted
///   the call (`EINTR`), or a non-blocking listener has nobody waiting (`EAGAIN`).
/// - Out of descriptors (`EMFILE`, `ENFILE`) or of kernel memory for one more socket
///   (`ENOBUFS`, `ENOMEM`): callers who hang up free some, so wait a moment and go on.
/// - Linux reports network errors already pending on the new connection through `accept`
///   itself, and accept(2) says to treat them like `EAGAIN`: `ENETDOWN`, `EPROTO`,
///   `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`.
///
/// What is left (`EBADF`, `EINVAL`, `ENOTSOCK`, `EFAULT`) means the listening socket itself
/// is broken: retrying would fail forever, so the caller should exit with the error.
pub fn is_transient(err: &io::Error) -> bool {
    use io::ErrorKind::*;
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut
    ) {
        return true;
    }
    is_out_of_descriptors(err) || is_transient_errno(err)
}

/// Whether an `accept` error cost one caller only (it hung up first, a signal, a network error
/// pending on its connection): an event loop picks up the next one at once. Out of
/// descriptors is transient too, but not this: every accept fails the same way until someone
/// hangs up, so a loop that retried at once would spin; it must pause instead.
pub fn lost_one_call(err: &io::Error) -> bool {
    err.kind() != io::ErrorKind::WouldBlock && !is_out_of_descriptors(err) && is_transient(err)
}

/// The errno values of [`is_transient`] that `ErrorKind` does not name stably.
#[cfg(unix)]
fn is_transient_errno(err: &io::Error) -> bool {
    let Some(errno) = err.raw_os_error() else {
        return false;
    };
    // ENONET ("machine is not on the network") exists only on Linux; macOS has no such errno.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if errno == libc::ENONET {
        return true;
    }
    [
        libc::ENOBUFS,
        libc::ENOMEM,
        libc::ENETDOWN,
        libc::EPROTO,
        libc::ENOPROTOOPT,
        libc::EHOSTDOWN,
        libc::EHOSTUNREACH,
        libc::EOPNOTSUPP,
        libc::ENETUNREACH,
    ]
    .contains(&errno)
}

#[cfg(not(unix))]
fn is_transient_errno(_err: &io::Error) -> bool {
    false
}

/// `EMFILE` (this process is out of descriptors) or `ENFILE` (the whole system is).
pub fn is_out_of_descriptors(err: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = err;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn out_of_descriptors_is_transient_but_not_a_lost_call() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(is_transient(&emfile));
        assert!(!lost_one_call(&emfile), "retrying EMFILE at once spins");
        assert!(lost_one_call(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
        assert!(!lost_one_call(&io::Error::from(io::ErrorKind::WouldBlock)));
    }

    #[cfg(unix)]
    #[test]
    fn the_acceptor_sorts_and_says_out_of_descriptors_once() {
        let mut acceptor = Acceptor::new("test", Log::quiet());
        let emfile = || Err::<((), SocketAddr), _>(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(matches!(acceptor.sort(emfile()), Ok(Pickup::Pause)));
        assert!(acceptor.told_out_of_descriptors);
        assert!(matches!(acceptor.sort(emfile()), Ok(Pickup::Pause)));
        let peer: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        assert!(matches!(
            acceptor.sort(Ok(((), peer))),
            Ok(Pickup::Call((), _))
        ));
        assert!(
            !acceptor.told_out_of_descriptors,
            "a pick-up ends the episode"
        );
        let aborted = Err::<((), SocketAddr), _>(io::Error::from_raw_os_error(libc::ECONNABORTED));
        assert!(matches!(acceptor.sort(aborted), Ok(Pickup::Lost)));
        let broken = Err::<((), SocketAddr), _>(io::Error::from_raw_os_error(libc::EBADF));
        assert!(acceptor.sort(broken).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn accept_errors_about_one_caller_are_transient() {
        let transient = [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EINTR,
            libc::EAGAIN,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::ENETDOWN,
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
        ];
        for errno in transient {
            let err = io::Error::from_raw_os_error(errno);
            assert!(is_transient(&err), "{err} should be survived");
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert!(is_transient(&io::Error::from_raw_os_error(libc::ENONET)));
        // A broken listening socket: retrying cannot help.
        for errno in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT] {
            let err = io::Error::from_raw_os_error(errno);
            assert!(!is_transient(&err), "{err} is not transient");
        }
    }
}
