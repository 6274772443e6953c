//! The grader for homework 07: a chat room, driven as a crowd of real callers over loopback.
//!
//! What it checks, in the order a student meets it: the start-up (`--help`, a bad option, a
//! busy port); joins and leaves are announced; every line reaches every other caller once and
//! in order; a line too long or not UTF-8 harms no one; a caller who never reads stalls no one
//! (and is hung up on); a thousand callers are held by a few OS threads (Linux counts them);
//! a quiet room costs no CPU (Linux again); and the room is built on `may`, not on another
//! runtime.
//!
//! The solution in `solutions/07-chat-room` runs these very tests (its `tests/` folder links
//! here), so the file finds whichever of the two binaries its package built.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conformance::{Client, Server, kept_waiting};

const SERVER: &str = match (
    option_env!("CARGO_BIN_EXE_ex07-chat-room"),
    option_env!("CARGO_BIN_EXE_sol07-chat-room"),
) {
    (Some(exercise), _) => exercise,
    (None, Some(solution)) => solution,
    (None, None) => panic!("built outside the ex07/sol07 packages"),
};

/// How long a caller waits for the next line before the test calls the room stalled.
const STALL: Duration = Duration::from_secs(8);

fn start() -> Server {
    Server::start(SERVER, &["--workers", "2"])
        .unwrap_or_else(|err| panic!("the chat room did not start: {err:#}"))
}

/// Connect and read the welcome line; returns the caller and the number the room gave them.
fn join(server: &Server) -> (Client, u64) {
    let caller = Client::connect(server.addr()).unwrap_or_else(|err| panic!("connect: {err:#}"));
    welcomed(server, caller)
}

/// `count` callers connect at once, then each reads their welcome: a crowd that arrives
/// together (and a room that passes on its join notices in a few big writes, not one each).
fn join_all(server: &Server, count: usize) -> Vec<(Client, u64)> {
    let callers: Vec<Client> = (0..count)
        .map(|i| Client::connect(server.addr()).unwrap_or_else(|err| panic!("caller {i}: {err:#}")))
        .collect();
    callers
        .into_iter()
        .map(|caller| welcomed(server, caller))
        .collect()
}

/// Read a new caller's welcome line; returns them and the number the room gave them.
fn welcomed(server: &Server, mut caller: Client) -> (Client, u64) {
    let welcome = caller.read_line_within(STALL).unwrap_or_else(|err| {
        panic!(
            "a new caller got no welcome line: {err:#}{}\n\
             hint: the first line a caller gets is `* welcome, you are #N (M in the room)`, \
             queued before they are let into the room (see the README)",
            last_words(server)
        )
    });
    let id = welcome
        .strip_prefix("* welcome, you are #")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the first line should be `* welcome, you are #N (M in the room)`, got \
                 {welcome:.80?}\nhint: see the README's format"
            )
        });
    (caller, id)
}

/// What the server said when it panicked (a `todo!()` not written yet, say), if it did.
fn last_words(server: &Server) -> String {
    // Its stderr is read by another thread: give the panic message a moment to arrive.
    std::thread::sleep(Duration::from_millis(300));
    let output = server.output();
    match output.iter().rposition(|line| line.contains("panicked at")) {
        Some(at) => format!(
            "; the server said:\n{}",
            output[at..(at + 2).min(output.len())].join("\n")
        ),
        None => String::new(),
    }
}

/// Read lines until one satisfies `wanted`; the lines skipped on the way are returned too.
fn read_until(caller: &mut Client, what: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match caller.read_line_within(STALL) {
            Ok(line) if wanted(&line) => {
                seen.push(line);
                return seen;
            }
            Ok(line) => seen.push(line),
            Err(err) => panic!(
                "waited {STALL:?} for {what}: {err:#}; the last lines were {:.300?}\n\
                 hint: {}",
                &seen[seen.len().saturating_sub(3)..],
                if kept_waiting(&err) {
                    "is the room stuck (a lock held while writing to a socket?), or is the \
                     line never queued for this caller?"
                } else {
                    "the room hung up on a caller who did nothing wrong"
                }
            ),
        }
    }
}

