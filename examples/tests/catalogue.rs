//! The catalogue: every example declared once, described, in the README, and runnable
//! with `--help`; unknown flags and nonsensical values are usage errors (exit 2).

use harness::Example;
use harness::catalogue::{load, root, splice};

#[test]
fn catalogue_is_complete() {
    let (entries, problems) = load(&root());
    assert!(
        problems.is_empty(),
        "catalogue problems:\n{}",
        problems.join("\n")
    );
    assert!(!entries.is_empty());
}

#[test]
fn readme_catalogue_is_up_to_date() {
    let (entries, _) = load(&root());
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let fresh = splice(&readme, &entries).expect("README.md has the catalogue markers");
    assert!(
        fresh == readme,
        "README.md's catalogue differs from examples/Cargo.toml: run `just readme` \
         (or `cargo run -p harness --bin catalogue -- readme`) and commit the result"
    );
}

#[test]
fn every_example_opens_with_its_scenario_and_how_to_run_it() {
    let (entries, _) = load(&root());
    for e in entries {
        let src = std::fs::read_to_string(root().join(&e.path)).expect("example source");
        assert!(
            src.starts_with("//! "),
            "{} must open with a //! header",
            e.path
        );
        let run_line = format!("`just run {}`", e.name);
        assert!(
            src.contains(&run_line),
            "{}: header must say {run_line}",
            e.path
        );
        assert!(
            src.contains("Look for:"),
            "{}: header must say what to look for",
            e.path
        );
    }
}

#[test]
fn every_example_has_help() {
    let (entries, _) = load(&root());
    for e in entries {
        let run = Example::by_name(&e.name).arg("--help").run();
        run.expect_code(0);
        assert!(
            run.stdout().contains("Usage:"),
            "{}: --help shows usage",
            e.name
        );
    }
}

#[test]
fn every_example_rejects_an_unknown_flag_with_exit_2() {
    let (entries, _) = load(&root());
    for e in entries {
        let run = Example::by_name(&e.name).arg("--no-such-flag").run();
        run.expect_code(2);
        assert!(
            run.stderr().contains("Usage:"),
            "{}: usage on stderr",
            e.name
        );
    }
}
