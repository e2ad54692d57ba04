//! The kill switch: every running drill registers itself, and `breakerbox stop` asks each
//! one of this user's to stop (SIGTERM: it stops, writes its result, exits 3).
//!
//! A registration is a file named after the process id in a per-user directory
//! (`$XDG_RUNTIME_DIR/breakerbox`, else `/tmp/breakerbox-UID`), holding the drill's name.
//! It is removed when the run ends; a file whose process is gone or is not breakerbox is
//! stale and is removed by `stop`, never signalled.

use std::path::PathBuf;

/// Why the kill switch could not act.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// The registry directory could not be read or written.
    #[error("run registry {path}: {source}")]
    Registry {
        /// The directory or file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The signal could not be sent.
    #[error("cannot signal process {pid}: {why}")]
    Signal {
        /// The process.
        pid: u32,
        /// What went wrong.
        why: String,
    },
}

/// The per-user directory where running drills register.
pub fn registry_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("breakerbox"),
        _ => std::env::temp_dir().join(format!("breakerbox-{}", user_id())),
    }
}

/// The real user id from `/proc/self/status`, or `user` where there is no such file.
fn user_id() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "user".into())
}

/// This process's entry in the registry; dropping it removes the entry.
#[derive(Debug)]
pub struct Registration {
    file: PathBuf,
}

impl Registration {
    /// Registers this process as running `drill`.
    pub fn new(drill: &str) -> Result<Registration, RunsError> {
        let dir = registry_dir();
        let fail = |path: &PathBuf, source| RunsError::Registry {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail(&dir, e))?;
        let file = dir.join(std::process::id().to_string());
        std::fs::write(&file, drill).map_err(|e| fail(&file, e))?;
        Ok(Registration { file })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// A drill the kill switch asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Its process id.
    pub pid: u32,
    /// The drill's name.
    pub drill: String,
}

/// Whether `pid` is a running breakerbox process (its command line names the binary).
fn is_breakerbox(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|cmd| {
            let first = cmd.split(|b| *b == 0).next()?.to_vec();
            String::from_utf8(first).ok()
        })
        .is_some_and(|exe| {
            std::path::Path::new(&exe)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("breakerbox"))
        })
}

/// Sends SIGTERM to every registered drill of this user that is still running, and removes
/// stale entries; returns the drills signalled.
pub fn stop_all() -> Result<Vec<Stopped>, RunsError> {
    let dir = registry_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RunsError::Registry {
                path: dir.display().to_string(),
                source,
            })
        }
    };
    let mut stopped = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if !is_breakerbox(pid) {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        let drill = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| RunsError::Signal {
                pid,
                why: format!("cannot run kill: {e}"),
            })?;
        if status.success() {
            stopped.push(Stopped { pid, drill });
        }
    }
    stopped.sort_by_key(|s| s.pid);
    Ok(stopped)
}