#[test]
fn help_names_the_options() {
    conformance::startup::help_mentions(SERVER, &["--workers"]);
}

#[test]
fn a_bad_option_gets_one_line() {
    conformance::startup::bad_option_gives_one_line_pointing_to_help(SERVER, &[]);
}

#[test]
fn a_busy_port_gets_one_line() {
    conformance::startup::busy_port_gives_one_clear_line(SERVER, &[]);
}

#[test]
fn joins_lines_and_leaves_are_announced() {
    let server = start();
    let (mut ada, ada_id) = join(&server);
    let (mut bob, bob_id) = join(&server);
    assert_ne!(ada_id, bob_id, "two callers got the same number");
    read_until(&mut ada, "bob's join notice", |l| {
        l == format!("* #{bob_id} joined")
    });

    bob.send("hello, room\n").expect("bob speaks");
    let lines = read_until(&mut ada, "bob's line", |l| {
        l.starts_with(&format!("#{bob_id}:"))
    });
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("#{bob_id}: hello, room").as_str()),
        "hint: a line is passed on as `#N: text`"
    );
    ada.send("hi bob\n").expect("ada speaks");
    read_until(&mut bob, "ada's line", |l| {
        l == format!("#{ada_id}: hi bob")
    });

    drop(bob);
    read_until(&mut ada, "bob's leave notice", |l| {
        l == format!("* #{bob_id} left")
    });
    // The room goes on without him.
    let (mut cyd, cyd_id) = join(&server);
    cyd.send("anyone?\n").expect("cyd speaks");
    let lines = read_until(&mut ada, "cyd's line", |l| {
        l.starts_with(&format!("#{cyd_id}:"))
    });
    assert!(
        !lines.iter().any(|l| l.starts_with(&format!("#{bob_id}:"))),
        "a line from bob came after he left: {lines:.300?}"
    );
}

#[test]
fn every_line_reaches_every_other_caller_once_and_in_order() {
    const CALLERS: usize = 4;
    const LINES: usize = 200;
    let server = start();
    let callers: Vec<(Client, u64)> = (0..CALLERS).map(|_| join(&server)).collect();
    let ids: Vec<u64> = callers.iter().map(|(_, id)| *id).collect();
    // Everyone is in the room once the last one got their welcome: talk, and listen.
    let talks: Vec<_> = callers
        .into_iter()
        .map(|(mut caller, me)| {
            let ids = ids.clone();
            std::thread::spawn(move || {
                for n in 0..LINES {
                    caller
                        .send(&format!("line {n} from {me}\n"))
                        .unwrap_or_else(|err| panic!("#{me} could not send: {err:#}"));
                }
                // What each other caller said, in the order it arrived.
                let mut heard: Vec<(u64, usize)> = Vec::new();
                let wanted = (CALLERS - 1) * LINES;
                while heard.len() < wanted {
                    let line = caller.read_line_within(STALL).unwrap_or_else(|err| {
                        panic!(
                            "#{me} heard {} of the {wanted} lines the others said, then \
                             nothing for {STALL:?}: {err:#}\nhint: is every line queued for \
                             every caller in the room but the one who said it?",
                            heard.len()
                        )
                    });
                    if line.starts_with("* ") {
                        continue; // a join or leave notice
                    }
                    let parsed = line.split_once(": ").and_then(|(from, text)| {
                        let from: u64 = from.strip_prefix('#')?.parse().ok()?;
                        let n: usize = text
                            .strip_prefix("line ")?
                            .split(' ')
                            .next()?
                            .parse()
                            .ok()?;
                        Some((from, n, text.ends_with(&format!(" from {from}"))))
                    });
                    match parsed {
                        Some((from, n, true)) if ids.contains(&from) => {
                            assert_ne!(
                                from, me,
                                "#{me} got its own line back\nhint: a line goes to every \
                                 caller but the one who said it"
                            );
                            heard.push((from, n));
                        }
                        _ => panic!(
                            "#{me} got {line:.80?}, which is no line anyone said\nhint: a line \
                             is passed on as `#N: text`, with N the sender's number"
                        ),
                    }
                }
                (me, heard)
            })
        })
        .collect();
    for talk in talks {
        let (me, heard) = talk
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        for &from in ids.iter().filter(|&&id| id != me) {
            let from_them: Vec<usize> = heard
                .iter()
                .filter(|(f, _)| *f == from)
                .map(|(_, n)| *n)
                .collect();
            let expected: Vec<usize> = (0..LINES).collect();
            assert!(
                from_them == expected,
                "#{me} heard #{from}'s lines as {:?}... ({} lines), not 0, 1, 2, ... {} once \
                 each\nhint: one caller's lines must keep their order and arrive exactly once",
                &from_them[..from_them.len().min(10)],
                from_them.len(),
                LINES - 1
            );
        }
    }
}

