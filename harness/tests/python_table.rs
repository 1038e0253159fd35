//! The Python → Rust table has one source, src/python.md: the library's front page includes
//! it and the README's copy must be its rendering. Fails on drift.

use harness::catalogue::root;
use harness::python_table::{LIB_INCLUDE, SOURCE, load, problems, splice};

#[test]
fn the_table_is_well_formed() {
    let problems = problems(&load(&root()));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_library_front_page_includes_the_table() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    assert!(
        lib.lines().any(|l| l.trim() == LIB_INCLUDE),
        "src/lib.rs must include {SOURCE} with `{LIB_INCLUDE}`"
    );
}

#[test]
fn the_readme_table_is_the_rendering_of_the_source() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let fresh = splice(&readme, &load(&root())).expect("README.md has the python-table markers");
    assert!(
        fresh == readme,
        "README.md's Python → Rust table differs from {SOURCE}: edit {SOURCE}, then run \
         `just readme` (or `cargo run -p harness --bin catalogue -- readme`) and commit the result"
    );
}
