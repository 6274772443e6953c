//! Every connection costs one file descriptor, and a process may only hold so many.
//!
//! The *soft* limit is what a process gets by default (often 1,024, or 256 on macOS); the
//! *hard* limit is the ceiling it may raise itself to without root. A server that wants ten
//! thousand callers must raise its soft limit first, and should say what it got.

use std::fmt;

/// The file-descriptor limits of this process after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// What this process may hold now.
    pub soft: u64,
    /// What it could raise itself to.
    pub hard: u64,
    /// The soft limit before we raised it.
    pub was: u64,
}

impl fmt::Display for FdLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.soft > self.was {
            write!(
                f,
                "file descriptors: raised the limit from {} to {} (each caller needs one)",
                self.was, self.soft
            )
        } else {
            write!(
                f,
                "file descriptors: limit {} (hard limit {}; each caller needs one)",
                self.soft,
                describe(self.hard)
            )
        }
    }
}

fn describe(limit: u64) -> String {
    if limit == u64::MAX {
        "unlimited".to_string()
    } else {
        limit.to_string()
    }
}

/// Raise the soft limit as far as the hard limit allows, and report the result.
///
/// On macOS the hard limit may read "unlimited" while the kernel refuses more than
/// `kern.maxfilesperproc`; we then settle for 10,240 (`OPEN_MAX`), or keep what we had.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is 32 bits on some targets
pub fn raise() -> std::io::Result<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let was = limit.rlim_cur as u64;
    let hard = limit.rlim_max as u64;
    let hard = if limit.rlim_max == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        hard
    };
    for target in [limit.rlim_max, 10_240] {
        if target <= limit.rlim_cur || target > limit.rlim_max {
            continue;
        }
        let wanted = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            return Ok(FdLimit {
                soft: target as u64,
                hard,
                was,
            });
        }
    }
    Ok(FdLimit {
        soft: was,
        hard,
        was,
    })
}

/// Elsewhere there is no such limit to raise; report "unlimited".
#[cfg(not(unix))]
pub fn raise() -> std::io::Result<FdLimit> {
    Ok(FdLimit {
        soft: u64::MAX,
        hard: u64::MAX,
        was: u64::MAX,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_lowers_the_limit() {
        let first = super::raise().expect("getrlimit");
        assert!(first.soft >= first.was);
        let second = super::raise().expect("getrlimit");
        assert_eq!(second.soft, first.soft);
        assert!(second.to_string().contains("file descriptors"));
    }
}
