//! Every profile shipped in fault-profiles/ validates.

mod common;

use breakerbox::config::parse_profile;

#[test]
fn every_shipped_profile_validates() {
    let dir = common::repo_root().join("fault-profiles");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fault-profiles/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("readable");
        let profile = parse_profile(&stem, &path.display().to_string(), &text)
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert_eq!(profile.name, stem, "name matches the file stem");
        assert!(!profile.description.is_empty(), "{stem} has a description");
        names.push(stem);
    }
    names.sort();
    for wanted in [
        "blackhole",
        "brownout",
        "flapping",
        "latency-spike",
        "malformed",
        "reset-storm",
        "slow-dependency",
        "total-outage",
    ] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} is shipped");
    }
}