#[test]
fn a_line_too_long_or_not_utf8_harms_no_one() {
    let server = start();
    let (mut listener, _) = join(&server);
    let (mut rambler, rambler_id) = join(&server);

    // Not UTF-8: an error line for the sender only, and the sender may go on.
    rambler.send_bytes(b"\xff\xfe not text\n").expect("send");
    let error = rambler.read_line_within(STALL).unwrap_or_else(|err| {
        panic!(
            "no error line for a line that is not UTF-8: {err:#}\nhint: tell the sender \
             `error: ...` through their own queue"
        )
    });
    assert!(
        error.starts_with("error:") && error.contains("UTF-8"),
        "a line that is not UTF-8 should get `error: line is not valid UTF-8`, got {error:.80?}"
    );
    rambler.send("still here\n").expect("send");
    let heard = read_until(&mut listener, "the rambler's next line", |l| {
        l.starts_with(&format!("#{rambler_id}:"))
    });
    assert_eq!(
        heard.last().map(String::as_str),
        Some(format!("#{rambler_id}: still here").as_str()),
        "the others should not hear the line that was not UTF-8"
    );

    // Too long: an error line, then the room hangs up on the sender; the others only see
    // them leave.
    let long = "y".repeat(protocol::MAX_LINE + 2048);
    rambler.send(&long).expect("send");
    let error = rambler.read_line_within(STALL).unwrap_or_else(|err| {
        panic!(
            "no error line for a line longer than {} bytes: {err:#}",
            protocol::MAX_LINE
        )
    });
    assert!(
        error.starts_with("error:") && error.contains("too long"),
        "an overlong line should get `error: line too long ...`, got {error:.80?}"
    );
    rambler.expect_hang_up().unwrap_or_else(|err| {
        panic!("{err:#}\nhint: after an overlong line the decoder refuses more input; end the call")
    });
    let heard = read_until(&mut listener, "the rambler's leave notice", |l| {
        l.starts_with(&format!("* #{rambler_id} left"))
    });
    assert!(
        !heard.iter().any(|l| l.starts_with('#')),
        "the others heard part of the overlong line: {heard:.200?}"
    );
    // And the room still works.
    let (mut newcomer, newcomer_id) = join(&server);
    newcomer.send("hello\n").expect("send");
    read_until(&mut listener, "a newcomer's line", |l| {
        l == format!("#{newcomer_id}: hello")
    });
}

