//! The load shapes users write (tests/fixtures/shapes/): warm-up → normal → peak → stress
//! → recovery, a spike, a soak, a stress ramp to 20,000 users. Each validates, plans and
//! fits the resource budget; tests/executors.rs runs scaled-down versions of them.

mod common;

use breakerbox::budget::{self, Limits};
use breakerbox::config;
use breakerbox::plan::{Overrides, Plan};
use common::*;
use std::path::PathBuf;

fn shapes() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fixtures/shapes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shape_validates_plans_and_fits_a_machine_with_room_for_it() {
    let files = shapes();
    assert_eq!(files.len(), 4, "{files:?}");
    // The default budget (a quarter of memory, at most 4 GiB) and a common ulimit -n.
    let limits = Limits {
        memory: 4 << 30,
        fds: 65_536,
    };
    for file in files {
        let drill = config::load_drill(&file).unwrap_or_else(|e| panic!("{e}"));
        let plan = Plan::new(drill, &Overrides::default()).expect("plans");
        let estimate = budget::estimate(&plan);
        assert_eq!(
            budget::check(&estimate, limits),
            Ok(()),
            "{}",
            file.display()
        );
    }
}

#[test]
fn breakerbox_validate_accepts_them_or_names_the_descriptor_limit() {
    let files = shapes();
    let mut args: Vec<std::ffi::OsString> = vec!["validate".into()];
    args.extend(files.iter().map(Into::into));
    args.extend(["--memory-budget".into(), "8GiB".into()]);
    let run = run_args(&args);
    for file in &files {
        let shown = file.display().to_string();
        let ok = run.stdout.contains(&format!("{shown}: ok"));
        if file.ends_with("stress-ramp.toml") && !ok {
            // 20,000 connections do not fit every process's ulimit -n (this machine's is
            // 20,000): refused in one line that says which limit and how to raise it.
            let plan = Plan::new(
                config::load_drill(file).expect("valid"),
                &Overrides::default(),
            )
            .expect("plans");
            let needed = budget::estimate(&plan).fds();
            assert!(Limits::of_this_machine().fds < needed, "{run}");
            assert!(
                run.stderr.contains("open descriptors")
                    && run.stderr.contains("ulimit -n")
                    && run.stderr.contains("load connections: 20000"),
                "{run}"
            );
        } else {
            assert!(ok, "{shown}: {run}");
        }
    }
}
