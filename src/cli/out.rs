//! Standard output that survives a closed pipe (`breakerbox validate ... | head -1`).
//!
//! Rust ignores SIGPIPE, so `println!` into a pipe whose reader has gone panics (exit 101).
//! Restoring SIGPIPE's default would make such commands die quietly like other Unix tools,
//! but this process also serves and sends HTTP: a write to a socket the peer has reset goes
//! through `writev` (hyper's vectored writes), which has no MSG_NOSIGNAL, so the signal
//! would kill a whole drill or a standalone proxy. Instead every write to stdout goes
//! through here: the first failure (EPIPE or any other) stops later writes, and the command
//! carries on (a run still writes its result file and exits with its outcome).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed; later writes are skipped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to stdout and flushes it; after a failed write, does nothing.
pub fn write(args: std::fmt::Arguments<'_>) {
    write_bytes(args.to_string().as_bytes());
}

/// Writes `bytes` to stdout and flushes it; after a failed write, does nothing.
pub fn write_bytes(bytes: &[u8]) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// `print!` that does not panic on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

/// `println!` that does not panic on a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::out::write_bytes(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
