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
//!
//! On Ctrl-C or `kill` the first process tells its workers (SIGTERM, by pid), each stops as it
//! does, and it waits for them before it prints its summary. Each worker runs in a process
//! group of its own, so Ctrl-C in a terminal (which signals the whole foreground group)
//! reaches only the first process: a worker hears one stop, not two, and a second stop would
//! end it at once.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use protocol::cli::ListenArgs;

use crate::{NAME, Options, Switchboard};

/// How long past the grace the first process waits for a worker that has not stopped.
const MARGIN: Duration = Duration::from_secs(1);

/// `--workers`, and the hidden option that tells a worker who it is.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Worker processes sharing the port (SO_REUSEPORT), each with its own loop and its own
    /// descriptor limit. One per core uses every core.
    #[arg(long = "workers", default_value_t = 1, value_name = "WORKERS",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub count: u16,

    /// Internal: this process is worker N, started by the first one (whose pid follows).
    #[arg(long, hide = true, num_args = 2, value_names = ["N", "PARENT_PID"])]
    pub worker_of: Option<Vec<u32>>,
}

/// The worker processes the first process started (none in a worker).
pub struct Workers {
    /// The pids of those still running, as far as we know.
    pids: Vec<u32>,
    /// The pid of each worker that ended, from the thread that waits for it.
    ended: mpsc::Receiver<u32>,
    /// When they were told to stop.
    stopped: Option<Instant>,
}

/// The first process's listening socket: alone on the port, or the first of `count` that
/// share it (and then it makes sure no one else holds it: a second copy must not join by
/// mistake).
pub fn listen(addr: SocketAddr, count: u16) -> anyhow::Result<TcpListener> {
    if count > 1 {
        protocol::listener::open_shared_first(addr)
    } else {
        protocol::listener::open(addr)
    }
}

/// The life of a worker (`--worker-of N PARENT_PID`): the same loop as the first process's, on
/// a listening socket of its own on the same port.
pub fn serve(worker: &[u32], listen: &ListenArgs) -> anyhow::Result<()> {
    let (id, parent) = (worker[0], worker[1]);
    // First, so that a stop sent while we start is heard.
    let signals = protocol::signals::install().context("cannot install the signal handlers")?;
    die_with_parent(parent)?;
    let limit = protocol::fd_limit::raise()?;
    let listener = protocol::listener::open_shared(listen.socket_addr(7005))?;
    let log = listen.log();
    log.event(format_args!("{NAME} worker {id}: serving too ({limit})"));
    let board = Switchboard::new(listener, signals, Workers::none(), log, listen.grace)?;
    board.run()?.print(&format!("{NAME} worker {id}"));
    Ok(())
}

impl Workers {
    /// No workers: what a worker has.
    pub fn none() -> Workers {
        Workers {
            pids: Vec::new(),
            ended: mpsc::channel().1,
            stopped: None,
        }
    }

    /// Start workers `1..count` on `addr` (the port is already chosen). Each gets a thread
    /// here that reports when it ends.
    pub fn start(addr: SocketAddr, options: &Options) -> anyhow::Result<Workers> {
        let (count, quiet) = (options.workers.count, options.listen.quiet);
        let mut workers = Workers::none();
        if count <= 1 {
            return Ok(workers);
        }
        let exe = std::env::current_exe().context("cannot find our own executable")?;
        let parent = std::process::id();
        let (report, ended) = mpsc::channel();
        workers.ended = ended;
        for id in 1..count {
            let mut command = Command::new(&exe);
            command
                .args(["--addr", &addr.ip().to_string()])
                .args(["--port", &addr.port().to_string()])
                .args(["--worker-of", &id.to_string(), &parent.to_string()])
                .stdin(Stdio::null())
                .process_group(0); // out of the terminal's reach: we tell it when to stop
            if quiet {
                command.arg("--quiet");
            }
            let mut child = command
                .spawn()
                .with_context(|| format!("cannot start worker {id}"))?;
            let pid = child.id();
            workers.pids.push(pid);
            let report = report.clone();
            std::thread::Builder::new()
                .name(format!("worker {id}"))
                .spawn(move || {
                    if let Ok(status) = child.wait() {
                        eprintln!("{NAME}: worker {id} (pid {pid}) ended: {status}");
                    }
                    let _ = report.send(pid);
                })?;
        }
        println!(
            "{NAME}: {count} worker processes share port {} (SO_REUSEPORT), each with its own \
             loop and descriptor limit",
            addr.port()
        );
        Ok(workers)
    }

    /// Tell every worker to stop (SIGTERM): each drains its callers as we drain ours.
    pub fn stop(&mut self) {
        self.stopped = Some(Instant::now());
        while let Ok(pid) = self.ended.try_recv() {
            self.pids.retain(|&running| running != pid);
        }
        for &pid in &self.pids {
            let Ok(pid) = libc::pid_t::try_from(pid) else {
                continue;
            };
            // SAFETY: kill takes plain integers and touches no memory. `pid` is our own
            // child, not yet reported ended (so, but for an instant, not reaped and reused).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }

    /// After [`stop`](Self::stop): wait until every worker has ended, but no longer than
    /// `grace` (theirs) and a margin. One that is still running then dies with us.
    pub fn wait(&mut self, grace: Duration) {
        let Some(stopped) = self.stopped else {
            return;
        };
        let deadline = stopped + grace + MARGIN;
        while !self.pids.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(pid) = self.ended.recv_timeout(left) else {
                eprintln!(
                    "{NAME}: workers {:?} did not stop in time; they end with us",
                    self.pids
                );
                return;
            };
            self.pids.retain(|&running| running != pid);
        }
    }
}

/// Make sure this worker ends when the process that started it does.
fn die_with_parent(parent: u32) -> anyhow::Result<()> {
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
                    std::thread::sleep(Duration::from_secs(1));
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
