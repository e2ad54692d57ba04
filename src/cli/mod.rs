//! Command-line pieces that would crowd `main.rs`: one file per subcommand that needs more
//! than a few lines of wiring.

pub mod compare;
pub mod completions;
pub mod diagnostics;
pub mod live;
pub mod load;
pub mod out;
pub mod plan;
pub mod proxy;
pub mod report;
pub mod run;
pub mod sched;

/// `n` and `noun`, in the plural unless `n` is 1: "1 phase", "3 phases".
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
