//! `breakerbox completions SHELL`: a completion script for SHELL on stdout.

use clap::Args;
use clap_complete::Shell;

/// Flags of `breakerbox completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes the completion script for `args.shell` of `command` to stdout.
pub fn print(args: &CompletionsArgs, command: &mut clap::Command) {
    // Rendered into memory first: clap_complete's writers panic on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, command, "breakerbox", &mut script);
    super::out::write_bytes(&script);
}
