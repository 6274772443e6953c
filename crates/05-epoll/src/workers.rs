//! `--workers N`: N processes, one port, one loop each.
//!
//! One event loop uses one core, and one process may hold only so many descriptors (20,000 on
//! the course machine). nginx's answer is several worker processes, each with its own loop,
//! all accepting on the same port: with `SO_REUSEPORT` each opens its own listening socket on
//! it, and the kernel spreads new connections across them.
//!
//! The first process binds first (so `--port 0` picks a port and the `listening on` line shows
//! it), serves as worker 0, and starts workers 1..N by running its own executable again with
//! the real port and a hidden `--worker-of N PARENT_PID`. Workers must not outlive it: on
//! Linux the kernel kills them when it dies (`PR_SET_PDEATHSIG`); elsewhere each worker
//! checks once a second that its parent is still there.

use anyhow::Context;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use crate::NAME;

/// Start workers `1..count` on `addr` (the port is already chosen). Each gets a thread here
/// that reports if it ends.
pub fn start(addr: SocketAddr, count: u16, quiet: bool) -> anyhow::Result<()> {
    if count <= 1 {
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find our own executable")?;
    let parent = std::process::id();
    for id in 1..count {
        let mut command = Command::new(&exe);
        command
            .args(["--addr", &addr.ip().to_string()])
            .args(["--port", &addr.port().to_string()])
            .args(["--worker-of", &id.to_string(), &parent.to_string()])
            .stdin(Stdio::null());
        if quiet {
            command.arg("--quiet");
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start worker {id}"))?;
        std::thread::Builder::new()
            .name(format!("worker {id}"))
            .spawn(move || {
                if let Ok(status) = child.wait() {
                    eprintln!("{NAME}: worker {id} (pid {}) ended: {status}", child.id());
                }
            })?;
    }
    println!(
        "{NAME}: {count} worker processes share port {} (SO_REUSEPORT), each with its own \
         loop and descriptor limit",
        addr.port()
    );
    Ok(())
}

/// Make sure this worker ends when the process that started it does.
pub fn die_with_parent(parent: u32) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_PDEATHSIG)");
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::thread::Builder::new()
            .name("parent watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    if !parent_is(parent) {
                        std::process::exit(0);
                    }
                }
            })?;
    }
    // The parent may have died before we got here: then nobody will signal us.
    if !parent_is(parent) {
        anyhow::bail!("the process that started this worker (pid {parent}) is gone");
    }
    Ok(())
}

fn parent_is(pid: u32) -> bool {
    // SAFETY: getppid has no arguments and cannot fail.
    let ppid = unsafe { libc::getppid() };
    u32::try_from(ppid).is_ok_and(|ppid| ppid == pid)
}
