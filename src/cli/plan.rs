//! `breakerbox plan DRILL`: a dry run.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `breakerbox plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// The drill (TOML).
    drill: PathBuf,
}

/// Prints the plan of `args.drill`.
pub fn run(args: PlanArgs) -> ExitCode {
    let _ = args.drill;
    ExitCode::SUCCESS
}
