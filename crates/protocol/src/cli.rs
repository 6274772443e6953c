//! Command-line work every server step does the same way: its shared options, the lines it
//! prints, and a `main` that turns an error into one clear line. (Opening the listening socket
//! is [`crate::listener`]; sorting `accept` errors is [`crate::accept`].)

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// The options every server step shares. Flatten them into a step's own options:
///
/// ```
/// #[derive(clap::Parser)]
/// struct Options {
///     #[command(flatten)]
///     listen: protocol::cli::ListenArgs,
/// }
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on. The default, loopback, lets only this machine connect.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub addr: IpAddr,

    /// Port to listen on [default: 70NN for step NN]; 0 lets the system pick a free one.
    #[arg(long, short)]
    pub port: Option<u16>,

    /// Print start-up and summary lines only, not a line per caller (for load tests).
    #[arg(long, short)]
    pub quiet: bool,

    /// On Ctrl-C or SIGTERM, how long callers in the middle of something (a look-up, a
    /// reply) have to finish, in seconds, before they are cut off. A second Ctrl-C stops at
    /// once.
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = parse_grace)]
    pub grace: Duration,
}

/// `--grace`: whole or fractional seconds, up to a minute (the longest look-up).
fn parse_grace(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds; try 5 or 0.5"))?;
    if !(0.0..=60.0).contains(&secs) {
        return Err("the grace must be between 0 and 60 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

impl ListenArgs {
    /// The address to bind, using `default_port` unless `--port` was given.
    pub fn socket_addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.addr, self.port.unwrap_or(default_port))
    }

    /// A logger that honours `--quiet`.
    pub fn log(&self) -> Log {
        Log { quiet: self.quiet }
    }
}

/// Prints per-caller events unless `--quiet` was given. Copy it into every thread or task.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

impl Log {
    /// A logger that prints no per-caller lines (for tests and tools).
    pub const fn quiet() -> Self {
        Log { quiet: true }
    }

    /// Print one line about a caller (connected, hung up, refused, ...).
    pub fn event(&self, line: fmt::Arguments<'_>) {
        if !self.quiet {
            println!("{line}");
        }
    }
}

/// Say where we listen and how to talk to us. Tests and the benchmark find the port in the
/// `listening on` line, so keep that wording.
pub fn announce(step: &str, addr: SocketAddr) {
    println!("{step}: listening on {addr}");
    println!(
        "{step}: try `nc {} {}` and type a line, `/lookup 2000 weather` or `/quit`",
        addr.ip(),
        addr.port()
    );
}

/// A step's whole `main`: parse the command line into the step's options, run `serve` with
/// them, and turn an error into one line on stderr and exit code 1, instead of a panic
/// message or a backtrace.
///
/// ```no_run
/// #[derive(clap::Parser)]
/// struct Options {
///     #[command(flatten)]
///     listen: protocol::cli::ListenArgs,
/// }
///
/// fn main() -> std::process::ExitCode {
///     protocol::cli::run(serve)
/// }
///
/// fn serve(options: Options) -> anyhow::Result<()> {
///     // ... the step ...
///     Ok(())
/// }
/// ```
pub fn run<O: clap::Parser>(serve: impl FnOnce(O) -> anyhow::Result<()>) -> ExitCode {
    match serve(parse_options()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parse the command line into `T`, or exit with **one** line saying what is wrong.
///
/// clap's own message adds a blank line and a hint; a student reading a terminal (and a test
/// reading stderr) gets one line ending in "(see --help)" instead. `--help` and `--version`
/// print as usual.
pub fn parse_options<T: clap::Parser>() -> T {
    T::try_parse().unwrap_or_else(|err| {
        use clap::error::ErrorKind;
        if matches!(
            err.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            err.exit();
        }
        // Everything before clap's blank line (the error and any list of possible values).
        let text = err.render().to_string();
        let what: Vec<&str> = text
            .lines()
            .take_while(|line| !line.trim().is_empty())
            .map(str::trim)
            .collect();
        eprintln!("{} (see --help)", what.join(" "));
        std::process::exit(2);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_takes_seconds_and_refuses_nonsense() {
        assert_eq!(parse_grace("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_grace("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_grace("-1").is_err());
        assert!(parse_grace("soon").is_err());
        assert!(parse_grace("61").is_err());
    }
}

/// A size on the command line (`--stack-size`): bytes, or a whole number with a binary
/// suffix, any case, with or without `iB`: `65536`, `64K`, `64KiB`, `2M`, `1G`, `1E`. A step
/// checks its own bounds on the result.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let number = lower
        .strip_suffix("ib")
        .filter(|rest| rest.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(&lower);
    let shift = match number.chars().last() {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        Some('e') => 60,
        _ => 0,
    };
    // A unit is one ASCII letter: take it off the digits.
    let digits = if shift == 0 {
        number
    } else {
        &number[..number.len() - 1]
    };
    let Ok(count) = digits.trim().parse::<u64>() else {
        return Err(format!("{text:?} is not a size (examples: 65536, 64K, 2M)"));
    };
    count
        .checked_mul(1u64 << shift)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| format!("{text} is more than this machine can address"))
}

#[cfg(test)]
mod size_tests {
    use super::parse_size;

    #[test]
    fn sizes_as_people_write_them() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64kib"), Ok(64 << 10));
        assert_eq!(parse_size(" 2M "), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1E"), Ok(1 << 60));
        for bad in ["lots", "", "K", "-3K", "1.5M", "2X", "ib"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was taken for a size");
        }
        assert!(parse_size("16E").is_err(), "16 EiB does not fit in 64 bits");
    }
}