#[test]
fn a_caller_who_never_reads_stalls_no_one_and_is_hung_up_on() {
    /// Far more than the kernel buffers between the room and one caller.
    const FLOOD: usize = 8 * 1024 * 1024;
    const LINE: usize = 1024;
    let lines = FLOOD / LINE;
    let server = start();
    let (mut talker, talker_id) = join(&server);
    let (mut reader, _) = join(&server);
    // The caller who never reads, with a small receive buffer so it fills soon.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .connect_timeout(&server.addr().into(), STALL)
        .expect("connect the caller who never reads");
    let mut never_reads: TcpStream = socket.into();
    read_until(&mut reader, "the third caller's join notice", |l| {
        l.ends_with(" joined")
    });

    // The talker keeps at most WINDOW lines ahead of the one who reads, as a room whose
    // readers keep up; only the caller who never reads falls behind.
    const WINDOW: usize = 32;
    let heard = Arc::new(AtomicUsize::new(0));
    let talk = std::thread::spawn({
        let heard = Arc::clone(&heard);
        move || {
            for n in 0..lines {
                let deadline = Instant::now() + STALL;
                while n >= heard.load(Ordering::Relaxed) + WINDOW {
                    if Instant::now() > deadline {
                        return Err(format!("the reader heard nothing new for {STALL:?}"));
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                let line = format!("{n:07} {}\n", "x".repeat(LINE - 9));
                if let Err(err) = talker.send(&line) {
                    return Err(format!(
                        "the room stopped reading the talker after {n} lines: {err:#}"
                    ));
                }
            }
            Ok(talker)
        }
    });
    let prefix = format!("#{talker_id}: ");
    let mut next = 0;
    let mut saw_the_hang_up = false;
    let started = Instant::now();
    while next < lines {
        let line = match reader.read_line_within(STALL) {
            Ok(line) => line,
            Err(err) => panic!(
                "while one caller read nothing, another heard {next} of {lines} lines, then \
                 nothing for {STALL:?}: {err:#}\nhint: the room must never wait on one \
                 caller's socket. Is a lock held while writing to each caller? Queue the \
                 line for each caller's own writer coroutine instead"
            ),
        };
        if line.starts_with("* #") && line.contains(" left") {
            saw_the_hang_up = true;
            continue;
        }
        let Some(seq) = line.strip_prefix(&prefix).and_then(|t| t.get(..7)) else {
            continue;
        };
        assert_eq!(
            seq,
            format!("{next:07}"),
            "the talker's lines arrived out of order or twice"
        );
        next += 1;
        heard.store(next, Ordering::Relaxed);
    }
    let talker = talk
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        .unwrap_or_else(|err| panic!("{err}"));
    eprintln!(
        "{lines} lines of {LINE} bytes passed on in {:?}",
        started.elapsed()
    );

    // The one who never read must have been hung up on: read what reached them until the
    // connection ends. All of the flood reaching them means nothing was ever given up.
    never_reads
        .set_read_timeout(Some(STALL))
        .expect("read timeout");
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match never_reads.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "the caller who never read was still connected {STALL:?} after the flood, \
                 with {} KiB delivered to them ({err})\nhint: a queue per caller must be \
                 bounded: once a caller is more than protocol::MAX_PENDING_OUTPUT bytes \
                 behind, hang up on them and tell the room",
                got >> 10
            ),
        }
    }
    eprintln!(
        "the caller who never read got {} KiB before the hang-up",
        got >> 10
    );
    assert!(
        got < FLOOD,
        "the caller who never read was sent the whole flood ({} KiB): everything was queued \
         for them\nhint: bound each caller's queue and hang up on a caller too far behind",
        got >> 10
    );
    if !saw_the_hang_up {
        read_until(
            &mut reader,
            "the leave notice of the caller who never read",
            |l| l.starts_with("* #") && l.contains(" left"),
        );
    }
    drop(talker);
    let _ = never_reads.write_all(b"bye\n");
}

/// How many OS threads the process has (Linux: the entries of /proc/PID/task).
#[cfg(target_os = "linux")]
fn os_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |tasks| tasks.count())
}

