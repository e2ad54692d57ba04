//! Scheduling hints for the threads of `breakerbox proxy`, so the proxy adds little latency
//! on a busy host.
//!
//! The proxy wakes twice per request (the client's request, the upstream's answer) and works
//! a few microseconds each time. On a host it shares with the load generator, the service and
//! the upstream, what it adds to a response is mostly the wait to run after each wake-up,
//! behind whatever holds the core. Two per-thread hints shorten that wait:
//! - a short scheduling slice (Linux ≥ 6.12's EEVDF, any user): a waking thread with a
//!   shorter slice gets an earlier deadline and may preempt the running one, without taking
//!   more CPU over time;
//! - a raised nice value, where the process may raise it (root or `CAP_SYS_NICE`): a larger
//!   share when the cores are contended, which the proxy only uses while it has work.
//!
//! Each runtime thread applies them to itself as it starts; a refusal is logged once and
//! the thread runs on the kernel's defaults.

use std::sync::Once;
use std::time::Duration;

/// How the proxy's threads ask to be scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Priority {
    /// A short scheduling slice, and nice −10 where the process may raise it.
    High,
    /// The kernel's defaults.
    Normal,
}

/// The slice asked for: the shortest the kernel takes.
const SHORT_SLICE: Duration = Duration::from_micros(100);

/// The nice value asked for with [`Priority::High`].
const HIGH_NICE: i32 = -10;

/// Logs what the first thread obtained; the others obtain the same.
static REPORTED: Once = Once::new();

/// Applies `priority` to the calling thread (a runtime's `on_thread_start`).
pub fn apply_to_current_thread(priority: Priority) {
    if priority == Priority::Normal {
        return;
    }
    let outcome = linux::hint(HIGH_NICE, SHORT_SLICE);
    REPORTED.call_once(|| match outcome {
        Ok(got) => tracing::info!(
            slice = ?SHORT_SLICE,
            nice = got.nice,
            nice_raised = got.nice_raised,
            "proxy threads ask for a short scheduling slice"
        ),
        Err(why) => tracing::info!(
            error = %why,
            "proxy threads run on the kernel's default scheduling (no short slice)"
        ),
    });
}

/// What a thread obtained.
#[derive(Debug, Clone, Copy)]
struct Granted {
    /// Its nice value now.
    nice: i32,
    /// Whether the raised nice value was granted.
    nice_raised: bool,
}

#[cfg(target_os = "linux")]
mod linux {
    use super::Granted;
    use std::io;
    use std::time::Duration;

    /// `struct sched_attr` as of its first version (48 bytes), from `<linux/sched/types.h>`.
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        sched_policy: u32,
        sched_flags: u64,
        sched_nice: i32,
        sched_priority: u32,
        sched_runtime: u64,
        sched_deadline: u64,
        sched_period: u64,
    }

    /// Keep the thread's policy (SCHED_OTHER, or SCHED_BATCH if the user chose it).
    const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;

    /// Sets the calling thread's nice value to `nice` if allowed (else keeps its own) and
    /// asks for `slice`. Kernels before 6.12 accept the call and ignore the slice.
    pub(super) fn hint(nice: i32, slice: Duration) -> io::Result<Granted> {
        // SAFETY: getpriority only reads; errno is reset first because -1 is a valid value.
        let current = unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, 0)
        };
        if current == -1 && io::Error::last_os_error().raw_os_error() != Some(0) {
            return Err(io::Error::last_os_error());
        }
        let runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
        if nice < current && set(nice, runtime).is_ok() {
            return Ok(Granted {
                nice,
                nice_raised: true,
            });
        }
        set(current, runtime)?;
        Ok(Granted {
            nice: current,
            nice_raised: false,
        })
    }

    /// One `sched_setattr` on the calling thread.
    fn set(nice: i32, runtime: u64) -> io::Result<()> {
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            sched_flags: SCHED_FLAG_KEEP_POLICY,
            sched_nice: nice,
            sched_runtime: runtime,
            ..SchedAttr::default()
        };
        // SAFETY: `attr` is a valid, fully initialised sched_attr that outlives the call;
        // pid 0 is the calling thread; the kernel only reads `size` bytes of it.
        let done =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) };
        if done == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The calling thread's slice, as `sched_getattr` reports it.
        fn slice_of_current_thread() -> io::Result<u64> {
            let mut attr = SchedAttr::default();
            let size = std::mem::size_of::<SchedAttr>() as u32;
            // SAFETY: `attr` is writable for `size` bytes, the size passed.
            let done = unsafe {
                libc::syscall(
                    libc::SYS_sched_getattr,
                    0,
                    &mut attr as *mut SchedAttr,
                    size,
                    0u32,
                )
            };
            if done == 0 {
                Ok(attr.sched_runtime)
            } else {
                Err(io::Error::last_os_error())
            }
        }

        #[test]
        fn a_thread_gets_the_short_slice_and_keeps_any_nice_value_it_cannot_raise() {
            // On a thread of its own: the hint stays with that thread.
            let (got, slice) = std::thread::spawn(|| {
                let got = hint(-10, Duration::from_micros(100));
                (got, slice_of_current_thread())
            })
            .join()
            .expect("the hinting thread does not panic");
            let got = got.expect("sched_setattr is allowed on this machine");
            // Custom slices came with Linux 6.12; older kernels take the call and ignore them.
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let mut numbers = release.split(|c: char| !c.is_ascii_digit());
            let major: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let minor: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            if (major, minor) >= (6, 12) {
                assert_eq!(slice.expect("sched_getattr works"), 100_000, "{release}");
            }
            assert!(got.nice >= -10, "{got:?}");
            assert_eq!(got.nice_raised, got.nice == -10, "{got:?}");
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod linux {
    use super::Granted;
    use std::io;
    use std::time::Duration;

    /// No such hints outside Linux.
    pub(super) fn hint(_nice: i32, _slice: Duration) -> io::Result<Granted> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "scheduling hints need Linux",
        ))
    }
}
