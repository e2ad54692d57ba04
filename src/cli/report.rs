//! `breakerbox report RESULT.json`: reprint a saved result's summary and write other formats
//! from it; and [`ReportFlags`], the export flags `run`, `demo` and `report` share.

use crate::cli::out::{out, outln};
use crate::EXIT_USAGE;
use breakerbox::report::{self, format, RunResult};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Extra report formats to write beside result.json. One flag per format of the registry
/// (`breakerbox::report::format::FORMATS`) that makes sense on the command line.
#[derive(Args, Clone, Debug, Default)]
pub struct ReportFlags {
    /// Also write JUnit XML (one testcase per expectation) to FILE.
    #[arg(long, env = "BREAKERBOX_JUNIT", value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write CSV tables (series.csv, groups.csv, verdicts.csv) into DIR.
    #[arg(long, env = "BREAKERBOX_CSV", value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Also write the self-contained HTML report (verdicts, breaker and fault bands over the
    /// traffic) to FILE.
    #[arg(long, env = "BREAKERBOX_HTML", value_name = "FILE")]
    pub html: Option<PathBuf>,
}

impl ReportFlags {
    /// The requested formats with their paths, in registry order.
    fn requested(&self) -> Vec<(&'static format::Format, &Path)> {
        [
            ("junit", &self.junit),
            ("csv", &self.csv),
            ("html", &self.html),
        ]
        .into_iter()
        .filter_map(|(name, path)| Some((format::find(name)?, path.as_deref()?)))
        .collect()
    }

    /// Checks every requested path can be written, before a run starts; the message names
    /// the flag.
    pub fn check(&self) -> Result<(), String> {
        for (f, path) in self.requested() {
            f.check(path).map_err(|e| format!("--{}: {e}", f.name))?;
        }
        Ok(())
    }

    /// Writes every requested format; each failure is printed. True when all were written.
    pub fn write(&self, result: &RunResult, quiet: bool) -> bool {
        let mut ok = true;
        for (f, path) in self.requested() {
            match f.write_to(result, path) {
                Ok(()) if !quiet => outln!("{} report written to {}", f.name, path.display()),
                Ok(()) => {}
                Err(e) => {
                    eprintln!("error: --{}: {e}", f.name);
                    ok = false;
                }
            }
        }
        ok
    }
}

/// Arguments of `breakerbox report`.
#[derive(Args)]
pub struct ReportArgs {
    /// A result.json written by `breakerbox run` or `demo`.
    pub result: PathBuf,
    #[command(flatten)]
    pub formats: ReportFlags,
    /// Do not print the summary.
    #[arg(short, long, env = "BREAKERBOX_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    pub quiet: bool,
}

/// Reads the saved result, prints its summary, writes the requested formats: exit 0, or 2
/// when the file cannot be read or a format cannot be written.
pub fn run(args: ReportArgs) -> ExitCode {
    let result = match report::read_json(&args.result) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if !args.quiet {
        out!("{}", report::render_console(&result));
    }
    if args.formats.write(&result, args.quiet) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_USAGE)
    }
}