#[test]
fn a_thousand_callers_are_held_by_a_few_threads() {
    const CALLERS: usize = 1000;
    let limit = protocol::fd_limit::raise().expect("read the descriptor limit");
    let fits = usize::try_from(limit.soft.saturating_sub(100)).unwrap_or(usize::MAX);
    let count = CALLERS.min(fits);
    if count < CALLERS {
        eprintln!("only {count} callers instead of {CALLERS}: {limit}");
    }
    let server = start();
    let started = Instant::now();
    let mut callers = join_all(&server, count);
    eprintln!("{count} callers joined in {:?}", started.elapsed());

    #[cfg(target_os = "linux")]
    {
        let threads = os_threads(server.pid());
        assert!(
            threads <= 64,
            "with {count} callers in the room the server has {threads} OS threads\nhint: a \
             thread per caller is what coroutines replace: start each caller's reader and \
             writer with may::go!, not std::thread::spawn"
        );
        eprintln!("{count} callers held by {threads} OS threads");
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("note: the thread count is checked on Linux only (/proc/PID/task)");

    // Everyone is really in the room: the last one speaks, the first one hears it.
    let (last, last_id) = callers.last_mut().expect("callers");
    let last_id = *last_id;
    last.send("can everyone hear me?\n").expect("send");
    let (first, _) = callers.first_mut().expect("callers");
    read_until(first, "the last caller's line", |l| {
        l == format!("#{last_id}: can everyone hear me?")
    });
}

/// User plus system CPU time of a process so far (Linux: /proc/PID/stat, fields 14 and 15).
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // The command name may hold spaces: count the fields after its closing parenthesis.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    // Linux counts CPU time in clock ticks of 1/100 s (USER_HZ) on every platform we run.
    Duration::from_millis(ticks * 10)
}

/// Three hundred callers in the room, all silent: for two seconds the server should sleep
/// (the solution uses 10-20 ms of CPU). A writer that looks at its queue every millisecond
/// (`try_recv`, then `sleep`) instead of parking in `recv` uses half a core. Linux only: it
/// reads the server's CPU time from `/proc/PID/stat`.
#[test]
fn a_quiet_room_costs_no_cpu() {
    #[cfg(target_os = "linux")]
    {
        let server = start();
        let mut callers = join_all(&server, 300);
        let (last, last_id) = callers.last_mut().expect("callers");
        let last_id = *last_id;
        last.send("then nothing\n").expect("send");
        read_until(&mut callers[0].0, "the last caller's line", |l| {
            l == format!("#{last_id}: then nothing")
        });
        std::thread::sleep(Duration::from_millis(200));
        let before = cpu_time(server.pid());
        std::thread::sleep(Duration::from_secs(2));
        let spent = cpu_time(server.pid()) - before;
        eprintln!("300 silent callers cost {spent:?} of CPU in 2 s");
        assert!(
            spent < Duration::from_millis(100),
            "the server used {spent:?} of CPU in 2 s with 300 silent callers: something spins\n\
             hint: a coroutine that waits must park in recv or read, not look again and \
             again (try_recv with a sleep or yield_now)"
        );
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("note: CPU time is checked on Linux only (/proc/PID/stat)");
}

#[test]
fn the_room_runs_on_may() {
    // Its own dependencies, from Cargo itself: `--no-deps` needs no network and is quick.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .args(["--manifest-path", manifest])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let package = metadata["packages"]
        .as_array()
        .and_then(|packages| {
            packages.iter().find(|p| {
                p["manifest_path"].as_str().is_some_and(|path| {
                    std::path::Path::new(path) == std::path::Path::new(manifest)
                })
            })
        })
        .expect("this package is in the metadata");
    let dependencies: Vec<&str> = package["dependencies"]
        .as_array()
        .map(|deps| {
            deps.iter()
                .filter(|d| d["kind"].is_null()) // normal, not dev or build
                .filter_map(|d| d["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for other in ["tokio", "async-std", "smol", "glommio", "futures"] {
        assert!(
            !dependencies.contains(&other),
            "the room depends on {other}\nhint: this homework is about may's coroutines: \
             blocking-looking code on may::net and may::sync::mpsc, no async runtime"
        );
    }
    assert!(
        dependencies.contains(&"may"),
        "the room does not depend on may (it has {dependencies:?})"
    );
}
