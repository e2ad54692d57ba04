//! Command-line pieces that would crowd `main.rs`: one file per subcommand that needs more
//! than a few lines of wiring.

pub mod compare;
pub mod live;
pub mod load;
pub mod proxy;
pub mod report;
pub mod run;
