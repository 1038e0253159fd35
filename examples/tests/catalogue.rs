//! The catalogue: every example declared once, described, in the README, and runnable
//! with `--help`; unknown flags and nonsensical values are usage errors (exit 2).

use harness::Example;
use harness::catalogue::{Entry, load, root, splice};

/// Whether this test build has the cargo feature `f` of multiproc-examples. Every feature a
/// bin may require is listed here, so a new one cannot be skipped silently.
fn feature_enabled(f: &str) -> bool {
    match f {
        "mpi" => cfg!(feature = "mpi"),
        "canvas" => cfg!(feature = "canvas"),
        "progress" => cfg!(feature = "progress"),
        "walk" => cfg!(feature = "walk"),
        "json" => cfg!(feature = "json"),
        "tokio" => cfg!(feature = "tokio"),
        other => {
            panic!("examples/Cargo.toml: required feature {other:?} unknown to the catalogue test")
        }
    }
}

/// The examples cargo built for this test run: those whose required features are all on
/// (the workspace's `cargo test` turns on `full`, every example but the MPI ones;
/// `--features mpi` adds those).
fn built() -> Vec<Entry> {
    let (entries, _) = load(&root());
    entries
        .into_iter()
        .filter(|e| e.is_built_with(feature_enabled))
        .collect()
}

#[test]
fn catalogue_is_complete() {
    let (entries, problems) = load(&root());
    assert!(
        problems.is_empty(),
        "catalogue problems:\n{}",
        problems.join("\n")
    );
    assert!(!entries.is_empty());
    for e in &entries {
        for f in &e.required_features {
            feature_enabled(f);
        }
    }
    let skipped: Vec<&str> = entries
        .iter()
        .filter(|e| !e.is_built_with(feature_enabled))
        .map(|e| e.name.as_str())
        .collect();
    // The workspace's `cargo test` has `full`; CI's MPI step adds `mpi`. A partial build
    // (`cargo test -p multiproc-examples` alone) skips what its features leave out.
    match (cfg!(feature = "full"), cfg!(feature = "mpi")) {
        (true, true) => assert!(skipped.is_empty(), "built with every feature: {skipped:?}"),
        (true, false) => assert_eq!(skipped, ["mpi_reduction", "mpi_mandelbrot"]),
        _ => assert!(
            skipped.contains(&"pool_in_tokio"),
            "tokio is off: {skipped:?}"
        ),
    }
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
        // The MPI examples are started by mpirun: `just mpi <name> <ranks>`.
        let run_line = if e.required_features.iter().any(|f| f == "mpi") {
            format!("`just mpi {} ", e.name)
        } else {
            format!("`just run {}`", e.name)
        };
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
    for e in built() {
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
    for e in built() {
        let run = Example::by_name(&e.name).arg("--no-such-flag").run();
        run.expect_code(2);
        assert!(
            run.stderr().contains("Usage:"),
            "{}: usage on stderr",
            e.name
        );
    }
}
