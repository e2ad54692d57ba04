//! Where fault profiles come from: directories on disk, or texts embedded in the binary.

use std::path::{Path, PathBuf};

/// Finds a fault profile's text by name.
pub trait ProfileSource {
    /// The profile's file name as shown in messages, and its text; `Err` says why not.
    fn read(&self, name: &str) -> Result<(String, String), String>;

    /// The source to use when a drill names its own `profile_dir`; `Err` says why it can't.
    fn with_dir(&self, dir: &str) -> Result<Box<dyn ProfileSource>, String> {
        Err(format!(
            "profile_dir \"{dir}\" cannot be used here: this drill's profiles are embedded"
        ))
    }
}

/// Profiles as `NAME.toml` files, searched in a list of directories.
#[derive(Debug, Clone)]
pub struct ProfileDirs {
    base: PathBuf,
    dirs: Vec<PathBuf>,
}

impl ProfileDirs {
    /// Searches exactly `dirs`, in order; a drill's relative `profile_dir` is taken from `base`.
    pub fn new(base: PathBuf, dirs: Vec<PathBuf>) -> Self {
        ProfileDirs { base, dirs }
    }

    /// The default search for a drill in `drill_dir`: `fault-profiles/` beside it, then one
    /// level up (the layout of this repository: `drills/` next to `fault-profiles/`).
    pub fn beside(drill_dir: &Path) -> Self {
        ProfileDirs::new(
            drill_dir.to_path_buf(),
            vec![
                drill_dir.join("fault-profiles"),
                drill_dir.join("..").join("fault-profiles"),
            ],
        )
    }
}

impl ProfileSource for ProfileDirs {
    fn read(&self, name: &str) -> Result<(String, String), String> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(format!(
                "fault profile name \"{name}\" must be a plain name (the file stem in fault-profiles/)"
            ));
        }
        for dir in &self.dirs {
            let path = dir.join(format!("{name}.toml"));
            match super::read_capped(&path) {
                Ok(text) => return Ok((path.display().to_string(), text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        let searched: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        Err(format!(
            "fault profile \"{name}\" not found (looked for {name}.toml in {})",
            searched.join(", ")
        ))
    }

    fn with_dir(&self, dir: &str) -> Result<Box<dyn ProfileSource>, String> {
        let dir = self.base.join(dir);
        Ok(Box::new(ProfileDirs::new(self.base.clone(), vec![dir])))
    }
}

/// Profiles compiled into the binary, for the embedded default drill.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedProfiles(pub &'static [(&'static str, &'static str)]);

impl ProfileSource for EmbeddedProfiles {
    fn read(&self, name: &str) -> Result<(String, String), String> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| {
                (
                    format!("fault-profiles/{n}.toml (embedded)"),
                    text.to_string(),
                )
            })
            .ok_or_else(|| format!("fault profile \"{name}\" is not embedded in this binary"))
    }
}
